"""LogSource over Elasticsearch 8 or 9: the error lines of a poll window, in one search.

The search filters the window's error-level or 5xx documents, returns the most recent
`sample_size` of them and aggregates true counts per service, so `LogBatch.totals` is
right even when the sample is not. Field names come from `EcsFields`; messages are
redacted and bounded before they leave this module; client errors become `SourceError`s.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from elasticsearch import (
    ApiError,
    ConnectionTimeout,
    Elasticsearch,
    SerializationError,
    TransportError,
    UnsupportedProductError,
)
from elasticsearch import ConnectionError as ConnectError

from healer.adapters.redact import redact, truncate
from healer.config import EcsFields, ElasticsearchSettings
from healer.domain.model import LogBatch, LogRecord, ServiceRef
from healer.errors import SourceGarbage, SourceUnavailable

log = logging.getLogger(__name__)

MAX_MESSAGE = 4000  # characters kept of one line: a stack trace can run to megabytes
MAX_SERVICES = 10_000  # service buckets per namespace; beyond this totals undercount
MAX_NAMESPACES = 1_000
_Body = dict[str, Any]


class ElasticsearchLogs:
    """`LogSource` over an index pattern; `queries` counts searches (one per `read`)."""

    def __init__(self, client: Elasticsearch, settings: ElasticsearchSettings) -> None:
        self.client = client
        self.settings = settings
        self.queries = 0

    @classmethod
    def from_settings(
        cls, settings: ElasticsearchSettings, *, api_key: str | None, password: str | None
    ) -> ElasticsearchLogs:
        """A client for `settings.hosts`; secrets come from the composition root."""
        basic_auth = (settings.username, password) if settings.username and password else None
        client = Elasticsearch(
            settings.hosts,
            api_key=api_key,
            basic_auth=basic_auth,
            request_timeout=settings.timeout,
            verify_certs=settings.verify_tls,
            # why: the next poll is the retry. Within a poll only fail over to another
            # node; retrying a 429 or 503 at once would add load to a struggling cluster.
            max_retries=max(0, len(settings.hosts) - 1),
            retry_on_status=(),
            retry_on_timeout=False,
        )
        return cls(client, settings)

    def read(self, since: datetime, until: datetime) -> LogBatch:
        body = search_body(self.settings, since, until)
        self.queries += 1
        response = self._search(body)
        return parse_batch(response, self.settings, since, until)

    def close(self) -> None:
        self.client.close()

    def _search(self, body: _Body) -> _Body:
        index = self.settings.index
        try:
            response = self.client.search(index=index, **body)
        # why (each): the pipeline holds its actions on any SourceError; the message is
        # what an on-call engineer reads, so it names the cause and never a credential.
        except UnsupportedProductError as exc:
            raise SourceGarbage(f"elasticsearch: {self._hosts()} is not Elasticsearch") from exc
        except ApiError as exc:
            raise _api_error(exc, index) from exc
        except ConnectionTimeout as exc:
            raise SourceUnavailable(
                f"elasticsearch: no answer from {self._hosts()} within {self.settings.timeout:g}s"
            ) from exc
        except ConnectError as exc:
            raise SourceUnavailable(
                f"elasticsearch: cannot connect to {self._hosts()}: {_safe(exc)}"
            ) from exc
        except SerializationError as exc:
            raise SourceGarbage(f"elasticsearch: unreadable answer: {_safe(exc)}") from exc
        except TransportError as exc:
            raise SourceUnavailable(f"elasticsearch: {_safe(exc)}") from exc
        if not isinstance(response.body, dict):
            raise SourceGarbage("elasticsearch: search answered with no JSON object")
        return response.body

    def _hosts(self) -> str:
        return redact(", ".join(self.settings.hosts))


def search_body(settings: ElasticsearchSettings, since: datetime, until: datetime) -> _Body:
    """The one search of a poll: window [since, until), errors only, counts per service."""
    f = settings.fields
    window = {"gte": _iso(since), "lt": _iso(until), "format": "strict_date_optional_time"}
    return {
        "query": {
            "bool": {
                "filter": [{"range": {f.timestamp: window}}],
                "should": [
                    {"range": {f.status_code: {"gte": 500}}},
                    {"terms": {f.level: _level_spellings(settings.error_levels)}},
                ],
                "minimum_should_match": 1,
            }
        },
        "size": settings.sample_size,
        # why: no unmapped_type, so a misnamed timestamp field fails loudly (400) rather
        # than reading as a quiet window.
        "sort": [{f.timestamp: {"order": "desc"}}],
        "source": {"includes": _source_paths(f)},
        "track_total_hits": False,  # the aggregation counts; no need to count twice
        "aggs": {
            "namespaces": {
                "terms": {
                    "field": f.namespace,
                    "size": MAX_NAMESPACES,
                    "missing": settings.default_namespace,
                },
                "aggs": {"services": {"terms": {"field": f.service, "size": MAX_SERVICES}}},
            }
        },
    }


def parse_batch(
    response: Mapping[str, Any], settings: ElasticsearchSettings, since: datetime, until: datetime
) -> LogBatch:
    """The `LogBatch` a search response describes; `SourceGarbage` if it is malformed."""
    _check_shards(response, settings.index)
    try:
        hits = response["hits"]["hits"]
        buckets = response["aggregations"]["namespaces"]
        totals = _totals(buckets)
        skipped: Counter[str] = Counter()
        records = [r for hit in hits if (r := _record(hit, settings, skipped)) is not None]
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceGarbage(f"elasticsearch: unexpected search answer ({exc!r})") from exc
    if skipped:
        log.warning("elasticsearch: skipped %d sampled lines: %s", sum(skipped.values()), skipped)
    records.sort(key=lambda r: r.at)
    return LogBatch(since, until, tuple(records), totals)


def _totals(namespaces: Mapping[str, Any]) -> dict[ServiceRef, int]:
    totals: dict[ServiceRef, int] = {}
    other = int(namespaces.get("sum_other_doc_count", 0))
    for ns in namespaces["buckets"]:
        services = ns["services"]
        other += int(services.get("sum_other_doc_count", 0))
        for bucket in services["buckets"]:
            ref = ServiceRef(_key(ns), _key(bucket))
            totals[ref] = totals.get(ref, 0) + int(bucket["doc_count"])
    if other:
        # why: more services than buckets; the counts that are there are still true.
        log.warning("elasticsearch: %d error lines fell outside the service buckets", other)
    return totals


def _record(
    hit: Mapping[str, Any], s: ElasticsearchSettings, skipped: Counter[str]
) -> LogRecord | None:
    f = s.fields
    source = hit.get("_source") or {}
    service = _text(source_value(source, f.service))
    if not service:
        skipped["no service"] += 1
        return None
    at = _timestamp(source_value(source, f.timestamp), hit.get("sort"))
    if at is None:
        skipped["unreadable timestamp"] += 1
        return None
    return LogRecord(
        at=at,
        service=ServiceRef(
            _text(source_value(source, f.namespace)) or s.default_namespace, service
        ),
        level=(_text(source_value(source, f.level)) or "error").lower(),
        message=truncate(redact(_message(source, f)), MAX_MESSAGE),
        status_code=_int(source_value(source, f.status_code)),
        error_type=_text(source_value(source, f.error_type)),
        trace_id=_text(source_value(source, f.trace_id)),
    )


def source_value(source: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, whether `_source` nests objects or keeps dotted keys."""
    found = _lookup(source, path)
    if found is None and "." in path:
        # why: a multi-field such as `service.name.keyword` is indexed, not stored; its
        # parent holds the value in `_source`.
        parent = _lookup(source, path.rpartition(".")[0])
        if not isinstance(parent, Mapping):
            return parent
    return found


def _lookup(source: Mapping[str, Any], path: str) -> Any:
    if path in source:
        return source[path]
    parts = path.split(".")
    for i in range(1, len(parts)):
        inner = source.get(".".join(parts[:i]))
        if isinstance(inner, Mapping):
            found = _lookup(inner, ".".join(parts[i:]))
            if found is not None:
                return found
    return None


def _message(source: Mapping[str, Any], f: EcsFields) -> str:
    message = _text(source_value(source, f.message))
    if message:
        return message
    # why: some loggers put the error in error.* and leave `message` empty.
    parts = [_text(source_value(source, p)) for p in (f.error_type, f.error_message)]
    return ": ".join(p for p in parts if p)


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or isinstance(value, Mapping):
        return None
    return str(value)


def _int(value: Any) -> int | None:
    text = _text(value)
    try:
        return int(float(text)) if text is not None else None
    except ValueError:
        return None


def _timestamp(value: Any, sort: Any) -> datetime | None:
    text = _text(value)
    if text is not None:
        try:
            at = datetime.fromisoformat(text)
            return at if at.tzinfo else at.replace(tzinfo=UTC)
        except ValueError:
            pass
    # why: the sort value of a date field is epoch milliseconds whatever the source holds.
    if isinstance(sort, list) and sort and isinstance(sort[0], int):
        return datetime.fromtimestamp(sort[0] / 1000, tz=UTC)
    return None


def _key(bucket: Mapping[str, Any]) -> str:
    return str(bucket.get("key_as_string", bucket["key"]))


def _iso(at: datetime) -> str:
    # why: Elasticsearch dates are milliseconds; truncating both ends keeps consecutive
    # windows [a, b) and [b, c) exact partitions.
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _level_spellings(levels: list[str]) -> list[str]:
    # why: `log.level` is a keyword, matched case-sensitively; loggers disagree on case.
    spellings = {
        s for level in levels for s in (level, level.lower(), level.upper(), level.title())
    }
    return sorted(spellings)


def _source_paths(f: EcsFields) -> list[str]:
    paths = [
        f.timestamp, f.service, f.namespace, f.level, f.status_code,
        f.message, f.error_type, f.error_message, f.trace_id,
    ]  # fmt: skip
    parents = [p.rpartition(".")[0] for p in paths if p.endswith((".keyword", ".raw"))]
    return sorted(set(paths + parents))


def _check_shards(response: Mapping[str, Any], index: str) -> None:
    shards = response.get("_shards")
    if isinstance(shards, Mapping) and shards.get("total") == 0:
        # why: a pattern that matches no index answers 200 and nothing; that is no log
        # pipeline at all, not a quiet window.
        raise SourceUnavailable(f"elasticsearch: no index matches {index!r}")
    if isinstance(shards, Mapping) and shards.get("failed"):
        log.warning(
            "elasticsearch: %s of %s shards failed; counts may be low",
            shards.get("failed"),
            shards.get("total"),
        )
    if response.get("timed_out"):
        log.warning("elasticsearch: search timed out; counts may be low")


def _api_error(exc: ApiError, index: str) -> SourceUnavailable:
    status, kind, reason = exc.meta.status, *_error_reason(exc.body)
    if status in (401, 403):
        what = "authentication failed" if status == 401 else "not authorised to search"
        return SourceUnavailable(
            f"elasticsearch: {what} ({status} {kind}): check the API key or user; {reason}"
        )
    if status == 404:
        return SourceUnavailable(f"elasticsearch: no index matches {index!r} ({kind}): {reason}")
    if status == 429:
        return SourceUnavailable(f"elasticsearch: overloaded, search rejected (429 {kind})")
    if status == 400:
        return SourceUnavailable(
            f"elasticsearch: search refused (400 {kind}): {reason}; "
            "check sources.logs.elasticsearch.fields against the index mapping"
        )
    return SourceUnavailable(f"elasticsearch: unavailable ({status} {kind}): {reason}")


def _error_reason(body: Any) -> tuple[str, str]:
    """(type, reason) of the most specific cause in an error body."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return "error", redact(str(error or body))[:300]
    causes = error.get("root_cause")
    cause = causes[0] if isinstance(causes, list) and causes else error
    cause = cause if isinstance(cause, Mapping) else error
    kind = str(cause.get("type") or error.get("type") or "error")
    return kind, redact(str(cause.get("reason") or error.get("reason") or ""))[:300]


def _safe(exc: Exception) -> str:
    # why: a transport error's str() drops the cause ("Connection error"); its message
    # keeps it ("... [Errno 111] Connection refused").
    detail = exc.message if isinstance(exc, TransportError) else exc
    return redact(str(detail))[:300]
