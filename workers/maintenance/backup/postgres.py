"""PostgreSQL: pg_dump (custom format) of medic's tables, checks of the dump, pg_restore.

Only medic's tables (and alembic_version) are dumped and restored: the database may be shared
with other applications, whose tables a restore must not drop. Row counts are read in the very
snapshot pg_dump dumps (pg_export_snapshot), so the manifest's counts are exact under writes.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from sqlalchemy import text

from workers.maintenance.backup import pgclient, tables
from workers.maintenance.backup.errors import BackupError
from workers.maintenance.backup.manifest import Manifest
from workers.storage.db import engine_for

LOCK_WAIT_TIMEOUT = "60s"  # pg_dump gives up rather than wait behind a long exclusive lock
SCRATCH_PREFIX = "medic_verify_"
_TABLE_DATA = re.compile(r"^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) ")


def dump(url: str, dest: Path, *, bin_dir: Path | None) -> tuple[dict[str, int], str | None]:
    """pg_dump medic's tables at `url` into `dest`; their row counts and schema revision in the dumped snapshot."""
    with engine_for(url).connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        present = tables.present_tables(conn)
        counts, revision = tables.count_rows(conn, present), tables.revision(conn)
        quote = conn.dialect.identifier_preparer.quote
        selected = [f"--table={quote(schema)}.{quote(name)}" for name in present]
        pgclient.run("pg_dump", ["--format=custom", f"--file={dest}", f"--snapshot={snapshot}",
                                 f"--lock-wait-timeout={LOCK_WAIT_TIMEOUT}", *selected], bin_dir=bin_dir, url=url)
        conn.rollback()
    return counts, revision


def check_listing(dump_path: Path, manifest: Manifest, *, bin_dir: Path | None) -> list[str]:
    """pg_restore --list reads the dump, and it holds the data of every table the manifest counts."""
    try:
        listing = pgclient.run("pg_restore", ["--list", str(dump_path)], bin_dir=bin_dir)
    except BackupError as exc:
        return [str(exc)]
    dumped = {match[2] for match in map(_TABLE_DATA.match, listing.splitlines()) if match}
    return [f"table {name}: no data in the dump" for name in manifest.tables if name not in dumped]


def check_scratch_restore(dump_path: Path, manifest: Manifest, *, url: str, bin_dir: Path | None) -> list[str]:
    """Restore into a scratch database on the server of `url`, compare row counts, drop it."""
    scratch = pgclient.with_database(url, f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}")
    pgclient.create_database(scratch)
    try:
        pgclient.run("pg_restore", ["--no-owner", "--single-transaction", str(dump_path)], bin_dir=bin_dir, url=scratch)
        return tables.compare_counts(manifest.tables, describe(scratch).rows)
    except BackupError as exc:
        return [f"restore into a scratch database: {exc}"]
    finally:
        pgclient.drop_database(scratch)


def describe(url: str) -> tables.DatabaseState:
    if not pgclient.database_exists(url):
        return tables.DatabaseState(exists=False)
    return tables.state(url)


def restore(dump_path: Path, url: str, *, bin_dir: Path | None) -> None:
    """Replace medic's tables at `url` by the dump's, in one transaction (created when missing)."""
    if not pgclient.database_exists(url):
        pgclient.create_database(url)
    pgclient.run("pg_restore", ["--clean", "--if-exists", "--no-owner", "--single-transaction", str(dump_path)],
                 bin_dir=bin_dir, url=url)
