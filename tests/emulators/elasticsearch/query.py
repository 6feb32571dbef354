"""The query DSL subset: bool, term, terms, range, exists, match_all, match_none.

Parsing a query checks its structure (a malformed one fails the whole request with a
`parsing_exception`); binding it to one index's mapping checks its values against the
field types (a bad one fails that index's shard); the bound predicate tests documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import ShardError, parsing
from .mapping import NUMERIC, TEXT, IndexMapping, parse_date, typed
from .store import Doc

Predicate = Callable[[Doc], bool]
Query = Callable[[IndexMapping], Predicate]

_BOOL_KEYS = {"must", "filter", "should", "must_not", "minimum_should_match", "boost", "_name"}
_RANGE_KEYS = {"gte", "gt", "lte", "lt", "format", "boost", "_name", "relation", "time_zone"}
_TERM_KEYS = {"value", "boost", "case_insensitive", "_name"}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_query(query: Any) -> Query:
    """A query from its JSON; `parsing_exception` (400) when it is not well formed."""
    if query is None:
        return _match_all({})
    if not isinstance(query, Mapping):
        raise parsing("[_na] query malformed, must start with start_object")
    if not query:
        raise parsing("query malformed, empty clause found at [1:1]")
    if len(query) > 1:
        first = next(iter(query))
        raise parsing(f"[{first}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]")
    kind, spec = next(iter(query.items()))
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise parsing(
            f"unknown query [{kind}]",
            caused_by={
                "type": "named_object_not_found_exception",
                "reason": f"[1:1] unknown field [{kind}]",
            },
        )
    return builder(spec)


def _object(name: str, spec: Any) -> Mapping[str, Any]:
    if not isinstance(spec, Mapping):
        raise parsing(f"[{name}] query malformed, no start_object after query name")
    return spec


def _clauses(value: Any) -> list[Query]:
    items = value if isinstance(value, list) else [] if value is None else [value]
    return [parse_query(item) for item in items]


def _bool(spec: Any) -> Query:
    spec = _object("bool", spec)
    for key in spec:
        if key not in _BOOL_KEYS:
            raise parsing(f"[bool] query does not support [{key}]")
    must = _clauses(spec.get("must")) + _clauses(spec.get("filter"))
    should = _clauses(spec.get("should"))
    must_not = _clauses(spec.get("must_not"))
    default = 0 if must else min(1, len(should))
    wanted = _minimum_should_match(spec.get("minimum_should_match"), len(should), default)

    def bind(mapping: IndexMapping) -> Predicate:
        all_of = [q(mapping) for q in must]
        any_of = [q(mapping) for q in should]
        none_of = [q(mapping) for q in must_not]
        return lambda doc: (
            all(p(doc) for p in all_of)
            and not any(p(doc) for p in none_of)
            and (wanted == 0 or sum(1 for p in any_of if p(doc)) >= wanted)
        )

    return bind


def _minimum_should_match(value: Any, clauses: int, default: int) -> int:
    if value is None:
        return default
    text = str(value).strip()
    try:
        if text.endswith("%"):
            number = int(clauses * abs(float(text[:-1])) / 100)
            return clauses - number if text.startswith("-") else number
        number = int(text)
    except ValueError:
        raise parsing(f"[bool] failed to parse minimum_should_match [{value}]") from None
    return max(0, clauses + number) if number < 0 else number


def _single_field(name: str, spec: Any) -> tuple[str, Any]:
    spec = _object(name, spec)
    fields = [k for k in spec if k not in ("boost", "_name")]
    if len(fields) != 1:
        if not fields:
            raise parsing(f"[{name}] query requires a field name")
        raise parsing(
            f"[{name}] query doesn't support multiple fields, found [{fields[0]}] and [{fields[1]}]"
        )
    return fields[0], spec[fields[0]]


def _term(spec: Any) -> Query:
    field, value = _single_field("term", spec)
    insensitive = False
    if isinstance(value, Mapping):
        for key in value:
            if key not in _TERM_KEYS:
                raise parsing(f"[term] query does not support [{key}]")
        if "value" not in value:
            raise parsing("[term] query requires a value")
        insensitive = bool(value.get("case_insensitive", False))
        value = value["value"]
    if isinstance(value, list | Mapping):
        raise parsing("[term] query does not support array of values")
    return _values_in(field, [value], insensitive)


def _terms(spec: Any) -> Query:
    field, values = _single_field("terms", spec)
    if not isinstance(values, list):
        raise parsing(f"[terms] query does not support [{field}]")
    return _values_in(field, values, False)


def _values_in(field: str, wanted: list[Any], insensitive: bool) -> Query:
    def bind(mapping: IndexMapping) -> Predicate:
        kind = mapping.types.get(field)
        if kind is None or kind == "object":
            return _never
        if kind in TEXT:
            tokens = {str(v).lower() if insensitive else str(v) for v in wanted}
            return lambda doc: any(t in tokens for v in doc.values(field) for t in _tokens(v))
        targets = {_query_value(kind, v, field) for v in wanted}
        if insensitive:
            folded = {str(t).lower() for t in targets}
            return lambda doc: any(str(v).lower() in folded for v in doc.values(field))
        return lambda doc: any(v in targets for v in doc.values(field))

    return bind


def _tokens(text: str) -> list[str]:
    # The standard analyzer, near enough: lower-cased word characters.
    return re.findall(r"\w+", text.lower())


def _query_value(kind: str, value: Any, field: str) -> Any:
    if kind == "date":
        return _date(value, None, field)
    converted = typed(kind, value)
    if converted is None:
        raise ShardError(
            400, "query_shard_exception", f'failed to create query: For input string: "{value}"'
        )
    return converted


def _date(value: Any, fmt: str | None, field: str) -> int:
    if isinstance(value, str) and value.startswith("now"):
        return _date_math(value, field)
    try:
        return parse_date(value, fmt)
    except ValueError as exc:
        raise ShardError(400, "parse_exception", str(exc)) from None


def _date_math(text: str, field: str) -> int:
    match = re.fullmatch(r"now(?:([+-])(\d+)([smhdw]))?", text)
    if match is None:
        raise ShardError(400, "parse_exception", f"failed to parse date field [{text}] ({field})")
    at = datetime.now(UTC)
    if match.group(1):
        delta = timedelta(seconds=int(match.group(2)) * _UNITS[match.group(3)])
        at = at + delta if match.group(1) == "+" else at - delta
    return int(at.timestamp() * 1000)


def _range(spec: Any) -> Query:
    field, bounds = _single_field("range", spec)
    bounds = _object("range", bounds)
    for key in bounds:
        if key not in _RANGE_KEYS:
            raise parsing(f"[range] query does not support [{key}]")
    fmt = bounds.get("format")
    limits = {op: bounds[op] for op in ("gte", "gt", "lte", "lt") if bounds.get(op) is not None}

    def bind(mapping: IndexMapping) -> Predicate:
        kind = mapping.types.get(field)
        if kind is None or kind == "object":
            return _never
        typed_limits: dict[str, Any]
        if kind == "date":
            typed_limits = {op: _date(v, fmt, field) for op, v in limits.items()}
        elif kind in NUMERIC:
            typed_limits = {op: _query_value("double", v, field) for op, v in limits.items()}
        else:
            typed_limits = {op: str(v) for op, v in limits.items()}
        return lambda doc: any(_within(v, typed_limits) for v in doc.values(field))

    return bind


def _within(value: Any, limits: Mapping[str, Any]) -> bool:
    checks = {
        "gte": lambda bound: value >= bound,
        "gt": lambda bound: value > bound,
        "lte": lambda bound: value <= bound,
        "lt": lambda bound: value < bound,
    }
    return all(checks[op](bound) for op, bound in limits.items())


def _exists(spec: Any) -> Query:
    spec = _object("exists", spec)
    field = spec.get("field")
    if not isinstance(field, str):
        raise parsing("[exists] must be provided with a [field]")

    def bind(mapping: IndexMapping) -> Predicate:
        paths = [p for p in mapping.types if p == field or p.startswith(f"{field}.")]
        return lambda doc: any(doc.values(p) for p in paths)

    return bind


def _match_all(spec: Any) -> Query:
    _object("match_all", spec)
    return lambda mapping: _always


def _match_none(spec: Any) -> Query:
    _object("match_none", spec)
    return lambda mapping: _never


def _always(doc: Doc) -> bool:
    return True


def _never(doc: Doc) -> bool:
    return False


_BUILDERS: dict[str, Callable[[Any], Query]] = {
    "bool": _bool,
    "term": _term,
    "terms": _terms,
    "range": _range,
    "exists": _exists,
    "match_all": _match_all,
    "match_none": _match_none,
}
