"""`medic serve`: /metrics, /healthz, /readyz, the JSON API and the operator console over HTTP."""

from __future__ import annotations

import logging

import click

from config.errors import StorageUnavailable
from config.logging import configure_logging
from workers.cli.context import mask_url, require_database, settings
from workers.masking import mask_text

log = logging.getLogger("medic.serve")


@click.command()
@click.option("--host", help="Listen on this address (default: MEDIC_SERVE__HOST).")
@click.option("--port", type=click.IntRange(1, 65_535), help="Listen on this port (default: MEDIC_SERVE__PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Serve Prometheus metrics, health probes, the JSON API and the operator console.

    \b
    /healthz       the process answers (liveness)
    /readyz        the database and the broker are reachable (readiness; 503 when not)
    /metrics       Prometheus text format, read from the database, broker and breakers
    /api/...       error groups, executions, dead letters, alerts, health (Bearer token,
                   MEDIC_SERVE__TOKENS); /api/docs describes them
    /ui            the operator console in a browser: log in with one of the same tokens

    The API and the console are read-only unless MEDIC_SERVE__ALLOW_WRITES is true and the token
    has write access.
    """
    import uvicorn

    from workers.api.app import create_app

    current = settings()
    configure_logging(current.log_level, current.log_format, redact=mask_text, log_file=current.log_file)
    try:
        require_database()  # an old schema stops startup; an unreachable database does not (see /readyz)
    except StorageUnavailable as exc:
        log.warning("database unreachable at startup; /readyz reports it until it answers: %s", mask_text(str(exc)))
    app = create_app(current)
    bind_host, bind_port = host or current.serve.host, port or current.serve.port
    writes = "read-write" if current.serve.allow_writes else "read-only"
    api = writes if current.serve.tokens else "disabled: no tokens"
    log.info("medic serve on http://%s:%s (database %s, broker %s, API and console at /ui %s)", bind_host, bind_port,
             mask_url(current.database_url), mask_url(current.broker_url), api)
    uvicorn.run(app, host=bind_host, port=bind_port, log_config=None, access_log=current.log_level == "DEBUG",
                server_header=False, timeout_graceful_shutdown=10)
