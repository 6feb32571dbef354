"""Each playbook's track record per cause, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from healer.adapters.store import SqlStore
from healer.domain.playbook import TrackRecord

AT = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def test_outcomes_count_per_playbook_and_cause(sql_store: SqlStore) -> None:
    for playbook, cause, worked in [
        ("scale", "cpu_saturation", True),
        ("scale", "cpu_saturation", True),
        ("scale", "cpu_saturation", False),
        ("scale", "slow_dependency", False),
        ("rollback", "bad_deploy", True),
    ]:
        with sql_store.unit() as uow:
            uow.record_outcome(playbook, cause, worked=worked, at=AT)
            uow.commit()
    with sql_store.unit() as uow:
        found = uow.outcomes()
    assert sorted(found, key=lambda r: (r.playbook, r.cause)) == [
        TrackRecord("rollback", "bad_deploy", 1, 0),
        TrackRecord("scale", "cpu_saturation", 2, 1),
        TrackRecord("scale", "slow_dependency", 0, 1),
    ]
    texts = {r.text() for r in found}
    assert "scale resolved 2 of 3 cpu_saturation incidents" in texts


def test_an_outcome_not_committed_is_not_counted(sql_store: SqlStore) -> None:
    with sql_store.unit() as uow:
        uow.record_outcome("scale", "cpu_saturation", worked=True, at=AT)
    with sql_store.unit() as uow:
        assert uow.outcomes() == []
    assert TrackRecord("scale", "cpu_saturation").text() == (
        "scale has no record for cpu_saturation yet"
    )
