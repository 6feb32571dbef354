"""`_source` filtering: true or false, a pattern, a list of patterns, includes and excludes.

Patterns match full dotted paths (`service.name`, `service.*`), whether the document
nests objects or keeps dotted keys; an object whose path matches is kept whole.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any


def filter_source(source: dict[str, Any], spec: Any) -> dict[str, Any] | None:
    """The `_source` a hit shows for a request's `_source` value (None: not shown)."""
    if spec is False or spec == "false":
        return None
    if spec is True or spec is None or spec == "true":
        return source
    if isinstance(spec, str | list):
        return _filter(source, "", _patterns(spec), [])
    includes = _patterns(spec.get("includes", spec.get("include")))
    excludes = _patterns(spec.get("excludes", spec.get("exclude")))
    return _filter(source, "", includes, excludes)


def _patterns(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _matches(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def _filter(
    node: Mapping[str, Any], prefix: str, includes: list[str], excludes: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if _matches(path, excludes):
            continue
        whole = not includes or _matches(path, includes)
        if isinstance(value, Mapping):
            # Not matched itself, an object may still hold matching fields.
            inner = _filter(value, f"{path}.", [] if whole else includes, excludes)
            if inner or whole:
                out[key] = inner
        elif whole:
            out[key] = value
    return out
