"""The key that signs Celery replay callbacks: MEDIC_REPLAY_TARGETS__CALLBACK_SECRET, else medic's own.

Without the setting, the first worker that needs a key generates a random one and stores it in
medic's database (table signing_keys); INSERT ... ON CONFLICT DO NOTHING, then a read, makes
concurrent workers agree on the first one written. Whoever can read that table can already change
attempts directly, so the key protects against the broker's users, not the database's
(docs/security.md). Callers keep the key for the life of their process.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from config.settings import Settings
from workers.clock import utcnow
from workers.storage.models import SigningKey

KEY_NAME = "replay-callbacks"
KEY_BYTES = 32


def callback_key(settings: Settings, session: Session) -> bytes:
    """The configured secret, else the database's key (created now if there is none); commits."""
    secret = settings.replay_targets.callback_secret
    if secret is not None:
        return secret.get_secret_value().encode()
    return stored_key(session, KEY_NAME)


def stored_key(session: Session, name: str) -> bytes:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(SigningKey).values(name=name, key=secrets.token_hex(KEY_BYTES), created_at=utcnow())
    session.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
    key = session.scalar(select(SigningKey.key).where(SigningKey.name == name))
    session.commit()
    if key is None:  # pragma: no cover - the row was just inserted or already there
        raise RuntimeError(f"signing key {name!r} could not be stored")
    return bytes.fromhex(key)
