"""Short, masked text forms of task arguments and results: what Flower and task events may show.

Celery carries a text form of a task's arguments (`argsrepr`, `kwargsrepr`) in the message headers,
the task-sent and task-received events and the workers' inspect replies; Flower shows and keeps them.
An event may carry passwords and tokens (context, headers, URLs), so the sender writes these texts
itself: `medic.report` shows a one-line summary (`service=orders error_type=TimeoutError message="…"`),
other tasks their masked arguments as JSON, both capped at MAX_REPR_CHARS.
"""

from __future__ import annotations

import json
from typing import Any

from medic_client.masking import mask_text, mask_value

REPORT_TASK = "medic.report"
# Longest text form of a task's arguments (Celery's own cap is 1024 too).
MAX_REPR_CHARS = 1024
# Longest value in the summary of a reported event.
MAX_FIELD_CHARS = 160
# Text is cut to this many times its cap before it is masked: masking is work in the worker's main
# process, so it must not grow with what a sender wrote (a 261 KB message took 41 s there). The slack
# keeps the cap's worth of masked text clear of the cut, which could halve a secret.
MASK_SLACK = 4
# Items of one list or object looked at when writing a text form; the rest is summarised.
MAX_REPR_ITEMS = 64
# Event fields that say what failed, in the order the summary shows them.
SUMMARY_FIELDS = ("service", "error_type", "operation", "source", "http_status", "code", "message")
# Event fields whose text Celery builds from objects the task saw: masked before they leave the worker.
TEXT_EVENT_FIELDS = ("result", "exception", "traceback")
ELLIPSIS = "…"


def args_repr(task_name: str, args: Any) -> str:
    """The text form of a task's positional arguments."""
    if task_name == REPORT_TASK and isinstance(args, (list, tuple)) and len(args) == 1 and isinstance(args[0], dict):
        summary = event_summary(args[0])
        if summary:
            return summary
    return masked_json(list(args) if isinstance(args, (list, tuple)) else args)


def kwargs_repr(kwargs: Any) -> str:
    return masked_json(kwargs or {})


def event_summary(event: dict[str, Any]) -> str:
    """`service=github error_type=HTTPError http_status=429 message="…"`: masked; "" when it names none of these."""
    parts = []
    for name in SUMMARY_FIELDS:
        value = event.get(name)
        if value is None or value == "":
            continue
        text = (_capped(mask_text(value[:MASK_SLACK * MAX_FIELD_CHARS]), MAX_FIELD_CHARS) if isinstance(value, str)
                else masked_json(value, MAX_FIELD_CHARS))
        parts.append(f"{name}={_quoted(text)}")
    return _capped(" ".join(parts), MAX_REPR_CHARS)


def masked_json(value: Any, limit: int = MAX_REPR_CHARS) -> str:
    """Masked JSON of any value, capped at `limit` characters (masked first: a cut cannot halve a secret)."""
    try:
        # Through JSON and back: tuples become lists and other objects their repr, so every string is masked.
        plain = json.loads(json.dumps(pruned(value, MASK_SLACK * limit), default=repr, ensure_ascii=False))
        text = json.dumps(mask_value(plain), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return _capped(text, limit)


def sender_repr(value: Any) -> str:
    """A text form a sender wrote (the `argsrepr` header): cut, then masked, then capped."""
    text = value if isinstance(value, str) else str(value or "")
    return _capped(mask_text(text[:MASK_SLACK * MAX_REPR_CHARS]), MAX_REPR_CHARS)


def pruned(value: Any, budget_chars: int) -> Any:
    """`value` with at most budget_chars of text and MAX_REPR_ITEMS items per container, without recursion.

    What is left out becomes "…"; the result is only ever shown capped, so it need not be exact."""
    remaining = budget_chars

    def leaf(item: Any) -> Any:
        nonlocal remaining
        if isinstance(item, (int, float, bool, type(None))):
            remaining -= 8
            return item
        text = item if isinstance(item, str) else repr(item)
        kept = text[:max(remaining, 0)]
        remaining -= len(kept) + 2
        return kept if len(kept) == len(text) else kept + ELLIPSIS

    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        item, parent, key = stack.pop()
        if remaining <= 0:
            parent[key] = ELLIPSIS
        elif isinstance(item, dict):
            copy: dict[str, Any] = {}
            children = []
            for n, (k, v) in enumerate(item.items()):
                if n >= MAX_REPR_ITEMS:
                    copy[ELLIPSIS] = f"{len(item) - n} more"
                    break
                name = str(k)[:MAX_FIELD_CHARS]
                copy[name] = None
                children.append((v, copy, name))
            stack.extend(reversed(children))  # popped in order: the budget goes to the first items
            remaining -= 2
            parent[key] = copy
        elif isinstance(item, (list, tuple)):
            items: list[Any] = [None] * min(len(item), MAX_REPR_ITEMS)
            stack.extend((item[n], items, n) for n in reversed(range(len(items))))
            if len(item) > MAX_REPR_ITEMS:
                items.append(f"{ELLIPSIS} {len(item) - MAX_REPR_ITEMS} more")
            remaining -= 2
            parent[key] = items
        else:
            parent[key] = leaf(item)
    return root[0]


def masked_text(value: Any, limit: int | None = None) -> Any:
    """A string masked (and capped when a limit is given); anything else as it is."""
    if not isinstance(value, str):
        return value
    masked = mask_text(value)
    return _capped(masked, limit) if limit else masked


def _quoted(text: str) -> str:
    plain = text and not any(char.isspace() or char in "\"'=" for char in text)
    return text if plain else json.dumps(text, ensure_ascii=False)


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - len(ELLIPSIS)] + ELLIPSIS
