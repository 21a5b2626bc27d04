"""`medic errors`, `medic rejected`, `medic stats`: what was reported and how it was triaged."""

from __future__ import annotations

import click

from config.errors import NotFound
from workers.cli.context import database, json_option, limit_option, parse_since
from workers.cli.output import emit_fields, emit_json, emit_table
from workers.cli.recovery import cli_actor
from workers.clock import utcnow
from workers.intake import queries
from workers.intake.group_status import OPEN, RESOLVED, set_group_status
from workers.records import group_dict, occurrence_dict, rejected_dict
from workers.storage.models import RejectedEvent

since_option = click.option("--since", help="Only since then: 30m, 2h, 7d, or an ISO-8601 time.")


@click.group()
def errors() -> None:
    """Error groups: each distinct error with its count and triage."""


@errors.command("list")
@click.option("--category", help="Only this category (network, timeout, ...).")
@click.option("--service", help="Only this service.")
@click.option("--status", type=click.Choice([OPEN, RESOLVED]), help="Only groups in this status.")
@click.option("--severity", type=click.Choice(queries.SEVERITIES), help="Only this severity.")
@click.option("--search", metavar="TEXT",
              help="Only groups whose error type, message or service contains TEXT (case-insensitive).")
@since_option
@limit_option
@json_option
def errors_list(category, service, status, severity, search, since, limit, as_json) -> None:
    """List error groups, most recently seen first."""
    if search and len(search) > queries.MAX_SEARCH_CHARS:
        raise click.BadParameter(f"at most {queries.MAX_SEARCH_CHARS} characters", param_hint="--search")
    with database() as session:
        groups = queries.list_groups(session, category=category, service=service, status=status, severity=severity,
                                     search=search, since=parse_since(since), limit=limit)
    if as_json:
        emit_json([group_dict(g) for g in groups])
        return
    emit_table(([g.id, g.category, g.severity, "yes" if g.retryable else "no", g.occurrence_count, g.first_seen,
                 g.last_seen, g.service, g.error_type, g.rule_id, g.message_template] for g in groups),
               ["id", "category", "severity", "retry", "count", "first seen", "last seen", "service", "type", "rule",
                "message"], empty="no error groups")


@errors.command("show")
@click.argument("group_id", type=int)
@click.option("--occurrences", default=5, show_default=True, type=click.IntRange(0, 1000),
              help="Recent occurrences to include.")
@json_option
def errors_show(group_id, occurrences, as_json) -> None:
    """Show one error group with its recent occurrences."""
    with database() as session:
        group = queries.get_group(session, group_id)
        if group is None:
            raise NotFound(f"no error group with id {group_id}")
        recent = queries.recent_occurrences(session, group_id, limit=occurrences)
    if as_json:
        emit_json({**group_dict(group), "occurrences": [occurrence_dict(o) for o in recent]})
        return
    emit_fields([("id", group.id), ("error type", group.error_type), ("message", group.message_template),
                 ("service", group.service), ("operation", group.operation), ("category", group.category),
                 ("severity", group.severity), ("retryable", group.retryable), ("confidence", group.confidence),
                 ("rule", group.rule_id), ("status", group.status), ("occurrences", group.occurrence_count),
                 ("first seen", group.first_seen), ("last seen", group.last_seen), ("fingerprint", group.fingerprint)])
    if recent:
        click.echo()
        emit_table(([o.id, o.occurred_at, o.source, o.event.get("idempotency_key"), o.message] for o in recent),
                   ["occurrence", "occurred", "source", "idempotency key", "message"])


@errors.command("resolve")
@click.argument("group_id", type=int)
@click.option("--reason", help="Why; kept in the audit.")
@json_option
def errors_resolve(group_id, reason, as_json) -> None:
    """Mark an error group resolved (audited).

    The cleanup job deletes a resolved group, with its occurrences and executions, once it was
    last seen longer ago than MEDIC_CLEANUP__RESOLVED_GROUPS_DAYS. A new occurrence reopens it.
    """
    _set_group_status(group_id, RESOLVED, reason, as_json)


@errors.command("reopen")
@click.argument("group_id", type=int)
@click.option("--reason", help="Why; kept in the audit.")
@json_option
def errors_reopen(group_id, reason, as_json) -> None:
    """Mark a resolved error group open again (audited): cleanup leaves it alone."""
    _set_group_status(group_id, OPEN, reason, as_json)


def _set_group_status(group_id: int, status: str, reason: str | None, as_json: bool) -> None:
    with database() as session:
        change = set_group_status(session, group_id, status, actor=cli_actor(), reason=reason)
    if as_json:
        emit_json({"id": group_id, "status": status, "previous": change.before})
        return
    click.echo(f"error group {group_id}: {status}" + ("" if change.changed else " (already)"))


@click.group()
def rejected() -> None:
    """Payloads that failed validation, kept masked and capped."""


@rejected.command("list")
@since_option
@limit_option
@json_option
def rejected_list(since, limit, as_json) -> None:
    """List rejected payloads, newest first."""
    with database() as session:
        rows = queries.list_rejected(session, since=parse_since(since), limit=limit)
    if as_json:
        emit_json([rejected_dict(r) for r in rows])
        return
    emit_table(([r.id, r.received_at, r.payload_bytes, r.reason] for r in rows),
               ["id", "received", "bytes", "reason"], empty="no rejected events")


@rejected.command("show")
@click.argument("rejected_id", type=int)
@json_option
def rejected_show(rejected_id, as_json) -> None:
    """Show one rejected payload with its reason."""
    with database() as session:
        row = session.get(RejectedEvent, rejected_id)
    if row is None:
        raise NotFound(f"no rejected event with id {rejected_id}")
    if as_json:
        emit_json(rejected_dict(row))
        return
    emit_fields([("id", row.id), ("received", row.received_at), ("delivery id", row.delivery_id),
                 ("bytes", row.payload_bytes), ("reason", row.reason), ("payload", row.payload)])


@click.command()
@json_option
def stats(as_json) -> None:
    """Totals: groups, occurrences by category and severity, rejected events."""
    with database() as session:
        summary = queries.stats(session, now=utcnow())
    if as_json:
        emit_json(summary)
        return
    emit_fields([(key, value) for key, value in summary.items() if not isinstance(value, dict)])
    click.echo()
    emit_table(([cat, v["groups"], v["occurrences"]] for cat, v in summary["by_category"].items()),
               ["category", "groups", "occurrences"], empty="no errors stored")





