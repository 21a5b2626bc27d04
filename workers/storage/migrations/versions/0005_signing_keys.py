"""signing_keys: keys medic generates for itself (the replay callbacks' HMAC key)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 00:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty: the first worker that needs a key inserts it (INSERT ... ON CONFLICT DO NOTHING), so every
    # worker reads the same one; a key is never written to migration output or logs.
    op.create_table('signing_keys',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('signing_keys')
