"""console_logouts: console sessions logged out before they expired (by the sha256 of their CSRF token)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 18:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_logouts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('session_hash', sa.String(length=64), nullable=False),
    sa.Column('token_name', sa.String(length=128), nullable=False),
    sa.Column('logged_out_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_hash')
    )
    with op.batch_alter_table('console_logouts', schema=None) as batch_op:
        batch_op.create_index('ix_console_logouts_expires', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_table('console_logouts')
