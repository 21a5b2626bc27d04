"""The maintenance task: beat names a job, the runner does the rest. Thin."""

from __future__ import annotations

from celery import shared_task

from config.settings import get_settings
from workers.maintenance.runner import run_job


@shared_task(name="medic.maintenance.run", ignore_result=True)
def run_maintenance(job: str) -> str:
    """Run one maintenance job; its run row records the outcome (a failure is notified, not retried)."""
    return run_job(job, get_settings(), trigger="beat").run.status
