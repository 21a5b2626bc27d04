"""Unit tests for workers.intake.fingerprint (grouping occurrences of the same error)."""

from __future__ import annotations

import hashlib

import pytest

from workers.intake.fingerprint import MAX_TEMPLATE_CHARS, fingerprint, normalise_message

# --------------------------------------------------------------------------- normalise_message


@pytest.mark.parametrize("message, expected", [
    ("User 42 not found", "User <num> not found"),
    ("balance -12.50 below 0.5", "balance <num> below <num>"),
    ("x=-2 worker-3 took 1500ms", "x=<num> worker-<num> took <num>ms"),
    ("task 123e4567-e89b-12d3-a456-426614174000 failed", "task <uuid> failed"),
    ("task 123E4567-E89B-12D3-A456-426614174000", "task <uuid>"),
    ("bad pointer 0x7ffee1c0 / 0XFF", "bad pointer <hex> / <hex>"),
    ("commit 9f1c2e3a4b5c missing, request req_5f3a9c2e1b", "commit <hex> missing, request req_<hex>"),
    ("invalid literal for int() with base 10: 'abc'", "invalid literal for int() with base <num>: <str>"),
    ('KeyError: "customer_name"', "KeyError: <str>"),
    ("can't reach 'db-1', isn't it up?", "can't reach <str>, isn't it up?"),
    ("at 2024-01-15T10:30:00.123+02:00, 2024-01-15 10:30:00Z, 2024-01-15", "at <ts>, <ts>, <ts>"),
    ("connect 10.0.0.1:5432 failed; retry 192.168.1.20.", "connect <ip> failed; retry <ip>."),
    ("  spaces\tand\n\nnewlines  ", "spaces and newlines"),
    ("Key (email)=(a@x.io) already exists.", "Key (email)=(a@x.io) already exists."),
    # structure stays: words, identifiers with digits in them, short hex-looking words
    ("deadlock detected", "deadlock detected"),
    ("utf8 codec can't decode; sha256 mismatch; deadbeef", "utf8 codec can't decode; sha256 mismatch; deadbeef"),
    ("", ""),
])
def test_normalise_message(message, expected):
    assert normalise_message(message) == expected


def test_normalise_message_truncates():
    assert len(normalise_message("word " * 1000)) == MAX_TEMPLATE_CHARS


# --------------------------------------------------------------------------- fingerprint


def test_fingerprint_is_a_stable_sha256_of_the_normalised_parts():
    digest = fingerprint("KeyError", "User 42 not found", "billing", "charge")
    expected = hashlib.sha256(b"KeyError\x1fUser <num> not found\x1fbilling\x1fcharge").hexdigest()
    assert digest == expected
    assert len(digest) == 64
    assert fingerprint("KeyError", "User 42 not found", "billing", "charge") == digest


def test_fingerprint_treats_no_operation_as_empty():
    assert fingerprint("E", "m", "svc", None) == fingerprint("E", "m", "svc", "")


@pytest.mark.parametrize("first, second", [
    ("User 42 not found", "User 7 not found"),
    ("balance -3.5 too low", "balance 1200 too low"),
    ("job 123e4567-e89b-12d3-a456-426614174000 lost", "job 00000000-0000-0000-0000-000000000001 lost"),
    ("object at 0x7f3a2c1b not hashable", "object at 0x10e4 not hashable"),
    ("commit 9f1c2e3a4b missing", "commit 0a1b2c3d4e5f6a7b missing"),
    ("column 'email' is null", 'column "phone" is null'),
    ("lock expired at 2024-01-15T10:30:00Z", "lock expired at 2025-12-31T23:59:59.999+01:00"),
    ("cannot reach 10.0.0.1:5432", "cannot reach 172.16.4.2"),
    ("timeout  after\t30s", "timeout after 5s"),
])
def test_fingerprint_groups_messages_that_differ_only_in_values(first, second):
    assert fingerprint("E", first, "svc", "op") == fingerprint("E", second, "svc", "op")


@pytest.mark.parametrize("first, second", [
    (("KeyError", "m", "svc", "op"), ("ValueError", "m", "svc", "op")),
    (("E", "m", "billing", "op"), ("E", "m", "shipping", "op")),
    (("E", "m", "svc", "charge"), ("E", "m", "svc", "refund")),
    (("E", "m", "svc", None), ("E", "m", "svc", "charge")),
    (("E", "User not found", "svc", None), ("E", "Order not found", "svc", None)),
    (("a", "bc", "svc", None), ("ab", "c", "svc", None)),
    (("E", "m", "a", "bc"), ("E", "m", "ab", "c")),
])
def test_fingerprint_separates_different_errors(first, second):
    assert fingerprint(*first) != fingerprint(*second)


def test_fingerprint_accepts_lone_surrogates():
    assert len(fingerprint("E", "bad \ud800 text", "svc", None)) == 64
