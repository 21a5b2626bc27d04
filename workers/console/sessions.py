"""The console's session cookie: a token's name and a CSRF token, signed with a key derived from that token.

The key is a hash of the API token's own secret, so rotating or removing a token (MEDIC_SERVE__TOKENS)
ends every session it opened, and medic needs no secret of its own. itsdangerous signs and timestamps;
a session older than MEDIC_SERVE__CONSOLE_SESSION_HOURS is refused. The cookie says nothing about access:
it is read from the settings at each request, so lowering a token's access takes effect at once.

Logging out records the session in the database (table console_logouts, by the sha256 of its CSRF token,
which is random per login), so a copy of the cookie is refused by every replica of `medic serve`; the
cleanup job deletes the record once the session would have expired anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from config.serve import INGEST, ServeSettings
from workers.storage.models import ConsoleLogout

SESSION_COOKIE = "medic_session"
LOGIN_CSRF_COOKIE = "medic_login_csrf"  # double-submit token of the login form (no session yet)
_SALT = "medic.console.session"
_KEY_CONTEXT = b"medic console session key\x00"


@dataclass(frozen=True)
class ConsoleSession:
    name: str  # the API token's name
    csrf: str  # the token every form of this session carries

    @property
    def key(self) -> str:
        """What the session is known by in the database: the hex sha256 of its CSRF token."""
        return hashlib.sha256(self.csrf.encode()).hexdigest()


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def same_token(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a form's CSRF token with the expected one."""
    return bool(presented) and hmac.compare_digest(str(presented).encode(), expected.encode())


def issue(serve: ServeSettings, name: str) -> tuple[str, ConsoleSession]:
    """A signed cookie value for token `name`, and the session it carries."""
    session = ConsoleSession(name, new_csrf())
    return _serializer(serve, name).dumps({"n": session.name, "c": session.csrf}), session


def read(serve: ServeSettings, cookie: str | None, *, max_age_s: float,
         logged_out: Callable[[str], bool]) -> ConsoleSession | None:
    """The session of a cookie signed by a current token, younger than `max_age_s` and not logged out; else None.

    `logged_out(key)` is asked only about a cookie whose signature holds, so forged cookies cost no lookup."""
    if not cookie:
        return None
    _, claimed = URLSafeTimedSerializer(b"unverified", salt=_SALT).loads_unsafe(cookie)
    name = claimed.get("n") if isinstance(claimed, dict) else None
    if not isinstance(name, str) or name not in serve.tokens or serve.tokens[name].access == INGEST:
        return None
    try:
        payload = _serializer(serve, name).loads(cookie, max_age=max(0, int(max_age_s)))
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(payload, dict) or payload.get("n") != name or not isinstance(payload.get("c"), str):
        return None
    session = ConsoleSession(name, payload["c"])
    return None if logged_out(session.key) else session


def is_logged_out(db: Session, key: str) -> bool:
    """Whether the session known by `key` was logged out (a lookup in a unique index)."""
    return db.scalar(select(ConsoleLogout.id).where(ConsoleLogout.session_hash == key)) is not None


def record_logout(db: Session, session: ConsoleSession, *, now: datetime, lifetime_s: float) -> None:
    """Refuses `session` from now on, wherever it is presented; a second logout of it changes nothing. Commits.

    The record is kept until now + `lifetime_s` (the session lifetime): the session has expired by then."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(ConsoleLogout).values(session_hash=session.key, token_name=session.name, logged_out_at=now,
                                             expires_at=now + timedelta(seconds=lifetime_s))
    db.execute(statement.on_conflict_do_nothing(index_elements=["session_hash"]))
    db.commit()


def _serializer(serve: ServeSettings, name: str) -> URLSafeTimedSerializer:
    secret = serve.tokens[name].token.get_secret_value().encode()
    key = hashlib.sha256(_KEY_CONTEXT + name.encode() + b"\x00" + secret).digest()
    return URLSafeTimedSerializer(key, salt=_SALT)
