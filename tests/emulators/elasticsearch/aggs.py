"""Bucket aggregations: `terms` and `date_histogram`, each with nested sub-aggregations.

As in the server, structure errors fail the request (400), a field of the wrong type
fails the shard (terms on a `text` field: fielddata is disabled), and buckets are
computed over every matching document of every searched index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import EsError, ShardError, fielddata_disabled, parsing
from .mapping import INTEGRAL, NUMERIC, TEXT, IndexMapping, format_millis, parse_date
from .store import Doc

_TERMS_KEYS = {"field", "size", "order", "min_doc_count", "missing", "shard_size"}
_HISTOGRAM_KEYS = {
    "field", "fixed_interval", "calendar_interval", "min_doc_count", "extended_bounds",
    "format", "time_zone", "order",
}  # fmt: skip
_FIXED_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_CALENDAR = {"minute": "1m", "hour": "1h", "day": "1d", "1m": "1m", "1h": "1h", "1d": "1d"}
_UTC = {"UTC", "Z", "+00:00", "Etc/UTC", "GMT"}


@dataclass(frozen=True)
class Agg:
    name: str
    kind: str  # "terms" or "date_histogram"
    params: Mapping[str, Any]
    subs: tuple[Agg, ...]


def parse_aggs(spec: Any) -> tuple[Agg, ...]:
    """The aggregation tree of a request; `parsing_exception` when malformed."""
    if spec is None:
        return ()
    if not isinstance(spec, Mapping):
        raise parsing("Expected [START_OBJECT] under [aggs], but got a value")
    return tuple(_parse_one(name, body) for name, body in spec.items())


def _parse_one(name: str, body: Any) -> Agg:
    if not isinstance(body, Mapping):
        raise parsing(f"Expected [START_OBJECT] under [{name}], but got a value")
    kinds = [k for k in body if k not in ("aggs", "aggregations", "meta")]
    if len(kinds) != 1:
        if not kinds:
            raise parsing(f"Missing definition for aggregation [{name}]")
        raise parsing(
            f"Found two aggregation type definitions in [{name}]: [{kinds[0]}] and [{kinds[1]}]"
        )
    kind = kinds[0]
    params = body[kind]
    if kind not in ("terms", "date_histogram"):
        raise parsing(f"Unknown aggregation type [{kind}]")
    if not isinstance(params, Mapping):
        raise parsing(f"Expected [START_OBJECT] under [{kind}], but got a value")
    allowed = _TERMS_KEYS if kind == "terms" else _HISTOGRAM_KEYS
    for key in params:
        if key not in allowed:
            raise EsError(400, "x_content_parse_exception", f"[1:1] [{kind}] unknown field [{key}]")
    if not isinstance(params.get("field"), str):
        raise EsError(
            400,
            "illegal_argument_exception",
            "Required one of fields [field, script], but none were specified.",
        )
    if kind == "date_histogram":
        _interval(params)  # validated now: a bad interval fails the request, not a shard
    subs = parse_aggs(body.get("aggs", body.get("aggregations")))
    return Agg(name, kind, params, subs)


def check_aggs(aggs: Iterable[Agg], mapping: IndexMapping, index: str) -> None:
    """Fail this index's shard when an aggregation cannot run on its field types."""
    for agg in aggs:
        field = agg.params["field"]
        kind = mapping.types.get(field)
        if kind in TEXT:
            raise fielddata_disabled(field, index)
        if (
            agg.kind == "date_histogram"
            and kind is not None
            and kind != "date"
            and kind not in NUMERIC
        ):
            raise ShardError(
                400,
                "illegal_argument_exception",
                f"Field [{field}] of type [{kind}] is not supported for aggregation "
                "[date_histogram]",
            )
        check_aggs(agg.subs, mapping, index)


def run_aggs(aggs: Iterable[Agg], docs: list[Doc]) -> dict[str, Any]:
    return {agg.name: _run(agg, docs) for agg in aggs}


def _run(agg: Agg, docs: list[Doc]) -> dict[str, Any]:
    if agg.kind == "terms":
        return _terms(agg, docs)
    return _histogram(agg, docs)


def _terms(agg: Agg, docs: list[Doc]) -> dict[str, Any]:
    field, params = agg.params["field"], agg.params
    groups: dict[Any, list[Doc]] = {}
    for doc in docs:
        values = doc.values(field)
        if not values and "missing" in params:
            values = [params["missing"]]
        for value in dict.fromkeys(values):  # a doc counts once per distinct value
            groups.setdefault(_bucket_key(doc, field, value), []).append(doc)
    ordered = sorted(groups.items(), key=_order_key(params.get("order")))
    ordered = [(k, g) for k, g in ordered if len(g) >= int(params.get("min_doc_count", 1))]
    size = int(params.get("size", 10))
    shown, hidden = ordered[:size], ordered[size:]
    return {
        "doc_count_error_upper_bound": 0,
        "sum_other_doc_count": sum(len(g) for _, g in hidden),
        "buckets": [_bucket(key, group, agg) for key, group in shown],
    }


def _bucket_key(doc: Doc, field: str, value: Any) -> tuple[str, Any]:
    kind = doc.mapping.types.get(field)
    if kind == "date":
        return ("date", value)
    if kind == "boolean":
        return ("boolean", bool(value))
    if kind in INTEGRAL:
        return ("long", int(value))
    if kind in NUMERIC:
        return ("double", float(value))
    return ("keyword", value)


def _bucket(key: tuple[str, Any], group: list[Doc], agg: Agg) -> dict[str, Any]:
    kind, value = key
    bucket: dict[str, Any] = {"key": value}
    if kind == "date":
        bucket["key_as_string"] = format_millis(value)
    elif kind == "boolean":
        bucket = {"key": int(value), "key_as_string": "true" if value else "false"}
    bucket["doc_count"] = len(group)
    bucket.update(run_aggs(agg.subs, group))
    return bucket


def _order_key(order: Any) -> Any:
    rules = order if isinstance(order, list) else [order] if order else [{"_count": "desc"}]
    parsed: list[tuple[str, bool]] = []
    for rule in rules:
        if not isinstance(rule, Mapping) or len(rule) != 1:
            raise parsing("Invalid terms aggregation order")
        ((what, direction),) = rule.items()
        if what not in ("_count", "_key") or direction not in ("asc", "desc"):
            raise EsError(
                400, "aggregation_execution_exception", f"Invalid aggregation order path [{what}]"
            )
        parsed.append((what, direction == "desc"))
    if not any(what == "_key" for what, _ in parsed):
        parsed.append(("_key", False))  # ties break on the key, ascending

    def key(item: tuple[tuple[str, Any], list[Doc]]) -> tuple[Any, ...]:
        (_, value), group = item
        out: list[Any] = []
        for what, descending in parsed:
            if what == "_count":
                out.append(-len(group) if descending else len(group))
            else:
                out.append(_Reverse(value) if descending else _Ordered(value))
        return tuple(out)

    return key


class _Ordered:
    """Compares keys of mixed types (numbers before strings) without TypeErrors."""

    def __init__(self, value: Any) -> None:
        self.rank = (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ordered) and self.rank == other.rank

    def __hash__(self) -> int:
        return hash(self.rank)

    def __lt__(self, other: _Ordered) -> bool:
        return self.rank < other.rank


class _Reverse(_Ordered):
    def __lt__(self, other: _Ordered) -> bool:
        return self.rank > other.rank


def _interval(params: Mapping[str, Any]) -> int:
    fixed, calendar = params.get("fixed_interval"), params.get("calendar_interval")
    if fixed is None and calendar is None:
        raise illegal("Invalid interval specified, must be non-null and non-empty")
    if fixed is not None and calendar is not None:
        raise illegal("Cannot use [fixed_interval] with [calendar_interval] configuration option.")
    if calendar is not None:
        if str(calendar) not in _CALENDAR:
            raise illegal(
                f"The supplied interval [{calendar}] could not be parsed as a calendar interval."
            )
        fixed = _CALENDAR[str(calendar)]
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(fixed))
    if match is None or int(match.group(1)) == 0:
        raise illegal(
            "failed to parse setting [date_histogram.fixedInterval] with value "
            f"[{fixed}] as a time value: unit is missing or unrecognized"
        )
    if str(params.get("time_zone", "UTC")) not in _UTC:
        raise illegal("the emulator only supports time_zone UTC")
    return int(match.group(1)) * _FIXED_UNITS[match.group(2)]


def illegal(reason: str) -> EsError:
    return EsError(400, "illegal_argument_exception", reason)


def _histogram(agg: Agg, docs: list[Doc]) -> dict[str, Any]:
    field, params = agg.params["field"], agg.params
    step = _interval(params)
    groups: dict[int, list[Doc]] = {}
    for doc in docs:
        for value in dict.fromkeys(int(v) // step * step for v in doc.values(field)):
            groups.setdefault(value, []).append(doc)
    keys = _histogram_keys(groups, step, params)
    return {"buckets": [_bucket(("date", key), groups.get(key, []), agg) for key in keys]}


def _histogram_keys(
    groups: Mapping[int, list[Doc]], step: int, params: Mapping[str, Any]
) -> list[int]:
    min_count = int(params.get("min_doc_count", 0))
    if min_count > 0:
        return sorted(k for k, g in groups.items() if len(g) >= min_count)
    bounds = sorted(groups)
    extended = params.get("extended_bounds") or {}
    for edge in (extended.get("min"), extended.get("max")):
        if edge is not None:
            bounds.append(parse_date(edge, params.get("format")) // step * step)
    if not bounds:
        return []
    return list(range(min(bounds), max(bounds) + step, step))  # empty buckets filled in
