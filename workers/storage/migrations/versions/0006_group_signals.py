"""group signals: group_signals; executions that never tried anything are no longer dead letters

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 02:30:00

Until this release every stored occurrence started an execution, also for an event that named no
replay, fallback or compensate target its plan could use: the execution skipped its call steps,
notified or escalated, and ended `dead` (or `failed`, with `on_exhausted: fail`). Those are not
recoveries that were tried and failed, yet they counted as dead letters and against the recovery
success rate. From now on such an event starts no execution; its group is signalled instead
(new, regressed, spike: workers/notify/group_signals.py), with its state in `group_signals`.

Existing data: an execution that finished `dead` or `failed` without a single attempt of a call
step (retry, fallback, compensate, action), in any run, is deleted with its attempts (only notify
or escalate ones) and its audit rows; its occurrence and group stay, and the notifications it sent
stay (their execution_id set to NULL), so the history of what was reported and told is kept. This
is what the new intake would have stored for those events. Kept: one an operator replayed (another
execution's `replay_of` names it), as the replay's history. An execution that tried something and
failed, including a replay refused by the allowlists, stays a dead letter.

Deleting rather than marking: a new terminal state would have to be known to every reader of
execution states (API, CLI, messages, operator actions); with the rows gone they all agree.
The downgrade drops the table and restores the index; it cannot bring the deleted rows back.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# Nothing was tried: finished, no call step ever attempted, not the origin of an operator's replay.
UNTRIED = """
    SELECT e.id FROM executions e
    WHERE e.state IN ('dead', 'failed')
      AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.execution_id = e.id
                      AND a.step_kind IN ('retry', 'fallback', 'compensate', 'action'))
      AND NOT EXISTS (SELECT 1 FROM executions r WHERE r.replay_of = e.id)
"""


def upgrade() -> None:
    op.create_table('group_signals',
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('window_count', sa.BigInteger(), nullable=False),
    sa.Column('previous_count', sa.BigInteger(), nullable=False),
    sa.Column('new_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('regressed_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('spike_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signals_sent', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['error_groups.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id')
    )
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_attempts_execution')
        batch_op.create_index('ix_attempts_execution', ['execution_id', 'step_kind'], unique=False)
    forget_untried_executions()


def forget_untried_executions() -> None:
    bind = op.get_bind()
    # Set-based, through a temporary table of the ids: one statement per table whatever the count.
    bind.execute(sa.text(f"CREATE TEMPORARY TABLE untried_0006 AS {UNTRIED}"))
    count = bind.execute(sa.text("SELECT count(*) FROM untried_0006")).scalar_one()
    ids = "(SELECT id FROM untried_0006)"
    for statement in (f"DELETE FROM execution_audit WHERE execution_id IN {ids}",
                      f"UPDATE notifications SET execution_id = NULL WHERE execution_id IN {ids}",
                      f"DELETE FROM attempts WHERE execution_id IN {ids}",
                      f"DELETE FROM executions WHERE id IN {ids}",
                      "DROP TABLE untried_0006"):
        bind.execute(sa.text(statement))
    log.info("0006: deleted %d finished executions that never tried a call step (their occurrences stay)", count)


def downgrade() -> None:
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_attempts_execution')
        batch_op.create_index('ix_attempts_execution', ['execution_id'], unique=False)
    op.drop_table('group_signals')
