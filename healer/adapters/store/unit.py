"""The SQL unit of work: one transaction over incidents, timelines, actions, approvals
and the log template miner's saved state.

Every write is flushed at once, so a refused write (a duplicate id, an unknown incident)
raises at the call that caused it rather than at `commit()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Dialect, Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from healer.adapters.store.codec import dump_incident, jsonable, load_incident
from healer.adapters.store.engine import translating
from healer.adapters.store.schema import (
    ActionRow,
    ApprovalRow,
    EventRow,
    IncidentRow,
    MinerStateRow,
    OutcomeRow,
)
from healer.domain.model import (
    ActionResult,
    Approval,
    EventKind,
    Incident,
    IncidentStatus,
    ServiceRef,
    TimelineEvent,
)
from healer.domain.playbook import ParamValue, TrackRecord
from healer.errors import StoreError
from healer.ports import PendingIntent


@dataclass(frozen=True, slots=True)
class StoredIntent:
    """A mutation recorded as about to be sent, with no result recorded yet."""

    key: str
    incident_id: str
    action: str
    target: ServiceRef
    args: dict[str, ParamValue]
    before: dict[str, object]
    at: datetime


class SqlUnitOfWork:
    """Implements `healer.ports.UnitOfWork` over one SQLAlchemy session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @translating
    def commit(self) -> None:
        self._session.commit()

    @translating
    def rollback(self) -> None:
        self._session.rollback()

    @translating
    def add_incident(self, incident: Incident) -> None:
        row = IncidentRow(id=incident.id)
        _fill_incident_row(row, incident)
        self._session.add(row)
        self._session.flush()

    @translating
    def save_incident(self, incident: Incident) -> None:
        row = self._session.get(IncidentRow, incident.id)
        if row is None:
            raise StoreError(f"save_incident: no incident {incident.id}; add it first")
        _fill_incident_row(row, incident)
        self._session.flush()

    @translating
    def get_incident(self, incident_id: str) -> Incident | None:
        document = self._session.scalar(
            select(IncidentRow.document).where(IncidentRow.id == incident_id)
        )
        return None if document is None else load_incident(document)

    @translating
    def open_incidents(self) -> list[Incident]:
        """Incidents not yet closed, oldest first."""
        closed = [status.value for status in IncidentStatus if status.is_closed]
        documents = self._session.scalars(
            select(IncidentRow.document)
            .where(IncidentRow.status.not_in(closed))
            .order_by(IncidentRow.opened_at, IncidentRow.id)
        )
        return [load_incident(document) for document in documents]

    @translating
    def list_incidents(self, *, limit: int = 50) -> list[Incident]:
        """The most recently opened incidents, newest first."""
        documents = self._session.scalars(
            select(IncidentRow.document)
            .order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc())
            .limit(limit)
        )
        return [load_incident(document) for document in documents]

    @translating
    def append_event(self, event: TimelineEvent) -> None:
        self._session.add(
            EventRow(
                incident_id=event.incident_id,
                at=event.at,
                kind=event.kind.value,
                summary=event.summary,
                data=jsonable(event.data),
            )
        )
        self._session.flush()

    @translating
    def events(self, incident_id: str) -> list[TimelineEvent]:
        rows = self._session.scalars(
            select(EventRow)
            .where(EventRow.incident_id == incident_id)
            .order_by(EventRow.at, EventRow.id)
        )
        return [
            TimelineEvent(row.incident_id, row.at, EventKind(row.kind), row.summary, row.data)
            for row in rows
        ]

    @translating
    def record_intent(
        self,
        *,
        key: str,
        incident_id: str,
        action: str,
        target: ServiceRef,
        args: dict[str, ParamValue],
        before: dict[str, object],
        at: datetime,
    ) -> bool:
        """Record that a mutation is about to be sent; False if the key already exists."""
        values = {
            "key": key,
            "incident_id": incident_id,
            "action": action,
            "target": str(target),
            "args": jsonable(args),
            "before": jsonable(before),
            "intent_at": at,
        }
        # ON CONFLICT DO NOTHING rather than check-then-insert: two daemons racing
        # during a leader hand-over must not both believe they own the key.
        statement = (
            _insert_ignoring_duplicate_keys(self._session.get_bind().dialect)
            .values(values)
            .returning(ActionRow.key)
        )
        inserted = self._session.execute(statement).scalar_one_or_none()
        return inserted is not None

    @translating
    def record_result(self, result: ActionResult, at: datetime) -> None:
        row = self._session.scalars(select(ActionRow).where(ActionRow.key == result.key)).first()
        if row is None:
            raise StoreError(f"record_result: no intent recorded with key {result.key!r}")
        if row.result_at is not None:
            raise StoreError(f"record_result: the result of {result.key!r} is already recorded")
        # The action, target and "before" state were fixed when the intent was recorded.
        row.ok = result.ok
        row.detail = result.detail
        row.after = jsonable(result.after)
        row.result_at = at
        self._session.flush()

    @translating
    def pending_intents(self) -> list[PendingIntent]:
        """Intents with no result: a crash came between sending and recording."""
        rows = self._session.scalars(
            select(ActionRow)
            .where(ActionRow.result_at.is_(None))
            .order_by(ActionRow.intent_at, ActionRow.id)
        )
        return [_intent(row) for row in rows]

    @translating
    def add_approval(self, approval: Approval) -> None:
        self._session.add(
            ApprovalRow(
                incident_id=approval.incident_id,
                approver=approval.approver,
                approved=approval.approved,
                comment=approval.comment,
                at=approval.at,
            )
        )
        self._session.flush()

    @translating
    def approvals(self, incident_id: str) -> list[Approval]:
        rows = self._session.scalars(
            select(ApprovalRow)
            .where(ApprovalRow.incident_id == incident_id)
            .order_by(ApprovalRow.at, ApprovalRow.id)
        )
        return [
            Approval(row.incident_id, row.approver, row.approved, row.at, row.comment)
            for row in rows
        ]

    @translating
    def actions_since(self, since: datetime) -> list[tuple[datetime, ServiceRef, str, str]]:
        """(recorded at, target, action, incident id) of every intent since `since`."""
        rows = self._session.execute(
            select(ActionRow.intent_at, ActionRow.target, ActionRow.action, ActionRow.incident_id)
            .where(ActionRow.intent_at >= since)
            .order_by(ActionRow.intent_at, ActionRow.id)
        )
        return [(at, ServiceRef.parse(target), action, inc) for at, target, action, inc in rows]

    @translating
    def record_outcome(self, playbook: str, cause: str, *, worked: bool, at: datetime) -> None:
        """Count one verified recovery (or failure) of `playbook` on `cause`."""
        row = self._session.get(OutcomeRow, (playbook, cause), with_for_update=True)
        if row is None:
            row = OutcomeRow(playbook=playbook, cause=cause, worked=0, failed=0, updated_at=at)
            self._session.add(row)
        row.worked += int(worked)
        row.failed += int(not worked)
        row.updated_at = at
        self._session.flush()

    @translating
    def outcomes(self) -> list[TrackRecord]:
        rows = self._session.scalars(select(OutcomeRow).order_by(OutcomeRow.playbook))
        return [TrackRecord(r.playbook, r.cause, r.worked, r.failed) for r in rows]

    @translating
    def save_miner_state(self, name: str, data: bytes, *, at: datetime) -> None:
        """Keep `data` as the state of the miner called `name`, replacing any before."""
        # An upsert, so a new leader saving right after the old one cannot collide.
        dialect = self._session.get_bind().dialect
        self._session.execute(_replacing_miner_state(dialect, name, data, at))

    @translating
    def load_miner_state(self, name: str) -> bytes | None:
        state = self._session.scalar(select(MinerStateRow.state).where(MinerStateRow.name == name))
        # Some drivers answer with a memoryview; callers get plain bytes either way.
        return None if state is None else bytes(state)


def _fill_incident_row(row: IncidentRow, incident: Incident) -> None:
    diagnosis = incident.diagnosis
    row.title = incident.title
    row.status = incident.status.value
    row.root_service = str(diagnosis.root) if diagnosis and diagnosis.ranked else None
    row.cause = diagnosis.cause.value if diagnosis and diagnosis.ranked else None
    row.opened_at = incident.opened_at
    row.updated_at = incident.updated_at
    row.resolved_at = incident.resolved_at
    row.document = dump_incident(incident)


def _insert_ignoring_duplicate_keys(dialect: Dialect) -> Insert:
    # Both supported databases spell "skip on conflict" the same way, through
    # their own dialect's insert construct.
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    return insert(ActionRow).on_conflict_do_nothing(index_elements=[ActionRow.key])


def _replacing_miner_state(dialect: Dialect, name: str, data: bytes, at: datetime) -> Insert:
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    return (
        insert(MinerStateRow)
        .values(name=name, state=data, updated_at=at)
        .on_conflict_do_update(
            index_elements=[MinerStateRow.name], set_={"state": data, "updated_at": at}
        )
    )


def _intent(row: ActionRow) -> StoredIntent:
    return StoredIntent(
        key=row.key,
        incident_id=row.incident_id,
        action=row.action,
        target=ServiceRef.parse(row.target),
        args=row.args,
        before=row.before,
        at=row.intent_at,
    )
