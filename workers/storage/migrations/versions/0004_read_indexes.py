"""indexes for the API and /metrics: executions by recency, newest execution per group, last success per job

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 23:50:00
"""

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.create_index('ix_executions_updated', ['updated_at', 'id'], unique=False)
        batch_op.drop_index('ix_executions_group')
        batch_op.create_index('ix_executions_group', ['group_id', 'id'], unique=False)
    with op.batch_alter_table('maintenance_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_maintenance_runs_job_status')
        batch_op.create_index('ix_maintenance_runs_job_status', ['job', 'status', 'finished_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('maintenance_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_maintenance_runs_job_status')
        batch_op.create_index('ix_maintenance_runs_job_status', ['job', 'status'], unique=False)
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.drop_index('ix_executions_group')
        batch_op.create_index('ix_executions_group', ['group_id'], unique=False)
        batch_op.drop_index('ix_executions_updated')
