"""notifications, people's channel per kind, admins' per-kind rules

Revision ID: core_0006
Revises: core_0005
Create Date: 2026-12-03 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lms_core.db

revision = "core_0006"
down_revision = "core_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("created_at", lms_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", lms_core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("mailed_at", lms_core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_user_read", ["user_id", "read_at"], unique=False)
        batch_op.create_index(
            "ix_notifications_channel_mailed", ["channel", "mailed_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notifications_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "notification_preferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("updated_at", lms_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_preferences")),
        sa.UniqueConstraint(
            "user_id", "kind", name=op.f("uq_notification_preferences_user_id_kind")
        ),
    )
    op.create_table(
        "notification_kind_settings",
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("default_channel", sa.String(length=10), nullable=True),
        sa.Column("mandatory", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", lms_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_notification_kind_settings")),
    )


def downgrade() -> None:
    op.drop_table("notification_kind_settings")
    op.drop_table("notification_preferences")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_created_at"))
        batch_op.drop_index("ix_notifications_channel_mailed")
        batch_op.drop_index("ix_notifications_user_read")
    op.drop_table("notifications")
