"""The incident store: incidents, timeline events, action intents and results, approvals.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out here rather than imported from the ORM models, so that this revision
# keeps creating the same schema after the models move on.
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SERVICE_LENGTH = 320


def utc_datetime(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def incident_reference() -> sa.Column[str]:
    return sa.Column(
        "incident_id",
        sa.String(100),
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("root_service", sa.String(SERVICE_LENGTH), nullable=True),
        sa.Column("cause", sa.String(32), nullable=True),
        utc_datetime("opened_at"),
        utc_datetime("updated_at"),
        utc_datetime("resolved_at", nullable=True),
        sa.Column("document", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index(op.f("ix_incidents_status"), "incidents", ["status"])

    op.create_table(
        "timeline_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        incident_reference(),
        utc_datetime("at"),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("data", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_events")),
    )
    op.create_index("ix_timeline_events_incident_id_at", "timeline_events", ["incident_id", "at"])

    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        incident_reference(),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(SERVICE_LENGTH), nullable=False),
        sa.Column("args", JSON_DOCUMENT, nullable=False),
        sa.Column("before", JSON_DOCUMENT, nullable=False),
        utc_datetime("intent_at"),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("after", JSON_DOCUMENT, nullable=True),
        utc_datetime("result_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        sa.UniqueConstraint("key", name=op.f("uq_actions_key")),
    )
    op.create_index(op.f("ix_actions_incident_id"), "actions", ["incident_id"])
    op.create_index(op.f("ix_actions_intent_at"), "actions", ["intent_at"])

    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        incident_reference(),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        utc_datetime("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    op.create_index(op.f("ix_approvals_incident_id"), "approvals", ["incident_id"])


def downgrade() -> None:
    # Children before the table they reference; dropping a table drops its indexes.
    op.drop_table("approvals")
    op.drop_table("actions")
    op.drop_table("timeline_events")
    op.drop_table("incidents")
