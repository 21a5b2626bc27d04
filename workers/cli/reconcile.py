"""`medic reconcile`: the reconciliation checks, running one now, and the log of what they found and did."""

from __future__ import annotations

import sys
from typing import Any

import click

from config.jobs.reconcile import OWN_CHECKS
from workers.cli import exit_codes
from workers.cli.context import database, json_option, require_database, settings
from workers.cli.maintenance import ProgressBar, run_dict
from workers.cli.output import emit_fields, emit_json, emit_table
from workers.clock import relative, utcnow
from workers.maintenance import runs
from workers.maintenance.reconcile import job, journal
from workers.maintenance.runner import run_job
from workers.storage.models import MaintenanceRun, ReconciliationEntry

RECENT_RUNS = 200  # how far back `list` looks for each check's last result
ENTRIES_SHOWN = 100  # entries `run` prints; `log --run` shows more
OUTCOMES = ("found", *journal.ACTIONS, "truncated", "errors")


@click.group()
def reconcile() -> None:
    """Reconciliation: medic's own consistency, and checks against application databases.

    NAME `medic` runs medic's own checks (group counters, attempt claims, execution states);
    other names are the checks in MEDIC_RECONCILE__CHECKS. See docs/maintenance/reconcile.md.
    """


@reconcile.command("list")
@json_option
def reconcile_list(as_json: bool) -> None:
    """Every check: how it fixes, and its last result."""
    current = settings()
    with database() as session:
        recent = runs.history(session, job="reconcile", limit=RECENT_RUNS)
        own_fix = "auto" if current.reconcile.fix_own else "report"
        rows: list[dict[str, Any]] = [{"check": name, "run_as": OWN_CHECKS, "description": about, "fix": own_fix,
                                       "last": _last(session, recent, name)} for name, about, _ in job.OWN]
        for check in current.reconcile.checks:
            rows.append({"check": check.name, "run_as": check.name, "description": check.description,
                         "fix": "auto" if check.auto_fix else "report" if check.fix else "none",
                         "database_url_env": check.database_url_env, "key": check.key, "max_rows": check.max_rows,
                         "detect": check.detect, "fix_statements": check.fix,
                         "last": _last(session, recent, check.name)})
    if as_json:
        emit_json(rows)
        return
    now = utcnow()
    emit_table(([r["check"], r["run_as"], r["fix"], relative(r["last"]["at"], now) if r["last"] else None,
                 _result(r["last"])] for r in rows), ["check", "run as", "fix", "last run", "last result"])


@reconcile.command("run")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Detect and log what would be done; change nothing, alert nobody.")
@json_option
def reconcile_run(name: str, dry_run: bool, as_json: bool) -> None:
    """Run check NAME now (`medic`: medic's own checks), recorded as a run of the reconcile job.

    Exit 0 when the run succeeded and no discrepancy remains; 1 when discrepancies remain
    (reported, dry run, deferred, failed to fix, beyond max_rows), the run failed, or it was
    skipped because another run holds the lock; 4 for an unknown NAME.
    """
    current = settings()
    job.selected(current, name)
    require_database()
    bar = ProgressBar(enabled=not as_json and sys.stderr.isatty())
    try:
        outcome = run_job("reconcile", current, trigger="cli", dry_run=dry_run, params={"check": name},
                          on_progress=bar.update)
    finally:
        bar.close()
    with database() as session:
        entries = [entry_dict(e) for e in journal.history(session, run_id=outcome.run.id, limit=ENTRIES_SHOWN)][::-1]
    data = {**run_dict(outcome.run), "check": name, "dry_run": dry_run, "entries": entries}
    if as_json:
        emit_json(data)
    else:
        emit_fields([("run", data["id"]), ("status", data["status"]), ("summary", data["summary"]),
                     ("error", data["error"])])
        if entries:
            click.echo()
            _entries_table(entries)
    if outcome.run.status != runs.SUCCEEDED or remaining(outcome.run.counts):
        sys.exit(exit_codes.FAILED)


@reconcile.command("log")
@click.option("--check", "check_name", help="Only this check (`medic`: all of medic's own).")
@click.option("--run", "run_id", type=int, help="Only what this run did.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000),
              help="At most this many entries.")
@json_option
def reconcile_log(check_name: str | None, run_id: int | None, limit: int, as_json: bool) -> None:
    """What the checks found and did, newest first, with each row before and after (--json)."""
    with database() as session:
        entries = [entry_dict(e) for e in journal.history(session, check=check_name, run_id=run_id, limit=limit)]
    if as_json:
        emit_json(entries)
        return
    _entries_table(entries)


def remaining(counts: dict[str, Any]) -> bool:
    """Whether a run left discrepancies as they were."""
    return counts.get("found", 0) > counts.get("fixed", 0) or counts.get("truncated", 0) > 0


def entry_dict(entry: ReconciliationEntry) -> dict[str, Any]:
    return {"id": entry.id, "run_id": entry.run_id, "check": entry.check_name, "at": entry.at,
            "subject": entry.subject, "action": entry.action, "before": entry.before, "after": entry.after,
            "detail": entry.detail}


def _entries_table(entries: list[dict[str, Any]]) -> None:
    emit_table(([e["at"], e["check"], e["subject"], e["action"], e["detail"]] for e in entries),
               ["at", "check", "subject", "action", "detail"], empty="no entries")


def _last(session, recent: list[MaintenanceRun], check: str) -> dict[str, Any] | None:
    """The check's numbers in the newest run that ran it, and its error if it failed."""
    run = next((r for r in recent if f"{check}.found" in (r.counts or {})), None)
    if run is None:
        return None
    numbers = {what: run.counts.get(f"{check}.{what}", 0) for what in OUTCOMES}
    error = None
    if numbers["errors"]:
        error = next((e.detail for e in journal.history(session, check=check, run_id=run.id, limit=1)), None)
    return {"run": run.id, "at": run.started_at, **numbers, "error": error}


def _result(last: dict[str, Any] | None) -> str:
    if last is None:
        return "never run"
    if last["error"] or last["errors"]:
        return f"failed: {last['error']}"
    done = ", ".join(f"{last[what]} {what.replace('_', ' ')}" for what in OUTCOMES[1:] if last[what])
    return f"{last['found']} found" + (f": {done}" if done else "")
