"""The console's session cookie (signed with a key derived from the API token), redirects, security headers."""

from __future__ import annotations

import hashlib

import pytest

from config.serve import ServeSettings
from workers.console import sessions
from workers.console.headers import console_headers
from workers.console.web import safe_next

TOKENS = {"oncall": {"token": "write-token-0123456789abcdef", "access": "write"},
          "grafana": {"token": "read-token-0123456789abcdef", "access": "read"},
          "app": {"token": "ingest-token-0123456789abcdef", "access": "ingest"}}
DAY_S = 86400


def never(key: str) -> bool:
    """No session is logged out."""
    return False


def serve(tokens=None) -> ServeSettings:
    return ServeSettings(tokens=tokens if tokens is not None else TOKENS)


def test_a_session_reads_back_with_its_name_and_csrf_token():
    cookie, session = sessions.issue(serve(), "oncall")
    assert sessions.read(serve(), cookie, max_age_s=DAY_S, logged_out=never) == session
    assert session.name == "oncall" and len(session.csrf) >= 24
    assert "write-token" not in cookie
    assert sessions.issue(serve(), "oncall")[1].csrf != session.csrf  # a new CSRF token per login


@pytest.mark.parametrize("cookie", [None, "", "garbage", "a.b.c", "eyJuIjoib25jYWxsIn0.AAAA.BBBB"])
def test_garbage_is_no_session(cookie):
    assert sessions.read(serve(), cookie, max_age_s=DAY_S, logged_out=never) is None


def test_a_tampered_cookie_or_one_claiming_another_name_is_refused():
    cookie, _ = sessions.issue(serve(), "grafana")
    payload, rest = cookie.split(".", 1)
    forged_payload = sessions.URLSafeTimedSerializer(b"x").dump_payload({"n": "oncall", "c": "x"}).decode()
    assert sessions.read(serve(), f"{forged_payload}.{rest}", max_age_s=DAY_S, logged_out=never) is None
    tampered = cookie[:-1] + ("A" if cookie[-1] != "A" else "B")
    assert sessions.read(serve(), tampered, max_age_s=DAY_S, logged_out=never) is None


def test_rotating_or_removing_the_token_or_making_it_ingest_ends_its_sessions():
    cookie, _ = sessions.issue(serve(), "oncall")
    rotated = {**TOKENS, "oncall": {"token": "a-new-write-token-0123456789", "access": "write"}}
    assert sessions.read(serve(rotated), cookie, max_age_s=DAY_S, logged_out=never) is None
    removed = {name: token for name, token in TOKENS.items() if name != "oncall"}
    assert sessions.read(serve(removed), cookie, max_age_s=DAY_S, logged_out=never) is None
    demoted = {**TOKENS, "oncall": {**TOKENS["oncall"], "access": "ingest"}}
    assert sessions.read(serve(demoted), cookie, max_age_s=DAY_S, logged_out=never) is None
    assert sessions.read(serve(), sessions.issue(serve(), "app")[0], max_age_s=DAY_S, logged_out=never) is None


def test_a_logged_out_session_is_refused_and_others_of_the_same_token_are_not():
    cookie, session = sessions.issue(serve(), "oncall")
    other_cookie, other = sessions.issue(serve(), "oncall")
    logged_out = {session.key}
    assert sessions.read(serve(), cookie, max_age_s=DAY_S, logged_out=logged_out.__contains__) is None
    assert sessions.read(serve(), other_cookie, max_age_s=DAY_S, logged_out=logged_out.__contains__) == other


def test_a_session_is_known_by_the_sha256_of_its_csrf_token_never_the_token():
    _, session = sessions.issue(serve(), "oncall")
    assert session.key == hashlib.sha256(session.csrf.encode()).hexdigest()
    assert session.csrf not in session.key and len(session.key) == 64


@pytest.mark.parametrize("cookie", [None, "garbage", "eyJuIjoib25jYWxsIn0.AAAA.BBBB"])
def test_a_cookie_whose_signature_fails_costs_no_lookup(cookie):
    asked: list[str] = []
    assert sessions.read(serve(), cookie, max_age_s=DAY_S, logged_out=lambda key: asked.append(key) or False) is None
    assert asked == []


def test_a_session_expires(monkeypatch):
    import itsdangerous.timed

    clock = [1_800_000_000.0]
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: clock[0])
    cookie, _ = sessions.issue(serve(), "oncall")
    clock[0] += 3600
    assert sessions.read(serve(), cookie, max_age_s=2 * 3600, logged_out=never) is not None
    clock[0] += 3601
    assert sessions.read(serve(), cookie, max_age_s=2 * 3600, logged_out=never) is None


def test_csrf_tokens_compare_exactly():
    assert sessions.same_token("abc", "abc")
    assert not sessions.same_token("abd", "abc")
    assert not sessions.same_token(None, "abc") and not sessions.same_token("", "")


@pytest.mark.parametrize(("target", "where"), [
    ("/ui", "/ui"), ("/ui/alerts?state=all", "/ui/alerts?state=all"), ("/ui?x=1", "/ui?x=1"),
    (None, "/ui"), ("", "/ui"), ("https://evil.example/ui", "/ui"), ("//evil.example", "/ui"),
    ("/uix", "/ui"), ("/api/groups", "/ui"), ("/ui\\evil", "/ui"), ("javascript:alert(1)", "/ui"),
])
def test_redirects_stay_in_the_console(target, where):
    assert safe_next(target) == where


def test_security_headers_only_on_the_console_and_long_cache_only_for_static_files():
    page = dict(console_headers("/ui/alerts"))
    assert b"script-src 'self'" in page[b"content-security-policy"]
    assert b"frame-ancestors 'none'" in page[b"content-security-policy"]
    assert page[b"x-content-type-options"] == b"nosniff" and page[b"referrer-policy"] == b"same-origin"
    assert page[b"cache-control"] == b"no-store"
    assert b"immutable" in dict(console_headers("/ui/static/console.css"))[b"cache-control"]
    assert dict(console_headers("/ui"))[b"cache-control"] == b"no-store"
    assert console_headers("/api/groups") == [] and console_headers("/uix") == []
