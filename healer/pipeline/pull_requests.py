"""The `open_pr` step: a fix that belongs in git proposed as a pull request.

Recorded like every step (intent, then result), and safe to repeat: the branch is named
after the incident, and the code host finds the pull request already open from it. So
after a crash the step is simply proposed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from healer.domain.codechange import CodeLocation
from healer.domain.model import ActionResult, Incident, ServiceRef
from healer.domain.playbook import ParamValue
from healer.errors import PermanentError
from healer.pipeline import proposal
from healer.ports import CodeHost

SETTINGS = ("replicas", "pool")


@dataclass(frozen=True)
class CodeChanges:
    """The code host and where each service's settings live."""

    host: CodeHost
    locations: Mapping[ServiceRef, CodeLocation]
    timeline_url: str


def propose(
    key: str,
    incident: Incident,
    target: ServiceRef,
    args: Mapping[str, ParamValue],
    code: CodeChanges | None,
) -> ActionResult:
    """Open (or find) the pull request setting `args["setting"]` to `args["to"]`."""
    setting, value = str(args["setting"]), args["to"]
    try:
        location, dotted = _where(target, setting, code)
        assert code is not None
        host = code.host
        base = location.base or host.default_branch(location.repository)
        current = host.read_file(location.repository, location.path, ref=base)
        if not isinstance(value, int):
            raise PermanentError(f"open_pr: {setting} must be a whole number, got {value!r}")
        made = proposal.propose(
            incident,
            repository=location.repository,
            path=location.path,
            text=current.text,
            key=dotted,
            value=value,
            timeline_url=code.timeline_url,
        )
    except PermanentError as exc:  # why: nothing was sent; the refusal is the outcome
        return _result(key, target, ok=False, detail=f"open_pr refused: {exc}", before={}, after={})
    before = {dotted: made.change.old}
    if made.change.old == made.change.new:
        detail = f"{location.path} already sets {dotted} to {value}; nothing to propose"
        return _result(key, target, ok=True, detail=detail, before=before, after=before)
    try:
        pull = host.propose(
            repository=location.repository,
            branch=made.branch,
            title=made.title,
            body=made.body,
            message=made.message,
            changes={location.path: made.change.text},
            base=base,
        )
    except PermanentError as exc:  # why: temporary errors propagate; the step is retried
        detail = f"open_pr failed: {exc}"
        return _result(key, target, ok=False, detail=detail, before=before, after={})
    verb = "opened" if pull.created else "already open"
    detail = f"pull request #{pull.number} {verb} in {location.repository}: {pull.url}"
    after: dict[str, object] = {"pull_request": pull.url, "number": pull.number}
    return _result(key, target, ok=True, detail=detail, before=before, after=after)


def _where(target: ServiceRef, setting: str, code: CodeChanges | None) -> tuple[CodeLocation, str]:
    if code is None:
        raise PermanentError("no code host is configured (code_host.kind)")
    if setting not in SETTINGS:
        raise PermanentError(f"setting must be one of {', '.join(SETTINGS)}, got {setting!r}")
    location = code.locations.get(target)
    if location is None:
        raise PermanentError(f"no repository is mapped for {target} (code_host.repositories)")
    dotted = location.keys.get(setting)
    if not dotted:
        raise PermanentError(f"{location.path} in {location.repository} has no {setting} key")
    return location, dotted


def _result(
    key: str,
    target: ServiceRef,
    *,
    ok: bool,
    detail: str,
    before: Mapping[str, object],
    after: Mapping[str, object],
) -> ActionResult:
    return ActionResult(key, "open_pr", target, ok, detail, dict(before), dict(after))
