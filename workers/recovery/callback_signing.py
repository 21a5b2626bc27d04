"""Signing the attempt id a Celery replay's callbacks carry, so that only medic's own replays report outcomes.

A Celery replay is sent with link / link_error callbacks (`medic.recovery.replay_succeeded` /
`replay_failed`) whose kwargs name the attempt they report on. Anyone who can send to the broker
could send those tasks too; the signature, an HMAC-SHA256 over the attempt id and the replay's task
id with a key only medic has (workers/recovery/callback_key.py), is what a forged one lacks. Pure.
"""

from __future__ import annotations

import hashlib
import hmac

# The kwarg of the callback signatures that carries it (besides attempt_id).
SIGNATURE_KWARG = "signature"


def _message(attempt_id: int, task_id: str) -> bytes:
    return f"attempt:{int(attempt_id)}:{task_id}".encode()


def sign(key: bytes, attempt_id: int, task_id: str) -> str:
    return hmac.new(key, _message(attempt_id, task_id), hashlib.sha256).hexdigest()


def verify(key: bytes, attempt_id: int, task_id: str | None, signature: object) -> bool:
    """Whether `signature` is medic's for this attempt and replay; anything else (missing, not text) is not."""
    if not isinstance(signature, str) or not task_id:
        return False
    return hmac.compare_digest(sign(key, attempt_id, task_id), signature)
