"""MEDIC_REPLAY_HTTP__ALLOW for tests that replay HTTP to a local server (docs/security.md)."""

from __future__ import annotations

import json
from typing import Any

ALL_METHODS = "GET,HEAD,POST,PUT,PATCH,DELETE"


def allow_http(*servers: Any, methods: str = ALL_METHODS) -> str:
    """The setting's value (JSON) allowing each server's exact address and port, for `methods`."""
    return json.dumps([f"{methods} http://{server.host}:{server.port}" for server in servers])
