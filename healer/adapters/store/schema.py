"""The incident store's tables as SQLAlchemy ORM models.

The migrations in `migrations/versions` create exactly these tables; a test compares the
two. Rows are private to the store: the unit of work turns them into domain values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, ForeignKey, Index, LargeBinary, MetaData, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

# Deterministic constraint names, so migrations can drop and alter them by name on
# both SQLite (batch mode rebuilds tables) and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (indexable, compact); SQLite stores JSON as text.
JSON_DOCUMENT: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")

# Long enough for a Kubernetes namespace (63) + "/" + a Deployment name (253).
SERVICE_LENGTH = 320


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime that comes back aware and in UTC from every database.

    PostgreSQL keeps the instant (timestamptz) but answers in the session's time zone;
    SQLite keeps no zone at all, so we store naive UTC there, which also keeps its
    text timestamps sortable.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}; the store needs aware times")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, TypeEngine[Any]]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON_DOCUMENT,
    }


class IncidentRow(Base):
    """An incident: a few queryable columns plus the whole serialised `Incident`."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), index=True)
    root_service: Mapped[str | None] = mapped_column(String(SERVICE_LENGTH))
    cause: Mapped[str | None] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    # The pipeline's in-flight state (plan, decision, verification...) lives here so
    # that a restarted daemon picks an incident up where it was.
    document: Mapped[dict[str, Any]]


class EventRow(Base):
    """One step on an incident's timeline, read back in (at, id) order."""

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_events_incident_id_at", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]


class ActionRow(Base):
    """A mutation: the intent is written before it is sent, the result columns after."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    incident_id: Mapped[str] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(SERVICE_LENGTH))
    args: Mapped[dict[str, Any]]
    before: Mapped[dict[str, Any]]
    intent_at: Mapped[datetime] = mapped_column(index=True)
    # NULL until the result is recorded; a row with no result_at is a pending intent.
    ok: Mapped[bool | None]
    detail: Mapped[str | None] = mapped_column(Text)
    after: Mapped[dict[str, Any] | None]
    result_at: Mapped[datetime | None]


class ApprovalRow(Base):
    """A human's answer to an approval request (from Slack or the web app)."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    approver: Mapped[str] = mapped_column(String(200))
    approved: Mapped[bool]
    comment: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class MinerStateRow(Base):
    """A log template miner's saved state, so template ids survive a restart."""

    __tablename__ = "miner_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    # Opaque to the store: the miner's own compressed snapshot.
    state: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]


class OutcomeRow(Base):
    """Each playbook's track record per cause: how often it was verified to resolve."""

    __tablename__ = "playbook_outcomes"

    playbook: Mapped[str] = mapped_column(String(100), primary_key=True)
    cause: Mapped[str] = mapped_column(String(64), primary_key=True)
    worked: Mapped[int]
    failed: Mapped[int]
    updated_at: Mapped[datetime]
