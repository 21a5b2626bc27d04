"""Settings of the health-snapshot job and its alert rules (workers/maintenance/health/)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HealthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_channel: str = Field("log", description="Channel alerts are sent to.")
