"""Load YAML while remembering where every value came from.

Config, playbook, policy and scenario files are refused at load with the file, the line
and the field at fault; this module gives the line for any path of keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BeforeValidator, ValidationError

from healer.errors import ConfigError

Key = str | int


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML document and the 1-based line of each key path in it."""

    path: str
    data: Any
    lines: dict[tuple[Key, ...], int] = field(default_factory=dict)

    def line(self, *keys: Key) -> int | None:
        """The line of the deepest known prefix of `keys` (the file start if none)."""
        for end in range(len(keys), -1, -1):
            found = self.lines.get(tuple(keys[:end]))
            if found is not None:
                return found
        return None


def load_yaml(path: str | Path, error: type[ConfigError] = ConfigError) -> YamlDoc:
    """Parse one YAML file; a missing file or a syntax error raises `error` with its line."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:  # why: report the file, not a traceback
        raise error(name, None, "<file>", f"cannot read: {exc.strerror or exc}") from exc
    return parse_yaml(text, name, error)


def parse_yaml(text: str, name: str, error: type[ConfigError] = ConfigError) -> YamlDoc:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:  # why: a syntax error must name its line
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise error(name, line, "<syntax>", str(exc.problem or exc.context)) from exc
    except yaml.YAMLError as exc:
        raise error(name, None, "<syntax>", str(exc)) from exc
    lines: dict[tuple[Key, ...], int] = {}
    if node is not None:
        _index(node, (), lines)
    return YamlDoc(name, data, lines)


def _index(node: yaml.Node, prefix: tuple[Key, ...], lines: dict[tuple[Key, ...], int]) -> None:
    lines.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*prefix, key_node.value) if isinstance(key_node, yaml.ScalarNode) else prefix
            lines[key] = key_node.start_mark.line + 1
            _index(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, (*prefix, index), lines)


def field_name(loc: Iterable[Key]) -> str:
    """`("rules", 0, "mode")` → `rules[0].mode`, the way an engineer would point at it."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<document>"


def config_error(
    doc: YamlDoc,
    exc: ValidationError,
    error: type[ConfigError] = ConfigError,
    *,
    prefix: tuple[Key, ...] = (),
) -> ConfigError:
    """Turn pydantic's first complaint into an error naming the file, line and field
    (`prefix`: where the validated part sits in the document)."""
    first = exc.errors()[0]
    loc = prefix + tuple(p for p in first["loc"] if isinstance(p, str | int))
    reason = first["msg"]
    if first["type"] == "extra_forbidden":
        reason = "unknown field (check the spelling)"
    return error(doc.path, doc.line(*loc), field_name(loc), reason)


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> timedelta:
    """`90s`, `10m`, `1h30m`, `500ms`, `2d`, or a number of seconds, the way files write them."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    text = value.strip() if isinstance(value, str) else ""
    if text and _DURATION_PART.sub("", text) == "":
        parts = _DURATION_PART.findall(text)
        return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[unit] for n, unit in parts))
    raise ValueError(f"expected a duration such as 30s, 10m or 1h30m, got {value!r}")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
