"""LogShipper: the simulated cluster's log lines reach Elasticsearch as ECS documents
through the real client's bulk helper, and come back through ElasticsearchLogs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from healer.adapters.elasticsearch import ElasticsearchLogs
from healer.config import ElasticsearchSettings
from healer.domain.model import LogRecord, ServiceRef
from healer.sim import Simulation, scenario_by_name
from healer.sim.shipping import LogShipper, ecs_document
from tests.emulators.elasticsearch import ElasticsearchEmulator

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
CART = ServiceRef("boutique", "cartservice")


@pytest.fixture(scope="module")
def sim_records() -> list[LogRecord]:
    sim = Simulation(scenario_by_name("steady-state"))
    sim.run_until(sim.start + timedelta(minutes=3))
    return [r for tick in sim.cluster.log_ticks for r in tick.records]


@pytest.fixture
def es() -> Iterator[ElasticsearchEmulator]:
    with ElasticsearchEmulator() as emulator:
        yield emulator


@pytest.fixture
def shipper(es: ElasticsearchEmulator) -> Iterator[LogShipper]:
    s = LogShipper([es.url], "logs-sim")
    yield s
    s.close()


@pytest.fixture
def client(es: ElasticsearchEmulator) -> Iterator[Elasticsearch]:
    with Elasticsearch(es.url) as c:
        yield c


def to_ms(at: datetime) -> datetime:
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def test_records_become_ecs_documents() -> None:
    record = LogRecord(T0, CART, "error", "redis timeout", 503, "grpc.Unavailable", "ab12")
    assert ecs_document(record) == {
        "@timestamp": "2026-01-05T06:00:00.000Z",
        "message": "redis timeout",
        "service": {"name": "cartservice"},
        "kubernetes": {"namespace": "boutique"},
        "log": {"level": "error"},
        "event": {"dataset": "healer.sim"},
        "http": {"response": {"status_code": 503}},
        "error": {"type": "grpc.Unavailable"},
        "trace": {"id": "ab12"},
    }
    bare = ecs_document(LogRecord(T0, CART, "error", "noise"))
    assert not {"http", "error", "trace"} & bare.keys()


def test_the_simulated_lines_are_indexed_with_keyword_mappings(
    es: ElasticsearchEmulator,
    shipper: LogShipper,
    client: Elasticsearch,
    sim_records: list[LogRecord],
) -> None:
    assert shipper.ship(sim_records) == len(sim_records)

    assert client.count(index="logs-sim")["count"] == len(sim_records)
    properties = client.indices.get_mapping(index="logs-sim")["logs-sim"]["mappings"]["properties"]
    assert properties["service"]["properties"]["name"] == {"type": "keyword"}
    assert properties["@timestamp"] == {"type": "date"}
    assert [m for _, m in es.requests].count("/_bulk") == 1  # one bulk request per tick's lines


def test_shipped_lines_read_back_window_by_window(
    es: ElasticsearchEmulator, shipper: LogShipper, sim_records: list[LogRecord]
) -> None:
    shipper.ship(sim_records)
    settings = ElasticsearchSettings(hosts=[es.url], index="logs-sim", sample_size=10_000)
    source = ElasticsearchLogs.from_settings(settings, api_key=None, password=None)
    start = to_ms(min(r.at for r in sim_records))

    for minute in range(4):
        since, until = start + timedelta(minutes=minute), start + timedelta(minutes=minute + 1)
        batch = source.read(since, until)
        inside = [r for r in sim_records if since <= to_ms(r.at) < until]
        expected: dict[ServiceRef, int] = {}
        for r in inside:
            expected[r.service] = expected.get(r.service, 0) + 1
        assert batch.totals == expected
        assert sorted((to_ms(r.at), r.service, r.message) for r in inside) == sorted(
            (r.at, r.service, r.message) for r in batch.records
        )
    source.close()


def test_a_second_shipper_shares_the_index(
    es: ElasticsearchEmulator, shipper: LogShipper, client: Elasticsearch
) -> None:
    record = LogRecord(T0, CART, "error", "boom", 500)
    assert shipper.ship([record]) == 1
    other = LogShipper([es.url], "logs-sim")
    assert other.ship([record, record]) == 2
    other.close()
    assert client.count(index="logs-sim")["count"] == 3


def test_nothing_to_ship_sends_nothing(es: ElasticsearchEmulator, shipper: LogShipper) -> None:
    assert shipper.ship([]) == 0
    assert es.requests == []


def test_elasticsearch_down_drops_the_lines_and_shipping_resumes(
    es: ElasticsearchEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    port, store = es.port, es.store
    es.stop()
    shipper = LogShipper([f"http://127.0.0.1:{port}"], "logs-sim")
    record = LogRecord(T0, CART, "error", "boom", 500)

    with caplog.at_level(logging.WARNING, "healer.sim.shipping"):
        assert shipper.ship([record]) == 0
    assert "1 lines dropped" in caplog.text

    with ElasticsearchEmulator(port=port, store=store):
        assert shipper.ship([record]) == 1
    assert len(store.indices["logs-sim"].docs) == 1
    shipper.close()


def test_refused_lines_are_counted_out_and_logged(
    es: ElasticsearchEmulator, client: Elasticsearch, caplog: pytest.LogCaptureFixture
) -> None:
    # An index created elsewhere whose mapping disagrees with ECS on one field.
    client.indices.create(
        index="logs-sim",
        mappings={
            "properties": {
                "http": {
                    "properties": {"response": {"properties": {"status_code": {"type": "boolean"}}}}
                }
            }
        },
    )
    shipper = LogShipper([es.url], "logs-sim")
    lines = [LogRecord(T0, CART, "error", "with status", 500), LogRecord(T0, CART, "error", "none")]

    with caplog.at_level(logging.WARNING, "healer.sim.shipping"):
        assert shipper.ship(lines) == 1
    shipper.close()

    assert "1 of 2 lines refused" in caplog.text
    assert "document_parsing_exception" in caplog.text
