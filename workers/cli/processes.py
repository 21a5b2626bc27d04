"""`medic run`, `medic worker`, `medic beat`: start Celery processes with medic's app.

Settings and rules are validated here first, so a bad configuration stops with a message that
names the setting instead of a traceback from inside Celery. The process then becomes Celery
(exec), so SIGTERM reaches Celery directly: a warm shutdown that finishes running tasks.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import click

from config.errors import StorageUnavailable
from config.queues import QUEUES
from config.settings import Settings
from config.urls import is_sqlite_broker_url, is_sqlite_url
from workers.broker_persistence import persistence_warning
from workers.classification import Classifier
from workers.cli.context import mask_url, settings
from workers.recovery.actions import ActionRegistry
from workers.recovery.dispatch import is_recovery_queue
from workers.recovery.service import load_plan_set
from workers.storage import migrate
from workers.storage.db import guarded_session, session_factory

CELERY_APP = "config.celery_app"
CELERY_ENTRY = "workers.cli.celery_entry"

DATA_DIR_MODE = 0o700
# What medic itself keeps in MEDIC_DATA_DIR (databases with their -wal/-shm/-journal, beat's files, backups,
# the signing key, a log file named medic*): a directory holding only these is medic's to chmod.
OWN_NAME_PREFIXES = ("medic", "broker.sqlite", "beat-", "backups", "backup-signing.key")


def is_medics_own(entry_names: list[str], owner_uid: int, my_uid: int) -> bool:
    """Whether a data dir is medic's to tighten: this user's, and holding nothing medic did not put there."""
    return owner_uid == my_uid and all(name.startswith(OWN_NAME_PREFIXES) for name in entry_names)


def private_data_dir(data_dir: Path) -> str | None:
    """Create MEDIC_DATA_DIR for medic's user only, or tighten medic's own one left readable by others.

    Returns a warning for the operator, or None. A directory with files medic did not make (a home, /tmp)
    is left as it is: chmod there could lock others out of their own files."""
    path = data_dir.expanduser().resolve()
    try:
        path.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
        found = path.stat()
        current = stat.S_IMODE(found.st_mode)
        if not current & ~DATA_DIR_MODE:
            return None
        if is_medics_own([entry.name for entry in path.iterdir()], found.st_uid, os.geteuid()):
            path.chmod(DATA_DIR_MODE)
            return (f"MEDIC_DATA_DIR {path} was {current:04o}, readable by other users; changed to "
                    f"{DATA_DIR_MODE:04o} (its databases hold events, the broker's unmasked)")
    except OSError as exc:
        # Not fatal here: a worker on PostgreSQL and Redis may never write there; what does, says so itself.
        return f"MEDIC_DATA_DIR {path} cannot be created or made private: {exc.strerror or exc}"
    return (f"MEDIC_DATA_DIR {path} is {current:04o} and holds files medic did not make, so medic leaves it: "
            f"other users may read medic's databases there; give medic a directory of its own, or chmod 700 it")


def prepare_data_dir(current: Settings) -> None:
    warning = private_data_dir(current.data_dir)
    if warning:
        click.echo(f"medic: warning: {warning}", err=True)


def uses_data_dir(current: Settings) -> bool:
    """Whether medic keeps its database or its broker in MEDIC_DATA_DIR (the embedded default)."""
    return is_sqlite_url(current.database_url) or is_sqlite_broker_url(current.broker_url)


def require_writable_data_dir(current: Settings) -> None:
    """A data dir medic cannot write (read-only, full) stops it now, in one line, not every 2 s later."""
    if not uses_data_dir(current):
        return
    path = current.data_dir
    probe = path / f".medic-write-check-{os.getpid()}"
    problem = None
    try:
        with open(probe, "wb") as handle:
            handle.write(b"\0" * 4096)  # a page, as SQLite would write
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        problem = exc.strerror or str(exc)
    try:
        probe.unlink(missing_ok=True)
    except OSError:
        pass  # read-only: it was never made
    if problem:
        raise StorageUnavailable(f"MEDIC_DATA_DIR {path} is not writable ({problem}): medic keeps its database and "
                                 "broker there; free space, or point MEDIC_DATA_DIR elsewhere")


def upgrade_database(current: Settings) -> None:
    """The schema brought up to date, a database that cannot be reached or written said in one line."""
    with guarded_session(session_factory(current.database_url)):
        migrate.upgrade(current.database_url)


def warn_broker_persistence(current: Settings) -> None:
    warning = persistence_warning(current.broker_url)
    if warning:
        click.echo(f"medic: warning: {warning}", err=True)


def _validated() -> Settings:
    current = settings()
    prepare_data_dir(current)
    Classifier.from_settings(current)  # compiles every rule: a bad rule stops startup
    load_plan_set(current, ActionRegistry.from_entry_points())  # and so does a bad plan
    return current


def celery_command(arguments: list[str]) -> list[str]:
    """The argv of a Celery process of medic's, wherever it is started (workers/cli/celery_entry.py)."""
    return [sys.executable, "-P", "-m", CELERY_ENTRY, "-A", CELERY_APP, *arguments]


def exec_celery(arguments: list[str], env: dict[str, str] | None = None) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, celery_command(arguments), dict(os.environ) if env is None else env)


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
    warn_broker_persistence(current)
    require_writable_data_dir(current)
    upgrade_database(current)
    click.echo(f"medic: data directory {current.data_dir}, database {mask_url(current.database_url)}, "
               f"broker {mask_url(current.broker_url)}", err=True)
    exec_celery(["worker", "--beat", "--queues", ",".join(QUEUES),
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
    warn_broker_persistence(current)
    require_writable_data_dir(current)
    exec_celery(["worker", "--queues", queues, "--concurrency", str(concurrency or current.worker_concurrency),
                  "--pool", pool, "--hostname", hostname, "--loglevel", current.log_level])


@click.command()
def beat() -> None:
    """The scheduler: recovery sweeps and maintenance jobs.

    With a Redis broker beats share a RedBeat lock: run two, one schedules and the other takes over
    within 1.2 x MEDIC_BEAT_LOCK_TIMEOUT_S if it dies (or stands by again, paused past its lock).
    Otherwise run exactly one (its schedule file is in MEDIC_DATA_DIR).
    """
    current = _validated()
    exec_celery(["beat", "--loglevel", current.log_level])
