"""medic's client: report an app's failures to medic. Standard library and Celery only.

events: `event_from_exception`, a `medic.report` event built from a live exception.
sending: `report_exception` / `send_event` over the app's Celery broker; never raises the broker's trouble.
replays: `is_replay()`, whether the running Celery task is one of medic's replays.
celery: `install(app, service=...)`, Celery in one line: every task that fails for good is reported.
celery_options: per-task control (`@app.task(medic=...)`, `options()`, `ignore`).
celery_targets: the replay target and event fields of a failed task (pure).
celery_replays: a failed replay reports its exception as the attempt's outcome (errback swap, pure).
reprs: short, masked text forms of task arguments (what Flower shows of a report).
masking: secrets masked in text and JSON-like data.
reporter: `Reporter`, where and how to report outside a Celery task (an app or a broker URL, service, spool).
log_handler: `MedicHandler`, a logging handler that reports logged exceptions (`logger.exception`).
guard: `Guard` (`reporter.guard`), a decorator and context manager reporting an exception that escapes.
"""

from medic_client.events import QUEUE, SCHEMA_VERSION, TASK_NAME, event_from_exception, qualified_name
from medic_client.guard import Guard
from medic_client.log_handler import MedicHandler
from medic_client.replays import is_replay
from medic_client.reporter import Reporter, was_reported
from medic_client.sending import report_exception, send_event

__all__ = [
    "QUEUE",
    "SCHEMA_VERSION",
    "TASK_NAME",
    "Guard",
    "MedicHandler",
    "Reporter",
    "event_from_exception",
    "is_replay",
    "qualified_name",
    "report_exception",
    "send_event",
    "was_reported",
]
