"""Database maintenance: refresh planner statistics and reclaim space; check SQLite's integrity."""

from __future__ import annotations

from sqlalchemy import text

from workers.maintenance.job import JobContext, JobResult
from workers.storage.db import engine_for
from workers.storage.models import Base


def run(ctx: JobContext) -> JobResult:
    engine = engine_for(ctx.settings.database_url)
    if engine.dialect.name == "sqlite":
        return _sqlite(engine)
    return _postgresql(engine, ctx)


def _sqlite(engine) -> JobResult:
    with engine.connect() as connection:
        problems = [row[0] for row in connection.execute(text("PRAGMA integrity_check"))]
        connection.execute(text("PRAGMA optimize"))
        connection.commit()
    ok = problems == ["ok"]
    summary = ("integrity_check ok; PRAGMA optimize done" if ok
               else f"integrity_check found {len(problems)} problem(s): {'; '.join(problems[:5])}")
    return JobResult(summary=summary, counts={"integrity_problems": 0 if ok else len(problems)}, failed=not ok)


def _postgresql(engine, ctx: JobContext) -> JobResult:
    """medic's own tables only: the database may be shared."""
    tables = [table.name for table in Base.metadata.sorted_tables]
    # VACUUM cannot run inside a transaction block.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for done, name in enumerate(tables, 1):
            connection.execute(text(f'VACUUM (ANALYZE) "{name}"'))
            ctx.progress(done, len(tables), "VACUUM (ANALYZE)")
    return JobResult(summary=f"VACUUM (ANALYZE) of {len(tables)} tables done", counts={"tables": len(tables)})
