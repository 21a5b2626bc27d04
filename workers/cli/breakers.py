"""`medic breakers` and `medic notifications`: circuit breakers per service, and the alert queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from workers.breakers import views
from workers.breakers.operations import operate
from workers.cli.context import database, json_option, limit_option, require_database, settings
from workers.cli.output import emit_json, emit_table
from workers.cli.recovery import recovery_service
from workers.clock import relative, utcnow
from workers.notify import queue as notifications_queue
from workers.storage.db import session_factory
from workers.storage.models import Notification


@click.group()
def breakers() -> None:
    """Circuit breakers per service: list, open, close, reset.

    Their state is shared by every worker (in Redis, or in the database in embedded mode); every
    transition, automatic or by hand, is recorded and notified on MEDIC_BREAKER_CHANNEL.
    """


@breakers.command("list")
@click.option("--transitions", default=3, show_default=True, type=click.IntRange(0, 100),
              help="Recent transitions to show per breaker.")
@json_option
def breakers_list(transitions, as_json) -> None:
    """List every breaker with its state and settings.

    The state is as the next call would find it: an open breaker past its recovery timeout shows
    as half_open (probe due). Failures count those within the window.
    """
    current = settings()
    require_database()
    source = views.BreakerSource.from_settings(current, session_factory(current.database_url))
    now = utcnow()
    with database() as session:
        rows = views.breaker_rows(session, source, now=now, transitions=transitions)
    if as_json:
        emit_json(rows)
        return
    emit_table(([r["service"], _state_text(r), f"{r['failures']} in {r['config']['window_s']:g}s", r["opened_at"],
                 _half_opens(r, now), r["settings"], _last(r, now)] for r in rows),
               ["service", "state", "failures", "opened", "half-opens", "settings", "last transition"],
               empty="no circuit breakers yet: one appears when a service's first replay runs")
    history = [(r["service"], t) for r in rows for t in r["transitions"]]
    if history:
        click.echo()
        emit_table(([service, t["at"], f"{t['from_state']} → {t['to_state']}", t["actor"], t["reason"]]
                    for service, t in history), ["service", "at", "transition", "actor", "reason"])


def _state_text(row: dict[str, Any]) -> str:
    # open past its recovery timeout: the next call is a probe
    return "half_open (probe due)" if row["probe_due"] else row["state"]


def _half_opens(row: dict[str, Any], now: datetime) -> str | None:
    return relative(row["half_open_at"], now) if row["state"] == "open" else None


def _last(row: dict[str, Any], now: datetime) -> str | None:
    if not row["transitions"]:
        return None
    t = row["transitions"][0]
    return f"{t['from_state']} → {t['to_state']} {relative(t['at'], now)} by {t['actor']}"


def _operate(service: str, action: str) -> None:
    recovery = recovery_service()
    click.echo(operate(recovery.breakers, service, action, actor=recovery.actor.name).describe())


@breakers.command("open")
@click.argument("service")
def breakers_open(service) -> None:
    """Force SERVICE's breaker open.

    No replay reaches SERVICE until `close` or `reset`: its attempts are deferred (not counted)
    or go to the next step, as their plan says.
    """
    _operate(service, "open")


@breakers.command("close")
@click.argument("service")
def breakers_close(service) -> None:
    """Close SERVICE's breaker now, with no failures on record."""
    _operate(service, "close")


@breakers.command("reset")
@click.argument("service")
def breakers_reset(service) -> None:
    """Forget SERVICE's breaker: the next call finds a fresh closed one."""
    _operate(service, "reset")


@click.group()
def notifications() -> None:
    """The notification queue: sent, pending and suppressed alerts.

    A notification a channel refuses stays pending and is retried with backoff until sent.
    """


@notifications.command("list")
@click.option("--state", type=click.Choice([notifications_queue.PENDING, notifications_queue.SENT,
                                            notifications_queue.SUPPRESSED]), help="Only in this state.")
@limit_option
@json_option
def notifications_list(state, limit, as_json) -> None:
    """List notifications, newest first.

    suppressed: the same alert went out within MEDIC_NOTIFICATION_COOLDOWN_S; pending: not sent yet
    (a refused one is retried with backoff, its last error shown).
    """
    with database() as session:
        rows = notifications_queue.list_notifications(session, state=state, limit=limit)
    if as_json:
        emit_json([_notification(n) for n in rows])
        return
    now = utcnow()
    emit_table(([n.id, n.created_at, n.channel, n.level, n.kind, n.state, n.attempts,
                 relative(n.next_attempt_at, now) if n.state == notifications_queue.PENDING else None, n.last_error,
                 n.subject] for n in rows),
               ["id", "created", "channel", "level", "kind", "state", "tries", "next try", "last error", "subject"],
               empty="no notifications")


def _notification(row: Notification) -> dict[str, Any]:
    return {"id": row.id, "created_at": row.created_at, "channel": row.channel, "level": row.level,
            "kind": row.kind, "state": row.state, "attempts": row.attempts, "next_attempt_at": row.next_attempt_at,
            "sent_at": row.sent_at, "last_error": row.last_error, "subject": row.subject,
            "group_id": row.group_id, "execution_id": row.execution_id}
