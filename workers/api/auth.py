"""Bearer-token access to /api: tokens and their access come from MEDIC_SERVE__TOKENS."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

from config.serve import READ, WRITE, ServeSettings


@dataclass(frozen=True)
class Client:
    name: str  # the token's name: the actor `api:<name>` in audit trails
    access: str  # read | write


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


def authorize_write(settings: ServeSettings, client: Client) -> None:
    if not settings.allow_writes:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the API is read-only (MEDIC_SERVE__ALLOW_WRITES is false)")
    if client.access != WRITE:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"token {client.name!r} has {READ} access; this needs {WRITE}")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": 'Bearer realm="medic"'})


def reader(request: Request) -> Client:
    """FastAPI dependency: any valid token."""
    return authenticate(request.app.state.settings.serve, request.headers.get("authorization"))


def writer(request: Request) -> Client:
    """FastAPI dependency: a write token, on a server that allows writes."""
    client = reader(request)
    authorize_write(request.app.state.settings.serve, client)
    return client
