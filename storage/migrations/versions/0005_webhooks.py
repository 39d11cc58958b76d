"""webhooks: each job's webhook, the delivery outbox and log, the tenants' signing secrets

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 01:01:20.838155
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import storage.coltypes
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('webhook_secrets',
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('secret', sa.Text(), nullable=False),
    sa.Column('previous', sa.Text(), nullable=True),
    sa.Column('previous_until', storage.coltypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.coltypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rotated_at', storage.coltypes.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tenant')
    )
    op.create_table('job_webhooks',
    sa.Column('job_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
    sa.Column('events', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('disabled_at', storage.coltypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('progress_sent_at', storage.coltypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('progress_value', sa.Integer(), nullable=True),
    sa.Column('progress_due_at', storage.coltypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('progress_payload', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id')
    )
    with op.batch_alter_table('job_webhooks', schema=None) as batch_op:
        batch_op.create_index('ix_job_webhooks_progress_due', ['progress_due_at'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('job_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', storage.coltypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', storage.coltypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempted_at', storage.coltypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Float(), nullable=True),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('locked_by', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('locked_until', storage.coltypes.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_job', ['job_id', 'seq'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_message', ['message_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_message')
        batch_op.drop_index('ix_webhook_deliveries_job')
        batch_op.drop_index('ix_webhook_deliveries_due')

    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('job_webhooks', schema=None) as batch_op:
        batch_op.drop_index('ix_job_webhooks_progress_due')

    op.drop_table('job_webhooks')
    op.drop_table('webhook_secrets')
