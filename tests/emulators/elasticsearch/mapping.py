"""Index mappings: explicit ones from `PUT /<index>`, dynamic ones learned from documents.

Dynamic mapping follows Elasticsearch's defaults: ISO-looking strings become `date`,
other strings `text` with a `.keyword` sub-field (ignore_above 256), integers `long`,
decimals `float`, booleans `boolean`. Values are read back per field, typed, for queries,
sorting and aggregations; `_source` objects may nest or use dotted keys, as in the server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import EsError

NUMERIC = {
    "long", "integer", "short", "byte", "unsigned_long",
    "double", "float", "half_float", "scaled_float",
}  # fmt: skip
INTEGRAL = {"long", "integer", "short", "byte", "unsigned_long"}
TEXT = {"text", "match_only_text"}
KNOWN = NUMERIC | TEXT | {"keyword", "constant_keyword", "wildcard", "date", "boolean", "object"}
IGNORE_ABOVE = 256
_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}([.,]\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$"
)


class IndexMapping:
    """One index's fields as flat paths to types, plus multi-fields to their parents."""

    def __init__(self) -> None:
        self.types: dict[str, str] = {}
        self.parents: dict[str, str] = {}  # "service.name.keyword" -> "service.name"
        self.ignore_above: dict[str, int] = {}

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> IndexMapping:
        mapping = cls()
        mapping._add_properties("", properties)
        return mapping

    def _add_properties(self, prefix: str, properties: Mapping[str, Any]) -> None:
        if not isinstance(properties, Mapping):
            raise EsError(400, "mapper_parsing_exception", "Expected map for property [properties]")
        for name, spec in properties.items():
            path = f"{prefix}{name}"
            if not isinstance(spec, Mapping):
                raise EsError(
                    400, "mapper_parsing_exception", f"Expected map for property [{path}]"
                )
            if "properties" in spec:
                self.types[path] = "object"
                self._add_properties(f"{path}.", spec["properties"])
                continue
            self._add_field(path, spec)

    def _add_field(self, path: str, spec: Mapping[str, Any]) -> None:
        kind = str(spec.get("type", "object"))
        if kind not in KNOWN:
            raise EsError(
                400,
                "mapper_parsing_exception",
                f"No handler for type [{kind}] declared on field [{path}]",
            )
        self.types[path] = kind
        if "ignore_above" in spec:
            self.ignore_above[path] = int(spec["ignore_above"])
        for sub, sub_spec in (spec.get("fields") or {}).items():
            self._add_field(f"{path}.{sub}", sub_spec)
            self.parents[f"{path}.{sub}"] = path

    def properties(self) -> dict[str, Any]:
        """The mapping as the server shows it under `mappings.properties`."""
        tree: dict[str, Any] = {}
        for path, kind in sorted(self.types.items()):
            if path in self.parents:
                continue
            node = tree
            parts = path.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {}).setdefault("properties", {})
            entry = node.setdefault(parts[-1], {})
            if kind != "object":
                entry["type"] = kind
            subs = {
                p.rsplit(".", 1)[1]: self._spec(p) for p, par in self.parents.items() if par == path
            }
            if subs:
                entry["fields"] = subs
        return tree

    def _spec(self, path: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": self.types[path]}
        if path in self.ignore_above:
            spec["ignore_above"] = self.ignore_above[path]
        return spec

    def learn(self, source: Mapping[str, Any], doc_id: str) -> None:
        """Check a document against the mapping, adding dynamic fields; 400 on conflict."""
        for path, value in leaves(source):
            self._learn_one(path, value, doc_id)

    def _learn_one(self, path: str, value: Any, doc_id: str) -> None:
        kind = self.types.get(path)
        if kind is None:
            if value is not None and not isinstance(value, Mapping):
                self._add_dynamic(path, value)
            return
        if kind == "object" and value is not None and not isinstance(value, Mapping):
            raise _object_conflict(path, doc_id)
        if kind != "object" and isinstance(value, Mapping):
            raise EsError(
                400,
                "document_parsing_exception",
                f"[1:1] failed to parse field [{path}] of type [{kind}] in document with id "
                f"'{doc_id}'. Preview of field's value: '{value}'",
            )
        if kind != "object" and value is not None and typed(kind, value) is None:
            raise _field_conflict(path, kind, value, doc_id)

    def _add_dynamic(self, path: str, value: Any) -> None:
        for i in range(1, path.count(".") + 1):
            self.types.setdefault(path.rsplit(".", i)[0], "object")
        if isinstance(value, bool):
            self.types[path] = "boolean"
        elif isinstance(value, int):
            self.types[path] = "long"
        elif isinstance(value, float):
            self.types[path] = "float"
        elif isinstance(value, str) and _ISO.match(value):
            self.types[path] = "date"
        else:
            self.types[path] = "text"
            self.types[f"{path}.keyword"] = "keyword"
            self.parents[f"{path}.keyword"] = path
            self.ignore_above[f"{path}.keyword"] = IGNORE_ABOVE

    def values(self, source: Mapping[str, Any], field: str) -> list[Any]:
        """The field's indexed values in a document, typed (dates as epoch millis)."""
        kind = self.types.get(field)
        if kind is None or kind == "object":
            return []
        raw = raw_values(source, self.parents.get(field, field))
        limit = self.ignore_above.get(field)
        found = []
        for value in raw:
            if limit is not None and isinstance(value, str) and len(value) > limit:
                continue  # why: ignore_above strings are stored but not indexed
            converted = typed(kind, value)
            if converted is not None:
                found.append(converted)
        return found


def _object_conflict(path: str, doc_id: str) -> EsError:
    return EsError(
        400,
        "document_parsing_exception",
        f"[1:1] object mapping for [{path}] tried to parse field [{path}] as object, but found "
        f"a concrete value (document id '{doc_id}')",
    )


def _field_conflict(path: str, kind: str, value: Any, doc_id: str) -> EsError:
    return EsError(
        400,
        "document_parsing_exception",
        f"[1:1] failed to parse field [{path}] of type [{kind}] in document with id '{doc_id}'. "
        f"Preview of field's value: '{value}'",
        caused_by={"type": "illegal_argument_exception", "reason": f'For input string: "{value}"'},
    )


def leaves(source: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every object and scalar in a document, arrays flattened."""
    for key, value in source.items():
        path = f"{prefix}{key}"
        items = value if isinstance(value, list) else [value]
        for item in items:
            yield path, item
            if isinstance(item, Mapping):
                yield from leaves(item, f"{path}.")


def raw_values(source: Mapping[str, Any], path: str) -> list[Any]:
    """Every value at `path`, through nested objects, dotted keys and arrays."""
    found: list[Any] = []
    if path in source:
        found += _flatten(source[path])
    parts = path.split(".")
    for i in range(1, len(parts)):
        for inner in _flatten(source.get(".".join(parts[:i]))):
            if isinstance(inner, Mapping):
                found += raw_values(inner, ".".join(parts[i:]))
    return [v for v in found if v is not None and not isinstance(v, Mapping)]


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [v for item in value for v in _flatten(item)]
    return [value]


def typed(kind: str, value: Any) -> Any:
    """A source value as the field type indexes it, or None when it does not parse."""
    try:
        if kind in INTEGRAL:
            return int(float(value)) if not isinstance(value, bool) else None
        if kind in NUMERIC:
            return float(value) if not isinstance(value, bool) else None
        if kind == "date":
            return parse_date(value, None)
        if kind == "boolean":
            return _boolean(value)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, str) else _keyword_text(value)


def _keyword_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False, "": False}.get(str(value))


def parse_date(value: Any, fmt: str | None) -> int:
    """Epoch milliseconds of a date in one of `fmt`'s `||`-separated formats."""
    formats = (fmt or "strict_date_optional_time||epoch_millis").split("||")
    for name in formats:
        parsed = _parse_one(value, name.strip())
        if parsed is not None:
            return parsed
    raise ValueError(f"failed to parse date field [{value}] with format [{fmt or formats[0]}]")


def _parse_one(value: Any, fmt: str) -> int | None:
    if fmt in ("epoch_millis", "epoch_second"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return int(number * (1000 if fmt == "epoch_second" else 1))
    if fmt in (
        "strict_date_optional_time",
        "date_optional_time",
        "strict_date_optional_time_nanos",
    ):
        if not isinstance(value, str) or not _ISO.match(value):
            return None
        at = datetime.fromisoformat(value.replace(",", "."))
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        return _millis(at)
    raise ValueError(f"Invalid format: [{fmt}]: Unknown pattern letter")


def _millis(at: datetime) -> int:
    # Truncate to the millisecond as the date type does, without float rounding.
    seconds = int(at.replace(microsecond=0).timestamp())
    return seconds * 1000 + at.microsecond // 1000


def format_millis(millis: int) -> str:
    """Epoch milliseconds as the server writes dates: `2026-01-05T06:00:00.000Z`."""
    at = datetime.fromtimestamp(millis // 1000, tz=UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"
