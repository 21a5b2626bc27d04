"""Which dead letters a bulk replay or a retarget takes (workers/recovery/dead_filters.py), and the check of a
target an operator sets (workers/recovery/operator.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from config.settings import load_settings
from workers.recovery import operator as ops
from workers.recovery.dead_filters import (
    DeadFilter,
    DeadLetter,
    choose_for_replay,
    matches,
    moment_of,
    replay_skip_reason,
    retarget_skip_reason,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def letter(id_: int = 1, *, state: str = "dead", service: str = "orders", category: str = "network",
           group_id: int = 7, died_ago_s: float | None = 3600, replayed_as: tuple[int, ...] = ()) -> DeadLetter:
    finished = None if died_ago_s is None else NOW - timedelta(seconds=died_ago_s)
    return DeadLetter(id_, state, service, category, group_id, 100 + id_, finished, replayed_as)


def test_moments_are_durations_ago_or_iso_times():
    assert moment_of("2h", now=NOW) == NOW - timedelta(hours=2)
    assert moment_of(" 30m ", now=NOW) == NOW - timedelta(minutes=30)
    assert moment_of("2026-02-01T00:00:00Z", now=NOW) == datetime(2026, 2, 1, tzinfo=UTC)
    assert moment_of("2026-02-01T00:00:00", now=NOW).tzinfo == UTC  # naive: UTC
    with pytest.raises(ValueError, match="'yesterday': use a duration like 30m"):
        moment_of("yesterday", now=NOW)


def test_fields_combine_with_and():
    selection = DeadFilter(service="orders", category="network")
    assert matches(letter(), selection)
    assert not matches(letter(service="billing"), selection)
    assert not matches(letter(category="timeout"), selection)
    assert matches(letter(), DeadFilter(group_id=7)) and not matches(letter(group_id=8), DeadFilter(group_id=7))


def test_the_time_range_is_on_the_death_since_included_until_excluded():
    selection = DeadFilter(died_after=NOW - timedelta(hours=2), died_before=NOW - timedelta(minutes=30))
    assert matches(letter(died_ago_s=7200), selection)  # died exactly at `since`
    assert matches(letter(died_ago_s=3600), selection)
    assert not matches(letter(died_ago_s=1800), selection)  # exactly at `until`
    assert not matches(letter(died_ago_s=7201), selection)
    assert not matches(letter(died_ago_s=None), selection)  # never finished: no death time to compare
    naive = DeadLetter(1, "dead", "orders", "network", 7, 101, (NOW - timedelta(hours=1)).replace(tzinfo=None))
    assert matches(naive, selection)  # SQLite gives naive UTC times


def test_an_empty_filter_or_an_empty_range_is_refused():
    assert "at least one filter" in DeadFilter().problem()
    assert "time range is empty" in DeadFilter(died_after=NOW, died_before=NOW).problem()
    assert DeadFilter(service="orders").problem() is None
    assert DeadFilter(service="orders", group_id=3).as_dict() == {"service": "orders", "group_id": 3}
    assert DeadFilter(service="orders").describe() == "service orders"
    assert DeadFilter(group_id=3, died_after=NOW).describe() == "group 3, died since 2026-03-01 12:00:00 UTC"


def test_a_dead_letter_replayed_before_is_skipped_unless_again():
    assert replay_skip_reason(letter(), again=False) is None
    why = replay_skip_reason(letter(replayed_as=(41, 52)), again=False)
    assert why is not None and "already replayed as execution 41, 52" in why and "--again" in why
    assert replay_skip_reason(letter(replayed_as=(41,)), again=True) is None
    assert replay_skip_reason(letter(state="pending"), again=True) == "no longer dead (now pending)"


def test_the_choice_keeps_order_skips_and_limits_what_is_left():
    letters = [letter(1), letter(2, replayed_as=(9,)), letter(3), letter(4), letter(5, state="succeeded")]
    choice = choose_for_replay(letters, again=False, limit=2)
    assert choice.to_replay == (1, 3) and choice.over_limit == 1
    assert [dead for dead, _ in choice.skipped] == [2, 5]
    assert choose_for_replay(letters, again=True).to_replay == (1, 2, 3, 4)
    assert choose_for_replay([], again=False) == choose_for_replay([], again=True, limit=3)


def test_a_retarget_leaves_alone_a_dead_letter_whose_occurrence_has_an_execution_going():
    assert retarget_skip_reason(letter(), ()) is None
    why = retarget_skip_reason(letter(), (12,))
    assert why is not None and "execution 12 still going" in why
    assert retarget_skip_reason(letter(state="cancelled"), ()) == "no longer dead (now cancelled)"


# --- the target an operator sets ----------------------------------------------------------------

SETTINGS = load_settings(database_url="sqlite://", replay_targets={"celery_tasks": ["orders.*"],
                                                                  "celery_queues": ["orders"],
                                                                  "actions": ["noop"]},
                         replay_http={"allow": ["https://partner.example.com"]})


def test_a_valid_allowed_target_is_returned_as_stored():
    target, masked = ops.checked_target("replay", {"kind": "celery", "task": "orders.charge", "queue": "orders",
                                                   "args": [7]}, SETTINGS)
    assert target.items() >= {"kind": "celery", "task": "orders.charge", "args": [7], "kwargs": {},
                              "queue": "orders"}.items()
    assert masked is False
    http, _ = ops.checked_target("fallback", {"kind": "http", "url": "https://partner.example.com/orders/7"},
                                 SETTINGS)
    assert http["method"] == "POST" and http["timeout_s"] == 10.0


def test_secrets_in_a_target_are_masked_as_intake_masks_them():
    target, masked = ops.checked_target("replay", {"kind": "celery", "task": "orders.charge", "queue": "orders",
                                                   "kwargs": {"password": "hunter2-hunter2"}}, SETTINGS)
    assert masked is True and target["kwargs"]["password"] != "hunter2-hunter2"


@pytest.mark.parametrize(("value", "says"), [
    ({"kind": "celery"}, "replay target is invalid: task: Field required"),
    ({"kind": "ftp", "url": "x"}, "does not match any of the expected tags"),
    ({"kind": "http", "url": "file:///etc/passwd"}, "url: String should match pattern"),
    ({"kind": "celery", "task": "orders.charge", "queue": "orders", "colour": "red"},
     "colour: Extra inputs are not permitted"),
    (["not", "an", "object"], "target: Input should be"),
])
def test_an_invalid_target_names_what_is_wrong(value, says):
    with pytest.raises(ops.TargetRejected) as caught:
        ops.checked_target("replay", value, SETTINGS)
    assert says in str(caught.value) and caught.value.field == "replay"


@pytest.mark.parametrize(("value", "says"), [
    ({"kind": "celery", "task": "billing.refund", "queue": "orders"}, "not in MEDIC_REPLAY_TARGETS__CELERY_TASKS"),
    ({"kind": "celery", "task": "orders.charge"}, "queue celery is not in MEDIC_REPLAY_TARGETS__CELERY_QUEUES"),
    ({"kind": "celery", "task": "medic.maintenance.run", "queue": "orders"}, "medic's or Celery's own"),
    ({"kind": "action", "name": "log"}, "action log is not in MEDIC_REPLAY_TARGETS__ACTIONS"),
    ({"kind": "http", "url": "https://elsewhere.example.com/x"}, "is not in MEDIC_REPLAY_HTTP__ALLOW"),
    ({"kind": "http", "url": "https://partner.example.com/x", "headers": {"Host": "evil"}},
     "cannot be set by an event"),
])
def test_a_target_the_allowlists_refuse_is_refused_now(value, says):
    with pytest.raises(ops.TargetRejected) as caught:
        ops.checked_target("fallback", value, SETTINGS)
    assert "fallback target would be refused" in str(caught.value) and says in str(caught.value)


def test_targets_read_well_in_messages():
    assert ops.target_text(None) == "none"
    assert ops.target_text({"kind": "celery", "task": "orders.charge"}) == "Celery task orders.charge on queue celery"
    assert ops.target_text({"kind": "http", "url": "https://p.example.com/x"}) == "HTTP POST https://p.example.com/x"
    assert ops.target_text({"kind": "action", "name": "noop"}) == "action noop"
