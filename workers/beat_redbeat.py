"""RedBeat with medic's heartbeat, including for a standby beat.

A standby beat does not tick: it waits inside RedBeat's lock acquisition (a beat_init signal
handler) until the active beat's lock expires. It is healthy all the same, so while it waits a
daemon thread touches the heartbeat every max_interval as long as Redis answers. The thread stops
as soon as the lock is held or the first tick runs; from then on only ticks touch the file, so a
beat that holds the lock but stops ticking goes stale.

Kept apart from workers.beat_heartbeat: importing redbeat connects its lock handler to every
beat's beat_init signal, which the embedded JSON-file scheduler must not get.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from redbeat.schedulers import RedBeatScheduler, get_redis

from workers.beat_heartbeat import HeartbeatMixin

log = logging.getLogger("medic.beat")


class HeartbeatRedBeatScheduler(HeartbeatMixin, RedBeatScheduler):
    _standby_stop: threading.Event | None = None

    def setup_schedule(self) -> None:
        super().setup_schedule()
        # Here, not in __init__: beat also builds a lazy scheduler just to print its banner, and
        # setup_schedule runs only for the one that schedules.
        self._standby_stop = threading.Event()
        threading.Thread(target=self._standby_heartbeat, name="medic-beat-standby-heartbeat", daemon=True).start()

    def _standby_heartbeat(self) -> None:
        stop = self._standby_stop
        if stop is None:  # setup_schedule starts this thread once it has made the event
            return
        while self.lock is None and not stop.is_set():
            if self._redis_answers():
                self.heartbeat.touch()
            stop.wait(max(1.0, float(self.max_interval)))

    def _redis_answers(self) -> bool:
        try:
            return bool(get_redis(self.app).ping())
        except Exception as exc:  # any failure means: do not vouch for this beat
            log.debug("standby heartbeat: Redis does not answer", extra={"error": repr(exc)})
            return False

    def _stop_standby(self) -> None:
        if self._standby_stop is not None:
            self._standby_stop.set()

    def tick(self, *args: Any, **kwargs: Any) -> Any:
        self._stop_standby()
        return super().tick(*args, **kwargs)

    def close(self) -> None:
        self._stop_standby()
        super().close()
