"""Intake's bounds without a worker: the wire limits, cut rejections, capped reprs, and `medic.report`
at the soft time limit (issue 12, items 7 and 8)."""

from __future__ import annotations

import json
import zlib
from types import SimpleNamespace

import pytest
from celery.exceptions import SoftTimeLimitExceeded

import tasks.intake as intake_tasks
from workers.intake.cut_rejections import cut_rejection
from workers.intake.wire_limits import MAX_HEADERS_BYTES, WireLimits, refusal
from workers.task_reprs import MAX_REPR_CHARS, event_summary, masked_json, sender_repr

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
    monkeypatch.setattr("workers.task_reprs.mask_text", mask)
    monkeypatch.setattr("workers.task_reprs.mask_value", lambda value: (seen.append(len(json.dumps(value))), value)[1])
    huge = "x" * 500_000
    assert len(sender_repr(huge)) <= MAX_REPR_CHARS
    event_summary({"service": "s", "error_type": "E", "message": huge})
    masked_json([huge, {"k": huge}, list(range(100_000))])
    assert seen and max(seen) < 10 * MAX_REPR_CHARS


class FakeService:
    def __init__(self, fail: Exception):
        self.fail = fail
        self.limits = SimpleNamespace(rejected_payload_max_bytes=16_384)
        self.stored: list = []

    def report(self, raw, *, delivery_id):
        raise self.fail

    def store_rejection(self, rejected, *, delivery_id):
        self.stored.append((rejected, delivery_id))
        return SimpleNamespace(as_dict=lambda: {"status": "rejected", "reason": rejected.reason})


def test_report_at_the_soft_time_limit_is_rejected_not_retried(monkeypatch):
    service = FakeService(SoftTimeLimitExceeded())
    monkeypatch.setattr(intake_tasks, "intake_service", lambda: service)
    retried = []
    monkeypatch.setattr(intake_tasks, "_retry_later", lambda *a: retried.append(a))
    result = intake_tasks.report.apply(args=[{"service": "slow", "password": SECRET}], task_id="d-1").get()
    assert result["status"] == "rejected" and not retried
    [(rejected, delivery_id)] = service.stored
    assert delivery_id == "d-1"
    assert "took longer than MEDIC_TASK_SOFT_TIME_LIMIT_S" in rejected.reason
    assert SECRET not in rejected.payload and '"service": "slow"' in rejected.payload


@pytest.mark.parametrize("losses, kept", [(1, False), (2, False), (3, True)])
def test_worker_losses_are_counted_per_delivery(losses, kept):
    from workers.intake.consumer import WorkerLosses
    counted = WorkerLosses(max_losses=3, remember=2)
    assert [counted.lost("a") for _ in range(losses)][-1] is kept
    counted.lost("b"), counted.lost("c")  # "a" forgotten: memory stays bounded
    assert len(counted) == 2
