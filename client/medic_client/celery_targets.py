"""What the client reports of a Celery task that failed for good: its replay target and event fields. Pure.

The replay target is the task itself, sent again by name with the same arguments to the queue it came
from, with the message's priority and the app's own headers (`apply_async(headers=...)`); medic can only
send what JSON carries, so arguments that are not plain JSON leave the event without a replay target
(and its context says why), and headers that cannot be carried are left out (the context names them).

The rules of a replay's headers live here, shared by the client (which leaves out what would not pass)
and medic's intake contract (which rejects it): `header_problem`, `headers_problem`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from medic_client.replays import EXECUTION_HEADER, IDEMPOTENCY_HEADER

IDEMPOTENCY_PREFIX = "celery-task-"
NAME_MAX_CHARS = 256
JSON_DEPTH_MAX = 32
# Context keys of a reported task.
NO_REPLAY_REASON_KEY = "replay_left_out"
HEADERS_LEFT_OUT_KEY = "replay_headers_left_out"

# A replay target's message headers: names of these characters, JSON scalars, small in all.
HEADERS_MAX = 32
HEADER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
HEADER_TEXT_MAX_CHARS = 1024
HEADERS_MAX_BYTES = 8 * 1024  # the headers as compact JSON, UTF-8
# AMQP carries a header integer in a signed 64-bit field: a bigger one would make every send fail.
HEADER_INT_MIN, HEADER_INT_MAX = -(2**63), 2**63 - 1
PRIORITY_MIN, PRIORITY_MAX = 0, 255  # AMQP's priority octet (Redis orders 0..9 of it)
MEDIC_HEADER_PREFIX = "medic_"
# Names Celery reads from a task message or keeps on `task.request` (protocol 2 headers, the request's
# own fields and methods, execution options) and the broker's dead-letter headers: a header so named
# would steer Celery (another task, id, ETA, time limit, callbacks...) or break `request.get`. Compared
# in lower case; so are the prefixes: `medic_` (medic's own) and `_` (Celery's private attributes).
RESERVED_HEADERS = frozenset({
    "lang", "task", "id", "shadow", "eta", "countdown", "expires", "group", "group_id", "group_index", "retries",
    "max_retries", "timelimit", "time_limit", "soft_time_limit", "root_id", "parent_id", "argsrepr", "kwargsrepr",
    "origin", "ignore_result", "replaced_task_nesting", "stamped_headers", "stamps", "chord", "chain",
    "callbacks", "errbacks", "link", "link_error", "args", "kwargs", "properties", "reply_to", "correlation_id",
    "hostname", "delivery_info", "is_eager", "called_directly", "headers", "compression", "taskset", "utc",
    "logfile", "loglevel", "priority", "get", "update", "clear", "children", "as_execution_options",
    "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason", "x-last-death-exchange",
    "x-last-death-queue", "x-last-death-reason", "x-delivery-count",
})
RESERVED_PREFIXES = (MEDIC_HEADER_PREFIX, "_")
HEADER_NAME_SHOWN_CHARS = 128
HEADERS_SHOWN = 32  # at most this many names or reasons in one message


def is_plain_json(value: Any, depth: int = 0) -> bool:
    """True when value is made only of dict (str keys)/list/tuple/str/int/float (finite)/bool/None."""
    if depth > JSON_DEPTH_MAX:
        return False
    if value is None or type(value) in (str, bool, int):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) in (list, tuple):
        return all(is_plain_json(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(type(key) is str and is_plain_json(item, depth + 1) for key, item in value.items())
    return False


def queue_of(delivery_info: Mapping[str, Any] | None, task_queue: Any, default_queue: Any) -> str | None:
    """The queue a task came from: the message's routing key, else the task's queue, else the app's default."""
    for candidate in ((delivery_info or {}).get("routing_key"), task_queue, default_queue):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()[:NAME_MAX_CHARS]
    return None


def is_reserved_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_PREFIXES)


def header_problem(name: Any, value: Any) -> str | None:
    """Why one header cannot be a replay's (naming it), or None."""
    if not isinstance(name, str) or HEADER_NAME.fullmatch(name) is None:
        return (f"header {str(name)[:HEADER_NAME_SHOWN_CHARS]!r}: a name must be 1 to 128 characters "
                "of letters, digits, _ . -")
    if is_reserved_header(name):
        return f"header {name!r} is Celery's or medic's own and cannot be set by a replay target"
    if value is None or type(value) is bool:
        return None
    if type(value) is str:
        if len(value) > HEADER_TEXT_MAX_CHARS:
            return f"header {name!r}: a text value is at most {HEADER_TEXT_MAX_CHARS} characters, not {len(value)}"
        return None
    if type(value) is int:
        if not HEADER_INT_MIN <= value <= HEADER_INT_MAX:
            return f"header {name!r}: an integer value must fit in 64 bits (signed)"
        return None
    if type(value) is float:
        return None if math.isfinite(value) else f"header {name!r}: a number must be finite"
    return f"header {name!r}: the value must be a string, number, boolean or null, not {_json_kind(value)}"


def headers_problem(headers: Mapping[str, Any]) -> str | None:
    """Why these headers cannot be a replay's, or None: count, each header, then their size."""
    if len(headers) > HEADERS_MAX:
        return f"at most {HEADERS_MAX} headers, not {len(headers)}"
    reserved = sorted(name for name in headers if isinstance(name, str) and is_reserved_header(name))
    if reserved:
        names = ", ".join(repr(name[:HEADER_NAME_SHOWN_CHARS]) for name in reserved[:HEADERS_SHOWN])
        return f"header {names} {'is' if len(reserved) == 1 else 'are'} Celery's or medic's own and cannot be set " \
               "by a replay target"
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem:
            return problem
    size = headers_bytes(headers)
    if size > HEADERS_MAX_BYTES:
        return f"the headers are {size} bytes as JSON, over {HEADERS_MAX_BYTES}"
    return None


def headers_bytes(headers: Mapping[str, Any]) -> int:
    return len(json.dumps(headers, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace"))


def priority_or_none(value: Any) -> int | None:
    """A message's priority a replay can carry (0..255), else None."""
    return value if type(value) is int and PRIORITY_MIN <= value <= PRIORITY_MAX else None


def app_headers(fields: Mapping[str, Any], custom: Any, protocol_names: Iterable[str] = (),
                stamped: Any = None) -> tuple[dict[str, Any], list[str]]:
    """(the app's own headers of a task message, what was left out of them and why).

    fields -- the task request's attributes (`vars(task.request)`): in a worker, every message header is one.
    custom -- `task.request.headers`: where `task.apply(headers=...)` puts them (Celery's own filtering).
    protocol_names -- the attributes of Celery's request class: never the app's, whatever the version.
    stamped -- the request's stamped_headers: Celery's stamping, not headers the app sent.
    Left out silently: what Celery, the broker or medic wrote. Left out and said: an app header that would
    not pass the contract (a reserved name in another case, a value that is not a JSON scalar, too many).
    """
    protocol = {*RESERVED_HEADERS, *protocol_names, *(stamped if isinstance(stamped, (list, tuple)) else ()),
                EXECUTION_HEADER, IDEMPOTENCY_HEADER}
    candidates: dict[str, Any] = {}
    for source in (custom if isinstance(custom, Mapping) else {}, fields):
        for name, value in source.items():
            if isinstance(name, str) and name not in protocol and not name.startswith("_"):
                candidates.setdefault(name, value)
    kept: dict[str, Any] = {}
    left_out: list[str] = []
    for name in sorted(candidates):
        problem = header_problem(name, candidates[name])
        if problem is None and len(kept) >= HEADERS_MAX:
            problem = f"header {name!r}: over {HEADERS_MAX} headers"
        if problem is None and headers_bytes({**kept, name: candidates[name]}) > HEADERS_MAX_BYTES:
            problem = f"header {name!r}: over {HEADERS_MAX_BYTES} bytes of headers"
        if problem is None:
            kept[name] = candidates[name]
        elif len(left_out) < HEADERS_SHOWN:
            left_out.append(problem)
    return kept, left_out


def _json_kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def replay_target(task_name: str, args: Any, kwargs: Any, queue: str | None, *,
                  headers: Mapping[str, Any] | None = None,
                  priority: int | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """(the task as a medic `celery` target, None) or (None, why there is none).

    `headers` must pass `headers_problem` (app_headers gives such); `priority` 0..255 or None."""
    args = list(args) if isinstance(args, (list, tuple)) else [] if args is None else args
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(args, list) or not is_plain_json(args):
        return None, "the task's args are not plain JSON"
    if not isinstance(kwargs, dict) or not is_plain_json(kwargs):
        return None, "the task's kwargs are not plain JSON"
    target: dict[str, Any] = {"kind": "celery", "task": task_name, "args": args, "kwargs": dict(kwargs)}
    if queue:
        target["queue"] = queue
    if headers:
        target["headers"] = dict(headers)
    if priority_or_none(priority) is not None:
        target["priority"] = priority
    return target, None


def idempotency_key(task_id: Any) -> str | None:
    """`celery-task-<task id>`: the same for every report of one task run (a duplicate report is one execution)."""
    if not isinstance(task_id, str) or not task_id:
        return None
    return (IDEMPOTENCY_PREFIX + task_id)[:NAME_MAX_CHARS]


def source_of(app_main: Any) -> str | None:
    """The app's main name as the event's source; Celery's placeholder names are none."""
    if not isinstance(app_main, str) or not app_main.strip() or app_main.strip() == "__main__":
        return None
    return app_main.strip()[:NAME_MAX_CHARS]


def task_context(task_id: Any, retries: Any, hostname: Any, no_replay_reason: str | None = None,
                 headers_left_out: list[str] | None = None) -> dict[str, Any]:
    """The event's context: which run of the task failed, where (and what its replay could not carry)."""
    context: dict[str, Any] = {"task_id": task_id, "retries": retries if type(retries) is int else None,
                               "hostname": hostname if isinstance(hostname, str) else None}
    if no_replay_reason:
        context[NO_REPLAY_REASON_KEY] = no_replay_reason
    if headers_left_out and not no_replay_reason:
        context[HEADERS_LEFT_OUT_KEY] = list(headers_left_out)
    return {key: value for key, value in context.items() if value is not None}
