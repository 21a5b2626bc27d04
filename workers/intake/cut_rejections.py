"""A rejected payload kept from its first bytes only: cut before it is masked.

`workers.intake.reject` masks the whole payload, then keeps MEDIC_REJECTED_PAYLOAD_MAX_BYTES of it:
right for an event triage has already bounded, but a message refused for its size or its processing
time must not be masked (or parsed) whole. Cutting first could leave the first half of a secret at
the end of the cut, so the last, unfinished token is dropped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from workers.intake.triage import Rejected
from workers.masking import mask_text

# Text after the last of these may be part of a secret the cut went through.
_LAST_TOKEN = re.compile(r"[^\s\"',;&=:{}\[\]()<>]*\Z")
CUT_MARK = "…"


def cut_rejection(raw: Any, reason: str, max_payload_bytes: int) -> Rejected:
    """The rejection of `raw` (bytes, text or a decoded value), masked after a cut to max_payload_bytes."""
    if isinstance(raw, (bytes, bytearray)):
        size_bytes = len(raw)
        head = bytes(raw[:max_payload_bytes]).decode("utf-8", "ignore")
    else:
        text = raw if isinstance(raw, str) else _to_json(raw)
        encoded = text.encode("utf-8", "replace")
        size_bytes = len(encoded)
        head = encoded[:max_payload_bytes].decode("utf-8", "ignore")
    if size_bytes > max_payload_bytes:
        head = _LAST_TOKEN.sub("", head) + CUT_MARK
    masked = mask_text(head).encode("utf-8", "replace")[:max_payload_bytes].decode("utf-8", "ignore")
    return Rejected(reason=reason, payload=masked, payload_bytes=size_bytes)


def _to_json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(value)
