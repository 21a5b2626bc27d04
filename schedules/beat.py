"""The beat schedule: which periodic task runs when, from settings."""

from __future__ import annotations

from typing import Any

from config.settings import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        # Due retries, lost messages, deadlines and notifications; single-flight by a lease.
        "recovery-sweep": {
            "task": "medic.recovery.sweep",
            "schedule": settings.recovery_sweep_interval_s,
            # A pass missed while the worker was busy is replaced by the next one, not queued behind it.
            "options": {"expires": settings.recovery_sweep_interval_s * 2},
        },
    }
