"""Archive signatures: an HMAC-SHA256 of manifest.json's bytes, in the member manifest.sig that follows
the manifest. The manifest holds every other member's size and sha256, so the signature covers the
whole archive. A key id names the key (to tell "another key" from "changed") without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

SIGNATURE_NAME = "manifest.sig"
SIGNATURE_MAX_BYTES = 512
ALGORITHM = "hmac-sha256"
_KEY_ID_CONTEXT = b"medic-backup-key-id\0"  # the id is no HMAC of anything medic signs
_KEY_ID_HEX_CHARS = 16
_SIGNATURE = re.compile(rb"hmac-sha256 ([0-9a-f]{16}) ([0-9a-f]{64})\n?")


@dataclass(frozen=True)
class Key:
    secret: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(_KEY_ID_CONTEXT + self.secret).hexdigest()[:_KEY_ID_HEX_CHARS]


def sign(manifest_bytes: bytes, key: Key) -> bytes:
    """The content of manifest.sig: `hmac-sha256 <key id> <hex mac>`."""
    return f"{ALGORITHM} {key.key_id} {_mac(manifest_bytes, key)}\n".encode()


def problem(manifest_bytes: bytes, signature: bytes | None, key: Key | None) -> str | None:
    """Why `signature` is not a valid signature of `manifest_bytes` by `key`; None when it is."""
    if signature is None:
        return "is unsigned"
    parsed = _SIGNATURE.fullmatch(signature)
    if parsed is None:
        return "has a signature medic cannot read"
    key_id, mac = parsed[1].decode(), parsed[2].decode()
    if key is None:
        return f"is signed with key {key_id} and this medic has no backup signing key"
    if key_id != key.key_id:
        return f"is signed with key {key_id}, not with this medic's key {key.key_id}"
    if not hmac.compare_digest(mac, _mac(manifest_bytes, key)):
        return "has a signature that does not match its manifest (changed after it was signed)"
    return None


def _mac(manifest_bytes: bytes, key: Key) -> str:
    return hmac.new(key.secret, manifest_bytes, hashlib.sha256).hexdigest()
