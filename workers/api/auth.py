"""Bearer-token access to /api: tokens and their access come from MEDIC_SERVE__TOKENS.

read: the JSON API; write: the API, operator actions (when writes are allowed) and POST /api/events;
ingest: POST /api/events only (an app's token: it reads nothing back).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

from config.serve import INGEST, WRITE, ServeSettings


@dataclass(frozen=True)
class Client:
    name: str  # the token's name: the actor `api:<name>` in audit trails
    access: str  # read | write | ingest


def authenticate(settings: ServeSettings, authorization: str | None) -> Client:
    """The client a request's Authorization header names; 401 unless it carries a known token."""
    if not settings.tokens:
        raise _unauthorized("the API is disabled: no tokens are configured (MEDIC_SERVE__TOKENS)")
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise _unauthorized("send `Authorization: Bearer <token>`")
    found = None
    for name, token in settings.tokens.items():
        # Compare with every token, in constant time each, so timing tells nothing about which matched.
        if hmac.compare_digest(presented.strip().encode(), token.token.get_secret_value().encode()):
            found = Client(name, token.access)
    if found is None:
        raise _unauthorized("unknown token")
    return found


def authorize_read(client: Client) -> None:
    if client.access == INGEST:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"token {client.name!r} has {INGEST} access: it may only POST /api/events")


def authorize_write(settings: ServeSettings, client: Client) -> None:
    if not settings.allow_writes:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the API is read-only (MEDIC_SERVE__ALLOW_WRITES is false)")
    if client.access != WRITE:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"token {client.name!r} has {client.access} access; this needs {WRITE}")


def authorize_ingest(client: Client) -> None:
    """Reporting events is not an operator action: MEDIC_SERVE__ALLOW_WRITES does not apply."""
    if client.access not in (INGEST, WRITE):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"token {client.name!r} has {client.access} access; "
                            f"POST /api/events needs {INGEST} (or {WRITE})")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": 'Bearer realm="medic"'})


def _known(request: Request) -> Client:
    return authenticate(request.app.state.settings.serve, request.headers.get("authorization"))


def reader(request: Request) -> Client:
    """FastAPI dependency: a read or write token (an ingest token reads nothing)."""
    client = _known(request)
    authorize_read(client)
    return client


def writer(request: Request) -> Client:
    """FastAPI dependency: a write token, on a server that allows writes."""
    client = reader(request)
    authorize_write(request.app.state.settings.serve, client)
    return client


def ingester(request: Request) -> Client:
    """FastAPI dependency: an ingest or write token, whether or not writes are allowed."""
    client = _known(request)
    authorize_ingest(client)
    return client
