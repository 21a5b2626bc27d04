"""maintenance: runs, reconciliation log, backups, health snapshots, alerts; executions.queue

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 20:00:56.686681
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=256), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=256), nullable=True),
    sa.Column('acknowledged_reason', sa.Text(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_opened', ['opened_at'], unique=False)
        batch_op.create_index('ix_alerts_resolved', ['resolved_at'], unique=False)
        batch_op.create_index('ix_alerts_state_rule', ['state', 'rule'], unique=False)

    op.create_table('backups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('database_kind', sa.String(length=16), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('manifest', sa.JSON(), nullable=False),
    sa.Column('verification', sa.String(length=16), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verification_detail', sa.Text(), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('backups', schema=None) as batch_op:
        batch_op.create_index('ix_backups_created', ['created_at'], unique=False)

    op.create_table('health_snapshots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('health_snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_health_snapshots_taken', ['taken_at'], unique=False)

    op.create_table('maintenance_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('host', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('maintenance_runs', schema=None) as batch_op:
        batch_op.create_index('ix_maintenance_runs_job_started', ['job', 'started_at'], unique=False)
        batch_op.create_index('ix_maintenance_runs_started', ['started_at'], unique=False)
        batch_op.create_index('ix_maintenance_runs_job_status', ['job', 'status'], unique=False)

    op.create_table('reconciliation_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('check_name', sa.String(length=128), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('subject', sa.String(length=512), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['maintenance_runs.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reconciliation_log', schema=None) as batch_op:
        batch_op.create_index('ix_reconciliation_log_check_at', ['check_name', 'at'], unique=False)
        batch_op.create_index('ix_reconciliation_log_at', ['at'], unique=False)
        batch_op.create_index('ix_reconciliation_log_run', ['run_id'], unique=False)

    # cleanup (workers/maintenance/cleanup.py): retention selections and ON DELETE SET NULL lookups
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_state_created', ['state', 'created_at'], unique=False)
        batch_op.create_index('ix_notifications_group', ['group_id'], unique=False)
        batch_op.create_index('ix_notifications_execution', ['execution_id'], unique=False)

    with op.batch_alter_table('breaker_transitions', schema=None) as batch_op:
        batch_op.create_index('ix_breaker_transitions_at', ['at'], unique=False)

    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queue', sa.String(length=128), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('breaker_transitions', schema=None) as batch_op:
        batch_op.drop_index('ix_breaker_transitions_at')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_execution')
        batch_op.drop_index('ix_notifications_group')
        batch_op.drop_index('ix_notifications_state_created')

    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.drop_column('queue')

    with op.batch_alter_table('reconciliation_log', schema=None) as batch_op:
        batch_op.drop_index('ix_reconciliation_log_run')
        batch_op.drop_index('ix_reconciliation_log_at')
        batch_op.drop_index('ix_reconciliation_log_check_at')

    op.drop_table('reconciliation_log')
    with op.batch_alter_table('maintenance_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_maintenance_runs_job_status')
        batch_op.drop_index('ix_maintenance_runs_started')
        batch_op.drop_index('ix_maintenance_runs_job_started')

    op.drop_table('maintenance_runs')
    with op.batch_alter_table('health_snapshots', schema=None) as batch_op:
        batch_op.drop_index('ix_health_snapshots_taken')

    op.drop_table('health_snapshots')
    with op.batch_alter_table('backups', schema=None) as batch_op:
        batch_op.drop_index('ix_backups_created')

    op.drop_table('backups')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_resolved')
        batch_op.drop_index('ix_alerts_state_rule')
        batch_op.drop_index('ix_alerts_opened')

    op.drop_table('alerts')
