"""PostgreSQL: pg_dump (custom format) of medic's tables, checks of the dump, pg_restore.

Only medic's tables (and alembic_version) are dumped and restored: the database may be shared
with other applications, whose tables a restore must not drop. A dump holding anything else is
refused (pglisting), and a restore runs only the entries listed as medic's (--use-list). Row
counts are read in the very snapshot pg_dump dumps (pg_export_snapshot), so the manifest's
counts are exact under writes.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from workers.maintenance.backup import pgclient, pglisting, tables
from workers.maintenance.backup.errors import BackupError
from workers.maintenance.backup.manifest import Manifest
from workers.storage.db import engine_for

LOCK_WAIT_TIMEOUT = "60s"  # pg_dump gives up rather than wait behind a long exclusive lock
SCRATCH_PREFIX = "medic_verify_"


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


def listing(dump_path: Path, *, bin_dir: Path | None) -> list[pglisting.Entry]:
    """The dump's entries (pg_restore --list); BackupError when pg_restore cannot read it."""
    return pglisting.entries(pgclient.run("pg_restore", ["--list", str(dump_path)], bin_dir=bin_dir))


def is_medic(entry: pglisting.Entry) -> bool:
    return pglisting.medic_objects().owns(entry)


def check_listing(dump_path: Path, manifest: Manifest, *,
                  bin_dir: Path | None) -> tuple[list[str], list[pglisting.Entry]]:
    """Problems of the dump (unreadable, objects that are not medic's, a prologue of its own, tables the
    manifest counts without data), and the entries a restore runs."""
    try:
        found = listing(dump_path, bin_dir=bin_dir)
        with _use_list([], dump_path.parent) as nothing:  # the prologue alone
            script = pgclient.run("pg_restore", [f"--use-list={nothing}", "--file=-", str(dump_path)], bin_dir=bin_dir)
    except BackupError as exc:
        return [str(exc)], []
    problems = [problem for problem in (pglisting.foreign_problem(found, pglisting.medic_objects()),
                                        pglisting.prologue_problem(script)) if problem]
    dumped = {entry.tag for entry in found if entry.kind == "TABLE DATA"}
    problems += [f"table {name}: no data in the dump" for name in manifest.tables if name not in dumped]
    return problems, [entry for entry in found if is_medic(entry)]


@contextmanager
def _use_list(selected: list[pglisting.Entry], directory: Path) -> Iterator[Path]:
    """A --use-list file of `selected`, beside the dump, for as long as pg_restore needs it."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".medic-use-list-")
    try:
        with os.fdopen(fd, "w") as stream:
            stream.writelines(entry.line + "\n" for entry in selected)
        yield Path(name)
    finally:
        os.unlink(name)


def check_scratch_restore(dump_path: Path, manifest: Manifest, *, url: str, bin_dir: Path | None,
                          entries: list[pglisting.Entry]) -> list[str]:
    """Restore `entries` into a scratch database on the server of `url`, compare row counts, drop it."""
    scratch = pgclient.with_database(url, f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}")
    pgclient.create_database(scratch)
    try:
        with _use_list(entries, dump_path.parent) as selected:
            pgclient.run("pg_restore", ["--no-owner", "--single-transaction", f"--use-list={selected}", str(dump_path)],
                         bin_dir=bin_dir, url=scratch)
        return tables.compare_counts(manifest.tables, describe(scratch).rows)
    except BackupError as exc:
        return [f"restore into a scratch database: {exc}"]
    finally:
        pgclient.drop_database(scratch)


def describe(url: str) -> tables.DatabaseState:
    if not pgclient.database_exists(url):
        return tables.DatabaseState(exists=False)
    return tables.state(url)


def restore(dump_path: Path, url: str, *, bin_dir: Path | None, entries: list[pglisting.Entry]) -> None:
    """Replace medic's tables at `url` by the dump's `entries` (no other), in one transaction
    (the database is created when missing)."""
    if not pgclient.database_exists(url):
        pgclient.create_database(url)
    with _use_list(entries, dump_path.parent) as selected:
        pgclient.run("pg_restore", ["--clean", "--if-exists", "--no-owner", "--single-transaction",
                                    f"--use-list={selected}", str(dump_path)], bin_dir=bin_dir, url=url)
