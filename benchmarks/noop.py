"""The baseline task: a Celery task that does nothing, consumed by the same worker as medic.report.

Loaded into a medic worker with `celery -A config.celery_app worker --include benchmarks.noop`;
sent by name with queue="medic.errors", so it travels the same broker, queue and worker settings
(acks late, prefetch 1, task events) as a reported error. The difference is medic's own cost.
"""

from __future__ import annotations

from celery import shared_task

NAME = "medic.bench.noop"


@shared_task(name=NAME)
def noop(*_args, **_kwargs) -> None:
    return None
