"""attempts.sent_at: when a claimed attempt's work was handed over (a Celery replay published)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 06:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('attempts', sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True))
    # Attempts running at the upgrade were handed over by the release before: none is sent again.
    op.execute("UPDATE attempts SET sent_at = claimed_at WHERE state = 'running'")


def downgrade() -> None:
    with op.batch_alter_table('attempts') as batch:
        batch.drop_column('sent_at')
