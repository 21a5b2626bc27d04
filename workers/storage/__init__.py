"""medic's database: SQLite embedded, PostgreSQL in production, through SQLAlchemy 2.

models: every table medic owns; changed only through migrations.
types: column types of medic's own (UTCDateTime: aware UTC on every backend).
db: engines and sessions; transient database errors as StorageUnavailable.
leases: named leases, a lock with an expiry, for single-flight work across hosts.
migrate: Alembic configured in code (`medic db upgrade`).
migrations/: the Alembic environment and the revisions (versions/0001_initial ... 0009_console_logouts).
"""
