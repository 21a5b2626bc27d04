"""medic's client: report an app's failures to medic. Standard library and Celery only.

events: `event_from_exception`, a `medic.report` event built from a live exception.
sending: `report_exception` / `send_event` over the app's Celery broker; never raises the broker's trouble.
replays: `is_replay()`, whether the running Celery task is one of medic's replays.
reprs: short, masked text forms of task arguments (what Flower shows of a report).
masking: secrets masked in text and JSON-like data.
"""

from medic_client.events import QUEUE, SCHEMA_VERSION, TASK_NAME, event_from_exception, qualified_name
from medic_client.replays import is_replay
from medic_client.sending import report_exception, send_event

__all__ = [
    "QUEUE",
    "SCHEMA_VERSION",
    "TASK_NAME",
    "event_from_exception",
    "is_replay",
    "qualified_name",
    "report_exception",
    "send_event",
]
