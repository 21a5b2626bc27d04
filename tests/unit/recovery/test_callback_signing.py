"""The signature of a Celery replay's callbacks (workers/recovery/callback_signing.py)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from workers.recovery.callback_signing import sign, verify

KEY = b"k" * 32


def test_the_signature_is_the_hmac_sha256_of_the_attempt_and_the_replays_task_id():
    expected = hmac.new(KEY, b"attempt:7:medic-3-7", hashlib.sha256).hexdigest()
    assert sign(KEY, 7, "medic-3-7") == expected
    assert verify(KEY, 7, "medic-3-7", expected)


@pytest.mark.parametrize("attempt_id, task_id, signature", [
    (8, "medic-3-7", sign(KEY, 7, "medic-3-7")),  # another attempt
    (7, "medic-3-8", sign(KEY, 7, "medic-3-7")),  # another replay
    (7, "medic-3-7", sign(b"x" * 32, 7, "medic-3-7")),  # another key
    (7, "medic-3-7", None),  # a callback sent before signing existed
    (7, "medic-3-7", ""),
    (7, "medic-3-7", 12345),
    (7, "medic-3-7", sign(KEY, 7, "medic-3-7").upper()),
    (7, None, sign(KEY, 7, "None")),  # no parent task: nothing to bind it to
])
def test_anything_else_is_not_medics(attempt_id, task_id, signature):
    assert not verify(KEY, attempt_id, task_id, signature)
