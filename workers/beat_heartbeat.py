"""Beat's heartbeat: a file touched after every tick, whose age `medic probe beat` reads.

Beat answers no pings, so a container healthcheck reads how long ago it last ticked instead.
Touching is one os.utime (the file is created if missing). An OSError never stops beat: it is
logged once, and again only after a touch has succeeded in between.

Both schedulers medic uses mix this in: workers.beat_file.JsonFileScheduler (one beat, embedded)
and workers.beat_redbeat.HeartbeatRedBeatScheduler (RedBeat, which also covers a standby beat).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("medic.beat")


class Heartbeat:
    """A file whose age says a process is alive (`owner`: beat, or a worker on the embedded broker)."""

    def __init__(self, path: Path, *, owner: str = "beat", logger: logging.Logger = log):
        self.path = path
        self.owner, self.log = owner, logger
        self._failing = False

    def touch(self) -> bool:
        """Set the file's times to now, creating it if missing; False (logged once) when that fails."""
        try:
            try:
                os.utime(self.path)
            except FileNotFoundError:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.touch()
        except OSError as exc:
            if not self._failing:
                self.log.warning(f"{self.owner} heartbeat file cannot be touched; `medic probe {self.owner}` will "
                                 f"report the {self.owner} as dead", extra={"path": str(self.path), "error": str(exc)})
            self._failing = True
            return False
        if self._failing:
            self.log.info(f"{self.owner} heartbeat file touched again", extra={"path": str(self.path)})
            self._failing = False
        return True


class HeartbeatMixin:
    """For a celery.beat.Scheduler subclass: touch the heartbeat file after every tick that returns."""

    #: None: settings.beat_heartbeat_file, resolved at the first tick (a scheduler built only to
    #: read its schedule never touches anything).
    heartbeat_file: Path | None = None
    _heartbeat: Heartbeat | None = None

    def tick(self, *args: Any, **kwargs: Any) -> Any:
        interval = super().tick(*args, **kwargs)  # type: ignore[misc]  # mixed into a celery.beat.Scheduler
        self.heartbeat.touch()
        return interval

    @property
    def heartbeat(self) -> Heartbeat:
        if self._heartbeat is None:
            self._heartbeat = Heartbeat(self.heartbeat_file or _settings_heartbeat_file())
        return self._heartbeat


def _settings_heartbeat_file() -> Path:
    from config.settings import get_settings

    return get_settings().beat_heartbeat_file
