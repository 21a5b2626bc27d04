"""`medic run`, `medic worker`, `medic beat`: start Celery processes with medic's app.

Settings and rules are validated here first, so a bad configuration stops with a message that
names the setting instead of a traceback from inside Celery. The process then becomes Celery
(exec), so SIGTERM reaches Celery directly: a warm shutdown that finishes running tasks.
"""

from __future__ import annotations

import os
import sys

import click

from config.queues import QUEUES
from config.settings import Settings
from workers.classification import Classifier
from workers.cli.context import mask_url, settings
from workers.recovery.actions import ActionRegistry
from workers.recovery.dispatch import is_recovery_queue
from workers.recovery.service import load_plan_set
from workers.storage import migrate

CELERY_APP = "config.celery_app"


def _validated() -> Settings:
    current = settings()
    Classifier.from_files(current.rules_files)  # compiles every rule: a bad rule stops startup
    load_plan_set(current, ActionRegistry.from_entry_points())  # and so does a bad plan
    return current


def _exec_celery(arguments: list[str]) -> None:
    command = [sys.executable, "-m", "celery", "-A", CELERY_APP, *arguments]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def _queues_option(function):
    return click.option("--queues", "-Q", default=",".join(QUEUES), show_default=True,
                        help="Comma-separated queues to consume.")(function)


def _concurrency_option(function):
    return click.option("--concurrency", "-c", type=click.IntRange(1, 256),
                        help="Worker processes (default: MEDIC_WORKER_CONCURRENCY).")(function)


@click.command()
@_concurrency_option
def run(concurrency: int | None) -> None:
    """Embedded all-in-one: upgrade the database, then a worker for every queue with beat inside.

    With the defaults this needs nothing installed: SQLite holds medic's database and serves
    as the broker (kombu's SQLAlchemy transport), both under MEDIC_DATA_DIR.
    """
    current = _validated()
    migrate.upgrade(current.database_url)
    click.echo(f"medic: database {mask_url(current.database_url)}, broker {mask_url(current.broker_url)}", err=True)
    _exec_celery(["worker", "--beat", "--queues", ",".join(QUEUES),
                  "--concurrency", str(concurrency or current.worker_concurrency),
                  "--hostname", "medic-embedded@%h", "--loglevel", current.log_level])


@click.command()
@_queues_option
@_concurrency_option
@click.option("--pool", type=click.Choice(["prefork", "threads", "solo"]), default="prefork", show_default=True,
              help="Celery execution pool.")
@click.option("--hostname", "-n", default="medic@%h", show_default=True, help="Worker node name.")
def worker(queues: str, concurrency: int | None, pool: str, hostname: str) -> None:
    """A worker consuming the given queues (production: one pool per queue)."""
    named = {q.strip() for q in queues.split(",")}
    unknown = sorted(q for q in named if q not in QUEUES and not is_recovery_queue(q))
    if unknown:
        raise click.BadParameter(f"unknown queue(s) {', '.join(map(repr, unknown))}; "
                                 f"medic's queues are {', '.join(QUEUES)}, "
                                 "and extra recovery queues medic.recovery.<name> (see `medic stuck reassign`)",
                                 param_hint="--queues")
    current = _validated()
    _exec_celery(["worker", "--queues", queues, "--concurrency", str(concurrency or current.worker_concurrency),
                  "--pool", pool, "--hostname", hostname, "--loglevel", current.log_level])


@click.command()
def beat() -> None:
    """The scheduler: recovery sweeps and maintenance jobs.

    With a Redis broker beats share a RedBeat lock: run two, one schedules and the other takes over
    within MEDIC_BEAT_LOCK_TIMEOUT_S if it dies. Otherwise run exactly one (its schedule file is in
    MEDIC_DATA_DIR).
    """
    current = _validated()
    _exec_celery(["beat", "--loglevel", current.log_level])
