"""Ships the simulated cluster's log lines to Elasticsearch, as a log shipper would.

Each `LogRecord` becomes an Elastic Common Schema document, sent with the bulk API to
one index, created on first use with keyword mappings (so the healer's aggregations
work on it as on a real cluster's log indices). A failed shipment is logged and dropped,
not raised: the simulation keeps running while Elasticsearch is down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any

from elasticsearch import ApiError, BadRequestError, Elasticsearch, TransportError, helpers

from healer.domain.model import LogRecord

log = logging.getLogger(__name__)

# The fields the healer's default `EcsFields` read, typed as Elastic Common Schema types them.
ECS_MAPPINGS: dict[str, Any] = {
    "properties": {
        "@timestamp": {"type": "date"},
        "message": {"type": "match_only_text"},
        "service": {"properties": {"name": {"type": "keyword"}}},
        "kubernetes": {"properties": {"namespace": {"type": "keyword"}}},
        "log": {"properties": {"level": {"type": "keyword"}}},
        "http": {"properties": {"response": {"properties": {"status_code": {"type": "long"}}}}},
        "error": {
            "properties": {"type": {"type": "keyword"}, "message": {"type": "match_only_text"}}
        },
        "trace": {"properties": {"id": {"type": "keyword"}}},
        "event": {"properties": {"dataset": {"type": "keyword"}}},
    }
}


class LogShipper:
    """Sends log records to `index`; `ship` returns how many documents were indexed."""

    def __init__(self, hosts: list[str], index: str) -> None:
        self.index = index
        self._client = Elasticsearch(hosts, request_timeout=10.0)
        self._index_ready = False

    def ship(self, records: Iterable[LogRecord]) -> int:
        actions = [self._action(r) for r in records]
        if not actions:
            return 0
        try:
            self._ensure_index()
            indexed, errors = helpers.bulk(self._client, actions, raise_on_error=False)
        # why: Elasticsearch being down is a scenario the healer must survive, so the
        # simulation must survive it too; these lines are lost, as with a shipper's full buffer.
        except (ApiError, TransportError) as exc:
            log.warning(
                "log shipping to %s failed, %d lines dropped: %s", self.index, len(actions), exc
            )
            return 0
        if isinstance(errors, list) and errors:
            log.warning(
                "log shipping: %d of %d lines refused, first: %s",
                len(errors),
                len(actions),
                errors[0],
            )
        return indexed

    def close(self) -> None:
        self._client.close()

    def _ensure_index(self) -> None:
        if self._index_ready:
            return
        try:
            self._client.indices.create(index=self.index, mappings=ECS_MAPPINGS)
        except BadRequestError as exc:
            # why: another shipper (or an earlier run) created it; its mapping stands.
            if exc.error != "resource_already_exists_exception":
                raise
        self._index_ready = True

    def _action(self, record: LogRecord) -> dict[str, Any]:
        return {"_index": self.index, "_source": ecs_document(record)}


def ecs_document(record: LogRecord) -> dict[str, Any]:
    """A log record as an Elastic Common Schema document."""
    at = record.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    doc: dict[str, Any] = {
        "@timestamp": at,
        "message": record.message,
        "service": {"name": record.service.name},
        "kubernetes": {"namespace": record.service.namespace},
        "log": {"level": record.level},
        "event": {"dataset": "healer.sim"},
    }
    doc.update(_optional(record))
    return doc


def _optional(record: LogRecord) -> Iterator[tuple[str, Any]]:
    if record.status_code is not None:
        yield "http", {"response": {"status_code": record.status_code}}
    if record.error_type is not None:
        yield "error", {"type": record.error_type}
    if record.trace_id is not None:
        yield "trace", {"id": record.trace_id}
