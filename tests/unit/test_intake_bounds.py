"""Intake's bounds without a worker: the wire limits, cut rejections, capped reprs, and `medic.report`
at the soft time limit (issue 12, items 7 and 8)."""

from __future__ import annotations

import json
import zlib
from types import SimpleNamespace

import pytest
from celery.exceptions import SoftTimeLimitExceeded

import tasks.intake as intake_tasks
from medic_client.reprs import MAX_REPR_CHARS, event_summary, masked_json, sender_repr
from workers.intake.cut_rejections import cut_rejection
from workers.intake.wire_limits import MAX_HEADERS_BYTES, WireLimits, refusal

LIMITS = WireLimits.for_event_bytes(262_144)
HEADERS = {"task": "medic.report", "id": "x", "argsrepr": "(...)", "retries": 0}
SECRET = "hunter2-very-secret"


def test_a_body_within_the_limit_may_be_decoded():
    assert refusal(b"x" * LIMITS.max_body_bytes, HEADERS, LIMITS) is None


def test_a_body_over_the_limit_is_refused_with_its_size():
    reason = refusal(b"x" * (LIMITS.max_body_bytes + 1), HEADERS, LIMITS)
    assert reason and f"{LIMITS.max_body_bytes + 1} bytes" in reason and "MEDIC_MAX_EVENT_BYTES" in reason
    assert "not decoded" in reason


def test_the_limit_allows_any_event_triage_would_accept_escaped():
    event = {"message": "é" * 131_000}  # 262 KB of UTF-8, 786 KB as Celery's escaped JSON
    body = json.dumps([[event], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]).encode()
    assert refusal(body, HEADERS, LIMITS) is None


def test_headers_over_the_limit_are_refused():
    reason = refusal(b"[]", {**HEADERS, "argsrepr": "x" * MAX_HEADERS_BYTES}, LIMITS)
    assert reason and "headers" in reason


def test_a_zlib_bomb_is_refused_by_its_inflated_size_unread():
    bomb = zlib.compress(b" " * (LIMITS.max_body_bytes * 40))
    assert len(bomb) < LIMITS.max_body_bytes
    reason = refusal(bomb, {**HEADERS, "compression": "application/x-gzip"}, LIMITS)
    assert reason and "compressed" in reason
    assert refusal(zlib.compress(b"[[{}], {}, {}]"), {**HEADERS, "compression": "application/x-gzip"}, LIMITS) is None
    assert "does not accept" in refusal(b"...", {**HEADERS, "compression": "application/x-bz2"}, LIMITS)


def test_a_cut_rejection_keeps_the_size_and_only_the_head():
    raw = b'{"password": "' + SECRET.encode() + b'", "blob": "' + b"x" * 100_000 + b'"}'
    rejected = cut_rejection(raw, "too big", 1_024)
    assert rejected.payload_bytes == len(raw)
    assert len(rejected.payload.encode()) <= 1_024
    assert SECRET not in rejected.payload


def test_a_cut_through_a_secret_drops_its_first_half():
    raw = "x" * 1_000 + " token=" + "ghp_" + "a1B2c3D4e5" * 30
    rejected = cut_rejection(raw, "too big", 1_020)
    assert "ghp_" not in rejected.payload and "a1B2" not in rejected.payload
    assert len(rejected.payload.encode()) <= 1_020


def test_a_small_value_is_kept_whole_and_masked():
    rejected = cut_rejection({"service": "x", "context": {"password": SECRET}}, "slow", 16_384)
    assert json.loads(rejected.payload)["service"] == "x" and SECRET not in rejected.payload


def test_reprs_are_cut_before_they_are_masked(monkeypatch):
    seen: list[int] = []

    def mask(text):
        seen.append(len(text))
        return text
    monkeypatch.setattr("medic_client.reprs.mask_text", mask)
    monkeypatch.setattr("medic_client.reprs.mask_value", lambda value: (seen.append(len(json.dumps(value))), value)[1])
    huge = "x" * 500_000
    assert len(sender_repr(huge)) <= MAX_REPR_CHARS
    event_summary({"service": "s", "error_type": "E", "message": huge})
    masked_json([huge, {"k": huge}, list(range(100_000))])
    assert seen and max(seen) < 10 * MAX_REPR_CHARS


class FakeService:
    """Triage that is slow for the events of service "slow"; storage that records what it got."""

    def __init__(self):
        self.limits = SimpleNamespace(rejected_payload_max_bytes=16_384)
        self.stored: list = []

    def decide(self, raw):
        if raw.get("service") == "slow":
            raise SoftTimeLimitExceeded()
        return SimpleNamespace(event=raw)

    def store(self, arrivals):
        self.stored.extend(arrivals)
        return {a.delivery_id: SimpleNamespace(status="stored", as_dict=lambda: {"status": "stored"})
                for a in arrivals}


def message(delivery_id: str, event: dict) -> dict:
    body = json.dumps([[event], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
    return {"id": delivery_id, "body": body.encode(), "content_type": "application/json", "content_encoding": "utf-8"}


def test_a_batch_first_event_at_the_soft_time_limit_is_rejected_not_retried(monkeypatch):
    service = FakeService()
    monkeypatch.setattr(intake_tasks, "intake_service", lambda: service)
    result = intake_tasks.run_batch([message("d-1", {"service": "slow", "password": SECRET}),
                                     message("d-2", {"service": "fine"})])
    assert result == {"later": ["d-2"]}  # it had the batch's whole time: too slow; the next runs again
    [slow] = service.stored
    assert slow.delivery_id == "d-1" and "took longer than MEDIC_TASK_SOFT_TIME_LIMIT_S" in slow.decision.reason
    assert SECRET not in slow.decision.payload and '"service": "slow"' in slow.decision.payload


def test_an_event_the_soft_time_limit_catches_late_in_a_batch_runs_again(monkeypatch):
    service = FakeService()
    monkeypatch.setattr(intake_tasks, "intake_service", lambda: service)
    result = intake_tasks.run_batch([message("d-1", {"service": "fine"}), message("d-2", {"service": "slow"}),
                                     message("d-3", {"service": "fine"})])
    assert result == {"later": ["d-2", "d-3"]}  # not its fault alone: it runs again, first of its batch
    assert [a.delivery_id for a in service.stored] == ["d-1"]


def test_an_undecodable_message_in_a_batch_is_rejected_alone(monkeypatch):
    service = FakeService()
    service.rejection = lambda raw, reason: SimpleNamespace(reason=reason, payload=raw)
    monkeypatch.setattr(intake_tasks, "intake_service", lambda: service)
    bad = {"id": "d-2", "body": b"\x80not json", "content_type": "application/json", "content_encoding": "utf-8"}
    assert intake_tasks.run_batch([message("d-1", {"service": "fine"}), bad]) == {"later": []}
    assert [a.delivery_id for a in service.stored] == ["d-1", "d-2"]
    assert "undecodable message" in service.stored[1].decision.reason


@pytest.mark.parametrize("losses, kept", [(1, False), (2, False), (3, True)])
def test_worker_losses_are_counted_per_delivery(losses, kept):
    from workers.intake.consumer import WorkerLosses
    counted = WorkerLosses(max_losses=3, remember=2)
    assert [counted.lost("a") for _ in range(losses)][-1] is kept
    counted.lost("b"), counted.lost("c")  # "a" forgotten: memory stays bounded
    assert len(counted) == 2
