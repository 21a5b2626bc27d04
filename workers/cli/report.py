"""`medic report`: send events from the command line, for apps that are not on Celery."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import click
from kombu.exceptions import OperationalError as BrokerError
from pydantic import ValidationError

from config.errors import StorageUnavailable
from config.queues import INTAKE_QUEUE
from medic_client.events import TASK_NAME
from workers.cli import exit_codes, spool
from workers.cli.broker import require_initialised
from workers.cli.context import json_option, require_database, settings
from workers.cli.output import emit_json
from workers.intake.contract import ErrorEvent
from workers.intake.service import IntakeService
from workers.intake.triage import describe_invalid


@click.command()
@click.argument("source", type=click.File("r"), required=False)
@click.option("--error-type", help="Qualified class name, e.g. requests.exceptions.ConnectTimeout.")
@click.option("--message", help="The error message.")
@click.option("--service", help="The component that failed or was being called.")
@click.option("--operation", help="What was being done.")
@click.option("--source-app", "source_app", help="The reporting app.")
@click.option("--http-status", type=click.IntRange(100, 599), help="Status of the HTTP response behind the error.")
@click.option("--errno", "errno_value", help="errno name or number, e.g. ECONNREFUSED.")
@click.option("--code", help="Library error code, e.g. SQLSTATE 40P01.")
@click.option("--context", "context_pairs", multiple=True, metavar="KEY=VALUE", help="Context entry (repeatable).")
@click.option("--idempotency-key", help="The same key twice is one occurrence.")
@click.option("--direct", is_flag=True,
              help="Validate, classify and store now, without a worker; an event with a target starts its recovery.")
@click.option("--spool", "spool_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Send the events report_exception spooled to FILE while the broker was down (then empties it).")
@json_option
def report(source, direct, spool_path, as_json, **flags) -> None:
    """Report errors: a JSON object or JSON lines from SOURCE (a file, or - for stdin), or one event from flags.

    By default each event is queued as `medic.report` on the medic.errors queue for the workers;
    it is validated first and an invalid one is not sent. Exit 2 if any event was invalid; exit 5
    if the database (--direct) or the broker cannot be reached, or the embedded broker was never
    initialised (`medic db upgrade` or `medic run` with the same MEDIC_DATA_DIR does it).
    """
    if spool_path is not None and source is not None:
        raise click.UsageError("give SOURCE or --spool, not both")
    if direct:
        require_database()
    else:
        require_initialised(settings())
    taken = spool.take(spool_path) if spool_path is not None else None
    if spool_path is not None and taken is None:
        click.echo(f"nothing spooled in {spool_path}", err=True)
        return
    if taken is not None:
        events = list(_events_from(io.StringIO(taken.read_text(encoding="utf-8"))))
    else:
        events = list(_events_from(source)) if source else [(1, _event_from_flags(flags))]
    sender = _direct_store() if direct else _enqueue
    outcomes: list[dict[str, Any]] = []
    invalid: list[Any] = []
    try:
        for number, (line, raw) in enumerate(events):
            problem = _problem(raw)
            if problem:
                invalid.append(raw)
                outcomes.append({"line": line, "status": "invalid", "reason": problem})
                continue
            try:
                outcomes.append({"line": line, **sender(raw)})
            except StorageUnavailable:
                if spool_path is not None:  # what was not sent goes back, for the next try
                    spool.append(spool_path, (_as_line(unsent) for _, unsent in events[number:]))
                raise
    finally:
        if taken is not None and spool_path is not None:
            if invalid:
                spool.append(spool.invalid_path(spool_path), (_as_line(raw) for raw in invalid))
            taken.unlink(missing_ok=True)
    _show(outcomes, as_json)
    if invalid:
        if spool_path is not None:
            click.echo(f"{len(invalid)} spooled line(s) are not valid events: kept in "
                       f"{spool.invalid_path(spool_path)}", err=True)
        raise SystemExit(exit_codes.USAGE)


def _as_line(raw: Any) -> str:
    return raw.text if isinstance(raw, _Unparsable) else json.dumps(raw, ensure_ascii=False)


def _show(outcomes: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        emit_json(outcomes)
    else:
        for outcome in outcomes:
            details = ", ".join(f"{k}={v}" for k, v in outcome.items() if k not in ("line", "status"))
            click.echo(f"event {outcome['line']}: {outcome['status']}" + (f" ({details})" if details else ""))


def _events_from(stream: TextIO) -> Iterator[tuple[int, Any]]:
    text = stream.read()
    try:
        yield 1, json.loads(text)
        return
    except json.JSONDecodeError:
        pass
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                unparsable = _Unparsable(f"not JSON: {exc.msg} at column {exc.colno}")
                unparsable.text = line
                yield number, unparsable


class _Unparsable(str):
    """Why a line is not JSON; the line itself is `text`."""

    text = ""


def _event_from_flags(flags: dict[str, Any]) -> dict[str, Any]:
    missing = [f"--{name.replace('_', '-')}" for name in ("error_type", "message", "service") if flags[name] is None]
    if missing:
        raise click.UsageError(f"give SOURCE (a JSON file or -) or at least {', '.join(missing)}")
    context = {}
    for pair in flags["context_pairs"]:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--context")
        context[key] = value
    errno_value = flags["errno_value"]
    event = {
        "error_type": flags["error_type"], "message": flags["message"], "service": flags["service"],
        "operation": flags["operation"], "source": flags["source_app"], "http_status": flags["http_status"],
        "errno": int(errno_value) if errno_value and errno_value.lstrip("-").isdigit() else errno_value,
        "code": flags["code"], "idempotency_key": flags["idempotency_key"], "context": context or None,
    }
    return {k: v for k, v in event.items() if v is not None}


def _problem(raw: Any) -> str | None:
    if isinstance(raw, _Unparsable):
        return str(raw)
    try:
        ErrorEvent.model_validate(raw)
    except ValidationError as exc:
        return describe_invalid(exc)
    return None


def _enqueue(event: dict) -> dict:
    from config.celery_app import app

    try:
        result = app.send_task(TASK_NAME, args=[event], queue=INTAKE_QUEUE)
    except BrokerError as exc:
        raise StorageUnavailable(f"broker unavailable: {exc}") from None
    return {"status": "queued", "task_id": result.id}


def _direct_store():
    """Store as a worker would, recovery included: an event with a target starts its execution here,
    its messages sent on the configured broker (or by the sweeper, when that is unreachable)."""
    from workers.cli.recovery import cli_actor
    from workers.recovery.factory import build_recovery_service

    current = settings()
    # one per command: it compiles the rules and loads the plans once
    service = IntakeService(current, recovery=build_recovery_service(current, actor=cli_actor()))

    def store(event: dict) -> dict:
        return service.report(event, delivery_id=f"cli-{uuid.uuid4()}").as_dict()

    return store
