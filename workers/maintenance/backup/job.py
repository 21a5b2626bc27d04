"""The scheduled backup: write an archive, register it, verify it, apply retention.

Idempotent: each run adds one archive; retention and the check for vanished files converge.
The run fails (and is notified) when the new archive does not verify.
"""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings
from workers.maintenance.backup import catalog, retention, workspace
from workers.maintenance.backup.create import archive_name, create
from workers.maintenance.backup.lookup import Source
from workers.maintenance.backup.verify import verify
from workers.maintenance.job import JobContext, JobResult
from workers.storage.models import Backup

STEPS = 4  # dump and archive, verify, check the older archives, retention


def run(ctx: JobContext) -> JobResult:
    settings = ctx.settings
    directory = workspace.ensure_directory(settings.backup_dir)
    workspace.remove_stale(directory)
    ctx.progress(0, STEPS, "dump and archive")
    with ctx.sessions() as session:
        name = archive_name(ctx.now(), lambda n: (directory / n).exists() or catalog.name_taken(session, n))
    with workspace.temporary(directory) as staging:
        created = create(settings, name=name, staging=staging, now=ctx.now())
    with ctx.sessions() as session:
        row = catalog.register(session, name=created.name, path=created.path, created_at=created.manifest.created_at,
                               database_kind=created.manifest.database_kind, size_bytes=created.size_bytes,
                               sha256=created.sha256, manifest=created.manifest.model_dump(mode="json"))
    ctx.progress(1, STEPS, "verify")
    verification = verify(Source(created.path, row), settings)
    with ctx.sessions() as session:
        catalog.record_verification(session, row.id, status=verification.status, detail=verification.detail,
                                    now=ctx.now())
    ctx.progress(2, STEPS, "check older archives")
    missing = _mark_missing(ctx)
    ctx.progress(3, STEPS, "retention")
    deleted = apply_retention(ctx, settings)
    ctx.progress(STEPS, STEPS, "done")
    summary = (f"{created.name} ({created.size_bytes} bytes) verification {verification.status}: "
               f"{verification.detail}; retention deleted {deleted}"
               + (f"; {missing} registered archive(s) missing" if missing else ""))
    return JobResult(summary=summary, failed=not verification.ok,
                     counts={"size_bytes": created.size_bytes, "verified": int(verification.ok),
                             "deleted": deleted, "missing": missing})


def _mark_missing(ctx: JobContext) -> int:
    """Registered archives whose file vanished are no backup any more: verification `missing`."""
    marked = 0
    with ctx.sessions() as session:
        for row in catalog.listed(session):
            if row.verification != catalog.MISSING and not Path(row.path).is_file():
                catalog.record_verification(session, row.id, status=catalog.MISSING,
                                            detail=f"{row.path} no longer exists", now=ctx.now())
                marked += 1
    return marked


def apply_retention(ctx: JobContext, settings: Settings) -> int:
    policy = retention.Policy(keep_last=settings.backup.keep_last, keep_daily=settings.backup.keep_daily,
                              keep_weekly=settings.backup.keep_weekly, keep_monthly=settings.backup.keep_monthly)
    with ctx.sessions() as session:
        rows = {row.name: row for row in catalog.listed(session)}
        candidates = [retention.Candidate(row.name, row.created_at, row.verification == catalog.OK)
                      for row in rows.values()]
        decision = retention.decide(candidates, policy)
        for name in decision.delete:
            _remove_file(rows[name])
            catalog.mark_deleted(session, rows[name].id, now=ctx.now())
    return len(decision.delete)


def _remove_file(row: Backup) -> None:
    path = Path(row.path)
    if path.name == row.name:  # only ever the registered archive itself
        path.unlink(missing_ok=True)
