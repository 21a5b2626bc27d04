"""Rotated files' names: parsed back exactly, ordered by time then counter, never confused with other names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from config.jobs.log_rotation import ROTATED_SUFFIX_EXAMPLES
from workers.maintenance.logrotate_names import GZ, PLAIN, TMP, RotatedName, next_rotation, parse

AT = datetime(2026, 11, 29, 20, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("app.log.20261129T201500Z", (RotatedName(AT, 0, "app.log"), PLAIN)),
        ("app.log.20261129T201500Z-12.gz", (RotatedName(AT, 12, "app.log"), GZ)),
        ("a.b.log.20261129T201500Z.gz.tmp", (RotatedName(AT, 0, "a.b.log"), TMP)),
        ("app.log", None),
        ("app.log.1", None),  # another tool's numbering
        ("app.log.20261129T201500Z-0", None),
        ("app.log.20261129T201500Z.tmp", None),
        ("app.log.20261329T201500Z.gz", None),  # month 13
        (".20261129T201500Z", None),
    ],
)
def test_parse(name, expected):
    assert parse(name) == expected


@pytest.mark.parametrize("suffix", ROTATED_SUFFIX_EXAMPLES)
def test_the_settings_check_patterns_against_the_real_forms(suffix):
    assert parse("app.log" + suffix) is not None


def test_the_stem_round_trips_and_orders_by_time_then_counter():
    names = [RotatedName(AT, 10, "x"), RotatedName(AT, 0, "x"), RotatedName(AT, 2, "x")]
    assert [parse(n.stem)[0] for n in names] == names
    assert [n.stem for n in sorted(names)] == ["x.20261129T201500Z", "x.20261129T201500Z-2", "x.20261129T201500Z-10"]


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], "app.log.20261129T201500Z"),
        ([RotatedName(AT, 0, "other.log")], "app.log.20261129T201500Z"),
        ([RotatedName(AT, 0, "app.log")], "app.log.20261129T201500Z-1"),
        ([RotatedName(AT.replace(minute=20), 4, "app.log")], "app.log.20261129T202000Z-5"),  # clock went back
        ([RotatedName(AT.replace(minute=10), 4, "app.log")], "app.log.20261129T201500Z"),
    ],
)
def test_next_rotation(existing, expected):
    assert next_rotation("app.log", AT.replace(microsecond=999_999), existing).stem == expected
