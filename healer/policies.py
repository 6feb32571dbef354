"""Load an approval policy file into a `healer.domain.policy.Policy`.

The pydantic models below describe the file, key by key; anything they or the checks
after them refuse raises `PolicyError` naming the file, the line and the field.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime, time, timedelta, tzinfo
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from healer.domain.freeze import FreezeWindow
from healer.domain.model import Outcome, Risk
from healer.domain.policy import Bounds, Match, Policy, RateLimit, Rule
from healer.errors import PolicyError
from healer.yamlfile import (
    Duration,
    Key,
    YamlDoc,
    config_error,
    field_name,
    load_yaml,
)

_DAYS = {
    name: index
    for index, day in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
    for name in (day, day[:3])
}
_CLOCK = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatchFile(_Section):
    namespaces: list[str] = []
    services: list[str] = []
    environments: list[str] = []
    playbooks: list[str] = []
    risks: list[Risk] = []


class BoundsFile(_Section):
    min_replicas: int | None = Field(None, ge=1)
    max_replicas: int | None = Field(None, ge=1)
    max_scale_factor: float | None = Field(None, ge=1)
    max_pool_size: int | None = Field(None, ge=1)
    db_headroom: float | None = Field(None, ge=0, lt=1)


class RuleFile(_Section):
    name: str = Field(min_length=1)
    match: MatchFile = MatchFile()
    outcome: Outcome
    approvers: int | None = Field(None, ge=1)
    bounds: BoundsFile = BoundsFile()


class RateLimitFile(_Section):
    max_actions: int | None = Field(None, ge=1)
    window: Duration = timedelta(hours=1)
    cooldown: Duration = timedelta(0)


class FreezeFile(_Section):
    """Absolute (`start`, `end` as date-times) or weekly (`days`, `start`, `end` as HH:MM)."""

    name: str = Field(min_length=1)
    # int: YAML reads an unquoted 18:00 as a number, which deserves its own message.
    start: datetime | str | int
    end: datetime | str | int
    days: list[str] | None = None
    timezone: str = "UTC"


class PolicyFile(_Section):
    environment: str = "production"
    default: Outcome = Outcome.ASK
    kill_switch: bool = False
    dry_run: bool = False
    shadow: bool = False
    bounds: BoundsFile = BoundsFile()
    rate_limit: RateLimitFile = RateLimitFile()
    freeze_windows: list[FreezeFile] = []
    rules: list[RuleFile] = []


def load_policy(path: str | Path, *, playbooks: Collection[str] = ()) -> Policy:
    """Read and check a policy file.

    With `playbooks` (the names loaded), a rule whose playbook pattern matches none of
    them is refused: a typo there would silently fall through to another rule.
    """
    doc = load_yaml(path, PolicyError)
    try:
        parsed = PolicyFile.model_validate({} if doc.data is None else doc.data)
    except ValidationError as exc:
        raise config_error(doc, exc, PolicyError) from exc
    return Policy(
        default=parsed.default,
        rules=_rules(doc, parsed.rules, playbooks),
        bounds=_bounds(doc, parsed.bounds, ("bounds",)),
        rate_limit=RateLimit(
            parsed.rate_limit.max_actions, parsed.rate_limit.window, parsed.rate_limit.cooldown
        ),
        freezes=tuple(_freeze(doc, f, i) for i, f in enumerate(parsed.freeze_windows)),
        kill_switch=parsed.kill_switch,
        dry_run=parsed.dry_run,
        shadow=parsed.shadow,
        environment=parsed.environment,
        source=doc.path,
    )


def _fail(doc: YamlDoc, loc: tuple[Key, ...], reason: str) -> PolicyError:
    return PolicyError(doc.path, doc.line(*loc), field_name(loc), reason)


def _rules(doc: YamlDoc, rules: list[RuleFile], playbooks: Collection[str]) -> tuple[Rule, ...]:
    seen: set[str] = set()
    built = []
    for index, rule in enumerate(rules):
        at: tuple[Key, ...] = ("rules", index)
        if rule.name in seen:
            raise _fail(doc, (*at, "name"), f"another rule is already named {rule.name!r}")
        seen.add(rule.name)
        if rule.approvers is not None and rule.outcome is not Outcome.ASK:
            reason = f"approvers only apply to outcome ask, not {rule.outcome}"
            raise _fail(doc, (*at, "approvers"), reason)
        match = _match(doc, rule.match, (*at, "match"), playbooks)
        bounds = _bounds(doc, rule.bounds, (*at, "bounds"))
        built.append(Rule(rule.name, rule.outcome, match, rule.approvers, bounds))
    return tuple(built)


def _match(
    doc: YamlDoc, match: MatchFile, at: tuple[Key, ...], playbooks: Collection[str]
) -> Match:
    for key in ("namespaces", "services", "environments", "playbooks"):
        for index, pattern in enumerate(getattr(match, key)):
            problem = _glob_problem(pattern)
            if problem is None and key == "playbooks":
                problem = _unknown_playbook(pattern, playbooks)
            if problem is not None:
                raise _fail(doc, (*at, key, index), problem)
    return Match(
        namespaces=tuple(match.namespaces),
        services=tuple(match.services),
        environments=tuple(match.environments),
        playbooks=tuple(match.playbooks),
        risks=frozenset(match.risks),
    )


def _unknown_playbook(pattern: str, playbooks: Collection[str]) -> str | None:
    if not playbooks or any(fnmatchcase(name, pattern) for name in playbooks):
        return None
    return f"{pattern!r} matches no playbook (known: {', '.join(sorted(playbooks))})"


def _glob_problem(pattern: str) -> str | None:
    """Why a glob pattern is wrong; fnmatch would take anything and match nothing."""
    if not pattern.strip():
        return "an empty pattern matches nothing"
    if pattern != pattern.strip():
        return f"pattern {pattern!r} has leading or trailing spaces"
    if pattern.count("[") != pattern.count("]"):
        return f"pattern {pattern!r} has an unclosed [ ]"
    return None


def _bounds(doc: YamlDoc, bounds: BoundsFile, at: tuple[Key, ...]) -> Bounds:
    if (
        bounds.min_replicas is not None
        and bounds.max_replicas is not None
        and bounds.min_replicas > bounds.max_replicas
    ):
        reason = f"min_replicas {bounds.min_replicas} is above max_replicas {bounds.max_replicas}"
        raise _fail(doc, (*at, "min_replicas"), reason)
    return Bounds(
        min_replicas=bounds.min_replicas,
        max_replicas=bounds.max_replicas,
        max_scale_factor=bounds.max_scale_factor,
        max_pool_size=bounds.max_pool_size,
        db_headroom=bounds.db_headroom,
    )


def _freeze(doc: YamlDoc, freeze: FreezeFile, index: int) -> FreezeWindow:
    at: tuple[Key, ...] = ("freeze_windows", index)
    try:
        tz: tzinfo = ZoneInfo(freeze.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # why: name the field, not the tz db
        raise _fail(doc, (*at, "timezone"), f"unknown time zone {freeze.timezone!r}") from exc
    if freeze.days is None:
        return _absolute_freeze(doc, freeze, at, tz)
    if not freeze.days:
        raise _fail(doc, (*at, "days"), "a weekly window needs at least one day")
    days = set()
    for day_index, day in enumerate(freeze.days):
        if day.lower() not in _DAYS:
            raise _fail(doc, (*at, "days", day_index), f"{day!r} is not a day (mon … sun)")
        days.add(_DAYS[day.lower()])
    start = _clock(doc, freeze.start, (*at, "start"))
    end = _clock(doc, freeze.end, (*at, "end"))
    return FreezeWindow(freeze.name, days=frozenset(days), start_time=start, end_time=end, tz=tz)


def _absolute_freeze(
    doc: YamlDoc, freeze: FreezeFile, at: tuple[Key, ...], tz: tzinfo
) -> FreezeWindow:
    ends: list[datetime] = []
    for key in ("start", "end"):
        value = getattr(freeze, key)
        if not isinstance(value, datetime):
            reason = "expected a date-time such as 2025-12-24T00:00:00Z (or add days: for weekly)"
            raise _fail(doc, (*at, key), reason)
        ends.append(value if value.tzinfo is not None else value.replace(tzinfo=tz))
    start, end = ends
    if end <= start:
        raise _fail(doc, (*at, "end"), f"the window ends ({end}) before it starts ({start})")
    return FreezeWindow(freeze.name, start=start.astimezone(UTC), end=end.astimezone(UTC))


def _clock(doc: YamlDoc, value: Any, at: tuple[Key, ...]) -> time:
    """HH:MM; 24:00 is the end of the day. YAML reads unquoted 18:00 as a number."""
    found = _CLOCK.match(value) if isinstance(value, str) else None
    if found is None or (found.group(1) == "24" and found.group(2) != "00"):
        reason = f'expected a time of day in quotes, such as "18:00", got {value!r}'
        if isinstance(value, int):
            reason += " (unquoted, YAML reads 18:00 as a number of minutes)"
        raise _fail(doc, at, reason)
    return time(int(found.group(1)) % 24, int(found.group(2)))
