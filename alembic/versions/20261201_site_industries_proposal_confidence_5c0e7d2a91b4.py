"""site industry codes, proposal confidence and reasons

Revision ID: 5c0e7d2a91b4
Revises: 480a1827c213
Create Date: 2026-12-01 17:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '5c0e7d2a91b4'
down_revision: str | None = '480a1827c213'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.add_column(sa.Column('industry_codes', sa.JSON(), server_default='[]', nullable=False))
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confidence', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('reasons', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.drop_column('reasons')
        batch_op.drop_column('confidence')
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.drop_column('industry_codes')
