"""session versions, signed-out sessions, shared attempt counters

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-12-02 12:00:00.000000

Sign-in failures are counted in ``rate_limits`` (or Redis) for every address and account,
unknown ones included, so the per-user ``failed_logins``/``locked_until`` columns go.

The ``users`` changes use plain ``ALTER TABLE`` rather than batch mode: on SQLite a batch
rebuild drops and recreates ``users``, and with foreign keys on that drop would cascade into
every table that references a user. SQLite has had ``ADD``/``DROP COLUMN`` since 3.35.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lms_core.db


revision = 'core_0003'
down_revision = 'core_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('session_version', sa.Integer(), server_default=sa.text('1'), nullable=False))
    op.drop_column('users', 'failed_logins')
    op.drop_column('users', 'locked_until')

    op.create_table('ended_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('ended_at', lms_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', lms_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ended_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ended_sessions')),
    sa.UniqueConstraint('session_id', name=op.f('uq_ended_sessions_session_id'))
    )
    with op.batch_alter_table('ended_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ended_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ended_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('rate_limits',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('window_ends', lms_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_limits'))
    )
    with op.batch_alter_table('rate_limits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_limits_window_ends'), ['window_ends'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rate_limits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_limits_window_ends'))
    op.drop_table('rate_limits')

    with op.batch_alter_table('ended_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ended_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_ended_sessions_expires_at'))
    op.drop_table('ended_sessions')

    op.add_column('users', sa.Column('locked_until', lms_core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('users', sa.Column('failed_logins', sa.Integer(), server_default=sa.text('0'), nullable=False))
    op.drop_column('users', 'session_version')
