"""`medic health` and `medic alerts`: the status the health job derived and why, and its alerts."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from config.errors import StorageUnavailable
from workers.cli import exit_codes
from workers.cli.context import database, json_option, require_database, settings
from workers.cli.output import emit_fields, emit_json, emit_table
from workers.cli.recovery import cli_actor
from workers.clock import relative, utcnow
from workers.maintenance.health import alerts as alert_store
from workers.maintenance.health import snapshots
from workers.maintenance.health.metrics import Metrics
from workers.maintenance.health.status import HEALTHY
from workers.records import alert_dict
from workers.storage.db import session_factory

STATE_CHOICES = (*alert_store.STATES, "active", "all")


@click.command()
@click.option("--now", "fresh", is_flag=True,
              help="Measure now instead of reading the latest snapshot; nothing is stored.")
@json_option
def health(fresh: bool, as_json: bool) -> None:
    """Print medic's health status, why, and the key metrics.

    The status is the latest snapshot's, recorded by the health job (beat runs it every minute;
    `medic maintenance run health` runs it now). With --now the snapshot is taken in this process
    and not stored: useful when beat is not running; a database it cannot reach is reported as
    critical.

    Exit codes: 0 healthy; 1 degraded, unhealthy or critical, or the latest snapshot is older
    than MEDIC_HEALTH__STALE_AFTER_S; 4 no snapshot yet; 5 the database cannot be reached
    (without --now).
    """
    current = settings()
    now = utcnow()
    if fresh:
        try:
            require_database()
        except StorageUnavailable:
            pass  # the snapshot reports it
        snapshot = snapshots.take(current, session_factory(current.database_url), now=now)
    else:
        with database() as session:
            latest = snapshots.latest(session)
        if latest is None:
            click.echo("medic: no health snapshot yet: start beat, or run `medic maintenance run health`, "
                       "or measure now with `medic health --now`", err=True)
            sys.exit(exit_codes.NOT_FOUND)
        snapshot = latest
    age_s = max(0.0, (now - snapshot.taken_at).total_seconds())
    stale = not fresh and age_s > current.health.stale_after_s
    data = {"status": snapshot.assessment.status, "taken_at": snapshot.taken_at, "age_s": round(age_s, 1),
            "stored": not fresh, "stale": stale, "reasons": [r.to_dict() for r in snapshot.assessment.reasons],
            "metrics": snapshot.metrics.to_dict()}
    if as_json:
        emit_json(data)
    else:
        _print_health(data, snapshot.metrics, now, current.health.stale_after_s)
    if data["status"] != HEALTHY or stale:
        sys.exit(exit_codes.FAILED)


def _print_health(data: dict[str, Any], metrics: Metrics, now: datetime, stale_after_s: float) -> None:
    taken = f"{data['taken_at']:%Y-%m-%d %H:%M:%S} UTC ({relative(data['taken_at'], now)})"
    if not data["stored"]:
        taken = "now, by this command (not stored)"
    elif data["stale"]:
        taken += f": STALE, older than {stale_after_s:g}s; is beat running the health job?"
    emit_fields([("status", data["status"]), ("taken", taken)])
    click.echo("\nwhy:" if data["reasons"] else "\nwhy: every metric is within its thresholds")
    for reason in data["reasons"]:
        click.echo(f"  {reason['level']:<9}  {reason['text']}")
    click.echo()
    emit_fields(_metric_fields(metrics, now))


def _metric_fields(m: Metrics, now: datetime) -> list[tuple[str, Any]]:
    window = f"last {m.window_s:g}s"
    rates = m.error_rate_per_min
    recovery = None
    if m.executions_finished is not None:
        recovery = (f"{m.recovery_success_rate:.0%} of {m.executions_finished} finished ({window})"
                    if m.recovery_success_rate is not None else f"none finished ({window})")
    backup = "none verified" if m.last_good_backup_at is None and "database" not in m.problems else None
    if backup and m.installation_age_h is not None:
        backup += f" (installed {m.installation_age_h:,.1f} h ago)"
    if m.last_good_backup_at is not None:
        backup = f"{m.last_good_backup_at:%Y-%m-%d %H:%M:%S} UTC ({relative(m.last_good_backup_at, now)})"
    return [
        ("queues", ", ".join(f"{q} {'?' if d is None else d}" for q, d in m.queue_depths.items())),
        (f"errors/min ({window})",
         None if rates is None else ", ".join(f"{c} {r:g}" for c, r in rates.items()) or "none"),
        ("recovery success", recovery),
        ("open breakers", None if m.open_breakers is None else
         ", ".join(f"{s} ({state.replace('_', ' ')})" for s, state in m.open_breakers.items()) or "none"),
        ("stuck executions", m.stuck_executions),
        ("dead letters", m.dead_letters),
        ("last good backup", backup),
        ("database size", _size(m.database_size_bytes)),
        ("measured in", None if m.duration_ms is None else f"{m.duration_ms:g} ms"),
    ]


def _size(size_bytes: int | None) -> str | None:
    if size_bytes is None:
        return None
    size, unit = float(size_bytes), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            break
        size /= 1024
    return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"


@click.group()
def alerts() -> None:
    """Alerts opened by the health job's rules: list them, acknowledge one.

    An alert opens when a rule fires (notified on MEDIC_HEALTH__ALERT_CHANNEL at its level), is
    updated while the rule keeps firing (no new notification), and is resolved automatically, with
    an info notification, when the rule clears. An acknowledged alert stays until then.
    """


@alerts.command("list")
@click.option("--state", default="active", show_default=True, type=click.Choice(STATE_CHOICES),
              help="active: open or acknowledged.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="At most this many rows.")
@json_option
def alerts_list(state: str, limit: int, as_json: bool) -> None:
    """List alerts, newest first."""
    states = {"active": alert_store.ACTIVE, "all": alert_store.STATES}.get(state, (state,))
    with database() as session:
        rows = [alert_dict(a) for a in alert_store.list_alerts(session, states=states, limit=limit)]
    if as_json:
        emit_json(rows)
        return
    now = utcnow()
    emit_table(([r["id"], r["state"], r["level"], r["rule"], r["subject"], relative(r["opened_at"], now),
                 relative(r["last_seen_at"], now), r["acknowledged_by"], r["summary"]] for r in rows),
               ["id", "state", "level", "rule", "subject", "opened", "last seen", "acknowledged by", "summary"],
               empty="no alerts" if state == "all" else f"no {state} alerts")


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--reason", help="Why, recorded with the acknowledgement.")
def alerts_ack(alert_id: int, reason: str | None) -> None:
    """Acknowledge alert ALERT_ID: no more notifications; it resolves when its rule clears.

    Exit codes: 0 acknowledged (or already acknowledged); 2 already resolved; 4 no such alert.
    """
    actor = cli_actor().name
    with database() as session:
        alert, changed = alert_store.acknowledge(session, alert_id, actor=actor, reason=reason, now=utcnow())
    if changed:
        click.echo(f"alert {alert.id} ({alert.rule}: {alert.subject}) acknowledged by {actor}")
    else:
        click.echo(f"alert {alert.id} ({alert.rule}: {alert.subject}) was acknowledged already by "
                   f"{alert.acknowledged_by} at {alert.acknowledged_at:%Y-%m-%d %H:%M:%S} UTC: nothing changed")

