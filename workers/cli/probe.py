"""`medic probe`: healthchecks for containers, which have no curl: exit 0 healthy, 1 not, with one line why.

Each probe imports only what it needs, so `probe http` and `probe beat` stay fast.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import click

from workers.cli import exit_codes

DEFAULT_TIMEOUT_S = 3.0
DEFAULT_BEAT_MAX_AGE_S = 60.0
# workers.worker_heartbeat.MAX_AGE_S (3 touches), spelled out so that --help does not import Celery.
DEFAULT_WORKER_MAX_AGE_S = 15.0


def _healthy(message: str) -> None:
    click.echo(message)


def _unhealthy(message: str) -> None:
    click.echo(message, err=True)
    raise click.exceptions.Exit(exit_codes.FAILED)


@click.group()
def probe() -> None:
    """Healthchecks: exit 0 when healthy, 1 with a one-line reason when not."""


@probe.command("http")
@click.argument("url")
@click.option("--timeout-s", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT_S, show_default=True,
              help="Give up after this long.")
def probe_http(url: str, timeout_s: float) -> None:
    """GET URL; healthy on a 2xx answer (redirects are not followed)."""
    import httpx

    try:
        response = httpx.get(url, timeout=timeout_s, follow_redirects=False)
    except httpx.HTTPError as exc:
        _unhealthy(f"unhealthy: GET {url}: {type(exc).__name__}: {exc or 'no answer'}")
    if not response.is_success:
        _unhealthy(f"unhealthy: GET {url} answered {response.status_code} {response.reason_phrase}")
    _healthy(f"ok: GET {url} answered {response.status_code}")


@probe.command("beat")
@click.option("--max-age-s", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_BEAT_MAX_AGE_S,
              show_default=True, help="Healthy when beat ticked at most this long ago.")
def probe_beat(max_age_s: float) -> None:
    """Healthy when beat touched its heartbeat file (in MEDIC_DATA_DIR) within --max-age-s."""
    from workers.cli.context import settings

    path = settings().beat_heartbeat_file
    try:
        age_s = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        _unhealthy(f"unhealthy: beat heartbeat {path} missing (beat has not ticked yet)")
    except OSError as exc:
        _unhealthy(f"unhealthy: beat heartbeat {path}: {exc.strerror}")
    if age_s > max_age_s:
        _unhealthy(f"unhealthy: beat heartbeat {path} is {age_s:.0f}s old (max {max_age_s:g}s)")
    _healthy(f"ok: beat ticked {max(age_s, 0):.1f}s ago")


@probe.command("worker")
@click.argument("name")
@click.option("--timeout-s", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT_S, show_default=True,
              help="How long to wait for the broker and for the worker's answer.")
@click.option("--max-age-s", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_WORKER_MAX_AGE_S,
              show_default=True, help="Embedded broker: healthy when the worker's heartbeat is at most this old.")
def probe_worker(name: str, timeout_s: float, max_age_s: float) -> None:
    """Ping the Celery worker node NAME (%h is this host's name, as in `medic worker --hostname`).

    On the embedded broker (kombu's SQLAlchemy transport), which cannot carry a ping, read the age of
    the heartbeat file the worker touches in MEDIC_DATA_DIR every few seconds instead.
    """
    from celery.utils.nodenames import host_format

    from config.urls import is_sqlalchemy_broker_url
    from workers.cli.context import settings

    node = host_format(name, host=socket.gethostname())
    current = settings()
    if is_sqlalchemy_broker_url(current.broker_url):
        _worker_heartbeat(node, current.data_dir, max_age_s)
        return
    from config.celery_app import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout_s)
            replies = app.control.ping(destination=[node], timeout=timeout_s, connection=connection)
    except Exception as exc:  # kombu/redis raise many kinds; each means the same here
        from workers.masking import mask_text

        _unhealthy(f"unhealthy: broker unreachable: {type(exc).__name__}: {mask_text(str(exc))}")
    if not any(node in reply for reply in replies or []):
        _unhealthy(f"unhealthy: worker {node} did not answer a ping within {timeout_s:g}s")
    _healthy(f"ok: worker {node} answered")


def _worker_heartbeat(node: str, data_dir: Path, max_age_s: float) -> None:
    from workers.worker_heartbeat import heartbeat_file, is_alive

    path = heartbeat_file(data_dir, node)
    try:
        age_s = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        _unhealthy(f"unhealthy: worker {node} heartbeat {path} missing (no worker of that name is running "
                   "with this MEDIC_DATA_DIR, or it has not started yet)")
    except OSError as exc:
        _unhealthy(f"unhealthy: worker {node} heartbeat {path}: {exc.strerror}")
    if not is_alive(age_s, max_age_s):
        _unhealthy(f"unhealthy: worker {node} heartbeat {path} is {age_s:.0f}s old (max {max_age_s:g}s)")
    _healthy(f"ok: worker {node} heartbeat {max(age_s, 0):.1f}s ago (embedded broker: no ping)")
