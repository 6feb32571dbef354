"""Each playbook's track record per cause.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "playbook_outcomes",
        sa.Column("playbook", sa.String(100), nullable=False),
        sa.Column("cause", sa.String(64), nullable=False),
        sa.Column("worked", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("playbook", "cause", name=op.f("pk_playbook_outcomes")),
    )


def downgrade() -> None:
    op.drop_table("playbook_outcomes")
