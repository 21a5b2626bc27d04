"""What log rotation does to one target's directory: a pure function of (listing, target, now) -> actions.

Two plans, because retention counts compressed sizes: `plan_rotation` (rotate, compress, remove
unfinished compressions), executed; then `plan_retention` on a fresh listing. A dry run plans
retention on `simulate(...)`, which counts a file it would compress at its uncompressed size.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from config.jobs.log_rotation import RotationTarget
from workers.maintenance.logrotate_names import GZ, PLAIN, TMP, RotatedName, next_rotation, parse


@dataclass(frozen=True)
class FileInfo:
    name: str
    size_bytes: int
    mtime: datetime


@dataclass(frozen=True)
class Rotate:
    live: str
    rotated: str
    size_bytes: int
    reason: str

    def describe(self) -> str:
        return f"rotate {self.live} -> {self.rotated} ({self.reason})"


@dataclass(frozen=True)
class Compress:
    source: str
    target: str
    size_bytes: int

    def describe(self) -> str:
        return f"compress {self.source} -> {self.target}"


@dataclass(frozen=True)
class Delete:
    name: str
    size_bytes: int
    reason: str

    def describe(self) -> str:
        return f"delete {self.name} ({self.reason})"


Action = Rotate | Compress | Delete


@dataclass
class Rotation:
    """The files of one rotated log file: plain, compressed, an unfinished compression."""

    name: RotatedName
    files: dict[str, FileInfo] = field(default_factory=dict)  # suffix -> file

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files.values())


def classify(files: list[FileInfo], pattern: str) -> tuple[list[FileInfo], list[Rotation]]:
    """The live log files and the rotations of this target; every other file is none of its business."""
    live: list[FileInfo] = []
    rotations: dict[RotatedName, Rotation] = {}
    for info in files:
        parsed = parse(info.name)
        if parsed is None:
            if fnmatchcase(info.name, pattern):
                live.append(info)
        elif fnmatchcase(parsed[0].base, pattern):
            rotations.setdefault(parsed[0], Rotation(parsed[0])).files[parsed[1]] = info
    return sorted(live, key=lambda f: f.name), sorted(rotations.values(), key=lambda r: r.name)


def plan_rotation(files: list[FileInfo], target: RotationTarget, now: datetime) -> list[Action]:
    live, rotations = classify(files, target.pattern)
    actions: list[Action] = [Delete(r.files[TMP].name, r.files[TMP].size_bytes, "unfinished compression")
                             for r in rotations if TMP in r.files]
    names = [r.name for r in rotations]
    pending = [(r.name.stem, r.files[PLAIN]) for r in rotations if PLAIN in r.files]
    for info in live:
        reason = rotation_reason(info, _last_rotation(names, info.name), target, now)
        if reason is None:
            continue
        new = next_rotation(info.name, now, names)
        names.append(new)
        actions.append(Rotate(info.name, new.stem, info.size_bytes, reason))
        pending.append((new.stem, info))
    if target.compress:
        actions += [Compress(stem, stem + GZ, info.size_bytes) for stem, info in pending
                    if target.mode == "copytruncate" or (now - info.mtime).total_seconds() >= target.compress_after_s]
    return actions


def rotation_reason(info: FileInfo, last_rotated_at: datetime | None, target: RotationTarget,
                    now: datetime) -> str | None:
    """Why this live file is due, or None. Age counts from its last rotation; a file never rotated is due."""
    if info.size_bytes == 0:
        return None
    if target.max_size_bytes is not None and info.size_bytes >= target.max_size_bytes:
        return f"{info.size_bytes} bytes >= max_size_bytes {target.max_size_bytes}"
    if target.max_age_s is None:
        return None
    if last_rotated_at is None:
        return "never rotated, max_age_s set"
    age_s = (now - last_rotated_at).total_seconds()
    if age_s < target.max_age_s:
        return None
    return f"{age_s:.0f} s since its last rotation >= max_age_s {target.max_age_s:g}"


def plan_retention(files: list[FileInfo], target: RotationTarget, now: datetime) -> list[Delete]:
    """Per log file, newest first: keep while within keep_count, keep_total_bytes and retention_days."""
    by_base: dict[str, list[Rotation]] = defaultdict(list)
    for rotation in classify(files, target.pattern)[1]:
        by_base[rotation.name.base].append(rotation)
    deletes = []
    for rotations in by_base.values():
        kept_bytes, reason = 0, None
        for index, rotation in enumerate(sorted(rotations, key=lambda r: r.name, reverse=True)):
            # Once one is beyond a limit, so is every older one: what is kept is always the newest.
            reason = reason or _expiry(rotation, index, kept_bytes, target, now)
            if reason is None:
                kept_bytes += rotation.size_bytes
            else:
                deletes += [Delete(info.name, info.size_bytes, reason) for info in rotation.files.values()]
    return deletes


def _expiry(rotation: Rotation, index: int, kept_bytes: int, target: RotationTarget, now: datetime) -> str | None:
    if target.keep_count is not None and index >= target.keep_count:
        return f"beyond keep_count {target.keep_count}"
    if target.keep_total_bytes is not None and kept_bytes + rotation.size_bytes > target.keep_total_bytes:
        return f"beyond keep_total_bytes {target.keep_total_bytes}"
    if target.retention_days is not None and now - rotation.name.rotated_at > timedelta(days=target.retention_days):
        return f"rotated more than retention_days {target.retention_days:g} ago"
    return None


def simulate(files: list[FileInfo], actions: list[Action], target: RotationTarget, now: datetime) -> list[FileInfo]:
    """The listing after these actions, for a dry run; a compressed file keeps its uncompressed size."""
    by_name = {info.name: info for info in files}
    for action in actions:
        if isinstance(action, Rotate):
            by_name[action.rotated] = replace(by_name.pop(action.live), name=action.rotated)
            if target.mode == "copytruncate":
                by_name[action.live] = FileInfo(action.live, 0, now)
        elif isinstance(action, Compress):
            by_name[action.target] = replace(by_name.pop(action.source), name=action.target)
        else:
            by_name.pop(action.name, None)
    return list(by_name.values())


def _last_rotation(names: list[RotatedName], base: str) -> datetime | None:
    return max((n.rotated_at for n in names if n.base == base), default=None)
