"""Settings of the backup job (workers/maintenance/backup/)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class BackupSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: Path | None = Field(None, description="Where archives go; default: backups/ in MEDIC_DATA_DIR.")
    keep_last: int = Field(
        7, ge=1,
        description="Always keep this many of the newest archives, whatever their verification.")
    keep_daily: int = Field(
        7, ge=0,
        description="Also keep the newest verified archive of each of this many most recent days that have one (UTC).")
    keep_weekly: int = Field(
        4, ge=0,
        description="Also keep the newest verified archive of each of this many most recent ISO weeks that have one.")
    keep_monthly: int = Field(
        12, ge=0,
        description="Also keep the newest verified archive of each of this many most recent months that have one.")
    verify_restore: bool = Field(
        False,
        description="PostgreSQL: also verify each archive by restoring it into a scratch database "
                    "on the same server (needs CREATEDB), comparing row counts, and dropping it.")
    pg_bin_dir: Path | None = Field(
        None,
        description="Directory of pg_dump and pg_restore (same major version "
                    "as the server or newer); default: found on PATH.")
    signing_key: SecretStr | None = Field(
        None, min_length=32,
        description="Key of the HMAC-SHA256 that signs each archive's manifest (at least 32 characters, "
                    "e.g. `openssl rand -hex 32`); default: a key the first backup generates in "
                    "backup-signing.key (mode 0600) in MEDIC_DATA_DIR. Set the same key on every host "
                    "that restores another's archives, in the environment: the config file is archived.")
