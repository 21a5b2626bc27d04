"""RedBeat with medic's heartbeat, including for a standby beat.

A standby beat does not tick: it waits inside RedBeat's lock acquisition (a beat_init signal
handler) until the active beat's lock expires. It is healthy all the same, so while it waits a
daemon thread touches the heartbeat every max_interval as long as Redis answers. The thread stops
as soon as the lock is held or the first tick runs; from then on only ticks touch the file, so a
beat that holds the lock but stops ticking goes stale.

A beat that loses its lock while it holds it (paused longer than MEDIC_BEAT_LOCK_TIMEOUT_S: a
stopped process, a frozen VM) finds another beat scheduling when it resumes. RedBeat raises
LockNotOwnedError from the next tick and beat exits; here it becomes a standby again instead,
waiting for the lock as at its start (its heartbeat kept by the same thread).

Kept apart from workers.beat_heartbeat: importing redbeat connects its lock handler to every
beat's beat_init signal, which the embedded JSON-file scheduler must not get.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from redbeat.schedulers import RedBeatScheduler, get_redis
from redis.exceptions import LockNotOwnedError

from workers.beat_heartbeat import HeartbeatMixin

log = logging.getLogger("medic.beat")


class HeartbeatRedBeatScheduler(HeartbeatMixin, RedBeatScheduler):
    _standby_stop: threading.Event | None = None
    lock: Any  # RedBeat's redis Lock, set by its beat_init handler once acquired

    def setup_schedule(self) -> None:
        super().setup_schedule()
        # Here, not in __init__: beat also builds a lazy scheduler just to print its banner, and
        # setup_schedule runs only for the one that schedules.
        self._start_standby_heartbeat()

    def _start_standby_heartbeat(self) -> None:
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
        try:
            return super().tick(*args, **kwargs)
        except LockNotOwnedError:
            return self._stand_by_again()

    def _stand_by_again(self) -> float:
        """Wait for the lock another beat holds now, as at the start; then schedule at once."""
        lock, self.lock = self.lock, None
        log.warning("beat lost its lock (it was not renewed for MEDIC_BEAT_LOCK_TIMEOUT_S: paused?); another "
                    "beat schedules now, this one stands by")
        self._start_standby_heartbeat()
        lock.acquire()  # blocks until the lock is free, polling every max_interval as RedBeat's own wait does
        self._stop_standby()
        self.lock = lock
        log.warning("beat took its lock again: it schedules from now on")
        return 0.0

    def close(self) -> None:
        self._stop_standby()
        super().close()
