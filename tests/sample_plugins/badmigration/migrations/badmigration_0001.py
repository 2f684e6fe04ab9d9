"""badmigration: fails

Revision ID: badmigration_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "badmigration_0001"
down_revision = None
branch_labels = ("badmigration",)
depends_on = None


def upgrade() -> None:
    op.execute("THIS IS NOT SQL")


def downgrade() -> None:
    pass
