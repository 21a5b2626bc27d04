"""Settings of the log-rotation job (workers/maintenance/logrotate.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LogRotationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_size_bytes: int = Field(50 * 1024 * 1024, ge=1, description="Default: a log file larger than this is rotated.")
