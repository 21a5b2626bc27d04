"""Settings of the stuck-workflow job (workers/maintenance/stuck/, docs/maintenance/stuck.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StuckSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    running_grace_s: float = Field(
        120, gt=0,
        description="An attempt still running this long past its deadline is stuck.")
    undispatched_after_s: float = Field(
        120, gt=0,
        description="A due attempt whose run message was never sent this long is stuck.")
    overdue_after_s: float = Field(
        300, gt=0,
        description="A scheduled attempt still unclaimed this long past its due time is stuck.")
    no_attempt_after_s: float = Field(
        300, gt=0,
        description="A pending, running or waiting execution with no scheduled "
                    "or running attempt, unchanged this long, is stuck.")
    max_requeues: int = Field(
        3, ge=0,
        description="After this many automatic requeues of one execution it "
                    "is escalated instead (once), and left to an operator.")
    escalation_channel: str = Field(
        "log", min_length=1,
        description="Channel of the critical notification sent when stuck executions are escalated.")
    max_per_run: int = Field(
        500, ge=1, le=100_000,
        description="At most this many stuck executions are handled per run; the rest wait for the next run.")
