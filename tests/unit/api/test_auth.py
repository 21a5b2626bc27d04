"""Bearer-token authentication and write authorization of the API (pure functions)."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from config.serve import ServeSettings
from workers.api.auth import Client, authenticate, authorize_write

READ, WRITE = "r" * 20, "w" * 20
SETTINGS = ServeSettings(tokens={"grafana": {"token": READ}, "oncall": {"token": WRITE, "access": "write"}})


@pytest.mark.parametrize("header, client", [
    (f"Bearer {READ}", Client("grafana", "read")),
    (f"bearer {WRITE}", Client("oncall", "write")),
    (f"Bearer   {READ}  ", Client("grafana", "read")),
])
def test_a_known_token_names_its_client(header, client):
    assert authenticate(SETTINGS, header) == client


@pytest.mark.parametrize("header, says", [
    (None, "Authorization: Bearer"),
    ("", "Authorization: Bearer"),
    (READ, "Authorization: Bearer"),
    ("Basic dXNlcjpwYXNz", "Authorization: Bearer"),
    ("Bearer ", "Authorization: Bearer"),
    ("Bearer " + "x" * 20, "unknown token"),
    ("Bearer " + READ[:-1], "unknown token"),
])
def test_anything_else_is_401_saying_why(header, says):
    with pytest.raises(HTTPException) as raised:
        authenticate(SETTINGS, header)
    assert raised.value.status_code == 401 and says in raised.value.detail
    assert raised.value.headers["WWW-Authenticate"].startswith("Bearer")


def test_no_tokens_means_the_api_is_off():
    with pytest.raises(HTTPException) as raised:
        authenticate(ServeSettings(), f"Bearer {READ}")
    assert raised.value.status_code == 401 and "MEDIC_SERVE__TOKENS" in raised.value.detail


@pytest.mark.parametrize("allow_writes, access, allowed", [
    (False, "write", False), (False, "read", False), (True, "read", False), (True, "write", True)])
def test_writes_need_the_setting_and_a_write_token(allow_writes, access, allowed):
    settings = SETTINGS.model_copy(update={"allow_writes": allow_writes})
    if allowed:
        authorize_write(settings, Client("x", access))
        return
    with pytest.raises(HTTPException) as raised:
        authorize_write(settings, Client("x", access))
    assert raised.value.status_code == 403


def test_short_tokens_are_refused_at_startup():
    with pytest.raises(ValueError, match="at least 16"):
        ServeSettings(tokens={"x": {"token": "short"}})
