"""A beat scheduler that remembers when each entry last ran in a JSON file (embedded mode).

Celery's default PersistentScheduler keeps this in a shelve, which is pickle; medic uses no
pickle. Only run times and counts are stored: the entries themselves always come from the
settings, so a changed schedule takes effect at the next start. The file is replaced
atomically (write, fsync, rename), so a beat killed mid-write leaves the previous one.
Every tick also touches the heartbeat file `medic probe beat` reads (workers/beat_heartbeat.py).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from celery.beat import Scheduler

from workers.beat_heartbeat import HeartbeatMixin

log = logging.getLogger("medic.beat")


class JsonFileScheduler(HeartbeatMixin, Scheduler):
    def __init__(self, *args: Any, schedule_filename: str | None = None, **kwargs: Any) -> None:
        # Set before the base class, whose constructor calls setup_schedule.
        self.path = Path(schedule_filename or "beat-schedule.json")
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        super().setup_schedule()
        saved = self._load()
        for name, entry in self.schedule.items():
            if name not in saved:
                continue
            try:
                state = saved[name]
                last_run_at = datetime.fromisoformat(state["last_run_at"])
                total_run_count = int(state.get("total_run_count", 0))
            except (TypeError, KeyError, ValueError, AttributeError) as exc:
                self._unreadable(f"entry {name!r}: {exc!r}")
                continue
            entry.last_run_at, entry.total_run_count = last_run_at, total_run_count

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self._unreadable(str(exc))
            return {}
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            self._unreadable("no \"entries\" object")
            return {}
        return entries

    def _unreadable(self, problem: str) -> None:
        log.warning("beat schedule file unreadable; those entries start afresh",
                    extra={"path": str(self.path), "error": problem})

    def sync(self) -> None:
        entries = {name: {"last_run_at": entry.last_run_at.isoformat(), "total_run_count": entry.total_run_count}
                   for name, entry in self.schedule.items() if entry.last_run_at is not None}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({"version": 1, "entries": entries}, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    @property
    def info(self) -> str:
        return f"    . db -> {self.path}"
