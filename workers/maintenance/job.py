"""What a maintenance job receives and returns. A job is `def run(ctx: JobContext) -> JobResult`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from workers.clock import utcnow

# progress(done, total, label): total None while unknown.
ProgressFn = Callable[[int, "int | None", str], None]


@dataclass
class JobResult:
    """What a run did. `failed`: it ran to the end but found something wrong (recorded as failed and notified)."""

    summary: str
    counts: dict[str, int] = field(default_factory=dict)
    failed: bool = False


@dataclass
class JobContext:
    settings: Settings
    sessions: sessionmaker[Session]
    run_id: int | None = None
    dry_run: bool = False
    params: dict[str, Any] = field(default_factory=dict)  # job-specific, from the CLI (e.g. a check's name)
    clock: Callable[[], datetime] = utcnow
    on_progress: ProgressFn | None = None

    def now(self) -> datetime:
        return self.clock()

    def progress(self, done: int, total: int | None = None, label: str = "") -> None:
        """Report progress (a CLI run shows a bar); also keeps a long run's lock alive."""
        if self.on_progress is not None:
            self.on_progress(done, total, label)
