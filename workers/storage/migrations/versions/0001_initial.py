"""error groups, occurrences, rejected events

Revision ID: 0001
Revises:
Create Date: 2026-11-22 05:27:16.944356
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('error_groups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('error_type', sa.String(length=256), nullable=False),
    sa.Column('message_template', sa.Text(), nullable=False),
    sa.Column('service', sa.String(length=256), nullable=False),
    sa.Column('operation', sa.String(length=256), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('retryable', sa.Boolean(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('rule_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('occurrence_count', sa.BigInteger(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('fingerprint')
    )
    with op.batch_alter_table('error_groups', schema=None) as batch_op:
        batch_op.create_index('ix_error_groups_category_last_seen', ['category', 'last_seen'], unique=False)
        batch_op.create_index('ix_error_groups_last_seen', ['last_seen'], unique=False)
        batch_op.create_index('ix_error_groups_status_last_seen', ['status', 'last_seen'], unique=False)

    op.create_table('rejected_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('delivery_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('payload_bytes', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('delivery_id')
    )
    with op.batch_alter_table('rejected_events', schema=None) as batch_op:
        batch_op.create_index('ix_rejected_events_received_at', ['received_at'], unique=False)

    op.create_table('occurrences',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('delivery_id', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=256), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=256), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('retryable', sa.Boolean(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('rule_id', sa.String(length=128), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('event', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['error_groups.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('delivery_id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('occurrences', schema=None) as batch_op:
        batch_op.create_index('ix_occurrences_group_received', ['group_id', 'received_at'], unique=False)
        batch_op.create_index('ix_occurrences_received_at', ['received_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('occurrences', schema=None) as batch_op:
        batch_op.drop_index('ix_occurrences_received_at')
        batch_op.drop_index('ix_occurrences_group_received')

    op.drop_table('occurrences')
    with op.batch_alter_table('rejected_events', schema=None) as batch_op:
        batch_op.drop_index('ix_rejected_events_received_at')

    op.drop_table('rejected_events')
    with op.batch_alter_table('error_groups', schema=None) as batch_op:
        batch_op.drop_index('ix_error_groups_status_last_seen')
        batch_op.drop_index('ix_error_groups_last_seen')
        batch_op.drop_index('ix_error_groups_category_last_seen')

    op.drop_table('error_groups')
