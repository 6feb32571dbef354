"""Signal profiles of the user's own, read from the settings file and checked there.

The shape is the built-in profiles' (see `profiles`): labels naming the service and
namespace, a PromQL template per signal, optionally the database queries. Mistakes are
ValueErrors naming the key, which `from_settings` turns into a ConfigError.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from string import Template
from typing import Any

from healer.adapters.prometheus.profiles import (
    PLACEHOLDERS,
    DatabaseQueries,
    Profile,
    SeriesQuery,
)
from healer.domain.model import Signal

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_template(template: str) -> str:
    """The template itself, or ValueError naming a placeholder it may not use."""
    parsed = Template(template)
    if not parsed.is_valid():
        raise ValueError(f"bad placeholder in {template!r} (write $$ for a literal $)")
    unknown = set(parsed.get_identifiers()) - PLACEHOLDERS
    if unknown:
        allowed = ", ".join(f"${p}" for p in sorted(PLACEHOLDERS))
        raise ValueError(f"unknown placeholder ${sorted(unknown)[0]} (allowed: {allowed})")
    return template


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"profile name {name!r}: use letters, digits, '_', '.' and '-'")
    return name


def custom_profile(name: str, data: Mapping[str, Any]) -> Profile:
    """A profile from the settings file; ValueError says which key is wrong and why."""
    check_name(name)
    _only(data, {"service_label", "namespace_label", "signals", "databases"}, "")
    service, namespace = _label(data, "service_label"), _label(data, "namespace_label")
    signals = {}
    raw_signals = data.get("signals", {})
    if not isinstance(raw_signals, Mapping):
        raise ValueError("signals: expected a mapping of signal name to PromQL")
    for key, spec in raw_signals.items():
        try:
            signal = Signal(key)
        except ValueError:
            known = ", ".join(s.value for s in Signal)
            raise ValueError(f"signals.{key}: unknown signal (known: {known})") from None
        signals[signal] = _series_query(f"signals.{key}", spec, service, namespace)
    return Profile(name, signals, _databases(data.get("databases")))


def _series_query(
    where: str, spec: object, service: str | None, namespace: str | None
) -> SeriesQuery:
    if isinstance(spec, str):
        return SeriesQuery(_template(where, spec), service, namespace)
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: expected PromQL or a mapping with `query`")
    _only(spec, {"query", "service_label", "namespace_label"}, f"{where}.")
    query = spec.get("query")
    if not isinstance(query, str):
        raise ValueError(f"{where}.query: expected PromQL text")
    return SeriesQuery(
        _template(f"{where}.query", query),
        _label(spec, "service_label") or service,
        _label(spec, "namespace_label") or namespace,
    )


def _databases(spec: object) -> DatabaseQueries | None:
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ValueError("databases: expected a mapping with connections and max_connections")
    _only(spec, {"connections", "max_connections", "label"}, "databases.")
    texts = {}
    for key in ("connections", "max_connections"):
        value = spec.get(key)
        if not isinstance(value, str):
            raise ValueError(f"databases.{key}: expected PromQL text")
        texts[key] = _template(f"databases.{key}", value)
    return DatabaseQueries(**texts, label=_label(spec, "label") or "server")


def _template(where: str, text: str) -> str:
    try:
        return check_template(text)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _label(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not _LABEL.fullmatch(value):
        raise ValueError(f"{key}: {value!r} is not a Prometheus label name")
    return value


def _only(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ValueError(f"{where}{extra[0]}: unknown key (allowed: {', '.join(sorted(allowed))})")
