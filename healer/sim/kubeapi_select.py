"""Which objects a list returns: `labelSelector`, `fieldSelector`, `limit` and `continue`."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from healer.sim.kubeapi_base import bad_request

Obj = dict[str, Any]
Test = Callable[[Obj], bool]

_SET = re.compile(r"^\s*(?P<key>[^\s!=]+)\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)\s*$")


def _requirements(selector: str) -> list[str]:
    """Split on the commas that are not inside `in (a, b)`."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    parts.append(selector[start:])
    return [p.strip() for p in parts if p.strip()]


def _label_test(requirement: str) -> Test:
    found = _SET.match(requirement)
    if found is not None:
        key, values = found["key"], {v.strip() for v in found["values"].split(",")}
        inside = found["op"] == "in"
        return lambda o: (_labels(o).get(key) in values) == inside
    for op in ("!=", "==", "="):
        if op in requirement:
            key, value = (s.strip() for s in requirement.split(op, 1))
            if op == "!=":
                return lambda o: _labels(o).get(key) != value
            return lambda o: _labels(o).get(key) == value
    if requirement.startswith("!"):
        key = requirement[1:].strip()
        return lambda o: key not in _labels(o)
    if re.fullmatch(r"[A-Za-z0-9._/-]+", requirement):
        return lambda o: requirement in _labels(o)
    raise bad_request(f"unable to parse requirement: {requirement!r}")


def _labels(obj: Obj) -> Mapping[str, str]:
    labels = obj.get("metadata", {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def _field(obj: Obj, path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else str(node)


def _field_test(requirement: str) -> Test:
    for op in ("!=", "==", "="):
        if op in requirement:
            path, value = (s.strip() for s in requirement.split(op, 1))
            if op == "!=":
                return lambda o: _field(o, path) != value
            return lambda o: _field(o, path) == value
    raise bad_request(f"invalid field selector: {requirement!r}")


def select(items: Sequence[Obj], query: Mapping[str, list[str]]) -> tuple[list[Obj], str | None]:
    """The items a list request asks for, and the `continue` token of the next page."""
    tests = [_label_test(r) for s in query.get("labelSelector", []) for r in _requirements(s)]
    tests += [_field_test(r) for s in query.get("fieldSelector", []) for r in _requirements(s)]
    chosen = [item for item in items if all(test(item) for test in tests)]
    start = _offset(query.get("continue", [""])[0])
    limit = _limit(query.get("limit", ["0"])[0])
    if limit <= 0 or start + limit >= len(chosen):
        return chosen[start:], None
    token = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
    return chosen[start : start + limit], token


def _offset(token: str) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request(f"invalid continue token {token!r}") from None


def _limit(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad_request(f"invalid limit {text!r}") from None
