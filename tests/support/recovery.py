"""Helpers of the recovery end-to-end tests: events, plan files, and reading medic's tables.

The tests treat medic as a black box: they report errors the way an app does (`medic.report`
by name), and read the `executions` / `attempts` / `execution_audit` / `breaker_transitions`
tables with plain SQL, and what medic's worker logs of its tasks (`wait_sweeps`, `wait_tasks_ran`).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.support.services import wait_for

# The classifier files this as category `network` (retryable): see `medic classify`.
RETRYABLE_ERROR = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused"}
SERVICE = "partner-api"
FINAL_STATES = ("succeeded", "failed", "dead", "cancelled")


# --- events and targets -------------------------------------------------------------------------

def celery_target(task: str, *args: Any, queue: str = "testapp", **kwargs: Any) -> dict:
    return {"kind": "celery", "task": task, "args": list(args), "kwargs": kwargs, "queue": queue}


def http_target(url: str, *, method: str = "POST", body: Any = None, headers: dict | None = None,
                timeout_s: float = 2.0) -> dict:
    return {"kind": "http", "method": method, "url": url, "headers": headers or {},
            "body": body if body is not None else {"order": 7}, "timeout_s": float(timeout_s)}


def make_event(replay: dict, *, fallback: dict | None = None, service: str = SERVICE, **fields: Any) -> dict:
    event = {**RETRYABLE_ERROR, "service": service, "replay": replay, **fields}
    if fallback is not None:
        event["fallback"] = fallback
    return event


def report(client, event: dict, **options: Any) -> str:
    """Send the event as an app does: `medic.report` by name on `medic.errors`."""
    return client.send_task("medic.report", args=[event], queue="medic.errors", **options).id


# --- plans --------------------------------------------------------------------------------------

def retry_step(max_attempts: int = 5, initial_delay_s: float = 0.2, backoff_rate: float = 2, max_delay_s: float = 1,
               jitter: str = "none", **more: Any) -> dict:
    return {"kind": "retry", "max_attempts": max_attempts, "initial_delay_s": initial_delay_s,
            "backoff_rate": backoff_rate, "max_delay_s": max_delay_s, "jitter": jitter, **more}


def plan(name: str, *steps: dict, service: str = SERVICE, priority: int = 100, **more: Any) -> dict:
    """A plan for the test's service that beats every built-in plan."""
    return {"name": name, "match": {"service": service}, "priority": priority, "steps": list(steps), **more}


def write_plans(tmp_path: Path, plans: Iterable[dict], *, breakers: dict | None = None,
                name: str = "plans.yaml") -> Path:
    document: dict[str, Any] = {"version": 1, "plans": list(plans)}
    if breakers is not None:
        document["breakers"] = breakers
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


# --- reading medic's tables ---------------------------------------------------------------------

_engines: dict[str, Engine] = {}


def engine(url: str) -> Engine:
    if url not in _engines:
        _engines[url] = create_engine(url, pool_pre_ping=True)
    return _engines[url]


def dispose_engines() -> None:
    while _engines:
        _engines.popitem()[1].dispose()


def rows(url: str, sql: str, **params: Any) -> list[dict]:
    with engine(url).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def executions(url: str) -> list[dict]:
    return rows(url, "SELECT * FROM executions ORDER BY id")


def execution(url: str, execution_id: int) -> dict | None:
    found = rows(url, "SELECT * FROM executions WHERE id = :id", id=execution_id)
    return found[0] if found else None


def attempts(url: str, execution_id: int | None = None) -> list[dict]:
    if execution_id is None:
        return rows(url, "SELECT * FROM attempts ORDER BY execution_id, id")
    return rows(url, "SELECT * FROM attempts WHERE execution_id = :id ORDER BY id", id=execution_id)


def audit(url: str, execution_id: int | None = None) -> list[dict]:
    if execution_id is None:
        return rows(url, "SELECT * FROM execution_audit ORDER BY id")
    return rows(url, "SELECT * FROM execution_audit WHERE execution_id = :id ORDER BY id", id=execution_id)


def breaker_transitions(url: str, service: str = SERVICE) -> list[dict]:
    return rows(url, "SELECT * FROM breaker_transitions WHERE service = :s ORDER BY at, id", s=service)


def epoch(value: datetime | str | None) -> float | None:
    """A stored timestamp as seconds since the epoch (naive values are UTC, as SQLite returns them)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def wait_execution_state(url: str, which: int | Callable[[dict], bool] | None, states: str | Iterable[str],
                         timeout_s: float, *, count: int = 1) -> list[dict]:
    """Wait until `count` executions selected by `which` (an id, a predicate on the row, None: all)
    are in one of `states`; returns them. Raises with the tables' contents on timeout."""
    wanted = {states} if isinstance(states, str) else set(states)

    def selected() -> list[dict]:
        if isinstance(which, int):
            found = execution(url, which)
            return [found] if found else []
        return [e for e in executions(url) if which is None or which(e)]

    result: list[dict] = []

    def done() -> bool:
        nonlocal result
        chosen = selected()
        result = [e for e in chosen if e["state"] in wanted]
        return len(result) >= count

    try:
        wait_for(done, timeout_s=timeout_s, interval_s=0.1, what=f"{count} execution(s) in {sorted(wanted)}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{describe(url)}") from None
    return result


def wait_executions(url: str, n: int, timeout_s: float) -> list[dict]:
    """Wait until there are at least n executions (intake created them)."""
    try:
        wait_for(lambda: len(executions(url)) >= n, timeout_s=timeout_s, what=f"{n} execution(s)")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{describe(url)}") from None
    return executions(url)


# --- what medic's worker logs of its tasks: positive barriers ---------------------------------
# Celery's own lines, in the worker's log at INFO (TEST_SETTINGS; text or JSON): "Task <name>[<id>]
# received" when the worker takes the message, "Task <name>[<id>] succeeded in <s>s: <result>" and
# "raised …" / "retry: …" when it has run.

_TASK_LINE = re.compile(r"Task (?P<name>[\w.]+)\[(?P<id>[^\]]+)\] (?:(?P<received>received)|"
                        r"succeeded in [^:]+: (?P<result>.*?)(?: data=|\", \"data\")|(?P<other>raised|retry:))")
SWEEP_TASK = "medic.recovery.sweep"


def task_log(logs: Iterable[Path]) -> tuple[list[tuple[str, str]], dict[str, str | None]]:
    """(name, id) of each task the logs show received, in order; and id -> result text (None:
    raised or retried) of each one that has run."""
    received: list[tuple[str, str]] = []
    ran: dict[str, str | None] = {}
    for path in logs:
        try:
            text_ = path.read_text(errors="replace")
        except FileNotFoundError:
            continue
        for match in _TASK_LINE.finditer(text_):
            if match["received"]:
                received.append((match["name"], match["id"]))
            else:
                ran[match["id"]] = match["result"]
    return received, ran


def wait_sweeps(logs: Callable[[], Iterable[Path]], n: int = 2, *, timeout_s: float = 30) -> list[dict]:
    """A positive barrier for "nothing more happens": wait until `n` sweeper passes that medic's worker
    took after this call have run to the end; returns what each did ({"dispatched", "timed_out",
    "notifications"}). A pass comes off the recovery queue behind whatever was sent to it before, and
    looks at the attempts as they are after this call. A pass that found another holding the sweep
    lease (None: it did nothing) does not count. `logs`: medic's worker logs (at INFO)."""
    before = {task_id for name, task_id in task_log(logs())[0] if name == SWEEP_TASK}
    passes: list[dict] = []

    def done() -> bool:
        nonlocal passes
        received, ran = task_log(logs())
        results = [ran.get(task_id) for name, task_id in received if name == SWEEP_TASK and task_id not in before]
        passes = [ast.literal_eval(result) for result in results if result and result != "None"]
        return len(passes) >= n

    wait_for(done, timeout_s=timeout_s, what=f"{n} sweeper passes after now in {[p.name for p in logs()]}")
    return passes[:n]


def wait_tasks_ran(logs: Callable[[], Iterable[Path]], task_ids: Iterable[str], *, timeout_s: float) -> None:
    """Wait until the logs show each of these tasks run (succeeded, raised or retried)."""
    wanted = set(task_ids)

    def done() -> bool:
        return wanted <= set(task_log(logs())[1])

    try:
        wait_for(done, timeout_s=timeout_s, what=f"tasks {sorted(wanted)} run")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; not run: {sorted(wanted - set(task_log(logs())[1]))}") from None


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%H:%M:%S.%f")[:-3]
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)[:300]
    text_value = str(value)
    return text_value if len(text_value) <= 300 else text_value[:300] + "…"


def _table(title: str, records: list[dict], columns: list[str]) -> str:
    lines = [f"-- {title} ({len(records)})"]
    for record in records:
        lines.append("  " + " ".join(f"{c}={_fmt(record.get(c))}" for c in columns if c in record))
    return "\n".join(lines)


def describe(url: str, *, limit: int = 60) -> str:
    """The recovery tables, readable, for failure messages."""
    parts = []
    try:
        parts.append(_table("executions", executions(url)[:limit],
                            ["id", "plan_name", "state", "step_index", "next_attempt_at", "updated_at", "finished_at",
                             "last_error", "reason"]))
        parts.append(_table("attempts", attempts(url)[:limit * 3],
                            ["id", "execution_id", "step_index", "step_kind", "number", "state", "scheduled_for",
                             "dispatched_at", "claimed_at", "claimed_by", "deadline_at", "finished_at", "outcome",
                             "error", "detail"]))
        parts.append(_table("execution_audit", audit(url)[-limit * 3:],
                            ["execution_id", "attempt_id", "at", "actor", "action", "from_state", "to_state",
                             "reason"]))
        parts.append(_table("breaker_transitions", rows(url, "SELECT * FROM breaker_transitions ORDER BY id"),
                            ["service", "at", "from_state", "to_state", "reason", "actor"]))
    except Exception as exc:  # the schema may not be there yet: say so, do not hide the real failure
        parts.append(f"(could not read the recovery tables: {exc!r})")
    return "\n".join(parts)


class RecordingDispatcher:
    """A dispatcher that sends nothing and remembers what it was asked to send (in-process tests)."""

    def __init__(self):
        self.runs, self.replays, self.deliveries = [], [], []

    def run_attempt(self, attempt_id, countdown_s, queue=None):
        self.runs.append((attempt_id, countdown_s))

    def replay(self, target, *, task_id, attempt_id, execution_id, idempotency_key, signature):
        self.replays.append((task_id, attempt_id))

    def deliver(self, notification_id, token=None):
        self.deliveries.append(notification_id)
