"""Settings of the backup job (workers/maintenance/backup/)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class BackupSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: Path | None = Field(None, description="Where archives go; default: backups/ in MEDIC_DATA_DIR.")
    keep_last: int = Field(7, ge=1, description="Always keep this many of the newest archives.")
