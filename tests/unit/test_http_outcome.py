"""Unit tests for the pure parts of workers.recovery.http_replay: Retry-After and status outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from workers.intake.contract import HttpTarget
from workers.recovery.http_replay import (
    outcome_of_response,
    request_headers,
    request_timeout,
    safe_url,
    status_text,
)
from workers.retry_after import MAX_RETRY_AFTER_S, parse_retry_after

NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected_s"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("Wed, 21 Oct 2015 07:30:00 GMT", 120.0),  # future date
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # now
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # past date
        ("Wednesday, 21-Oct-15 07:29:00 GMT", 60.0),  # obsolete RFC 850 form
        ("Wed, 21 Oct 2015 07:29:00 -0000", 60.0),  # naive after parsing: taken as UTC
        ("999999", MAX_RETRY_AFTER_S),  # absurd: capped
        ("99999999999999999999999999", MAX_RETRY_AFTER_S),
        ("Fri, 01 Jan 2100 00:00:00 GMT", MAX_RETRY_AFTER_S),
        (None, None),
        ("", None),
        ("   ", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("1e3", None),
        ("12 seconds", None),
        ("Wed, 32 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(value, expected_s):
    assert parse_retry_after(value, now=NOW) == expected_s


def test_parse_retry_after_accepts_a_naive_now_as_utc():
    assert parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now=NOW.replace(tzinfo=None)) == 60.0


IN_10_S = (NOW + timedelta(seconds=10)).strftime("%a, %d %b %Y %H:%M:%S GMT")


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "error", "retry_after_s"),
    [
        (200, {}, "success", None, None),
        (201, {}, "success", None, None),
        (204, {}, "success", None, None),
        (299, {}, "success", None, None),
        (100, {}, "permanent", "HTTP 100 Continue", None),
        (301, {"Location": "/elsewhere"}, "permanent", "HTTP 301 Moved Permanently", None),
        (304, {}, "permanent", "HTTP 304 Not Modified", None),
        (400, {}, "permanent", "HTTP 400 Bad Request", None),
        (401, {}, "permanent", "HTTP 401 Unauthorized", None),
        (404, {}, "permanent", "HTTP 404 Not Found", None),
        (408, {}, "retryable", "HTTP 408 Request Timeout", None),
        (409, {}, "permanent", "HTTP 409 Conflict", None),
        (422, {}, "permanent", "HTTP 422 Unprocessable Entity", None),
        (429, {}, "retryable", "HTTP 429 Too Many Requests", None),
        (429, {"Retry-After": "30"}, "retryable", "HTTP 429 Too Many Requests", 30.0),
        (429, {"retry-after": "30"}, "retryable", "HTTP 429 Too Many Requests", 30.0),
        (429, {"Retry-After": "whenever"}, "retryable", "HTTP 429 Too Many Requests", None),
        (499, {}, "permanent", "HTTP 499", None),
        (500, {}, "retryable", "HTTP 500 Internal Server Error", None),
        (502, {}, "retryable", "HTTP 502 Bad Gateway", None),
        (503, {"Retry-After": IN_10_S}, "retryable", "HTTP 503 Service Unavailable", 10.0),
        (503, {}, "retryable", "HTTP 503 Service Unavailable", None),
        (504, {}, "retryable", "HTTP 504 Gateway Timeout", None),
        (599, {}, "retryable", "HTTP 599", None),
    ],
)
def test_outcome_of_response(status, headers, outcome, error, retry_after_s):
    result = outcome_of_response(status, headers, now=NOW)
    assert (result.outcome, result.error, result.retry_after_s) == (outcome, error, retry_after_s)
    assert result.detail == {"status": status}


def test_outcome_of_response_reads_httpx_headers():
    result = outcome_of_response(429, httpx.Headers({"RETRY-AFTER": "3"}), now=NOW)
    assert result.retry_after_s == 3.0


@pytest.mark.parametrize(
    ("status", "expected"),
    [(400, "HTTP 400 Bad Request"), (418, "HTTP 418 I'm a Teapot"), (299, "HTTP 299"), (999, "HTTP 999")],
)
def test_status_text(status, expected):
    assert status_text(status) == expected


@pytest.mark.parametrize(
    ("target_headers", "expected_key", "own_user_agent"),
    [
        ({}, "key-1", False),
        ({"X-Other": "1"}, "key-1", False),
        ({"Idempotency-Key": "theirs"}, "theirs", False),
        ({"idempotency-key": "theirs", "user-agent": "app/2"}, "theirs", True),
    ],
)
def test_request_headers(target_headers, expected_key, own_user_agent):
    headers = httpx.Headers(request_headers(target_headers, idempotency_key="key-1"))
    assert headers.get_list("Idempotency-Key") == [expected_key]
    assert len(headers.get_list("User-Agent")) == 1
    assert (headers["User-Agent"] == "app/2") is own_user_agent
    assert headers["User-Agent"].startswith("medic") is not own_user_agent


@pytest.mark.parametrize(("timeout_s", "connect_s"), [(0.2, 0.2), (10, 10), (60, 10)])
def test_request_timeout(timeout_s, connect_s):
    timeout = request_timeout(timeout_s)
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (connect_s, timeout_s, timeout_s, timeout_s)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.com/v1/x", "https://api.example.com/v1/x"),
        ("http://user:secret@127.0.0.1:8080/x?token=abc", "http://127.0.0.1:8080/x?***"),
        ("https://[::1]:8443/a", "https://[::1]:8443/a"),
    ],
)
def test_safe_url(url, expected):
    assert safe_url(url) == expected


def test_target_model_still_matches_what_replay_reads():
    target = HttpTarget(kind="http", url="https://x.example/y")
    assert (target.method, target.headers, target.body, target.timeout_s) == ("POST", {}, None, 10.0)
