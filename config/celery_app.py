"""The Celery app, built in one place from settings.

`celery -A config.celery_app worker|beat|flower` uses the module-level `app`.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals
from kombu import Queue
from kombu.transport import sqlalchemy as sqlalchemy_transport
from kombu.utils.imports import symbol_by_name

from config.errors import ConfigError
from config.logging import configure_logging
from config.queues import INTAKE_QUEUE, MAINTENANCE_QUEUE, QUEUES, RECOVERY_QUEUE
from config.settings import Settings, get_settings
from config.urls import (
    MEDIC_REDIS_TRANSPORT,
    MEDIC_TRANSPORT,
    is_redis_url,
    is_sqlalchemy_broker_url,
    is_sqlite_broker_url,
    redelivers_after_visibility_timeout,
)

TASK_MODULES = ["tasks.intake", "tasks.recovery", "tasks.maintenance"]
# Named, not imported: config does not depend on workers or schedules (docs/architecture.md, "Folders").
LOG_REDACTOR = "workers.masking:mask_text"
# Task arguments, results and errors as Flower and task events show them: masked (workers/task_reprs.py).
TASK_CLS = "workers.task_reprs:MedicTask"
AMQP_CLS = "workers.task_reprs:MaskedAMQP"
BEAT_SCHEDULE = "schedules.beat:beat_schedule"
# The embedded beat (`medic run`) stops when its worker is gone, even killed outright.
EMBEDDED_BEAT_GUARD = "workers.orphans:stop_with_parent"
# On kombu's SQLAlchemy transport a worker answers no ping: it touches a heartbeat file instead, which
# `medic probe worker` reads (a worker bootstep, named here and loaded by Celery).
WORKER_HEARTBEAT_STEP = "workers.worker_heartbeat:WorkerHeartbeatStep"


def celery_config(settings: Settings) -> dict[str, Any]:
    """Everything Celery is told, derived from settings alone."""
    transport_options: dict[str, Any] = {}
    if is_redis_url(settings.broker_url):
        # A message held by a worker that died comes back after the visibility timeout; sweep for
        # such messages often enough that "after" means about that, not ten sweeps later.
        transport_options.update(
            visibility_timeout=settings.broker_visibility_timeout_s,
            unacked_restore_interval=max(1, settings.broker_visibility_timeout_s // 10),
            unacked_restore_throttle=1,
        )
    elif is_sqlite_broker_url(settings.broker_url):
        # kombu's SQLAlchemy transport hands its options to create_engine: wait for SQLite's lock
        # instead of failing when a producer and the consumer write at the same moment.
        transport_options["connect_args"] = {"timeout": 15}
    # Task events (a topic exchange) and remote control (a broadcast, fanout exchange) need exchange
    # bindings shared by all processes; kombu's SQLAlchemy transport (the embedded default) keeps them
    # in each process and has no fanout, so no monitor could receive the events, and Celery's banner
    # would claim them on. Flower needs Redis or RabbitMQ (workers/cli/flower.py refuses otherwise).
    task_events = not is_sqlalchemy_broker_url(settings.broker_url)
    return {
        "broker_url": settings.broker_url,
        "broker_transport": MEDIC_REDIS_TRANSPORT if is_redis_url(settings.broker_url) else None,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_send_task_events": task_events,
        "task_send_sent_event": task_events,
        "task_soft_time_limit": settings.task_soft_time_limit_s,
        "task_time_limit": settings.task_time_limit_s,
        # Bound by their own names: without a routing key each would be bound to the default exchange
        # under medic.recovery's key, and a publish to that exchange would reach all three.
        "task_queues": [Queue(name, routing_key=name) for name in QUEUES],
        "task_default_queue": RECOVERY_QUEUE,
        "task_routes": {
            "medic.report": {"queue": INTAKE_QUEUE},
            "medic.reject": {"queue": INTAKE_QUEUE},
            "medic.recovery.*": {"queue": RECOVERY_QUEUE},
            "medic.maintenance.*": {"queue": MAINTENANCE_QUEUE},
        },
        "worker_consumer": "workers.intake.consumer:MedicConsumer",
        "worker_hijack_root_logger": False,
        "worker_concurrency": settings.worker_concurrency,
        "beat_schedule": symbol_by_name(BEAT_SCHEDULE)(settings),
        **beat_config(settings),
        "imports": TASK_MODULES,
        "timezone": "UTC",
        "enable_utc": True,
    }


def beat_config(settings: Settings) -> dict[str, Any]:
    """RedBeat (a Redis lock: a second beat stands by) with Redis; else one beat with a JSON schedule file.

    Celery's default scheduler persists with shelve, which is pickle.
    """
    if settings.uses_redbeat:
        return {
            "beat_scheduler": "workers.beat_redbeat:HeartbeatRedBeatScheduler",
            "redbeat_redis_url": settings.redbeat_url,
            # Said explicitly, or RedBeat falls back to the broker's transport options (and warns).
            "redbeat_redis_options": {},
            "redbeat_key_prefix": "medic:redbeat:",
            "redbeat_lock_key": "medic:redbeat::lock",
            "redbeat_lock_timeout": settings.beat_lock_timeout_s,
            # The lock is renewed every tick: tick well within its timeout.
            "beat_max_loop_interval": max(1, settings.beat_lock_timeout_s // 5),
        }
    return {"beat_scheduler": "workers.beat_file:JsonFileScheduler",
            "beat_schedule_filename": str(settings.beat_schedule_file)}


def create_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    if is_sqlalchemy_broker_url(settings.broker_url):
        # kombu's SQLAlchemy transport sleeps this long whenever a poll gets nothing, including
        # each time the prefetch window is full; its 1 s default caps the embedded worker near
        # 2 events/s. It cannot go in broker_transport_options: that transport hands them all to
        # create_engine, which rejects the name.
        sqlalchemy_transport.Transport.polling_interval = settings.embedded_broker_poll_interval_s
    if redelivers_after_visibility_timeout(settings.broker_url) and not is_redis_url(settings.broker_url):
        # medic's embedded transport (workers/broker_transport.py): a row delivered this long ago and
        # never acknowledged is delivered again. Not a transport option either, for the same reason.
        symbol_by_name(MEDIC_TRANSPORT).Channel.visibility_timeout_s = settings.broker_visibility_timeout_s
    app = Celery("medic", set_as_current=True, task_cls=TASK_CLS, amqp=AMQP_CLS)
    app.config_from_object(celery_config(settings))
    if is_sqlalchemy_broker_url(settings.broker_url):
        app.steps["worker"].add(WORKER_HEARTBEAT_STEP)
    return app


@signals.beat_embedded_init.connect
def _embedded_beat(sender: Any = None, **kwargs: Any) -> None:
    symbol_by_name(EMBEDDED_BEAT_GUARD)(sender, **kwargs)


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, redact=symbol_by_name(LOG_REDACTOR),
                      log_file=settings.log_file)


try:
    app = create_app()
except ConfigError as _exc:
    raise SystemExit(f"medic: {_exc}") from None
