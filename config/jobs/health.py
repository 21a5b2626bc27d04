"""Settings of the health-snapshot job and its alert rules (workers/maintenance/health/).

Each threshold is named after the status it leads to: `*_degraded` and `*_unhealthy`.
A value at (or, for rates, below) the threshold counts.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class HealthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_channel: str = Field("log", description="Channel alerts are sent to.")
    window_s: float = Field(
        300, gt=0, le=86_400,
        description="Error rates and the recovery success rate are measured over this many seconds.")
    broker_timeout_s: float = Field(
        3, gt=0, le=60,
        description="How long reading the queue depths may wait for the broker; "
                    "one that does not answer makes the status unhealthy.")
    stale_after_s: float = Field(
        300, gt=0,
        description="`medic health` calls a snapshot older than this "
                    "stale (is beat running the health job?) and exits 1.")
    queue_backlog_degraded: int = Field(
        1_000, ge=1,
        description="Messages waiting in one of medic's queues: degraded from this many.")
    queue_backlog_unhealthy: int = Field(
        10_000, ge=1,
        description="Messages waiting in one of medic's queues: unhealthy from this many.")
    error_rate_degraded_per_min: float = Field(
        60, gt=0,
        description="Errors received per minute in one category: degraded from this rate.")
    error_rate_unhealthy_per_min: float = Field(
        600, gt=0,
        description="Errors received per minute in one category: unhealthy from this rate.")
    recovery_success_degraded_below: float = Field(
        0.8, ge=0, le=1,
        description="Share of finished executions that succeeded (cancelled ones not counted): degraded below this.")
    recovery_success_unhealthy_below: float = Field(
        0.5, ge=0, le=1,
        description="Share of finished executions that succeeded: unhealthy below this.")
    recovery_min_finished: int = Field(
        10, ge=1,
        description="The success rate is judged only when at least this many executions finished within the window.")
    open_breakers_degraded: int = Field(
        1, ge=1,
        description="Circuit breakers open or forced open: degraded from this many.")
    open_breakers_unhealthy: int = Field(
        3, ge=1,
        description="Circuit breakers open or forced open: unhealthy from this many.")
    stuck_degraded: int = Field(1, ge=1, description="Stuck executions (see MEDIC_STUCK__*): degraded from this many.")
    stuck_unhealthy: int = Field(10, ge=1, description="Stuck executions: unhealthy from this many.")
    dead_letters_degraded: int = Field(
        100, ge=1,
        description="Executions in state dead (until replayed or purged): degraded from this many.")
    dead_letters_unhealthy: int = Field(1_000, ge=1, description="Executions in state dead: unhealthy from this many.")
    backup_degraded_after_h: float = Field(
        26, gt=0,
        description="Age of the newest verified backup: degraded beyond this many hours (none "
                    "at all: degraded too). Not judged while the backup job is disabled.")
    backup_unhealthy_after_h: float = Field(
        72, gt=0,
        description="Age of the newest verified backup: unhealthy beyond this many hours.")

    @model_validator(mode="after")
    def _check_order(self) -> HealthSettings:
        pairs = (("queue_backlog", "_degraded", "_unhealthy"),
                 ("error_rate", "_degraded_per_min", "_unhealthy_per_min"),
                 ("open_breakers", "_degraded", "_unhealthy"), ("stuck", "_degraded", "_unhealthy"),
                 ("dead_letters", "_degraded", "_unhealthy"), ("backup", "_degraded_after_h", "_unhealthy_after_h"))
        for stem, mild, severe in pairs:
            if getattr(self, stem + severe) < getattr(self, stem + mild):
                raise ValueError(f"{stem}{severe} ({getattr(self, stem + severe):g}) must be at least "
                                 f"{stem}{mild} ({getattr(self, stem + mild):g})")
        if self.recovery_success_unhealthy_below > self.recovery_success_degraded_below:
            raise ValueError(f"recovery_success_unhealthy_below ({self.recovery_success_unhealthy_below:g}) must be "
                             f"at most recovery_success_degraded_below ({self.recovery_success_degraded_below:g})")
        return self
