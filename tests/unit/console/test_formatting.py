"""The console's formatting helpers (pure): times, durations, counts, sizes, state colours, charts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from workers.console import formatting as f

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("delta_s", "text"), [
    (0, "just now"), (-0.4, "just now"), (-42, "42 s ago"), (-180, "3 min ago"), (-5 * 3600, "5 h ago"),
    (-3 * 86400, "3 d ago"), (180, "in 3 min"),
])
def test_ago(delta_s, text):
    assert f.ago(NOW + timedelta(seconds=delta_s), NOW) == text


def test_ago_takes_naive_times_as_utc_and_none_as_a_dash():
    assert f.ago(datetime(2026, 12, 7, 11, 57), NOW) == "3 min ago"
    assert f.ago(None, NOW) == "-"


def test_when_gives_the_exact_time_in_its_title():
    html = str(f.when(NOW - timedelta(minutes=3), NOW))
    assert html == ('<time datetime="2026-12-07T11:57:00+00:00" title="2026-12-07 11:57:00 UTC">3 min ago</time>')
    assert "-" in str(f.when(None, NOW))


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0.25, "250 ms"), (12.34, "12.3 s"), (245, "4 min 05 s"), (7380, "2 h 03 min"),
    (3 * 86400 + 4 * 3600, "3 d 4 h"), (-5, "0 ms"),
])
def test_duration(seconds, text):
    assert f.duration(seconds) == text


@pytest.mark.parametrize(("value", "text"), [(None, "-"), (0, "0"), (1234567, "1,234,567"), (2.5, "2.5"),
                                             (3.0, "3")])
def test_count(value, text):
    assert f.count(value) == text


@pytest.mark.parametrize(("size_bytes", "text"), [(None, "-"), (512, "512 B"), (1536, "1.5 KiB"),
                                                  (3 * 1024 ** 3, "3.0 GiB")])
def test_size(size_bytes, text):
    assert f.size(size_bytes) == text


@pytest.mark.parametrize(("state", "css"), [
    ("healthy", "ok"), ("succeeded", "ok"), ("closed", "ok"), ("degraded", "warn"), ("half_open", "warn"),
    ("Half open", "warn"), ("acknowledged", "warn"), ("dead", "bad"), ("open", "bad"), ("forced_open", "bad"),
    ("critical", "bad"), ("never run", "bad"), ("something-new", "neutral"), (None, "neutral"), ("", "neutral"),
])
def test_state_class(state, css):
    assert f.state_class(state) == css


def test_sparkline_is_numbers_only_and_escapes_its_label():
    svg = str(f.sparkline([0, 5, 10], 100, 20, label='<script>alert(1)</script>'))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    points = re.search(r'points="([^"]*)"', svg).group(1)
    assert re.fullmatch(r"[0-9., ]+", points)
    assert points == "0.0,19.0 50.0,10.0 100.0,1.0"


def test_sparkline_of_nothing_one_point_and_zeros():
    assert f.sparkline_points([]) == ""
    assert f.sparkline_points([3]) == "0.0,1.0 100.0,1.0"
    assert f.sparkline_points([0, 0]) == "0.0,19.0 100.0,19.0"
    assert f.sparkline_points(["7", -2]) == "0.0,1.0 100.0,19.0"  # numbers are coerced; negatives are 0


def test_chart_segments_break_at_gaps_and_clip_at_the_top():
    segments = f.chart_segments([0, 10, None, 5, 20], top=10, width=400, height=100)
    assert segments == ["0.0,100.0 100.0,0.0", "300.0,50.0 400.0,0.0"]
    assert f.chart_segments([None, 4, None], top=8, width=200, height=100) == ["100.0,50.0 101.0,50.0"]
    assert f.chart_segments([], top=1, width=10, height=10) == []


@pytest.mark.parametrize(("peak", "top"), [(0, 1), (0.3, 0.5), (1, 1), (1.2, 2), (3, 5), (7, 10), (12, 20),
                                           (450, 500), (1000, 1000)])
def test_nice_top(peak, top):
    assert f.nice_top(peak) == pytest.approx(top)
