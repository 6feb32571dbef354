"""ElasticsearchLogs when Elasticsearch fails: every failure is a clear SourceError, never a
crash nor an empty (quiet-looking) batch, never a leaked credential, and the next read
after the cluster comes back works."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from healer.adapters.elasticsearch import ElasticsearchLogs
from healer.config import EcsFields, ElasticsearchSettings
from healer.domain.model import LogRecord, ServiceRef
from healer.errors import SourceError, SourceGarbage, SourceUnavailable
from healer.sim.shipping import LogShipper
from tests.emulators.elasticsearch import ElasticsearchEmulator, Store

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
SHOP = ServiceRef("shop", "checkout")
WINDOW = (T0, T0 + timedelta(minutes=1))


def seed(store: Store) -> None:
    with ElasticsearchEmulator(store=store) as es:
        shipper = LogShipper([es.url], "logs-sim")
        records = [
            LogRecord(T0 + timedelta(seconds=i), SHOP, "error", "boom", 500) for i in range(5)
        ]
        assert shipper.ship(records) == 5
        shipper.close()


@pytest.fixture(scope="module")
def seeded() -> Store:
    store = Store()
    seed(store)
    return store


@pytest.fixture
def es(seeded: Store) -> Iterator[ElasticsearchEmulator]:
    with ElasticsearchEmulator(store=seeded) as emulator:
        yield emulator


def source(
    es: ElasticsearchEmulator,
    *,
    api_key: str | None = None,
    password: str | None = None,
    **overrides: Any,
) -> ElasticsearchLogs:
    values: dict[str, Any] = {"hosts": [es.url], "index": "logs-*", "timeout": 0.25} | overrides
    return ElasticsearchLogs.from_settings(
        ElasticsearchSettings(**values), api_key=api_key, password=password
    )


@pytest.fixture
def logs(es: ElasticsearchEmulator) -> Iterator[ElasticsearchLogs]:
    adapter = source(es)
    assert adapter.read(*WINDOW).totals == {SHOP: 5}  # a working client before the failure
    yield adapter
    adapter.close()


FAILURES = [
    (
        "429",
        SourceUnavailable,
        r"overloaded, search rejected \(429 es_rejected_execution_exception\)",
    ),
    (
        "503",
        SourceUnavailable,
        r"unavailable \(503 search_phase_execution_exception\): all shards failed",
    ),
    ("401", SourceUnavailable, r"authentication failed \(401 security_exception\)"),
    ("403", SourceUnavailable, r"not authorised to search \(403 security_exception\)"),
    ("400", SourceUnavailable, r"search refused \(400 parsing_exception\): unknown query"),
    ("timeout", SourceUnavailable, r"no answer from http://127\.0\.0\.1:\d+ within 0\.25s"),
    ("disconnect", SourceUnavailable, r"cannot connect to http://127\.0\.0\.1:\d+"),
    ("garbage", SourceGarbage, r"unreadable answer"),
    ("wrong_shape", SourceGarbage, r"unexpected search answer"),
]


@pytest.mark.parametrize(("kind", "error", "message"), FAILURES, ids=[f[0] for f in FAILURES])
def test_each_failure_is_a_source_error_and_the_next_read_recovers(
    es: ElasticsearchEmulator,
    logs: ElasticsearchLogs,
    kind: str,
    error: type[SourceError],
    message: str,
) -> None:
    es.inject(kind, 2, delay=1.0)
    before = len(es.requests)

    for _ in range(2):
        with pytest.raises(error, match=message):
            logs.read(*WINDOW)

    assert len(es.requests) - before == 2  # one request per read: no retries piling on
    assert logs.read(*WINDOW).totals == {SHOP: 5}
    assert logs.queries == 4


def test_a_server_that_is_not_elasticsearch_is_garbage(es: ElasticsearchEmulator) -> None:
    es.inject("not_elasticsearch")
    adapter = source(es)  # a fresh client: the product check runs until it first passes

    with pytest.raises(SourceGarbage, match="is not Elasticsearch"):
        adapter.read(*WINDOW)

    assert adapter.read(*WINDOW).totals == {SHOP: 5}
    adapter.close()


def test_connection_refused_then_recovery_when_the_cluster_restarts(
    es: ElasticsearchEmulator, seeded: Store, logs: ElasticsearchLogs
) -> None:
    port = es.port
    es.stop()

    with pytest.raises(SourceUnavailable, match=r"cannot connect to .*Connection refused"):
        logs.read(*WINDOW)

    with ElasticsearchEmulator(port=port, store=seeded):
        assert logs.read(*WINDOW).totals == {SHOP: 5}


def test_wrong_api_key_names_authentication_and_never_the_key(seeded: Store) -> None:
    with ElasticsearchEmulator(store=seeded, api_keys=frozenset({"good-key"})) as es:
        wrong = source(es, api_key="s3cret-wrong-key")
        with pytest.raises(SourceUnavailable, match="authentication failed") as caught:
            wrong.read(*WINDOW)
        assert "s3cret-wrong-key" not in str(caught.value)
        wrong.close()

        right = source(es, api_key="good-key")
        assert right.read(*WINDOW).totals == {SHOP: 5}
        right.close()


def test_basic_auth_with_the_password_from_the_composition_root(seeded: Store) -> None:
    with ElasticsearchEmulator(store=seeded, users={"healer": "pa55word"}) as es:
        wrong = source(es, username="healer", password="not-it")
        with pytest.raises(
            SourceUnavailable, match=r"unable to authenticate user \[healer\]"
        ) as caught:
            wrong.read(*WINDOW)
        assert "not-it" not in str(caught.value)
        wrong.close()

        missing = source(es, username="healer")  # password variable unset
        with pytest.raises(SourceUnavailable, match="missing authentication credentials"):
            missing.read(*WINDOW)
        missing.close()

        right = source(es, username="healer", password="pa55word")
        assert right.read(*WINDOW).totals == {SHOP: 5}
        right.close()


def test_credentials_in_host_urls_never_reach_the_message(es: ElasticsearchEmulator) -> None:
    adapter = source(es, hosts=[es.url.replace("http://", "http://healer:hunter2@")])
    es.stop()

    with pytest.raises(SourceUnavailable) as caught:
        adapter.read(*WINDOW)

    assert "hunter2" not in str(caught.value)
    adapter.close()


def test_a_field_of_the_wrong_type_is_refused_with_the_reason(es: ElasticsearchEmulator) -> None:
    adapter = source(es, fields=EcsFields(service="message"))  # a text field

    with pytest.raises(
        SourceUnavailable,
        match=r"400 illegal_argument_exception\): Fielddata is disabled on \[message\]",
    ):
        adapter.read(*WINDOW)
    adapter.close()


def test_a_misnamed_timestamp_field_fails_loudly_rather_than_reading_quiet(
    es: ElasticsearchEmulator,
) -> None:
    adapter = source(es, fields=EcsFields(timestamp="time"))

    with pytest.raises(
        SourceUnavailable, match=r"No mapping found for \[time\] in order to sort on"
    ):
        adapter.read(*WINDOW)
    adapter.close()


def test_a_missing_index_is_named(es: ElasticsearchEmulator) -> None:
    adapter = source(es, index="logs-prod")

    with pytest.raises(
        SourceUnavailable, match=r"no index matches 'logs-prod' \(index_not_found_exception\)"
    ):
        adapter.read(*WINDOW)
    adapter.close()
