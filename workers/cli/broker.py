"""The embedded broker (kombu's SQLAlchemy transport on SQLite): initialised by `medic db upgrade`,
required by `medic report` before it queues, so an event is never queued into a file no worker reads."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from kombu import Connection

from config.errors import StorageUnavailable
from config.settings import Settings
from config.urls import sqlite_broker_file

# What kombu's SQLAlchemy transport creates on its first connection.
KOMBU_TABLES = frozenset({"kombu_queue", "kombu_message"})


def embedded_broker_file(broker_url: str) -> Path | None:
    """The SQLite file of an embedded broker URL; None for any other broker or an in-memory one."""
    return sqlite_broker_file(broker_url)


def is_initialised(path: Path) -> bool:
    """Whether the file exists and holds kombu's tables; read only: a missing file is not created."""
    if not path.is_file():
        return False
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=15)) as conn:
            names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        return False
    return KOMBU_TABLES <= names


def initialise(current: Settings) -> Path | None:
    """Create the embedded broker's tables and medic's queues in it, as a worker's first connection
    does; returns its file, or None when the broker is not the embedded one (nothing to do)."""
    path = embedded_broker_file(current.broker_url)
    if path is None:
        return None
    from config.celery_app import celery_config

    config = celery_config(current)
    with Connection(current.broker_url, transport_options=config["broker_transport_options"]) as connection:
        channel = connection.default_channel
        for queue in config["task_queues"]:
            queue(channel).declare()
    return path


def require_initialised(current: Settings) -> None:
    """Raise StorageUnavailable, naming what to do, when the broker is the embedded one and nobody
    initialised it (no file, or no kombu tables): what is queued there no worker would read."""
    path = embedded_broker_file(current.broker_url)
    if path is None or is_initialised(path):
        return
    state = "does not exist" if not path.exists() else "has no kombu tables"
    raise StorageUnavailable(
        f"the embedded broker {path} {state} (MEDIC_DATA_DIR {current.data_dir}), so no worker reads it: "
        f"start `medic run` with this MEDIC_DATA_DIR, or run `medic db upgrade` first, "
        f"or set MEDIC_DATA_DIR to your worker's")
