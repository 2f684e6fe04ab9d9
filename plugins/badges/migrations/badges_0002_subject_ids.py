"""badges: pseudonymous subject ids for Open Badges 3.0 credentials

Revision ID: badges_0002
Revises: badges_0001
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lms_core.db

revision = "badges_0002"
down_revision = "badges_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "badges_subject_ids",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("created_at", lms_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_badges_subject_ids_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_badges_subject_ids")),
        sa.UniqueConstraint("uuid", name=op.f("uq_badges_subject_ids_uuid")),
    )


def downgrade() -> None:
    op.drop_table("badges_subject_ids")
