"""Settings of the cleanup job (workers/maintenance/cleanup.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CleanupSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(1000, ge=1, le=100_000, description="Rows deleted per transaction.")
