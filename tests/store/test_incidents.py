"""Incidents: add, get, save, list, the open ones, and their JSON form."""

from __future__ import annotations

from dataclasses import replace

import pytest

from healer.adapters.store import SqlStore
from healer.adapters.store.codec import dump_incident, load_incident
from healer.domain.model import IncidentStatus
from healer.errors import StoreError

from .builders import CHECKOUT, anomaly, at, full_incident, incident


def test_codec_round_trips_a_fully_populated_incident() -> None:
    original = full_incident()
    assert load_incident(dump_incident(original)) == original


def test_fully_populated_incident_round_trips_through_the_database(sql_store: SqlStore) -> None:
    original = full_incident()
    with sql_store.unit() as uow:
        uow.add_incident(original)
        uow.commit()

    with sql_store.unit() as uow:
        stored = uow.get_incident(original.id)

    assert stored == original
    assert stored is not None
    assert stored.opened_at.utcoffset() is not None
    assert stored.anomalies[1].since == original.anomalies[1].since


def test_add_then_get(sql_store: SqlStore) -> None:
    with sql_store.unit() as uow:
        uow.add_incident(incident("inc-1"))
        uow.commit()

    with sql_store.unit() as uow:
        assert uow.get_incident("inc-1") == incident("inc-1")
        assert uow.get_incident("inc-unknown") is None


def test_save_advances_a_stored_incident(sql_store: SqlStore) -> None:
    with sql_store.unit() as uow:
        uow.add_incident(incident("inc-1"))
        uow.commit()

    with sql_store.unit() as uow:
        current = uow.get_incident("inc-1")
        assert current is not None
        current.status = IncidentStatus.MITIGATING
        current.anomalies.append(anomaly(CHECKOUT, minutes=2))
        current.services.add(CHECKOUT)
        current.updated_at = at(2)
        current.attempts = 1
        uow.save_incident(current)
        uow.commit()

    with sql_store.unit() as uow:
        assert uow.get_incident("inc-1") == current


def test_adding_an_existing_id_is_refused(sql_store: SqlStore) -> None:
    with sql_store.unit() as uow:
        uow.add_incident(incident("inc-1"))
        uow.commit()

    with sql_store.unit() as uow, pytest.raises(StoreError, match="add_incident"):
        uow.add_incident(incident("inc-1"))


def test_saving_an_unknown_incident_is_refused(sql_store: SqlStore) -> None:
    with sql_store.unit() as uow, pytest.raises(StoreError, match="add it first"):
        uow.save_incident(incident("inc-never-added"))


def test_open_incidents_are_the_unresolved_ones_oldest_first(sql_store: SqlStore) -> None:
    resolved = replace(incident("inc-a", minutes=0), status=IncidentStatus.RESOLVED)
    later = incident("inc-b", minutes=5, status=IncidentStatus.AWAITING_APPROVAL)
    earlier = incident("inc-c", minutes=1, status=IncidentStatus.DIAGNOSED)
    escalated = incident("inc-d", minutes=7, status=IncidentStatus.ESCALATED)
    with sql_store.unit() as uow:
        for each in (resolved, later, earlier, escalated):
            uow.add_incident(each)
        uow.commit()

    with sql_store.unit() as uow:
        open_ids = [each.id for each in uow.open_incidents()]

    # Escalated incidents stay open until their symptoms recover (see IncidentStatus).
    assert open_ids == ["inc-c", "inc-b", "inc-d"]


def test_list_incidents_newest_first_up_to_the_limit(sql_store: SqlStore) -> None:
    with sql_store.unit() as uow:
        for minutes in range(5):
            uow.add_incident(incident(f"inc-{minutes}", minutes=minutes))
        uow.commit()

    with sql_store.unit() as uow:
        assert [each.id for each in uow.list_incidents(limit=3)] == ["inc-4", "inc-3", "inc-2"]
        assert len(uow.list_incidents()) == 5


def test_queryable_columns_follow_the_incident(sql_store_url: str) -> None:
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from healer.adapters.store.schema import IncidentRow

    store = SqlStore(sql_store_url)
    with store.unit() as uow:
        uow.add_incident(full_incident())
        uow.commit()
    store.close()

    engine = create_engine(sql_store_url)
    with Session(engine) as session:
        row = session.scalars(select(IncidentRow)).one()
        assert (row.status, row.root_service, row.cause) == (
            "resolved",
            "shop/checkout",
            "pool_exhaustion",
        )
        assert (row.opened_at, row.resolved_at) == (at(0), at(9))
    engine.dispose()
