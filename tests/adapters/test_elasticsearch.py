"""ElasticsearchLogs end to end: the real client against the emulator, documents shipped
by LogShipper or indexed as other log pipelines write them, read back through `read`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers

from healer.adapters.elasticsearch import MAX_MESSAGE, ElasticsearchLogs, search_body
from healer.config import EcsFields, ElasticsearchSettings
from healer.domain.model import LogRecord, ServiceRef
from healer.errors import SourceUnavailable
from healer.sim.shipping import LogShipper
from tests.emulators.elasticsearch import ElasticsearchEmulator

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
SHOP = ServiceRef("shop", "checkout")
CART = ServiceRef("shop", "cart")
PAY = ServiceRef("payments", "gateway")


@pytest.fixture
def es() -> Iterator[ElasticsearchEmulator]:
    with ElasticsearchEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(es: ElasticsearchEmulator) -> Iterator[Elasticsearch]:
    with Elasticsearch(es.url) as c:
        yield c


def settings(es: ElasticsearchEmulator, **overrides: Any) -> ElasticsearchSettings:
    values: dict[str, Any] = {"hosts": [es.url], "index": "logs-*", "timeout": 2.0}
    return ElasticsearchSettings(**(values | overrides))


@pytest.fixture
def logs(es: ElasticsearchEmulator) -> Iterator[ElasticsearchLogs]:
    source = ElasticsearchLogs.from_settings(settings(es), api_key=None, password=None)
    yield source
    source.close()


def ship(es: ElasticsearchEmulator, records: list[LogRecord], index: str = "logs-sim") -> int:
    shipper = LogShipper([es.url], index)
    try:
        return shipper.ship(records)
    finally:
        shipper.close()


def line(service: ServiceRef, seconds: float, message: str = "boom", **kw: Any) -> LogRecord:
    values: dict[str, Any] = {"level": "error", "status_code": 500} | kw
    return LogRecord(T0 + timedelta(seconds=seconds), service, message=message, **values)


def test_shipped_lines_come_back_with_their_services_and_fields(
    es: ElasticsearchEmulator, logs: ElasticsearchLogs
) -> None:
    sent = [
        line(
            SHOP,
            1,
            "HikariPool-1 - Connection is not available",
            error_type="java.sql.SQLException",
            trace_id="ab" * 16,
        ),
        line(CART, 2, "upstream connect error", status_code=503),
        line(PAY, 3, "card declined handler crashed", status_code=None),
    ]
    assert ship(es, sent) == 3

    batch = logs.read(T0, T0 + timedelta(minutes=1))

    assert batch.records == tuple(sent)  # oldest first, every field intact
    assert batch.totals == {SHOP: 1, CART: 1, PAY: 1}
    assert (batch.since, batch.until) == (T0, T0 + timedelta(minutes=1))


def test_totals_count_every_line_while_the_sample_keeps_the_most_recent(
    es: ElasticsearchEmulator,
) -> None:
    sent = [line(SHOP, i * 0.5) for i in range(60)] + [line(CART, 0.25 + i) for i in range(25)]
    assert ship(es, sent) == 85
    source = ElasticsearchLogs.from_settings(
        settings(es, sample_size=10), api_key=None, password=None
    )

    batch = source.read(T0, T0 + timedelta(minutes=1))
    source.close()

    assert batch.totals == {SHOP: 60, CART: 25}
    assert len(batch.records) == 10
    newest = sorted(r.at for r in sent)[-10:]
    assert [r.at for r in batch.records] == newest


def test_the_window_includes_its_start_and_excludes_its_end(
    es: ElasticsearchEmulator, logs: ElasticsearchLogs
) -> None:
    ms = 0.001
    ship(es, [line(SHOP, s) for s in (10 - ms, 10, 20 - ms, 20)])

    batch = logs.read(T0 + timedelta(seconds=10), T0 + timedelta(seconds=20))

    got = sorted((r.at - T0).total_seconds() for r in batch.records)
    assert got == pytest.approx([10, 20 - ms])
    assert batch.totals == {SHOP: 2}
    # Consecutive windows partition the lines: nothing is counted twice or lost.
    before = logs.read(T0, T0 + timedelta(seconds=10))
    after = logs.read(T0 + timedelta(seconds=20), T0 + timedelta(seconds=30))
    assert before.totals[SHOP] + batch.totals[SHOP] + after.totals[SHOP] == 4


def test_only_error_levels_or_5xx_are_read(
    es: ElasticsearchEmulator, logs: ElasticsearchLogs
) -> None:
    ship(
        es,
        [
            line(SHOP, 1, "request served", level="info", status_code=200),
            line(SHOP, 2, "client went away", level="warn", status_code=499),
            line(SHOP, 3, "gateway timeout", level="warn", status_code=504),
            line(SHOP, 4, "uncaught exception", level="ERROR", status_code=None),
            line(SHOP, 5, "disk is on fire", level="Fatal", status_code=None),
        ],
    )

    batch = logs.read(T0, T0 + timedelta(minutes=1))

    assert [r.message for r in batch.records] == [
        "gateway timeout",
        "uncaught exception",
        "disk is on fire",
    ]
    assert [r.level for r in batch.records] == ["warn", "error", "fatal"]
    assert batch.totals == {SHOP: 3}


def test_one_search_per_read_whatever_the_number_of_services(
    es: ElasticsearchEmulator, logs: ElasticsearchLogs
) -> None:
    ship(es, [line(ServiceRef("shop", f"svc-{i}"), i % 50) for i in range(300)])
    before = len(es.requests)

    for minute in range(3):
        batch = logs.read(T0 + timedelta(minutes=minute), T0 + timedelta(minutes=minute + 1))

    assert logs.queries == 3
    assert [p for _, p in es.requests[before:]] == ["/logs-*/_search"] * 3
    assert batch.totals == {}
    first = logs.read(T0, T0 + timedelta(minutes=1))
    assert len(first.totals) == 300


def test_custom_field_names_and_index_pattern(
    es: ElasticsearchEmulator, client: Elasticsearch
) -> None:
    mapping = {
        "properties": {
            "ts": {"type": "date"},
            "app": {"type": "keyword"},
            "k8s": {"properties": {"ns": {"type": "keyword"}}},
            "severity": {"type": "keyword"},
            "status": {"type": "integer"},
            "msg": {"type": "text"},
            "exc": {"properties": {"class": {"type": "keyword"}, "text": {"type": "text"}}},
            "traceId": {"type": "keyword"},
        }
    }
    for day in ("2026.01.05", "2026.01.06"):
        client.indices.create(index=f"applogs-{day}", mappings=mapping)
    client.indices.create(index="audit-2026.01.05", mappings=mapping)
    doc = {
        "app": "orders",
        "k8s.ns": "shop",
        "severity": "E",
        "status": 502,
        "msg": "bad gateway",
        "exc": {"class": "UpstreamError", "text": "reset"},
        "traceId": "t-1",
    }
    helpers.bulk(
        client,
        [
            {"_index": "applogs-2026.01.05", "_source": doc | {"ts": "2026-01-05T06:00:01Z"}},
            {
                "_index": "applogs-2026.01.06",
                "_source": doc | {"ts": "2026-01-05T06:00:02Z", "app": "users"},
            },
            {"_index": "audit-2026.01.05", "_source": doc | {"ts": "2026-01-05T06:00:03Z"}},
        ],
    )
    fields = EcsFields(
        timestamp="ts",
        service="app",
        namespace="k8s.ns",
        level="severity",
        status_code="status",
        message="msg",
        error_type="exc.class",
        error_message="exc.text",
        trace_id="traceId",
    )
    source = ElasticsearchLogs(
        client, settings(es, index="applogs-*", fields=fields, error_levels=["E"])
    )

    batch = source.read(T0, T0 + timedelta(minutes=1))

    assert batch.totals == {ServiceRef("shop", "orders"): 1, ServiceRef("shop", "users"): 1}
    first = batch.records[0]
    assert (first.service, first.level, first.status_code) == (
        ServiceRef("shop", "orders"),
        "e",
        502,
    )
    assert (first.message, first.error_type, first.trace_id) == (
        "bad gateway",
        "UpstreamError",
        "t-1",
    )


def test_dynamically_mapped_indices_read_through_keyword_sub_fields(
    es: ElasticsearchEmulator, client: Elasticsearch
) -> None:
    # No index template: strings are mapped as text with a `.keyword` sub-field.
    helpers.bulk(
        client,
        [
            {
                "_index": "logs-raw",
                "_source": {
                    "@timestamp": "2026-01-05T06:00:01.000Z",
                    "service": {"name": "cart"},
                    "log": {"level": "error"},
                    "message": "redis timeout",
                },
            }
        ],
    )
    fields = EcsFields(
        service="service.name.keyword",
        level="log.level.keyword",
        namespace="kubernetes.namespace.keyword",
    )
    source = ElasticsearchLogs(client, settings(es, fields=fields))

    batch = source.read(T0, T0 + timedelta(minutes=1))

    assert batch.totals == {ServiceRef("default", "cart"): 1}
    assert batch.records[0].service == ServiceRef("default", "cart")
    assert batch.records[0].message == "redis timeout"


def test_lines_without_a_service_are_skipped_and_counted_in_a_warning(
    es: ElasticsearchEmulator,
    client: Elasticsearch,
    logs: ElasticsearchLogs,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ship(es, [line(SHOP, 1)])
    helpers.bulk(
        client,
        [
            {
                "_index": "logs-sim",
                "_source": {
                    "@timestamp": "2026-01-05T06:00:02Z",
                    "log": {"level": "error"},
                    "message": "who am I",
                },
            }
        ],
    )

    with caplog.at_level(logging.WARNING, "healer.adapters.elasticsearch"):
        batch = logs.read(T0, T0 + timedelta(minutes=1))

    assert [r.service for r in batch.records] == [SHOP]
    assert "skipped 1 sampled lines" in caplog.text and "no service" in caplog.text


def test_a_line_without_message_is_told_by_its_error_fields(
    es: ElasticsearchEmulator, client: Elasticsearch, logs: ElasticsearchLogs
) -> None:
    client.indices.create(index="logs-app")
    helpers.bulk(
        client,
        [
            {
                "_index": "logs-app",
                "_source": {
                    "@timestamp": "2026-01-05T06:00:02Z",
                    "service.name": "cart",
                    "kubernetes.namespace": "shop",
                    "log.level": "error",
                    "error": {"type": "KeyError", "message": "'sku-42'"},
                },
            }
        ],
    )
    source = ElasticsearchLogs(
        logs.client,
        settings(
            es,
            fields=EcsFields(
                service="service.name.keyword",
                level="log.level.keyword",
                namespace="kubernetes.namespace.keyword",
            ),
        ),
    )

    batch = source.read(T0, T0 + timedelta(minutes=1))

    assert batch.records[0].message == "KeyError: 'sku-42'"
    assert batch.records[0].service == CART
    assert batch.records[0].status_code is None


def test_secrets_are_redacted_and_long_lines_bounded(
    es: ElasticsearchEmulator, logs: ElasticsearchLogs
) -> None:
    ship(
        es,
        [
            line(SHOP, 1, "call failed: Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl1"),
            line(SHOP, 2, "cannot connect to postgres://shop:hunter2@db:5432/orders"),
            line(SHOP, 3, "GET /v1/rates?api_key=sk12345678&currency=EUR -> 500"),
            line(SHOP, 4, "boto: AKIAIOSFODNN7EXAMPLE denied; password=letmein"),
            line(SHOP, 5, "Traceback " + "x" * 100_000),
        ],
    )

    messages = [r.message for r in logs.read(T0, T0 + timedelta(minutes=1)).records]

    for secret in ("eyJhbGciOi", "hunter2", "sk12345678", "AKIAIOSFODNN7EXAMPLE", "letmein"):
        assert not any(secret in m for m in messages), secret
    assert messages[1] == "cannot connect to postgres://shop:[REDACTED]@db:5432/orders"
    assert len(messages[4]) == MAX_MESSAGE


def test_a_pattern_matching_no_index_is_unavailable_not_quiet(
    es: ElasticsearchEmulator, logs: ElasticsearchLogs
) -> None:
    with pytest.raises(SourceUnavailable, match="no index matches 'logs-\\*'"):
        logs.read(T0, T0 + timedelta(minutes=1))
    ship(es, [line(SHOP, 1)])
    assert logs.read(T0, T0 + timedelta(minutes=1)).totals == {SHOP: 1}


def test_an_index_that_cannot_be_searched_is_reported_and_the_rest_read(
    es: ElasticsearchEmulator,
    client: Elasticsearch,
    logs: ElasticsearchLogs,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ship(es, [line(SHOP, 1)])
    client.indices.create(
        index="logs-metrics", mappings={"properties": {"value": {"type": "long"}}}
    )

    with caplog.at_level(logging.WARNING, "healer.adapters.elasticsearch"):
        batch = logs.read(T0, T0 + timedelta(minutes=1))

    assert batch.totals == {SHOP: 1}
    assert "1 of 2 shards failed" in caplog.text


def test_the_search_asks_for_a_bounded_sample_and_per_service_counts() -> None:
    s = ElasticsearchSettings(sample_size=200, error_levels=["error"])
    body = search_body(s, T0, T0 + timedelta(seconds=15))

    assert body["size"] == 200
    assert body["sort"] == [{"@timestamp": {"order": "desc"}}]
    window = body["query"]["bool"]["filter"][0]["range"]["@timestamp"]
    assert (window["gte"], window["lt"]) == ("2026-01-05T06:00:00.000Z", "2026-01-05T06:00:15.000Z")
    assert {"terms": {"log.level": ["ERROR", "Error", "error"]}} in body["query"]["bool"]["should"]
    services = body["aggs"]["namespaces"]["aggs"]["services"]["terms"]
    assert services["field"] == "service.name"
