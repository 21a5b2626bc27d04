"""Settings of the stuck-workflow job (workers/maintenance/stuck.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StuckSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    running_grace_s: float = Field(120, gt=0, description="An attempt still running this long past its deadline is stuck.")
    undispatched_after_s: float = Field(120, gt=0, description="A due attempt whose run message was never sent this long is stuck.")
    overdue_after_s: float = Field(300, gt=0, description="A scheduled attempt still unclaimed this long past its due time is stuck.")
    max_requeues: int = Field(3, ge=0, description="After this many automatic requeues a stuck execution is escalated instead.")
