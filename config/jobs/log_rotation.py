"""Settings of the log-rotation job (workers/maintenance/logrotate.py, docs/maintenance/log-rotation.md).

A target is a directory and a file-name pattern. Its rotation and retention settings resolve in a
fixed order: the target's own value, else the group default here. A target that sets a limit to
null (`"max_age_s": null`) switches that limit off; one that omits it inherits the default.
"""

from __future__ import annotations

import glob
import string
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

Mode = Literal["rename", "copytruncate"]
OWN_TARGET_NAME = "medic"
# Names rotated files get (workers/maintenance/logrotate_names.py): a target's pattern must match none.
ROTATED_SUFFIX_EXAMPLES = (".20261129T201500Z", ".20261129T201500Z-1", ".20261129T201500Z.gz",
                           ".20261129T201500Z.gz.tmp")
POLICY_FIELDS = ("max_size_bytes", "max_age_s", "keep_count", "keep_total_bytes", "retention_days",
                 "compress", "compress_after_s")


@dataclass(frozen=True)
class RotationTarget:
    """One target with every setting resolved: what the job plans with."""

    name: str
    directory: Path
    pattern: str
    mode: Mode
    max_size_bytes: int | None
    max_age_s: float | None
    keep_count: int | None
    keep_total_bytes: int | None
    retention_days: float | None
    compress: bool
    compress_after_s: float


class LogTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        None, min_length=1,
        description="Shown in summaries and errors; default: directory/pattern.")
    directory: Path = Field(
        description="Directory of the log files (absolute; a relative "
                    "one is relative to the worker's working directory).")
    pattern: str = Field(
        "*.log",
        description="Glob matched against file names in the directory "
                    "(not paths); must not match rotated files' names.")
    mode: Mode = Field(
        "rename",
        description="rename: for writers that reopen their file (medic's own); copytruncate: "
                    "for writers that keep their descriptor and append (O_APPEND).")
    max_size_bytes: int | None = Field(
        None, ge=1,
        description="Rotate a file that reaches this size; null: never by size.")
    max_age_s: float | None = Field(
        None, gt=0,
        description="Rotate a non-empty file this long after its last rotation; null: never by age.")
    keep_count: int | None = Field(
        None, ge=1,
        description="Keep at most this many rotated files per log file; null: no count limit.")
    keep_total_bytes: int | None = Field(
        None, ge=1,
        description="Keep the newest rotated files of a log file while their "
                    "total size stays within this; null: no size limit.")
    retention_days: float | None = Field(
        None, gt=0,
        description="Delete rotated files rotated longer ago than this; null: no age limit.")
    compress: bool | None = Field(None, description="Gzip rotated files.")
    compress_after_s: float | None = Field(
        None, ge=0,
        description="rename mode: gzip a rotated file only once nobody has written it for this long.")

    @field_validator("directory", mode="before")
    @classmethod
    def _directory_given(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("directory is empty")
        return value

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str, info: ValidationInfo) -> str:
        return check_pattern(value, info.data.get("name"))

    def label(self) -> str:
        return self.name or f"{self.directory}/{self.pattern}"


class LogRotationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rotate_own_log: bool = Field(
        True,
        description="Rotate medic's own log file (MEDIC_LOG_FILE, rename mode) "
                    "with the defaults below, unless a target already covers it.")
    max_size_bytes: int | None = Field(
        50 * 1024 * 1024, ge=1,
        description="Default: rotate a log file that reaches this size; null: never by size.")
    max_age_s: float | None = Field(
        None, gt=0,
        description="Default: rotate a non-empty log file this long after its last rotation (the time in its "
                    "newest rotated file's name; a file never rotated counts as due); null: never by age.")
    keep_count: int | None = Field(
        10, ge=1,
        description="Default: keep at most this many rotated files per log file; null: no count limit.")
    keep_total_bytes: int | None = Field(
        None, ge=1,
        description="Default: keep the newest rotated files of a log file while "
                    "their total size stays within this; null: no size limit.")
    retention_days: float | None = Field(
        30, gt=0,
        description="Default: delete rotated files rotated longer ago than this; null: no age limit.")
    compress: bool = Field(True, description="Default: gzip rotated files.")
    compress_after_s: float = Field(
        60, ge=0,
        description="Default, rename mode: gzip a rotated file only once nobody has "
                    "written it for this long (a writer may not have reopened yet).")
    targets: list[LogTarget] = Field(
        default_factory=list,
        description="Log files of other programs: a list of "
                    "{name, directory, pattern, mode, and any of the settings above}.")

    @model_validator(mode="after")
    def _check_targets(self) -> LogRotationSettings:
        labels = [target.label() for target in self.targets]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"targets: more than one target named {', '.join(map(repr, duplicates))}")
        for index, target in enumerate(self.targets):
            check_limits(self.resolve(target), f"targets[{index}] ({target.label()!r})")
        if self.rotate_own_log:
            defaults = self.resolve(LogTarget(name=OWN_TARGET_NAME, directory=Path(".")))
            check_limits(defaults, "the defaults (used for MEDIC_LOG_FILE)")
        return self

    def resolve(self, target: LogTarget) -> RotationTarget:
        policy = {field: getattr(target if field in target.model_fields_set else self, field)
                  for field in POLICY_FIELDS}
        return RotationTarget(name=target.label(), directory=target.directory.expanduser(), pattern=target.pattern,
                              mode=target.mode, **policy)

    def effective_targets(self, log_file: Path | None) -> list[RotationTarget]:
        """The configured targets, then medic's own log file unless off or already covered by one."""
        targets = [self.resolve(target) for target in self.targets]
        if log_file is None or not self.rotate_own_log or any(_covers(t, log_file) for t in targets):
            return targets
        own = LogTarget(name=OWN_TARGET_NAME, directory=log_file.expanduser().parent,
                        pattern=glob.escape(log_file.name))
        return [*targets, self.resolve(own)]


def check_pattern(pattern: str, target: str | None = None) -> str:
    where = f"target {target!r}: " if target else ""
    if not pattern or "/" in pattern or pattern in (".", ".."):
        raise ValueError(f"{where}pattern {pattern!r} must be a file-name glob such as '*.log' (no '/')")
    example = _example_name(pattern)
    if example is not None and any(fnmatchcase(example + suffix, pattern) for suffix in ROTATED_SUFFIX_EXAMPLES):
        raise ValueError(f"{where}pattern {pattern!r} also matches rotated files' names (such as "
                         f"{example + ROTATED_SUFFIX_EXAMPLES[2]!r}); end it with something they do not, e.g. '*.log'")
    return pattern


def check_limits(target: RotationTarget, where: str) -> None:
    if target.max_size_bytes is None and target.max_age_s is None:
        raise ValueError(f"{where}: set max_size_bytes or max_age_s, or nothing is ever rotated")
    if target.keep_count is None and target.keep_total_bytes is None and target.retention_days is None:
        raise ValueError(f"{where}: set keep_count, keep_total_bytes or retention_days, "
                         f"or rotated files pile up forever")


def _covers(target: RotationTarget, log_file: Path) -> bool:
    same_dir = target.directory.resolve() == log_file.expanduser().parent.resolve()
    return same_dir and fnmatchcase(log_file.name, target.pattern)


def _example_name(pattern: str) -> str | None:
    """A file name the pattern matches (each star "app", every other token its first matching character)."""
    name, i = [], 0
    while i < len(pattern):
        end = pattern.find("]", i + 2) + 1 if pattern[i] == "[" else 0
        token = pattern[i:end] if end else pattern[i]
        i += len(token)
        if token == "*":
            name.append("app")
            continue
        char = next((c for c in string.printable if c != "/" and fnmatchcase(c, token)), None)
        if char is None:
            return None
        name.append(char)
    return "".join(name)
