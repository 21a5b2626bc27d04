"""The actions medic ships itself, registered like any plugin under `medic.actions`."""

from __future__ import annotations

import logging

from workers.masking import mask_text
from workers.recovery.actions import ActionContext

# The event text when a `log` step has no params["message"].
DEFAULT_LOG_MESSAGE = "log action"

log = logging.getLogger("medic.actions")


def log_action(context: ActionContext) -> None:
    """`log`: logs params["message"] (masked) at INFO with the attempt's ids, and succeeds."""
    message = context.params.get("message")
    text = mask_text(str(message)) if message is not None else DEFAULT_LOG_MESSAGE
    log.info("%s", text, extra={
        "action": "log",
        "execution_id": context.execution_id,
        "attempt_id": context.attempt_id,
        "attempt_number": context.attempt_number,
    })


def noop_action(context: ActionContext) -> None:
    """`noop`: does nothing and succeeds; a placeholder step, and handy in tests."""
