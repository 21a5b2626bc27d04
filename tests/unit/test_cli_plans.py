"""`medic plans` in-process, and the formatting the recovery commands share: no database, no broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from config.settings import get_settings
from workers.cli.plans import _bounds_text, _with_bounds, describe_match, plans
from workers.clock import relative
from workers.recovery.plans import FallbackStep, Match, NotifyStep, RetryStep

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
EVENT = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused", "service": "partner",
         "replay": {"kind": "http", "method": "POST", "url": "http://partner.test/orders"}}


@pytest.fixture(autouse=True)
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(("offset_s", "expected"), [
    (0.4, "now"), (12, "in 12s"), (-12, "12s ago"), (-180, "3m ago"), (3 * 3600, "in 3h"), (-3 * 86400, "3d ago")])
def test_relative_times(offset_s, expected):
    assert relative(NOW + timedelta(seconds=offset_s), NOW) == expected


def test_relative_takes_naive_times_as_utc_and_none_as_nothing():
    assert relative(NOW.replace(tzinfo=None) + timedelta(seconds=5), NOW) == "in 5s"
    assert relative(None, NOW) is None


def test_match_descriptions():
    assert describe_match(Match()) == "(anything)"
    assert describe_match(Match(category=["network", "timeout"],
                                service="pay*")) == "category=network,timeout service=pay*"


@pytest.mark.parametrize(("jitter", "first", "third"), [("full", [0, 2], [0, 8]), ("equal", [1, 2], [4, 8]),
                                                        ("none", [2, 2], [8, 8])])
def test_retry_bounds_follow_the_jitter(jitter, first, third):
    step = RetryStep(kind="retry", max_attempts=4, initial_delay_s=2, backoff_rate=2, max_delay_s=10, jitter=jitter)
    row = _with_bounds({"step": 1, "kind": "retry"}, step)
    assert row["delay_bounds_s"][0] == first and row["delay_bounds_s"][2] == third
    assert row["delay_bounds_s"][3][1] == 10  # capped at max_delay_s
    assert row["policy"]["jitter"] == jitter and row["policy"]["on_breaker_open"] == "defer"


def test_other_steps_start_at_once_then_back_off():
    step = FallbackStep(kind="fallback", max_attempts=3, initial_delay_s=5, jitter="none")
    assert _with_bounds({}, step)["delay_bounds_s"] == [[0, 0], [5, 5], [10, 10]]
    assert _with_bounds({"kind": "notify"}, NotifyStep(kind="notify")) == {"kind": "notify"}


def test_bounds_text():
    assert _bounds_text(0, 4, "full") == "≤ 4 s (full jitter)"
    assert _bounds_text(2, 4, "equal") == "2–4 s (equal jitter)"
    assert _bounds_text(4, 4, "none") == "= 4 s (no jitter)"
    assert _bounds_text(0, 0, "full") == "starts at once"


def test_explain_prints_the_plan_why_and_each_wait(tmp_path):
    extra = tmp_path / "plans.yaml"
    extra.write_text("plans:\n  - name: partner-orders\n    priority: 60\n    match: {category: network, service: "
                     "partner}\n"
                     "    steps:\n      - {kind: retry, max_attempts: 3, initial_delay_s: 1, jitter: equal}\n"
                     "      - {kind: escalate, channel: log}\n")
    runner = CliRunner()
    result = runner.invoke(plans, ["explain", "-", "--plans", str(extra)], input=json.dumps(EVENT))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "plan      partner-orders (priority 60" in out
    assert "category=network service=partner" in out and "outranks  transient, default" in out
    assert "HTTP POST http://partner.test/orders" in out and "up to 3 attempts, equal jitter" in out
    assert "0.5–1 s (equal jitter)" in out and "1–2 s (equal jitter)" in out
    assert "step 2  escalate  channel log, level critical" in out
    assert "when every step is done: dead letter" in out
    as_json = json.loads(runner.invoke(plans, ["explain", "-", "--plans", str(extra), "--json", "--seed", "7"],
                                       input=json.dumps(EVENT)).output)
    again = json.loads(runner.invoke(plans, ["explain", "-", "--plans", str(extra), "--json", "--seed", "7"],
                                     input=json.dumps(EVENT)).output)
    assert as_json["steps"] == again["steps"]  # the same seed draws the same delays
    assert as_json["plan"]["name"] == "partner-orders" and as_json["outranked"] == ["transient", "default"]


def test_explain_says_an_event_without_a_target_starts_no_execution_and_how_its_group_signals():
    event = {"error_type": "KeyError", "message": "'sku'", "service": "shop"}
    runner = CliRunner()
    out = runner.invoke(plans, ["explain", "-"], input=json.dumps(event)).output
    assert "recovery  none: nothing to call for this event, so no execution starts" in out
    assert "new: notify log error" in out
    as_json = json.loads(runner.invoke(plans, ["explain", "-", "--json"], input=json.dumps(event)).output)
    assert as_json["execution"] is False and as_json["group_signals"]["new"]["level"] == "error"
    with_target = {**event, "compensate": {"kind": "http", "url": "http://shop.test/undo"}}
    assert json.loads(runner.invoke(plans, ["explain", "-", "--json"], input=json.dumps(with_target)).output)[
        "execution"] is True
