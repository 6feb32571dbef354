"""Action intents and results: recorded before and after, never repeated after a crash."""

from __future__ import annotations

from datetime import datetime

import pytest

from healer.adapters.store import SqlStore, StoredIntent
from healer.domain.model import ActionResult, ServiceRef
from healer.errors import StoreError
from healer.ports import IncidentStore, PendingIntent, UnitOfWork

from .builders import API, CHECKOUT, at, incident


@pytest.fixture
def store(sql_store: SqlStore) -> SqlStore:
    with sql_store.unit() as uow:
        uow.add_incident(incident("inc-1"))
        uow.commit()
    return sql_store


def intend(
    uow: UnitOfWork,
    key: str,
    *,
    minutes: float = 1,
    target: ServiceRef = API,
    replicas: int = 6,
    incident_id: str = "inc-1",
) -> bool:
    return uow.record_intent(
        key=key,
        incident_id=incident_id,
        action="scale",
        target=target,
        args={"replicas": replicas},
        before={"replicas": 3},
        at=at(minutes),
    )


def result(key: str, *, ok: bool = True) -> ActionResult:
    return ActionResult(
        key=key,
        action="scale",
        target=API,
        ok=ok,
        detail="scaled to 6" if ok else "forbidden",
        before={"replicas": 3},
        after={"replicas": 6},
    )


def test_sql_store_is_an_incident_store(store: SqlStore) -> None:
    typed: IncidentStore = store
    with typed.unit() as uow:
        assert uow.pending_intents() == []


def test_intent_then_result(store: SqlStore) -> None:
    with store.unit() as uow:
        assert intend(uow, "inc-1/1/scale") is True
        uow.commit()

    with store.unit() as uow:
        uow.record_result(result("inc-1/1/scale"), at(2))
        uow.commit()

    with store.unit() as uow:
        assert uow.pending_intents() == []
        assert uow.actions_since(at(0)) == [(at(1), API, "scale", "inc-1")]


def test_a_duplicate_key_is_refused_and_writes_nothing(store: SqlStore) -> None:
    with store.unit() as uow:
        assert intend(uow, "inc-1/1/scale", replicas=6) is True
        uow.commit()

    with store.unit() as uow:
        assert intend(uow, "inc-1/1/scale", replicas=9, minutes=5) is False
        uow.commit()

    with store.unit() as uow:
        (pending,) = uow.pending_intents()
        assert (pending.args, pending.at) == ({"replicas": 6}, at(1))
        assert len(uow.actions_since(at(0))) == 1


def test_a_duplicate_key_within_one_unit_is_refused(store: SqlStore) -> None:
    with store.unit() as uow:
        assert intend(uow, "inc-1/1/scale") is True
        assert intend(uow, "inc-1/1/scale") is False


def test_intents_without_results_are_pending_after_a_restart(sql_store_url: str) -> None:
    before_crash = SqlStore(sql_store_url)
    with before_crash.unit() as uow:
        uow.add_incident(incident("inc-1"))
        intend(uow, "inc-1/1/scale", minutes=1)
        intend(uow, "inc-1/2/scale", minutes=2, target=CHECKOUT, replicas=4)
        uow.commit()
    with before_crash.unit() as uow:
        uow.record_result(result("inc-1/1/scale"), at(1.5))
        uow.commit()
    # The daemon dies after sending the second mutation, before recording its result.
    before_crash.close()

    after_restart = SqlStore(sql_store_url)
    with after_restart.unit() as uow:
        pending = uow.pending_intents()
    after_restart.close()

    assert pending == [
        StoredIntent(
            key="inc-1/2/scale",
            incident_id="inc-1",
            action="scale",
            target=CHECKOUT,
            args={"replicas": 4},
            before={"replicas": 3},
            at=at(2),
        )
    ]
    assert_pending_intent(pending[0])


def assert_pending_intent(intent: PendingIntent) -> None:
    assert intent.at.utcoffset() is not None


def test_recording_the_result_clears_the_pending_intent(store: SqlStore) -> None:
    with store.unit() as uow:
        intend(uow, "inc-1/1/scale")
        uow.commit()
    with store.unit() as uow:
        assert [each.key for each in uow.pending_intents()] == ["inc-1/1/scale"]
        uow.record_result(result("inc-1/1/scale", ok=False), at(3))
        uow.commit()

    with store.unit() as uow:
        assert uow.pending_intents() == []


def test_a_result_without_an_intent_is_refused(store: SqlStore) -> None:
    with store.unit() as uow, pytest.raises(StoreError, match="no intent"):
        uow.record_result(result("inc-1/9/scale"), at(3))


def test_a_result_is_recorded_once(store: SqlStore) -> None:
    with store.unit() as uow:
        intend(uow, "inc-1/1/scale")
        uow.record_result(result("inc-1/1/scale"), at(2))
        with pytest.raises(StoreError, match="already recorded"):
            uow.record_result(result("inc-1/1/scale"), at(3))


def test_an_intent_for_an_unknown_incident_is_refused(store: SqlStore) -> None:
    with store.unit() as uow, pytest.raises(StoreError, match="record_intent"):
        intend(uow, "ghost/1/scale", incident_id="inc-unknown")


def test_actions_since_for_rate_limits(store: SqlStore) -> None:
    with store.unit() as uow:
        intend(uow, "k3", minutes=30, target=CHECKOUT)
        intend(uow, "k1", minutes=1)
        intend(uow, "k2", minutes=10)
        uow.commit()

    with store.unit() as uow:
        since_ten: list[tuple[datetime, ServiceRef, str, str]] = uow.actions_since(at(10))
        assert since_ten == [(at(10), API, "scale", "inc-1"), (at(30), CHECKOUT, "scale", "inc-1")]
        assert uow.actions_since(at(31)) == []
