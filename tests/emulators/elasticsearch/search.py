"""`_search` and `_count`: resolve the indices, match, sort, page, filter `_source`, aggregate.

Each index plays one shard. A shard that cannot run the request (an unmapped sort field,
fielddata on a text field) is reported in `_shards.failures`; when every shard fails
the request fails with the server's `search_phase_execution_exception`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .aggs import Agg, check_aggs, parse_aggs, run_aggs
from .errors import EsError, ShardError, all_shards_failed, fielddata_disabled, shard_failures
from .mapping import INTEGRAL, NUMERIC, TEXT
from .query import Query, parse_query
from .source import filter_source
from .store import Doc, Index, Store

MAX_RESULT_WINDOW = 10_000
_BODY_KEYS = {
    "query", "size", "from", "sort", "_source", "track_total_hits", "aggs", "aggregations",
    "timeout",
}  # fmt: skip
_LONG_MAX, _LONG_MIN = 2**63 - 1, -(2**63)


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool
    unmapped_type: str | None


@dataclass(frozen=True)
class Request:
    query: Any
    size: int
    offset: int
    sort: tuple[SortKey, ...]
    source: Any
    track_total_hits: Any
    aggs: tuple[Agg, ...]


def search(
    store: Store, expression: str, params: Mapping[str, str], body: Mapping[str, Any]
) -> dict[str, Any]:
    request = parse_request(body, params)
    query = parse_query(request.query)
    with store.lock:
        indices = _resolve(store, expression, params)
        docs, failures = _match(indices, query, request)
    if indices and len(failures) == len(indices):
        raise all_shards_failed(
            max(e.status for _, e in failures), [(i, e.reason) for i, e in failures]
        )
    docs.sort(key=_sort_key(request.sort))
    page = docs[request.offset : request.offset + request.size]
    response: dict[str, Any] = {
        "took": 1,
        "timed_out": False,
        "_shards": _shards(indices, failures),
        "hits": _hits(page, len(docs), request, params),
    }
    if request.aggs:
        response["aggregations"] = run_aggs(request.aggs, docs)
    return response


def count(
    store: Store, expression: str, params: Mapping[str, str], body: Mapping[str, Any]
) -> dict[str, Any]:
    for key in body:
        if key != "query":
            raise EsError(
                400, "parsing_exception", f"request does not support [{key}]", line=1, col=1
            )
    query = parse_query(body.get("query"))
    request = Request(None, 0, 0, (), False, False, ())
    with store.lock:
        indices = _resolve(store, expression, params)
        docs, failures = _match(indices, query, request)
    return {"count": len(docs), "_shards": _shards(indices, failures)}


def parse_request(body: Mapping[str, Any], params: Mapping[str, str]) -> Request:
    for key, value in body.items():
        if key not in _BODY_KEYS:
            token = (
                "START_OBJECT"
                if isinstance(value, dict)
                else "START_ARRAY"
                if isinstance(value, list)
                else "VALUE"
            )
            raise EsError(
                400, "parsing_exception", f"Unknown key for a {token} in [{key}].", line=1, col=1
            )
    size = int(params.get("size", body.get("size", 10)))
    offset = int(params.get("from", body.get("from", 0)))
    if size < 0 or offset < 0:
        raise EsError(
            400,
            "illegal_argument_exception",
            f"[size] parameter cannot be negative, found [{size}]",
        )
    if size + offset > MAX_RESULT_WINDOW:
        raise all_shards_failed(400, [("", _window_too_large(size + offset))])
    total = params.get("track_total_hits", body.get("track_total_hits", MAX_RESULT_WINDOW))
    return Request(
        query=body.get("query"),
        size=size,
        offset=offset,
        sort=_parse_sort(body.get("sort")),
        source=body.get("_source", params.get("_source", True)),
        track_total_hits=total,
        aggs=parse_aggs(body.get("aggs", body.get("aggregations"))),
    )


def _window_too_large(window: int) -> dict[str, Any]:
    return {
        "type": "illegal_argument_exception",
        "reason": f"Result window is too large, from + size must be less than or equal to: "
        f"[{MAX_RESULT_WINDOW}] but was [{window}]. See the scroll api for a more efficient way "
        "to request large data sets. This limit can be set by changing the "
        "[index.max_result_window] index level setting.",
    }


def _parse_sort(spec: Any) -> tuple[SortKey, ...]:
    items = spec if isinstance(spec, list) else [] if spec is None else [spec]
    keys = []
    for item in items:
        if isinstance(item, str):
            keys.append(SortKey(item, item == "_score", None))
            continue
        if not isinstance(item, Mapping) or len(item) != 1:
            raise EsError(
                400,
                "parsing_exception",
                "malformed sort format, within the sort array, an object, or an actual string "
                "are allowed",
                line=1,
                col=1,
            )
        ((field, options),) = item.items()
        if isinstance(options, str):
            options = {"order": options}
        order = options.get("order", "desc" if field == "_score" else "asc")
        if order not in ("asc", "desc"):
            raise EsError(
                400, "parsing_exception", f"[field_sort] unknown order [{order}]", line=1, col=1
            )
        keys.append(SortKey(field, order == "desc", options.get("unmapped_type")))
    return tuple(keys)


def _resolve(store: Store, expression: str, params: Mapping[str, str]) -> list[Index]:
    return store.resolve(
        expression,
        ignore_unavailable=params.get("ignore_unavailable") == "true",
        allow_no_indices=params.get("allow_no_indices", "true") == "true",
    )


def _match(
    indices: list[Index], query: Query, request: Request
) -> tuple[list[Doc], list[tuple[str, ShardError]]]:
    docs: list[Doc] = []
    failures: list[tuple[str, ShardError]] = []
    for index in indices:
        try:
            _check_sort(request.sort, index)
            check_aggs(request.aggs, index.mapping, index.name)
            predicate = query(index.mapping)
            docs += [doc for doc in index.docs.values() if predicate(doc)]
        except ShardError as exc:
            failures.append((index.name, exc))
    return docs, failures


def _check_sort(keys: tuple[SortKey, ...], index: Index) -> None:
    for key in keys:
        if key.field in ("_doc", "_score"):
            continue
        kind = index.mapping.types.get(key.field)
        if kind is None and key.unmapped_type is None:
            raise ShardError(
                400,
                "query_shard_exception",
                f"No mapping found for [{key.field}] in order to sort on",
            )
        if kind in TEXT:
            raise fielddata_disabled(key.field, index.name)


def _sort_key(keys: tuple[SortKey, ...]) -> Callable[[Doc], tuple[Any, ...]]:
    def key(doc: Doc) -> tuple[Any, ...]:
        out: list[Any] = []
        for sort in keys:
            if sort.field in ("_doc", "_score"):
                out.append(doc.seq)
                continue
            value = _sort_value(doc, sort)
            missing = value is None
            # Missing values sort last whatever the order.
            out.append((missing, _Directed(value, sort.descending)))
        out.append(doc.seq)
        return tuple(out)

    return key


class _Directed:
    def __init__(self, value: Any, descending: bool) -> None:
        self.value, self.descending = value, descending

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Directed) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __lt__(self, other: _Directed) -> bool:
        if self.value is None or other.value is None:
            return False
        return bool(self.value > other.value) if self.descending else bool(self.value < other.value)


def _sort_value(doc: Doc, sort: SortKey) -> Any:
    values = doc.values(sort.field)
    if not values:
        return None
    # A multi-valued field sorts by its largest value descending, its smallest ascending.
    return max(values) if sort.descending else min(values)


def _hits(
    page: list[Doc], total: int, request: Request, params: Mapping[str, str]
) -> dict[str, Any]:
    hits: dict[str, Any] = {}
    tracked = request.track_total_hits
    if tracked is not False:
        limit = None if tracked is True else int(tracked)
        exact = limit is None or total <= limit
        total_hits = {"value": total if exact else limit, "relation": "eq" if exact else "gte"}
        hits["total"] = (
            total_hits["value"] if params.get("rest_total_hits_as_int") == "true" else total_hits
        )
    sorted_by_field = any(k.field != "_score" for k in request.sort)
    hits["max_score"] = None if sorted_by_field or not page else 1.0
    hits["hits"] = [_hit(doc, request, sorted_by_field) for doc in page]
    return hits


def _hit(doc: Doc, request: Request, sorted_by_field: bool) -> dict[str, Any]:
    hit: dict[str, Any] = {
        "_index": doc.index,
        "_id": doc.id,
        "_score": None if sorted_by_field else 1.0,
    }
    source = filter_source(doc.source, request.source)
    if source is not None:
        hit["_source"] = source
    if request.sort:
        hit["sort"] = [_shown_sort_value(doc, key) for key in request.sort]
    return hit


def _shown_sort_value(doc: Doc, key: SortKey) -> Any:
    if key.field in ("_doc", "_score"):
        return doc.seq if key.field == "_doc" else 1.0
    value = _sort_value(doc, key)
    kind = doc.mapping.types.get(key.field) or key.unmapped_type or "keyword"
    if value is None:
        # The server shows a missing number as the extreme that sorts it last.
        if kind == "date" or kind in INTEGRAL:
            return _LONG_MIN if key.descending else _LONG_MAX
        return "-Infinity" if kind in NUMERIC and key.descending else None
    return value


def _shards(indices: list[Index], failures: list[tuple[str, ShardError]]) -> dict[str, Any]:
    shards: dict[str, Any] = {
        "total": len(indices),
        "successful": len(indices) - len(failures),
        "skipped": 0,
        "failed": len(failures),
    }
    if failures:
        shards["failures"] = shard_failures([(i, e.reason) for i, e in failures])
    return shards
