"""`medic flower`: Flower, the Celery monitor, on medic's app and always behind basic auth.

The credentials reach Flower through its own FLOWER_BASIC_AUTH environment variable, never the
command line, where `ps` would show them. Like `medic worker`, the process becomes Celery (exec).
On kombu's SQLAlchemy transport (the embedded default), which has no broadcast and no shared event
exchange, it refuses to start (exit 3) and names what to use instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import click

from config.errors import ConfigError
from config.flower import FlowerSettings
from config.settings import Settings
from config.urls import is_sqlalchemy_broker_url
from workers.cli.context import mask_url
from workers.cli.processes import _validated, exec_celery

AUTH_SETTING = "MEDIC_FLOWER__BASIC_AUTH"
FLOWER_AUTH_ENV = "FLOWER_BASIC_AUTH"
# Inherited FLOWER_* variables that would change who gets in or where Flower listens; other
# FLOWER_* variables (max_tasks, persistent, ...) pass through for operators to tune Flower.
OVERRIDDEN_FLOWER_ENV = frozenset({
    "FLOWER_BASIC_AUTH", "FLOWER_AUTH", "FLOWER_AUTH_PROVIDER", "FLOWER_OAUTH2_KEY", "FLOWER_OAUTH2_SECRET",
    "FLOWER_OAUTH2_REDIRECT_URI", "FLOWER_UNAUTHENTICATED_API", "FLOWER_ADDRESS", "FLOWER_PORT",
    "FLOWER_UNIX_SOCKET", "FLOWER_URL_PREFIX",
})


def require_monitorable_broker(current: Settings) -> None:
    """Flower learns everything from task events and remote control, which kombu's SQLAlchemy transport
    (the embedded default) cannot carry: refuse there, saying what works instead, rather than show nothing."""
    if is_sqlalchemy_broker_url(current.broker_url):
        raise ConfigError("Flower needs a broker with broadcast and events (Redis or RabbitMQ), and "
                          f"MEDIC_BROKER_URL is {mask_url(current.broker_url)} (kombu's SQLAlchemy transport, which "
                          "has neither); on the embedded default use `medic health`, `medic executions list` "
                          "and `medic probe worker NAME@%h` instead")


def flower_command(flower: FlowerSettings, environ: Mapping[str, str], *, address: str | None = None,
                   port: int | None = None, no_auth: bool = False) -> tuple[list[str], dict[str, str]]:
    """Celery's arguments and the environment of the Flower process; no secret in the arguments."""
    if not flower.basic_auth and not no_auth:
        raise ConfigError(f"{AUTH_SETTING} is not set: Flower shows every task and can control workers, so "
                          f"`medic flower` needs user:password pairs (comma-separated) in {AUTH_SETTING}; "
                          "--no-auth runs it open, for a trusted machine only")
    pairs = [entry.get_secret_value() for entry in flower.basic_auth]
    if any("," in pair for pair in pairs):  # possible from a config file; Flower splits its variable on ","
        raise ConfigError(f"{AUTH_SETTING}: a user or password must not contain ','")
    env = {key: value for key, value in environ.items() if key not in OVERRIDDEN_FLOWER_ENV}
    if pairs and not no_auth:
        env[FLOWER_AUTH_ENV] = ",".join(pairs)
    arguments = ["flower", f"--address={flower.address if address is None else address}",
                 f"--port={flower.port if port is None else port}"]
    if flower.url_prefix.strip("/"):
        arguments.append(f"--url_prefix={flower.url_prefix.strip('/')}")
    return arguments, env


@click.command()
@click.option("--port", type=click.IntRange(1, 65_535), help="Port to listen on (default: MEDIC_FLOWER__PORT).")
@click.option("--address", help="Address to listen on (default: MEDIC_FLOWER__ADDRESS).")
@click.option("--no-auth", is_flag=True,
              help=f"Run without basic auth even though {AUTH_SETTING} is unset (trusted machines only).")
def flower(port: int | None, address: str | None, no_auth: bool) -> None:
    """Flower, the Celery monitor: workers, queues and medic's tasks, their arguments masked.

    Basic auth is mandatory: user:password pairs in MEDIC_FLOWER__BASIC_AUTH. GET /healthcheck
    answers without auth (for container healthchecks). Needs a Redis or RabbitMQ broker: the
    embedded default's carries no task events or remote control (exit 3).
    """
    current = _validated()
    require_monitorable_broker(current)
    arguments, env = flower_command(current.flower, os.environ, address=address, port=port, no_auth=no_auth)
    if no_auth:
        click.echo(f"medic: warning: Flower runs WITHOUT authentication (--no-auth): whoever reaches "
                   f"{address or current.flower.address}:{port or current.flower.port} sees every task and can "
                   "control the workers", err=True)
    exec_celery(arguments, env)
