"""`medic backup`: make, list, verify and restore archives of medic's database and config files."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from workers.cli import exit_codes
from workers.cli.context import database, json_option, require_database, settings
from workers.cli.maintenance import ProgressBar
from workers.cli.output import emit_fields, emit_json, emit_table
from workers.clock import relative, utcnow
from workers.maintenance import runs
from workers.maintenance.backup import catalog, restore, workspace
from workers.maintenance.backup.errors import BackupError
from workers.maintenance.backup.lookup import locate
from workers.maintenance.backup.tables import masked_url
from workers.maintenance.backup.verify import verify
from workers.maintenance.listing import backup_dict, backup_rows, run_dict
from workers.maintenance.runner import run_job

SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")

trust_unsigned_option = click.option(
    "--trust-unsigned", is_flag=True,
    help="Accept an archive medic cannot vouch for: unsigned (made before medic signed archives), signed "
         "with another key or badly, or not registered in medic's backups table. Only for a file you know "
         "medic made; every other check still applies.")


@click.group()
def backup() -> None:
    """Backups: the database (SQLite online backup or pg_dump) and config files in a verified archive.

    Archives go to MEDIC_BACKUP__DIR (default: backups/ in MEDIC_DATA_DIR); beat makes one on the
    backup job's schedule and applies retention. See docs/maintenance/backup.md.
    """


@contextmanager
def _refusals() -> Iterator[None]:
    """A refused or failed backup operation: its reason on stderr and exit 1, never a traceback."""
    try:
        yield
    except BackupError as exc:
        click.echo(f"medic: {exc}", err=True)
        sys.exit(exit_codes.FAILED)


@backup.command("create")
@json_option
def backup_create(as_json: bool) -> None:
    """Make an archive now, verify it and apply retention (the backup job, run in the foreground).

    Exit 0 when the archive verified, 1 when it did not or another run holds the job's lock.
    """
    require_database()
    bar = ProgressBar(enabled=not as_json and sys.stderr.isatty())
    try:
        outcome = run_job("backup", settings(), trigger="cli", on_progress=bar.update)
    finally:
        bar.close()
    with database() as session:
        row = catalog.newest_since(session, outcome.run.started_at) if outcome.result else None
    data = {"run": run_dict(outcome.run), "backup": backup_dict(row) if row else None}
    if as_json:
        emit_json(data)
    else:
        fields = [("status", outcome.run.status), ("summary", outcome.run.summary), ("error", outcome.run.error)]
        if row is not None:
            fields[:0] = [("archive", row.name), ("path", row.path), ("size", human_size(row.size_bytes)),
                          ("verification", row.verification), ("detail", row.verification_detail)]
        emit_fields(fields)
    if outcome.run.status != runs.SUCCEEDED:
        sys.exit(exit_codes.FAILED)


@backup.command("list")
@click.option("--all", "include_deleted", is_flag=True, help="Also the archives retention deleted.")
@json_option
def backup_list(include_deleted: bool, as_json: bool) -> None:
    """Registered archives, newest first."""
    with database() as session:
        rows = backup_rows(session, include_deleted=include_deleted)
    if as_json:
        emit_json(rows)
        return
    now = utcnow()
    headers = ["name", "created", "size", "kind", "verification", "verified"] + (["deleted"] if include_deleted else [])
    emit_table(([r["name"], r["created_at"], human_size(r["size_bytes"]), r["database_kind"], r["verification"],
                 relative(r["verified_at"], now)] + ([r["deleted_at"]] if include_deleted else []) for r in rows),
               headers, empty="no backups yet: `medic backup create` makes one")


@backup.command("verify")
@click.argument("name")
@trust_unsigned_option
@json_option
def backup_verify(name: str, trust_unsigned: bool, as_json: bool) -> None:
    """Verify archive NAME (or an archive file by path) again; a registered one records the result.

    An archive that is not signed with this medic's key and registered is refused, and nothing is
    recorded, unless --trust-unsigned is given. Exit 0 when it verified, 1 when it did not (changed,
    corrupt, missing) or was refused.
    """
    current = settings()
    with _refusals():
        source = locate(name, current)
        row = source.row
        result = verify(source, current, trust_unsigned=trust_unsigned)
    if row is not None:
        with database() as session:
            catalog.record_verification(session, row.id, status=result.status, detail=result.detail, now=utcnow())
    data = {"name": row.name if row else source.path.name, "path": str(source.path), "registered": row is not None,
            "verification": result.status, "detail": result.detail}
    if as_json:
        emit_json(data)
    else:
        emit_fields(list(data.items()))
    if not result.ok:
        sys.exit(exit_codes.FAILED)


@backup.command("restore")
@click.argument("name_or_path")
@click.option("--to-database", metavar="URL", help="Restore into this database (a SQLite path or URL, or a "
              "postgresql:// URL; created when missing) instead of medic's configured one.")
@click.option("--config-to", type=click.Path(file_okay=False, path_type=Path),
              help="Also write the archive's config files into this directory (never over the originals).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@trust_unsigned_option
@json_option
def backup_restore(name_or_path: str, to_database: str | None, config_to: Path | None, yes: bool,
                   trust_unsigned: bool, as_json: bool) -> None:
    """Restore archive NAME_OR_PATH: medic's configured database, or another with --to-database.

    The whole archive is checked first: signed with this medic's key and registered (or accepted with
    --trust-unsigned), checksums against the manifest and the registry, no member that could escape
    its directory, a PostgreSQL dump of medic's objects only. Nothing is written before the check
    passes and you confirm. Stop medic's workers and beat before restoring into medic's own database.
    """
    current = settings()
    try:
        target = restore.target_for(current, to_database)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--to-database") from None
    with _refusals(), workspace.temporary(current.backup_dir) as into:
        plan = restore.prepare(locate(name_or_path, current), target, current, into=into, config_to=config_to,
                               trust_unsigned=trust_unsigned)
        click.echo(describe_plan(plan), err=as_json)
        if not yes:
            click.confirm("Restore?", abort=True, err=as_json)
        restored = restore.apply(plan, current)
    data = {"archive": plan.source.path.name, "path": str(plan.source.path), "trust": plan.trust,
            "target": masked_url(target.url),
            "in_place": target.in_place, "schema_revision": plan.manifest.schema_revision,
            "rows": restored.after.rows, "config_files": [str(write.dest) for write in plan.config],
            "problems": restored.problems, "notes": restored.notes}
    if as_json:
        emit_json(data)
    else:
        click.echo(f"restored {sum(restored.after.rows.values())} rows in {len(restored.after.rows)} tables "
                   f"into {masked_url(target.url)}")
        for line in [*(f"written: {write.dest}" for write in plan.config), *restored.notes,
                     *(f"PROBLEM: {problem}" for problem in restored.problems)]:
            click.echo(line)
    if restored.problems:
        sys.exit(exit_codes.FAILED)


def describe_plan(plan: restore.Plan) -> str:
    manifest, target = plan.manifest, plan.target
    configs = sum(1 for entry in manifest.files if entry.role == "config")
    lines = [f"archive   {plan.source.path.name}: {manifest.database_kind}, "
             f"made {manifest.created_at:%Y-%m-%d %H:%M:%S}Z by medic {manifest.medic_version}, "
             f"schema revision {manifest.schema_revision}, "
             f"{sum(manifest.tables.values())} rows in {len(manifest.tables)} tables, {configs} config file(s)",
             f"trust     {plan.trust}",
             f"database  {masked_url(target.url)}" + (" (medic's configured database)" if target.in_place else ""),
             f"          now {plan.before.describe()}"]
    if plan.before.has_medic_tables:
        lines.append("          medic's tables there will be REPLACED by the archive's")
    for write in plan.config:
        lines.append(f"config    {write.dest}" + (" (OVERWRITES the existing file)" if write.exists else " (new)"))
    if configs and not plan.config:
        lines.append("config    not restored (--config-to DIR writes them)")
    return "\n".join(lines)


def human_size(size_bytes: int) -> str:
    size, unit = float(size_bytes), 0
    while size >= 1024 and unit < len(SIZE_UNITS) - 1:
        size, unit = size / 1024, unit + 1
    return f"{size_bytes} B" if unit == 0 else f"{size:.1f} {SIZE_UNITS[unit]}"
