"""manifest.json: what an archive declares about itself, and the rules a member's name must follow."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from config.validation import problems
from workers.maintenance.backup.errors import ArchiveInvalid
from workers.maintenance.backup.signing import SIGNATURE_NAME

FORMAT = "medic-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MANIFEST_MAX_BYTES = 1 << 20
DATABASE_MEMBERS = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
CHUNK_BYTES = 1 << 20


def name_problem(name: str) -> str | None:
    """Why a member name could write outside the directory it is extracted into, or None when it cannot."""
    if not name or "\0" in name or "\\" in name:
        return "has an empty name, a NUL byte or a backslash"
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        return "has an absolute path"
    parts = name.split("/")
    if ".." in parts:
        return "has a '..' component"
    if any(part in ("", ".") for part in parts):
        return "has an empty or '.' path component"
    return None


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    size_bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: Literal["database", "config"]
    source: str | None = None  # where a config file came from

    @field_validator("name")
    @classmethod
    def _safe(cls, value: str) -> str:
        problem = name_problem(value)
        if problem or value in (MANIFEST_NAME, SIGNATURE_NAME):
            raise ValueError(f"{value!r} {problem or 'is reserved for the manifest and its signature'}")
        return value


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["medic-backup"]
    format_version: int
    medic_version: str
    created_at: datetime
    database_kind: Literal["sqlite", "postgresql"]
    database_url: str  # password masked
    schema_revision: str | None
    tables: dict[str, int]  # row counts at the moment of the dump
    files: list[FileEntry]

    @field_validator("format_version")
    @classmethod
    def _supported(cls, value: int) -> int:
        if value != FORMAT_VERSION:
            raise ValueError(f"format version {value} is not supported (this medic reads {FORMAT_VERSION})")
        return value

    @field_validator("files")
    @classmethod
    def _unique(cls, value: list[FileEntry]) -> list[FileEntry]:
        names = [entry.name for entry in value]
        if len(names) != len(set(names)):
            raise ValueError("names a file twice")
        return value

    @property
    def database_member(self) -> str:
        return DATABASE_MEMBERS[self.database_kind]

    @property
    def total_bytes(self) -> int:
        return sum(entry.size_bytes for entry in self.files)

    def entry(self, name: str) -> FileEntry | None:
        return next((entry for entry in self.files if entry.name == name), None)

    def encode(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True).encode()


def parse(data: bytes) -> Manifest:
    try:
        manifest = Manifest.model_validate(json.loads(data))
    except RecursionError:
        raise ArchiveInvalid(MANIFEST_NAME, "is nested too deeply to be a manifest") from None
    except ValueError as exc:  # json, UnicodeDecodeError and pydantic errors all are
        raise ArchiveInvalid(MANIFEST_NAME, _describe(exc)) from None
    if manifest.entry(manifest.database_member) is None:
        raise ArchiveInvalid(MANIFEST_NAME, f"lists no {manifest.database_member}")
    return manifest


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "invalid: " + problems(exc, whole="manifest")
    return f"is not valid JSON: {exc}"


def digest(stream: IO[bytes]) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of what the stream holds."""
    sha, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK_BYTES):
        sha.update(chunk)
        size += len(chunk)
    return size, sha.hexdigest()


def file_digest(path: Path) -> tuple[int, str]:
    with open(path, "rb") as stream:
        return digest(stream)


def entry_for(name: str, path: Path, role: str, source: str | None = None) -> FileEntry:
    size, sha = file_digest(path)
    return FileEntry(name=name, size_bytes=size, sha256=sha, role=role, source=source)
