"""Log rotation's decisions: (listing, target, now) -> actions, as tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.jobs.log_rotation import RotationTarget
from workers.maintenance.logrotate_policy import (
    Compress,
    Delete,
    FileInfo,
    Rotate,
    plan_retention,
    plan_rotation,
    simulate,
)

NOW = datetime(2026, 11, 29, 20, 15, 0, tzinfo=UTC)
STAMP = "20261129T201500Z"
TARGET = RotationTarget(name="t", directory=Path("/logs"), pattern="*.log", mode="rename", max_size_bytes=100,
                        max_age_s=None, keep_count=None, keep_total_bytes=None, retention_days=None, compress=True,
                        compress_after_s=60)


def f(name: str, size_bytes: int = 10, quiet_s: float = 0) -> FileInfo:
    return FileInfo(name, size_bytes, NOW - timedelta(seconds=quiet_s))


def target(**changes) -> RotationTarget:
    return replace(TARGET, **changes)


def described(actions) -> list[str]:
    return [type(a).__name__ + " " + (a.name if isinstance(a, Delete) else a.source if isinstance(a, Compress)
                                      else f"{a.live} -> {a.rotated}") for a in actions]


@pytest.mark.parametrize(
    ("files", "changes", "expected"),
    [
        ([f("app.log", 99)], {}, []),
        ([f("app.log", 100)], {}, [f"Rotate app.log -> app.log.{STAMP}"]),
        ([f("app.log", 0)], {"max_age_s": 60}, []),  # empty: never rotated
        ([f("app.log", 5)], {"max_age_s": 60}, [f"Rotate app.log -> app.log.{STAMP}"]),  # never rotated: due
        ([f("app.log", 5), f("app.log.20261129T191501Z.gz")], {"max_age_s": 3600}, []),  # 3599 s ago
        ([f("app.log", 5), f("app.log.20261129T191500Z.gz")], {"max_age_s": 3600},
         [f"Rotate app.log -> app.log.{STAMP}"]),
        ([f("app.log", 5), f("app.log.20261129T191500Z.gz")], {"max_size_bytes": None, "max_age_s": 7200}, []),
        # a rotation in the same second gets a counter after the highest one
        ([f("app.log", 100), f(f"app.log.{STAMP}.gz"), f(f"app.log.{STAMP}-3.gz")], {"compress": False},
         [f"Rotate app.log -> app.log.{STAMP}-4"]),
        # the clock went back: the new rotation still sorts after the newest one
        ([f("app.log", 100), f("app.log.20261129T201600Z.gz")], {}, ["Rotate app.log -> app.log.20261129T201600Z-1"]),
        # not this target's: another pattern, a numbered file of another tool, a rotated-looking live name
        ([f("app.txt", 500), f("app.log.1", 500), f("app.log.gz", 500)], {}, []),
        ([f(f"app.log.{STAMP}", 500, quiet_s=0)], {"pattern": "*"}, []),  # a rotation is never rotated again
        # each live file on its own
        ([f("a.log", 100), f("b.log", 5)], {}, [f"Rotate a.log -> a.log.{STAMP}"]),
    ],
)
def test_which_files_are_rotated(files, changes, expected):
    assert described(plan_rotation(files, target(**changes), NOW)) == expected


@pytest.mark.parametrize(
    ("files", "changes", "expected"),
    [
        ([f("app.log.20261129T190000Z", quiet_s=60)], {}, ["Compress app.log.20261129T190000Z"]),
        ([f("app.log.20261129T190000Z", quiet_s=59)], {}, []),  # a writer may not have reopened yet
        ([f("app.log.20261129T190000Z", quiet_s=600)], {"compress": False}, []),
        # rotated now, quiet long enough already: compressed in the same run
        ([f("app.log", 100, quiet_s=120)], {}, [f"Rotate app.log -> app.log.{STAMP}", f"Compress app.log.{STAMP}"]),
        ([f("app.log", 100, quiet_s=0)], {}, [f"Rotate app.log -> app.log.{STAMP}"]),
        # copytruncate: the copy is written by no one else, compressed at once
        ([f("app.log", 100, quiet_s=0)], {"mode": "copytruncate"},
         [f"Rotate app.log -> app.log.{STAMP}", f"Compress app.log.{STAMP}"]),
        # a crash left a partial archive: removed, then compressed again
        ([f("app.log.20261129T190000Z", quiet_s=600), f("app.log.20261129T190000Z.gz.tmp")], {},
         ["Delete app.log.20261129T190000Z.gz.tmp", "Compress app.log.20261129T190000Z"]),
        # a crash between the archive's rename and the source's removal: compressed again (replaces it)
        ([f("app.log.20261129T190000Z", quiet_s=600), f("app.log.20261129T190000Z.gz")], {},
         ["Compress app.log.20261129T190000Z"]),
        ([f("other.txt.20261129T190000Z.gz.tmp")], {}, []),  # another pattern's: untouched
    ],
)
def test_what_is_compressed_and_cleaned_up(files, changes, expected):
    assert described(plan_rotation(files, target(**changes), NOW)) == expected


def test_compressed_name_is_the_rotated_name_plus_gz():
    actions = plan_rotation([f("app.log", 100, quiet_s=120)], TARGET, NOW)
    assert actions[1] == Compress(f"app.log.{STAMP}", f"app.log.{STAMP}.gz", 100)
    assert isinstance(actions[0], Rotate) and actions[0].reason == "100 bytes >= max_size_bytes 100"


# app.log rotated hourly, newest first: 19:00 (100 bytes), 18:00 (200), 17:00 (300), 16:00 (400).
HISTORY = [f("app.log.20261129T190000Z.gz", 100), f("app.log.20261129T180000Z.gz", 200),
           f("app.log.20261129T170000Z.gz", 300), f("app.log.20261129T160000Z.gz", 400)]


@pytest.mark.parametrize(
    ("changes", "deleted"),
    [
        ({"keep_count": 10}, []),
        ({"keep_count": 2}, ["app.log.20261129T170000Z.gz", "app.log.20261129T160000Z.gz"]),
        ({"keep_count": 1},
         ["app.log.20261129T180000Z.gz", "app.log.20261129T170000Z.gz", "app.log.20261129T160000Z.gz"]),
        ({"keep_total_bytes": 300}, ["app.log.20261129T170000Z.gz", "app.log.20261129T160000Z.gz"]),
        ({"keep_total_bytes": 599}, ["app.log.20261129T170000Z.gz", "app.log.20261129T160000Z.gz"]),
        ({"keep_total_bytes": 600}, ["app.log.20261129T160000Z.gz"]),
        ({"keep_total_bytes": 99}, [h.name for h in HISTORY]),  # even the newest, if alone it is too big
        # older than 2.5 h: 17:00 is 3h15 old, 18:00 2h15
        ({"retention_days": 2.5 / 24}, ["app.log.20261129T170000Z.gz", "app.log.20261129T160000Z.gz"]),
        ({"keep_count": 3, "keep_total_bytes": 350}, ["app.log.20261129T170000Z.gz", "app.log.20261129T160000Z.gz"]),
        ({"keep_count": 3, "retention_days": 1.5 / 24}, ["app.log.20261129T180000Z.gz", "app.log.20261129T170000Z.gz",
                                                        "app.log.20261129T160000Z.gz"]),
    ],
)
def test_retention_keeps_the_newest_within_every_limit(changes, deleted):
    files = [*HISTORY, f("app.log", 10_000), f("notes.txt.20201129T190000Z.gz", 10_000)]
    assert [d.name for d in plan_retention(files, target(**changes), NOW)] == deleted


def test_retention_is_per_log_file_and_deletes_every_form_of_a_rotation():
    files = [f("a.log.20261129T190000Z", 50), f("a.log.20261129T190000Z.gz", 10), f("a.log.20261129T180000Z.gz", 10),
             f("b.log.20261129T170000Z.gz", 10), f("b.log.20261129T160000Z.gz", 10)]
    deletes = plan_retention(files, target(keep_count=1), NOW)
    assert sorted(d.name for d in deletes) == ["a.log.20261129T180000Z.gz", "b.log.20261129T160000Z.gz"]
    deletes = plan_retention(files, target(keep_total_bytes=20), NOW)
    # a.log's newest rotation counts its plain and compressed forms: 60 bytes, over the limit
    assert sorted(d.name for d in deletes) == ["a.log.20261129T180000Z.gz", "a.log.20261129T190000Z",
                                                "a.log.20261129T190000Z.gz"]
    assert all(d.reason == "beyond keep_total_bytes 20" for d in deletes)


def test_counter_orders_rotations_of_the_same_second():
    files = [f(f"app.log.{STAMP}.gz"), f(f"app.log.{STAMP}-1.gz"), f(f"app.log.{STAMP}-2.gz")]
    assert [d.name for d in plan_retention(files, target(keep_count=1), NOW)] == [f"app.log.{STAMP}-1.gz",
                                                                                  f"app.log.{STAMP}.gz"]


def test_a_dry_run_plans_retention_on_the_listing_after_rotation():
    files = [f("app.log", 100, quiet_s=120), *HISTORY]
    rotation = plan_rotation(files, target(keep_count=3), NOW)
    after = simulate(files, rotation, target(keep_count=3), NOW)
    assert sorted(i.name for i in after) == sorted([f"app.log.{STAMP}.gz", *(h.name for h in HISTORY)])
    assert [d.name for d in plan_retention(after, target(keep_count=3), NOW)] == [
        "app.log.20261129T170000Z.gz", "app.log.20261129T160000Z.gz"]


def test_a_dry_run_of_copytruncate_leaves_an_empty_live_file():
    files = [f("app.log", 100)]
    copy = target(mode="copytruncate")
    after = {i.name: i.size_bytes for i in simulate(files, plan_rotation(files, copy, NOW), copy, NOW)}
    assert after == {"app.log": 0, f"app.log.{STAMP}.gz": 100}
