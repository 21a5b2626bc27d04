"""The beat schedule: which periodic task runs when, from settings."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from config.jobs.schedule import JobSchedule, to_crontab
from config.queues import MAINTENANCE_QUEUE
from config.settings import Settings, get_settings

# A crontab job's message that no worker took within this long is dropped: the next one comes.
CRONTAB_EXPIRES_S = 3600
SWEEP_TASK = "medic.recovery.sweep"


def log_idle_sweeps() -> bool:
    """MEDIC_RECOVERY_SWEEP_LOG_IDLE: log every sweeper pass at INFO, idle ones too, as Celery does."""
    return get_settings().recovery_sweep_log_idle


class QuietSweepSends(logging.Filter):
    """Beat's "Scheduler: Sending due task recovery-sweep (medic.recovery.sweep)" every few seconds,
    as a DEBUG record: dropped at log level INFO (unless log_idle_sweeps). Other entries are logged
    as Celery logs them."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.levelno != logging.INFO or len(args) != 2 or args[1] != SWEEP_TASK or log_idle_sweeps():
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


# Every medic process builds its Celery app from this module (config/celery_app.py); beat logs on celery.beat.
_QUIET = QuietSweepSends()
if not any(isinstance(f, QuietSweepSends) for f in logging.getLogger("celery.beat").filters):
    logging.getLogger("celery.beat").addFilter(_QUIET)


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    entries = {
        # Due retries, lost messages, deadlines and notifications; single-flight by a lease.
        "recovery-sweep": {
            "task": SWEEP_TASK,
            "schedule": settings.recovery_sweep_interval_s,
            # A pass missed while the worker was busy is replaced by the next one, not queued behind it.
            "options": {"expires": settings.recovery_sweep_interval_s * 2},
        },
    }
    for name, schedule in settings.schedules.items():
        if schedule.enabled:
            entries[f"maintenance:{name}"] = maintenance_entry(name, schedule)
    return entries


def maintenance_entry(name: str, schedule: JobSchedule) -> dict[str, Any]:
    every_s = schedule.every_s
    return {
        "task": "medic.maintenance.run",
        "schedule": timedelta(seconds=every_s) if every_s is not None else to_crontab(schedule.crontab or ""),
        "args": [name],
        "options": {
            "queue": MAINTENANCE_QUEUE,
            "soft_time_limit": schedule.soft_time_limit_s,
            "time_limit": schedule.time_limit_s,
            "expires": every_s if every_s is not None else CRONTAB_EXPIRES_S,
        },
    }
