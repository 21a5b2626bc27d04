"""Unit tests for workers.masking (secrets out of events before storage or logging)."""

from __future__ import annotations

import copy
import time

import pytest

from workers.masking import MASK, MAX_DEPTH, is_secret_key, mask_text, mask_value

# --------------------------------------------------------------------------- is_secret_key


@pytest.mark.parametrize("key", [
    "password", "PASSWORD", "Password", "db_password", "dbPassword", "passwd", "pwd", "passphrase",
    "secret", "client_secret", "clientSecret", "secret_key", "SECRET_KEY",
    "token", "access_token", "refresh_token", "id_token", "auth_token", "accessToken", "githubToken",
    "api_key", "apikey", "apiKey", "APIKey", "API_KEY", "x-api-key", "X-Api-Key", "X-API-KEY", "api key",
    "authorization", "Authorization", "proxy-authorization", "Proxy-Authorization",
    "cookie", "Cookie", "set-cookie", "Set-Cookie",
    "session", "sessionid", "session_id", "sessionId", "SESSION_ID",
    "private_key", "privateKey", "ssh.private-key",
    "credentials", "aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "aws_session_token",
    "signature", "dsn", "SENTRY_DSN",
    "card_number", "cardNumber", "credit_card_number", "cc_number", "pan", "PAN", "cvv", "cvc",
])
def test_secret_keys(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", [
    "", "user", "username", "email", "id", "key", "public_key", "key_id", "author", "authored_by",
    "tokenizer", "token_count", "tokens", "max_tokens", "password_changed_at", "password_policy",
    "session_count", "secretary", "company", "span", "japan", "description", "cookie_consent",
    "signature_algorithm", "passport", "access_key_id", "AWS_ACCESS_KEY_ID",
])
def test_harmless_keys(key):
    assert not is_secret_key(key)


# --------------------------------------------------------------------------- mask_text

VISA = "4111111111111111"


@pytest.mark.parametrize("text, expected", [
    # bearer / basic
    ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
    ("upstream said 401 for Bearer eyJ0eXAi.x-y_z now", "upstream said 401 for Bearer *** now"),
    ("header Basic dXNlcjpwYXNz rejected", "header Basic *** rejected"),
    ("proxy-authorization: Basic dXNlcjpwYXNz\nhost: x", "proxy-authorization: Basic ***\nhost: x"),
    ("Authorization: Token 9944b09199c62bcf9418ad846dd0e4bb rejected", "Authorization: *** rejected"),
    # credentials in URLs
    ("postgresql://user:s3cret@db:5432/x", "postgresql://user:***@db:5432/x"),
    ("redis://:pass@host:6379/0 unreachable", "redis://:***@host:6379/0 unreachable"),
    ("broker amqp://guest:gu@st@rabbit//vhost down", "broker amqp://guest:***@rabbit//vhost down"),
    ("(mongodb+srv://app:pw@cluster0.example.net/db)", "(mongodb+srv://app:***@cluster0.example.net/db)"),
    # key=value, key: value, "key": "value"
    ("login failed password=hunter2 user=bob", "login failed password=*** user=bob"),
    ("db_password = hunter2, host=db", "db_password = ***, host=db"),
    ("api_key: abc123 was rejected", "api_key: *** was rejected"),
    ("X-Api-Key: k-123\nAccept: */*", "X-Api-Key: ***\nAccept: */*"),
    ('{"token": "xyz", "count": 3}', '{"token": "***", "count": 3}'),
    ('{"password":"p w","user":"bob"}', '{"password":"***","user":"bob"}'),
    ("{'secret': 'x', 'user': 'bob'}", "{'secret': '***', 'user': 'bob'}"),
    ('payload "{\\"client_secret\\": \\"abc\\"}"', 'payload "{\\"client_secret\\": \\"***\\"}"'),
    ("GET /cb?token=abc&x=1 HTTP/1.1", "GET /cb?token=***&x=1 HTTP/1.1"),
    ("/oauth?code=1&access_token=a&refresh_token=b&state=x",
     "/oauth?code=1&access_token=***&refresh_token=***&state=x"),
    ("githubToken=ghx_1 sessionId=42 XApiKey=k", "githubToken=*** sessionId=*** XApiKey=***"),
    ("Invalid API key: abc123 given", "Invalid API key: *** given"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key=***"),
    ("note: password=abc", "note: password=***"),
    ("Cookie: session=abc; csrftoken=xyz\nHost: api", "Cookie: ***\nHost: api"),
    ("Set-Cookie: sid=abc; HttpOnly", "Set-Cookie: ***"),
    ("dsn=postgresql://u:p@h/db ok", "dsn=*** ok"),
    # payment cards (Luhn-valid), only the last four digits kept
    (f"card {VISA} declined", "card ****-****-****-1111 declined"),
    ("card 4111 1111 1111 1111 declined", "card ****-****-****-1111 declined"),
    ("card 5555-5555-5555-4444.", "card ****-****-****-4444."),
    ("amex 378282246310005, diners 30569309025904", "amex ****-****-****-0005, diners ****-****-****-5904"),
    (VISA, "****-****-****-1111"),
    # cloud and service keys
    ("key AKIAIOSFODNN7EXAMPLE used", "key *** used"),
    ("key ASIAY34FZKBOKMUTVV7A expired", "key *** expired"),
    ("push with ghp_16C7e42F292c6912E7710c838347Ae178B4a failed", "push with *** failed"),
    ("gho_16C7e42F292c6912E7710c838347Ae178B4a ghs_16C7e42F292c6912E7710c8 ghu_16C7e42F292c6912E7710c8", "*** *** ***"),
    ("pat github_pat_11ABCDEFG0123456789_abcdefghijklmnop end", "pat *** end"),
    ("slack xoxb-123456789012-abcdefABCDEF x", "slack *** x"),
    ("xoxp-1-2-3-abcdef01234 xoxa-2-abcdef01234 xoxr-abcdef01234 xoxs-abcdef01234", "*** *** *** ***"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc!", "stripe ***!"),
    ("sk_test_4eC39HqLyjWDarjtT1zdp7dc rk_live_4eC39HqLyjWDarjtT1zdp7dc", "*** ***"),
    ("maps AIzaSyA-1234567890abcdefghijklmnopqrstu used", "maps *** used"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk rejected",
     "jwt *** rejected"),
])
def test_mask_text_masks_secret_and_keeps_the_rest(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", [
    "",
    "connection refused on port 5432",
    "deadlock detected",
    "task 123e4567-e89b-12d3-a456-426614174000 failed",
    "12345678-1234-1234-1234-123456789012",
    "at 2024-01-15T10:30:00.123+02:00 (epoch 1705311000)",
    "order 4111111111111112 not found",  # 16 digits, fails Luhn
    "order 1234 5678 9012 3456 not found",  # fails Luhn
    "invoice 1234567890123 rejected",  # 13 digits, fails Luhn
    "trace 41111111111111110000000 kept",  # longer than any card
    'FATAL: password authentication failed for user "bob"',
    "tokenizer=bert token_count=5 author: bob span=3 max_tokens=10",
    "bearer token missing",
    "the secret sauce is missing",
    "Key (email)=(a@x.io) already exists.",
    "GET https://example.com:8443/path?page=2&sort=asc",
    "connect to 10.0.0.1:6379 timed out after 3.5s",
    "ValueError: invalid literal for int() with base 10: 'abc'",
])
def test_mask_text_leaves_ordinary_text_alone(text):
    assert mask_text(text) == text


@pytest.mark.parametrize("text", [
    "a=" * 50_000, "'" * 100_000, '\\"' * 50_000, "token:\"" * 20_000, "aA" * 50_000 + "=",
    " " * 100_000, "x://a:" * 20_000, "4 " * 50_000, "Cookie: " * 20_000,
])
def test_mask_text_stays_linear_on_hostile_input(text):
    started = time.perf_counter()
    mask_text(text)
    assert time.perf_counter() - started < 0.5


# --------------------------------------------------------------------------- mask_value


def test_mask_value_masks_secret_keys_at_every_depth():
    event = {
        "password": "hunter2",
        "user": "bob",
        "request": {
            "headers": {"Authorization": "Bearer abc.def", "Accept": "*/*", "X-Api-Key": 123},
            "query": [{"token": None}, {"page": 2}, "password=inline"],
            "body": {"card": {"cvv": 123, "last_seen": "2024-01-15"}, "credentials": {"user": "a", "pw": "b"}},
        },
        "attempts": [1, 2.5, True, None],
        "dsn": ["postgresql://u:p@h/db"],
    }
    assert mask_value(event) == {
        "password": MASK,
        "user": "bob",
        "request": {
            "headers": {"Authorization": MASK, "Accept": "*/*", "X-Api-Key": MASK},
            "query": [{"token": MASK}, {"page": 2}, "password=***"],
            "body": {"card": {"cvv": MASK, "last_seen": "2024-01-15"}, "credentials": MASK},
        },
        "attempts": [1, 2.5, True, None],
        "dsn": MASK,
    }


def test_mask_value_masks_text_under_harmless_keys():
    assert mask_value({"message": f"paid with {VISA} via redis://:pw@cache"}) == {
        "message": "paid with ****-****-****-1111 via redis://:***@cache",
    }


def test_mask_value_does_not_mutate_its_input():
    event = {"password": "x", "nested": [{"token": "y", "note": "api_key=z"}], "n": 1}
    before = copy.deepcopy(event)
    masked = mask_value(event)
    assert event == before
    assert masked["nested"] is not event["nested"]
    assert masked["nested"][0] is not event["nested"][0]


@pytest.mark.parametrize("value", [None, True, 0, 3.5, "plain", ("api_key", "x"), b"bytes"])
def test_mask_value_returns_scalars_and_other_types_as_they_are(value):
    assert mask_value(value) == value


def test_mask_value_keeps_non_string_keys():
    assert mask_value({1: "a", None: "b"}) == {1: "a", None: "b"}


def depth_of(value) -> int:
    depth = 0
    while isinstance(value, (dict, list)):
        depth += 1
        value = value["child"] if isinstance(value, dict) else value[0]
    return depth


@pytest.mark.parametrize("wrap", [lambda inner: {"child": inner}, lambda inner: [inner]], ids=["dicts", "lists"])
def test_mask_value_cuts_deep_nesting_without_recursion_error(wrap):
    value = "password=leak"
    for _ in range(200):
        value = wrap(value)
    masked = mask_value(value)
    assert depth_of(masked) == MAX_DEPTH
    innermost = masked
    for _ in range(MAX_DEPTH):
        innermost = innermost["child"] if isinstance(innermost, dict) else innermost[0]
    assert innermost == MASK


def test_mask_value_keeps_content_at_the_depth_limit():
    value = "password=leak"
    for _ in range(MAX_DEPTH):
        value = [value]
    masked = mask_value(value)
    assert depth_of(masked) == MAX_DEPTH
    innermost = masked
    for _ in range(MAX_DEPTH):
        innermost = innermost[0]
    assert innermost == "password=***"
