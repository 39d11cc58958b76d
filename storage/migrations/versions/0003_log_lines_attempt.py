"""log_lines.attempt: the job's run a line belongs to

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default: neither SQLite nor PostgreSQL rewrites the
    # table, however many lines it holds (a batch operation would copy it on SQLite).
    op.add_column(
        'log_lines', sa.Column('attempt', sa.Integer(), nullable=False, server_default='1')
    )


def downgrade() -> None:
    with op.batch_alter_table('log_lines', schema=None) as batch_op:
        batch_op.drop_column('attempt')
