"""installation: when this database was set up (a fresh install's grace before its first backup)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 06:00:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from workers.storage.types import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('installation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # A database that has run already is as old as its first maintenance run, else as old as now.
    first_run = op.get_bind().execute(sa.text("SELECT min(started_at) FROM maintenance_runs")).scalar()
    installed = sa.table('installation', sa.column('id', sa.Integer()), sa.column('installed_at', UTCDateTime()))
    op.bulk_insert(installed, [{"id": 1, "installed_at": _as_time(first_run) or datetime.now(UTC)}])


def _as_time(value: object) -> datetime | None:
    if isinstance(value, str):  # SQLite hands back its text
        value = datetime.fromisoformat(value)
    return value if isinstance(value, datetime) else None


def downgrade() -> None:
    op.drop_table('installation')
