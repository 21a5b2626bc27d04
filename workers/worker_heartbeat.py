"""The worker's heartbeat on the embedded broker: a file touched every few seconds, read by `medic probe worker`.

kombu's SQLAlchemy transport (the embedded default's broker) has no broadcast exchange, so a worker
there answers no ping (Celery's remote control). Instead the worker's main process (the consumer,
not the pool) touches `medic-worker-<node name>.heartbeat` in MEDIC_DATA_DIR every
HEARTBEAT_INTERVAL_S, from a worker bootstep on Celery's timer; config.celery_app adds the step on
that broker only. The worker is alive while the file is at most MAX_AGE_S old; a worker that stops
removes it, one killed outright leaves it to age.

Touching is one os.utime (the file is created if missing). An OSError never stops the worker: it
is logged once, and again only after a touch has succeeded in between.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

from celery import bootsteps

from workers.beat_heartbeat import Heartbeat

log = logging.getLogger("medic.worker")

HEARTBEAT_INTERVAL_S = 5.0
# Alive while the file is younger than this: a couple of missed touches (a busy timer) are not death.
MAX_AGE_S = 3 * HEARTBEAT_INTERVAL_S
FILE_PREFIX = "medic-worker-"  # "medic...": a data dir holding it still counts as medic's own
FILE_SUFFIX = ".heartbeat"
MAX_NODE_CHARS = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]")


def heartbeat_file_name(hostname: str) -> str:
    """The file name for a worker node name (`name@host`), fit for any file system.

    A name that had to be changed (characters outside [A-Za-z0-9@._-], or too long) gets a hash of
    the original, so it never shares a file with the name it now resembles."""
    safe = _UNSAFE.sub("_", hostname)[:MAX_NODE_CHARS]
    if safe != hostname:
        safe += "-" + hashlib.sha256(hostname.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{FILE_PREFIX}{safe}{FILE_SUFFIX}"


def heartbeat_file(data_dir: Path, hostname: str) -> Path:
    return data_dir / heartbeat_file_name(hostname)


def is_alive(age_s: float, max_age_s: float = MAX_AGE_S) -> bool:
    """Whether a heartbeat this old means a live worker (a negative age, the clock stepped back, does)."""
    return age_s <= max_age_s


class WorkerHeartbeat(Heartbeat):
    def __init__(self, path: Path):
        super().__init__(path, owner="worker", logger=log)

    def remove(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:  # it will age instead
            pass


class WorkerHeartbeatStep(bootsteps.StartStopStep):
    """Worker bootstep: touch the heartbeat at start and every HEARTBEAT_INTERVAL_S on the worker's timer."""

    requires = ("celery.worker.components:Timer",)
    label = "medic heartbeat"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.heartbeat: WorkerHeartbeat | None = None
        self._entry: Any = None

    def start(self, parent: Any) -> None:
        from config.settings import get_settings

        try:
            self.heartbeat = WorkerHeartbeat(heartbeat_file(get_settings().data_dir, parent.hostname))
            self.heartbeat.touch()
            self._entry = parent.timer.call_repeatedly(HEARTBEAT_INTERVAL_S, self._touch)
        except Exception:  # the heartbeat is for the probe: never a reason for the worker not to start
            log.exception("worker heartbeat not started; `medic probe worker` will report the worker as dead")

    def _touch(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.touch()

    def stop(self, parent: Any) -> None:
        if self._entry is not None:
            self._entry.cancel()
            self._entry = None
        if self.heartbeat is not None:
            self.heartbeat.remove()
            self.heartbeat = None

    shutdown = stop
