"""The log template miner's state in the store: saved, replaced, read back, migrated, and
template ids that stay the same across a restart through the real database."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine, inspect, select

from healer.adapters.drain import DrainMiner, PersistentMiner, StatefulMiner, VarietyMiner
from healer.adapters.store import SqlStore, downgrade, upgrade
from healer.adapters.store.schema import MinerStateRow
from healer.errors import StoreError

from .builders import at, incident

EVERY_BYTE = bytes(range(256)) * 64


def updated_at(url: str, name: str) -> datetime | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(
                select(MinerStateRow.updated_at).where(MinerStateRow.name == name)
            )
    finally:
        engine.dispose()


def test_state_reads_back_byte_for_byte(sql_store: SqlStore) -> None:
    sql_store.save_miner_state("logs", EVERY_BYTE, at=at(0))

    assert sql_store.load_miner_state("logs") == EVERY_BYTE
    assert sql_store.load_miner_state("other") is None


def test_saving_again_replaces_the_state(sql_store: SqlStore, sql_store_url: str) -> None:
    sql_store.save_miner_state("logs", b"first", at=at(0))
    sql_store.save_miner_state("logs", b"second", at=at(5))
    sql_store.save_miner_state("traces", b"other", at=at(5))

    assert sql_store.load_miner_state("logs") == b"second"
    assert sql_store.load_miner_state("traces") == b"other"
    assert updated_at(sql_store_url, "logs") == at(5)


def test_an_uncommitted_save_is_rolled_back(sql_store: SqlStore) -> None:
    with sql_store.unit() as uow:
        uow.save_miner_state("logs", b"kept", at=at(0))
        uow.commit()
    with sql_store.unit() as uow:
        uow.save_miner_state("logs", b"dropped", at=at(1))
        assert uow.load_miner_state("logs") == b"dropped"

    assert sql_store.load_miner_state("logs") == b"kept"


def test_a_naive_time_is_a_store_error(sql_store: SqlStore) -> None:
    with pytest.raises(StoreError, match="save_miner_state"):
        sql_store.save_miner_state("logs", b"x", at=at(0).replace(tzinfo=None))


def test_downgrading_to_0001_drops_only_the_miner_state(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    store = SqlStore(empty_database_url)
    try:
        with store.unit() as uow:
            uow.add_incident(incident("inc-1"))
            uow.commit()
        store.save_miner_state("logs", b"x", at=at(0))

        downgrade(empty_database_url, "0001")
        assert "miner_state" not in table_names(empty_database_url)
        with store.unit() as uow:
            assert uow.get_incident("inc-1") is not None

        upgrade(empty_database_url)
        assert store.load_miner_state("logs") is None
    finally:
        store.close()


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


LINES = [
    "Failed password for root from 1.2.3.4 port 22 ssh2",
    "Invalid user admin from 1.2.3.5",
    "Invalid user oracle from 1.2.3.6",
    "Connection closed by 1.2.3.8 [preauth]",
    "Invalid user test from 1.2.3.7",
    "Invalid user guest from 1.2.3.10",
    "Received disconnect from 1.2.3.9: 11: Bye Bye [preauth]",
]
LATER = [
    "Did not receive identification string from 9.9.9.9",
    "Invalid user nobody from 4.3.2.1",
    "Connection closed by 8.8.8.8 [preauth]",
]


@pytest.mark.parametrize("make", [VarietyMiner, DrainMiner])
def test_template_ids_survive_a_restart_through_the_store(
    sql_store_url: str, make: type[StatefulMiner]
) -> None:
    control = make()
    expected = [control.add(line).id for line in [*LINES, *LATER, *LINES]]

    first_store = SqlStore(sql_store_url)
    first = PersistentMiner(make(), store=first_store)
    assert first.load() is False
    seen = [first.add(line).id for line in LINES]
    assert first.save(at(0)) is True
    first_store.close()

    # A new process: new store object, new miner, state only from the database.
    second_store = SqlStore(sql_store_url)
    second = PersistentMiner(make(), store=second_store)
    try:
        assert second.load() is True
        seen += [second.add(line).id for line in [*LATER, *LINES]]
        assert second.save(at(1) + timedelta(seconds=1)) is True
    finally:
        second_store.close()

    assert seen == expected
