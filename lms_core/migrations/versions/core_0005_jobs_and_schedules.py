"""background jobs in the outbox; schedules

Revision ID: core_0005
Revises: core_0004
Create Date: 2026-12-03 06:30:05.911491

A job is a row of ``outbox_deliveries`` without an event: ``event_id`` becomes nullable and
the row gains the job's type, payload, idempotency key (unique per type), the long-job lease
and progress, its result and who asked for it. ``schedules`` holds, per declared schedule,
the last tick it fired for (what makes a tick fire once across workers). On SQLite the
deliveries table is rebuilt (batch mode); no other table references it.

Downgrading deletes every job (event deliveries stay).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lms_core.db


revision = 'core_0005'
down_revision = 'core_0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('schedules',
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('plugin', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('last_tick_at', lms_core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_delivery_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['last_delivery_id'], ['outbox_deliveries.id'], name=op.f('fk_schedules_last_delivery_id_outbox_deliveries'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_schedules'))
    )
    with op.batch_alter_table('outbox_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('long', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('lease_until', lms_core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('progress_done', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('progress_total', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('result', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('requested_by_id', sa.Integer(), nullable=True))
        batch_op.alter_column('event_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_outbox_deliveries_requested_by_id'), ['requested_by_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_outbox_deliveries_job_key'), ['job', 'key'])
        batch_op.create_foreign_key(batch_op.f('fk_outbox_deliveries_requested_by_id_users'), 'users', ['requested_by_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    op.drop_table('schedules')
    op.execute(sa.text("DELETE FROM outbox_deliveries WHERE event_id IS NULL"))
    with op.batch_alter_table('outbox_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_deliveries_requested_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_outbox_deliveries_job_key'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_outbox_deliveries_requested_by_id'))
        batch_op.alter_column('event_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('requested_by_id')
        batch_op.drop_column('result')
        batch_op.drop_column('progress_total')
        batch_op.drop_column('progress_done')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('long')
        batch_op.drop_column('key')
        batch_op.drop_column('payload')
        batch_op.drop_column('job')

