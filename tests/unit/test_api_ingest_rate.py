"""The per-token rate limit of POST /api/events (a token bucket), its access rules and its body cap."""

from __future__ import annotations

import math

import pytest
from fastapi import HTTPException
from pydantic import ValidationError

from config.serve import ServeSettings
from workers.api.auth import Client, authorize_ingest, authorize_read
from workers.api.bodies import body_cap
from workers.api.rate_limit import RateLimiter, retry_after_header


class Clock:
    def __init__(self):
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_a_full_bucket_takes_a_burst_then_refills_at_the_rate():
    clock = Clock()
    limiter = RateLimiter(rate_per_s=2, burst=5, clock_s=clock)
    assert limiter.take("app", 5) == 0
    assert limiter.take("app", 1) == pytest.approx(0.5)  # refused: nothing taken
    assert limiter.wait_s("app") == pytest.approx(0.5)
    clock.now_s += 1
    assert limiter.take("app", 3) == pytest.approx(0.5)  # 2 there, 3 asked
    assert limiter.take("app", 2) == 0
    clock.now_s += 60
    assert limiter.take("app", 5) == 0  # refilled to the burst, not past it
    assert limiter.take("app", 1) > 0


def test_each_key_has_its_own_bucket():
    limiter = RateLimiter(rate_per_s=1, burst=2, clock_s=Clock())
    assert limiter.take("a", 2) == 0 and limiter.take("a") > 0
    assert limiter.take("b", 2) == 0


def test_more_than_the_burst_never_fits():
    limiter = RateLimiter(rate_per_s=1, burst=2, clock_s=Clock())
    assert limiter.take("a", 3) == math.inf and limiter.wait_s("a", 3) == math.inf
    assert limiter.take("a", 2) == 0  # nothing was taken by the refusal


def test_a_clock_that_goes_back_adds_nothing():
    clock = Clock()
    limiter = RateLimiter(rate_per_s=1, burst=2, clock_s=clock)
    limiter.take("a", 2)
    clock.now_s -= 50
    assert limiter.wait_s("a") == pytest.approx(1)


@pytest.mark.parametrize("wait_s, header", [(0.01, "1"), (1.0, "1"), (1.2, "2"), (30, "30")])
def test_retry_after_is_whole_seconds_at_least_one(wait_s, header):
    assert retry_after_header(wait_s) == header


@pytest.mark.parametrize("access, reads, ingests", [("read", True, False), ("write", True, True),
                                                     ("ingest", False, True)])
def test_ingest_tokens_only_ingest_and_write_tokens_also_may(access, reads, ingests):
    client = Client("app", access)
    for check, allowed in ((lambda: authorize_read(client), reads), (lambda: authorize_ingest(client), ingests)):
        if allowed:
            check()
            continue
        with pytest.raises(HTTPException) as raised:
            check()
        assert raised.value.status_code == 403 and "app" in raised.value.detail


def test_events_have_a_body_cap_of_their_own():
    serve = ServeSettings(max_body_bytes=2_048, ingest_max_body_bytes=4_096)
    assert body_cap(serve, "/api/events") == (4_096, "MEDIC_SERVE__INGEST_MAX_BODY_BYTES")
    assert body_cap(serve, "/api/events/") == (4_096, "MEDIC_SERVE__INGEST_MAX_BODY_BYTES")
    assert body_cap(serve, "/api/executions/1/retry") == (2_048, "MEDIC_SERVE__MAX_BODY_BYTES")


def test_a_burst_smaller_than_a_batch_is_refused_at_startup():
    with pytest.raises(ValidationError, match="ingest_burst_events"):
        ServeSettings(ingest_max_events=100, ingest_burst_events=10)
    assert ServeSettings(tokens={"app": {"token": "i" * 20, "access": "ingest"}}).tokens["app"].access == "ingest"
