"""`medic maintenance`: the scheduled jobs, their last runs, and running one now."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from workers.cli import exit_codes
from workers.cli.context import database, json_option, require_database, settings
from workers.cli.output import emit_fields, emit_json, emit_table
from workers.clock import relative, utcnow
from workers.maintenance import runs
from workers.maintenance.listing import SWEEP, job_rows, run_dict, run_rows
from workers.maintenance.registry import JOBS, get_job
from workers.maintenance.runner import run_job

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar as ClickProgressBar  # what click.progressbar returns


@click.group()
def maintenance() -> None:
    """Scheduled maintenance jobs: list them with their last run, run one now, see past runs.

    Beat runs each enabled job on its schedule (MEDIC_MAINTENANCE_JOBS overrides the defaults).
    A run started while another run of the same job holds its lock is skipped and recorded so.
    """


@maintenance.command("list")
@json_option
def maintenance_list(as_json: bool) -> None:
    """Every job: its schedule, last run, outcome, duration and summary."""
    current = settings()
    with database() as session:
        rows = job_rows(session, current)
    now = utcnow()
    if as_json:
        emit_json(rows)
        return
    emit_table(([r["job"], r["schedule"] if r["enabled"] else f"disabled ({r['schedule']})",
                 relative(r["last_run"]["started_at"], now) if r["last_run"] else None,
                 None if r["job"] == SWEEP else _status(r["last_run"]), _duration(r["last_run"]),
                 (r["last_run"] or {}).get("summary") or (r["last_run"] or {}).get("error")] for r in rows),
               ["job", "schedule", "last run", "outcome", "duration", "summary"])


@maintenance.command("run")
@click.argument("job")
@click.option("--dry-run", is_flag=True, help="Report what the job would do, change nothing (jobs that support it).")
@json_option
def maintenance_run(job: str, dry_run: bool, as_json: bool) -> None:
    """Run JOB now, in the foreground, with a progress bar where the job is long.

    Exit 0 when it succeeded, 1 when it failed or was skipped (another run holds its lock).
    """
    spec = get_job(job)
    if dry_run and not spec.dry_run:
        with_dry_run = ", ".join(name for name, other in JOBS.items() if other.dry_run)
        raise click.BadParameter(f"job {job!r} has no dry run (jobs with one: {with_dry_run})", param_hint="--dry-run")
    require_database()
    bar = ProgressBar(enabled=not as_json and sys.stderr.isatty())
    try:
        outcome = run_job(job, settings(), trigger="cli", dry_run=dry_run, on_progress=bar.update)
    finally:
        bar.close()
    data = run_dict(outcome.run)
    if as_json:
        emit_json(data)
    else:
        emit_fields([("job", data["job"]), ("status", data["status"]), ("duration", _duration(data)),
                     ("summary", data["summary"]), ("error", data["error"]), ("counts", _counts(data["counts"]))])
    if outcome.run.status != runs.SUCCEEDED:
        sys.exit(exit_codes.FAILED)


@maintenance.command("runs")
@click.option("--job", help="Only this job.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="At most this many rows.")
@json_option
def maintenance_runs(job: str | None, limit: int, as_json: bool) -> None:
    """Past runs, newest first."""
    if job:
        get_job(job)
    with database() as session:
        rows = run_rows(session, job=job, limit=limit)
    if as_json:
        emit_json(rows)
        return
    emit_table(([r["id"], r["job"], r["trigger"], r["started_at"], _status(r), _duration(r),
                 r["summary"] or r["error"]] for r in rows),
               ["run", "job", "trigger", "started", "outcome", "duration", "summary"], empty="no runs yet")


def _status(run: dict[str, Any] | None) -> str | None:
    return run["status"] if run else "never run"


def _duration(run: dict[str, Any] | None) -> str | None:
    if not run or run["duration_s"] is None:
        return None
    return f"{run['duration_s']:.2f}s" if run["duration_s"] < 60 else f"{run['duration_s'] / 60:.1f}m"


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in counts.items()) or "-"


class ProgressBar:
    """A click progress bar on stderr, created once a job reports its total."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: ClickProgressBar[int] | None = None
        self._done = 0

    def update(self, done: int, total: int | None, label: str) -> None:
        if not self.enabled or total is None:
            return
        if self._bar is None or self._bar.length != total:
            self.close()
            self._bar = click.progressbar(length=total, label=label or None, file=sys.stderr)
            self._bar.__enter__()
            self._done = 0
        self._bar.update(max(0, done - self._done))
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
