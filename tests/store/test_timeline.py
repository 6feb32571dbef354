"""Timeline events and approvals: kept per incident, in time order, times aware."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import pytest

from healer.adapters.store import SqlStore
from healer.domain.model import Approval, EventKind, TimelineEvent
from healer.errors import StoreError

from .builders import API, at, incident


@pytest.fixture
def store(sql_store: SqlStore) -> SqlStore:
    with sql_store.unit() as uow:
        uow.add_incident(incident("inc-1"))
        uow.add_incident(incident("inc-2"))
        uow.commit()
    return sql_store


def event(
    minutes: float, kind: EventKind, summary: str, incident_id: str = "inc-1"
) -> TimelineEvent:
    return TimelineEvent(incident_id, at(minutes), kind, summary)


def test_events_come_back_in_time_order_then_insertion_order(store: SqlStore) -> None:
    with store.unit() as uow:
        uow.append_event(event(2, EventKind.DIAGNOSED, "pool exhausted"))
        uow.append_event(event(0, EventKind.DETECTED, "latency on shop/api"))
        uow.append_event(event(2, EventKind.PLANNED, "raise pool size"))
        uow.append_event(event(1, EventKind.SYMPTOM, "errors on shop/api", incident_id="inc-2"))
        uow.append_event(event(2, EventKind.DECIDED, "ask"))
        uow.commit()

    with store.unit() as uow:
        kinds = [each.kind for each in uow.events("inc-1")]
        assert [each.kind for each in uow.events("inc-2")] == [EventKind.SYMPTOM]
        assert uow.events("inc-unknown") == []

    assert kinds == [EventKind.DETECTED, EventKind.DIAGNOSED, EventKind.PLANNED, EventKind.DECIDED]


def test_events_in_other_zones_are_ordered_by_instant_and_read_back_in_utc(
    store: SqlStore,
) -> None:
    tokyo = timezone(timedelta(hours=9))
    new_york = timezone(timedelta(hours=-5))
    later_in_tokyo = TimelineEvent("inc-1", at(10).astimezone(tokyo), EventKind.HELD, "later")
    earlier_in_ny = TimelineEvent("inc-1", at(5).astimezone(new_york), EventKind.HELD, "earlier")
    with store.unit() as uow:
        uow.append_event(later_in_tokyo)
        uow.append_event(earlier_in_ny)
        uow.commit()

    with store.unit() as uow:
        events = uow.events("inc-1")

    assert [each.summary for each in events] == ["earlier", "later"]
    assert [each.at for each in events] == [at(5), at(10)]
    assert all(each.at.utcoffset() == timedelta(0) for each in events)


def test_event_data_round_trips_as_json(store: SqlStore) -> None:
    data = {"replicas": {"from": 3, "to": 6}, "ratio": 0.25, "tags": ["a", "b"], "none": None}
    with store.unit() as uow:
        uow.append_event(TimelineEvent("inc-1", at(1), EventKind.ACTION_STARTED, "scale", data))
        uow.commit()

    with store.unit() as uow:
        (stored,) = uow.events("inc-1")

    assert stored == TimelineEvent("inc-1", at(1), EventKind.ACTION_STARTED, "scale", data)


def test_event_data_values_without_a_json_type_are_stored_in_json_form(store: SqlStore) -> None:
    with store.unit() as uow:
        uow.append_event(
            TimelineEvent("inc-1", at(1), EventKind.HELD, "held", {"since": at(0), "on": API})
        )
        uow.commit()

    with store.unit() as uow:
        (stored,) = uow.events("inc-1")

    assert stored.data == {
        "since": "2026-03-01T09:30:00Z",
        "on": {"namespace": "shop", "name": "api"},
    }


def test_an_event_for_an_unknown_incident_is_refused(store: SqlStore) -> None:
    with store.unit() as uow, pytest.raises(StoreError, match="append_event"):
        uow.append_event(event(0, EventKind.DETECTED, "orphan", incident_id="inc-unknown"))


def test_a_naive_time_is_refused(store: SqlStore) -> None:
    naive = TimelineEvent("inc-1", at(0).replace(tzinfo=None), EventKind.DETECTED, "naive")
    with store.unit() as uow, pytest.raises(StoreError, match="naive datetime"):
        uow.append_event(naive)


def test_approvals_per_incident_in_time_order(store: SqlStore) -> None:
    second = Approval("inc-1", "bob", approved=False, at=at(3), comment="not during the sale")
    first = Approval("inc-1", "alice", approved=True, at=at(2).astimezone(UTC))
    other = Approval("inc-2", "carol", approved=True, at=at(1))
    with store.unit() as uow:
        uow.add_approval(second)
        uow.add_approval(first)
        uow.add_approval(other)
        uow.commit()

    with store.unit() as uow:
        assert uow.approvals("inc-1") == [first, second]
        assert uow.approvals("inc-2") == [other]
        assert uow.approvals("inc-unknown") == []


def test_an_approval_for_an_unknown_incident_is_refused(store: SqlStore) -> None:
    with store.unit() as uow, pytest.raises(StoreError, match="add_approval"):
        uow.add_approval(Approval("inc-unknown", "alice", approved=True, at=at(0)))
