"""The log-rotation job: for each target, rotate what is due, gzip, then apply retention.

Decisions are in logrotate_policy (pure); this module lists, executes and counts. One target's
problem (a missing directory, a file it may not rename) is recorded and the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from config.jobs.log_rotation import RotationTarget
from workers.maintenance.gzipfile import SourceChanged, gzip_file
from workers.maintenance.job import JobContext, JobResult
from workers.maintenance.logrotate_files import list_files, rotate_by_copy, rotate_by_rename
from workers.maintenance.logrotate_names import parse
from workers.maintenance.logrotate_policy import (
    Action,
    Compress,
    Delete,
    FileInfo,
    Rotate,
    classify,
    plan_retention,
    plan_rotation,
    simulate,
)

log = logging.getLogger("medic.maintenance.logrotate")

SUMMARY_MAX_ITEMS = 10  # actions or errors named in a run's summary; the log has them all


@dataclass
class Tally:
    rotated: int = 0
    compressed: int = 0
    deleted: int = 0
    bytes_freed: int = 0
    errors: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)

    def error(self, target: RotationTarget, problem: str) -> None:
        self.errors.append(f"target {target.name!r}: {problem}")
        log.warning("log rotation problem", extra={"target": target.name, "problem": problem})

    def counts(self) -> dict[str, int]:
        return {"rotated": self.rotated, "compressed": self.compressed, "deleted": self.deleted,
                "bytes_freed": self.bytes_freed, "errors": len(self.errors)}


def run(ctx: JobContext) -> JobResult:
    targets = ctx.settings.log_rotation.effective_targets(ctx.settings.log_file)
    tally = Tally()
    claimed: dict[Path, str] = {}  # log file -> the target that handles it
    for target in targets:
        _run_target(ctx, target, tally, claimed)
    return JobResult(summary=_summary(tally, ctx.dry_run, len(targets)), counts=tally.counts(),
                     failed=bool(tally.errors))


def _run_target(ctx: JobContext, target: RotationTarget, tally: Tally, claimed: dict[Path, str]) -> None:
    files = _listing(target, tally)
    if files is None:
        return
    files = _unclaimed(files, target, tally, claimed)
    now = ctx.now()
    actions = plan_rotation(files, target, now)
    if ctx.dry_run:
        actions += plan_retention(simulate(files, actions, target, now), target, now)
        _count_planned(actions, tally)
        tally.planned += [f"{target.name}: {action.describe()}" for action in actions]
        return
    _execute(ctx, target, actions, tally)
    files = _listing(target, tally)
    if files is not None:
        _execute(ctx, target, plan_retention(_unclaimed(files, target, None, claimed), target, ctx.now()), tally)


def _listing(target: RotationTarget, tally: Tally) -> list[FileInfo] | None:
    try:
        return list_files(target.directory)
    except FileNotFoundError:
        tally.error(target, f"directory {target.directory} does not exist")
    except NotADirectoryError:
        tally.error(target, f"{target.directory} is not a directory")
    except OSError as exc:
        tally.error(target, f"cannot list {target.directory}: {exc.strerror or exc}")
    return None


def _unclaimed(files: list[FileInfo], target: RotationTarget, tally: Tally | None,
               claimed: dict[Path, str]) -> list[FileInfo]:
    """Leave out the log files (and their rotations) an earlier target handles; report each once."""
    live, rotations = classify(files, target.pattern)
    directory = target.directory.resolve()
    taken = {}
    for base in sorted({info.name for info in live} | {rotation.name.base for rotation in rotations}):
        owner = claimed.setdefault(directory / base, target.name)
        if owner != target.name:
            taken[base] = owner
    for base, owner in taken.items():
        if tally is not None:
            tally.error(target, f"{base} is also matched by target {owner!r}, which handles it")
    return [info for info in files if _base(info.name) not in taken]


def _base(name: str) -> str:
    parsed = parse(name)
    return parsed[0].base if parsed else name


def _execute(ctx: JobContext, target: RotationTarget, actions: Sequence[Action], tally: Tally) -> None:
    not_rotated = set()
    for done, action in enumerate(actions, 1):
        if isinstance(action, Compress) and action.source in not_rotated:
            continue
        try:
            _apply(target, action, tally)
            log.info("log rotation", extra={"target": target.name, "action": action.describe()})
        except SourceChanged:
            log.info("rotated file still being written; compressed on a later run",
                     extra={"target": target.name, "action": action.describe()})
        except OSError as exc:
            tally.error(target, f"{action.describe()}: {exc.strerror or exc}")
            if isinstance(action, Rotate):
                not_rotated.add(action.rotated)
        ctx.progress(done, len(actions), f"log rotation: {target.name}")


def _apply(target: RotationTarget, action: Action, tally: Tally) -> None:
    directory = target.directory
    if isinstance(action, Rotate):
        if target.mode == "rename":
            rotate_by_rename(directory, action.live, action.rotated)
        else:
            rotate_by_copy(directory, action.live, action.rotated)
        tally.rotated += 1
    elif isinstance(action, Compress):
        source_bytes, archive_bytes = gzip_file(directory / action.source, directory / action.target)
        tally.compressed += 1
        tally.bytes_freed += source_bytes - archive_bytes
    else:
        path = directory / action.name
        try:
            size_bytes = path.stat().st_size
            path.unlink()
        except FileNotFoundError:  # gone already: the goal is met
            return
        tally.deleted += 1
        tally.bytes_freed += size_bytes


def _count_planned(actions: list[Action], tally: Tally) -> None:
    """A dry run's counts: what it would do; bytes_freed counts deletions only (compression ratios are unknown)."""
    for action in actions:
        tally.rotated += isinstance(action, Rotate)
        tally.compressed += isinstance(action, Compress)
        if isinstance(action, Delete):
            tally.deleted += 1
            tally.bytes_freed += action.size_bytes


def _summary(tally: Tally, dry_run: bool, target_count: int) -> str:
    if dry_run:
        done = "dry run, nothing changed: would rotate {rotated}, compress {compressed}, delete {deleted}"
    else:
        done = "rotated {rotated}, compressed {compressed}, deleted {deleted}, freed {bytes_freed} bytes"
    text = f"{done.format(**tally.counts())} in {target_count} target(s)"
    if tally.errors:
        text += f"; {len(tally.errors)} error(s): " + "; ".join(tally.errors[:SUMMARY_MAX_ITEMS])
    if tally.planned:
        text += ". Plan: " + "; ".join(tally.planned[:SUMMARY_MAX_ITEMS])
        text += f"; and {len(tally.planned) - SUMMARY_MAX_ITEMS} more" if len(tally.planned) > SUMMARY_MAX_ITEMS else ""
    return text
