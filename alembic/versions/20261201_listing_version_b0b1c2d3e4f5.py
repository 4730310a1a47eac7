"""listing version

A version number on every listing, incremented by each change: a client that sends the version it read has a
change made meanwhile by someone else refused (409) instead of silently overwriting it (issue 11, part B).

Revision ID: b0b1c2d3e4f5
Revises: a3d03e8c8c61
Create Date: 2026-12-01 19:45:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'b0b1c2d3e4f5'
down_revision: str | None = 'a3d03e8c8c61'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('listing', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('listing', schema=None) as batch_op:
        batch_op.drop_column('version')
