"""Load YAML while remembering where every value came from.

Config, playbook, policy and scenario files are refused at load with the file, the line
and the field at fault; this module gives the line for any path of keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

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
    doc: YamlDoc, exc: ValidationError, error: type[ConfigError] = ConfigError
) -> ConfigError:
    """Turn pydantic's first complaint into an error naming the file, line and field."""
    first = exc.errors()[0]
    loc = tuple(p for p in first["loc"] if isinstance(p, str | int))
    reason = first["msg"]
    if first["type"] == "extra_forbidden":
        reason = "unknown field (check the spelling)"
    return error(doc.path, doc.line(*loc), field_name(loc), reason)
