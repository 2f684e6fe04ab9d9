"""badges: points, badges, levels

Revision ID: badges_0001
Revises:
Create Date: 2026-11-23 11:22:37.735805
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lms_core.db

revision = "badges_0001"
down_revision = None
branch_labels = ("badges",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "badges_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badges_levels")),
        sa.UniqueConstraint("name", name=op.f("uq_badges_levels_name")),
        sa.UniqueConstraint("threshold", name=op.f("uq_badges_levels_threshold")),
    )
    op.create_table(
        "badges_point_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("event_type", sa.String(length=120), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("once_per_course", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", lms_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badges_point_rules")),
    )
    with op.batch_alter_table("badges_point_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_badges_point_rules_event_type"), ["event_type"], unique=False
        )

    op.create_table(
        "badges_signing_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("private_key", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", lms_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badges_signing_keys")),
        sa.UniqueConstraint("kid", name=op.f("uq_badges_signing_keys_kid")),
    )
    op.create_table(
        "badges_event_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("event_name", sa.String(length=120), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", lms_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_badges_event_records_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badges_event_records")),
        sa.UniqueConstraint("key", name=op.f("uq_badges_event_records_key")),
    )
    with op.batch_alter_table("badges_event_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_badges_event_records_user_name", ["user_id", "event_name"], unique=False
        )

    op.create_table(
        "badges_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("event_name", sa.String(length=120), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("created_at", lms_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["badges_point_rules.id"],
            name=op.f("fk_badges_ledger_rule_id_badges_point_rules"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_badges_ledger_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badges_ledger")),
        sa.UniqueConstraint("key", name=op.f("uq_badges_ledger_key")),
    )
    with op.batch_alter_table("badges_ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_badges_ledger_course_id"), ["course_id"], unique=False)
        batch_op.create_index(
            "ix_badges_ledger_user_created", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "badges_levels_reached",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("level_id", sa.Integer(), nullable=False),
        sa.Column("reached_at", lms_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["level_id"],
            ["badges_levels.id"],
            name=op.f("fk_badges_levels_reached_level_id_badges_levels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_badges_levels_reached_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "level_id", name=op.f("pk_badges_levels_reached")),
    )
    op.create_table(
        "badges_optouts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", lms_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_badges_optouts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_badges_optouts")),
    )
    op.create_table(
        "badges_classes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("criteria_text", sa.Text(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=True),
        sa.Column("image_type", sa.String(length=40), nullable=True),
        sa.Column("expires_days", sa.Integer(), nullable=True),
        sa.Column("repeatable", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", lms_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_badges_classes_course_id_courses"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badges_classes")),
        sa.UniqueConstraint("slug", name=op.f("uq_badges_classes_slug")),
    )
    with op.batch_alter_table("badges_classes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_badges_classes_course_id"), ["course_id"], unique=False
        )

    op.create_table(
        "badges_awards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("badge_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("awarded_at", lms_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", lms_core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("awarded_by_id", sa.Integer(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", lms_core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["awarded_by_id"],
            ["users.id"],
            name=op.f("fk_badges_awards_awarded_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["badge_id"],
            ["badges_classes.id"],
            name=op.f("fk_badges_awards_badge_id_badges_classes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"],
            ["users.id"],
            name=op.f("fk_badges_awards_revoked_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_badges_awards_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badges_awards")),
        sa.UniqueConstraint("source_key", name=op.f("uq_badges_awards_source_key")),
        sa.UniqueConstraint("uid", name=op.f("uq_badges_awards_uid")),
    )
    with op.batch_alter_table("badges_awards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_badges_awards_badge_id"), ["badge_id"], unique=False)
        batch_op.create_index("ix_badges_awards_user", ["user_id", "awarded_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("badges_awards", schema=None) as batch_op:
        batch_op.drop_index("ix_badges_awards_user")
        batch_op.drop_index(batch_op.f("ix_badges_awards_badge_id"))

    op.drop_table("badges_awards")
    with op.batch_alter_table("badges_classes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_badges_classes_course_id"))

    op.drop_table("badges_classes")
    op.drop_table("badges_optouts")
    op.drop_table("badges_levels_reached")
    with op.batch_alter_table("badges_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_badges_ledger_user_created")
        batch_op.drop_index(batch_op.f("ix_badges_ledger_course_id"))

    op.drop_table("badges_ledger")
    with op.batch_alter_table("badges_event_records", schema=None) as batch_op:
        batch_op.drop_index("ix_badges_event_records_user_name")

    op.drop_table("badges_event_records")
    op.drop_table("badges_signing_keys")
    with op.batch_alter_table("badges_point_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_badges_point_rules_event_type"))

    op.drop_table("badges_point_rules")
    op.drop_table("badges_levels")
