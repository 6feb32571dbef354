"""A unit of work commits only when told to, and rolls back otherwise."""

from __future__ import annotations

import pytest

from healer.adapters.store import SqlStore
from healer.domain.model import EventKind, TimelineEvent
from healer.errors import StoreError

from .builders import at, incident


class Boom(Exception):
    pass


def stored_ids(store: SqlStore) -> list[str]:
    with store.unit() as uow:
        return [each.id for each in uow.list_incidents()]


def test_nothing_persists_without_commit(sql_store: SqlStore) -> None:
    with sql_store.unit() as uow:
        uow.add_incident(incident("inc-1"))
        assert uow.get_incident("inc-1") is not None

    assert stored_ids(sql_store) == []


def test_nothing_persists_when_the_block_raises(sql_store: SqlStore) -> None:
    with pytest.raises(Boom), sql_store.unit() as uow:
        uow.add_incident(incident("inc-1"))
        uow.append_event(TimelineEvent("inc-1", at(0), EventKind.DETECTED, "latency"))
        raise Boom

    assert stored_ids(sql_store) == []


def test_commit_persists_and_explicit_rollback_discards(sql_store: SqlStore) -> None:
    with sql_store.unit() as uow:
        uow.add_incident(incident("inc-1"))
        uow.commit()
        uow.add_incident(incident("inc-2"))
        uow.rollback()
        uow.add_incident(incident("inc-3", minutes=1))
        uow.commit()

    assert stored_ids(sql_store) == ["inc-3", "inc-1"]


def test_a_failed_write_rolls_back_the_whole_unit(sql_store: SqlStore) -> None:
    with sql_store.unit() as uow:
        uow.add_incident(incident("inc-1"))
        uow.commit()

    with pytest.raises(StoreError, match="add_incident"), sql_store.unit() as uow:
        uow.add_incident(incident("inc-2"))
        uow.add_incident(incident("inc-1"))
        uow.commit()

    assert stored_ids(sql_store) == ["inc-1"]
