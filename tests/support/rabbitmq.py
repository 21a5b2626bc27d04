"""RabbitMQ for integration tests: an isolated vhost per test module, made and removed with `rabbitmqctl`.

CI starts RabbitMQ (.ci/run): when it cannot be reached or managed, the tests that need it fail
and say why; they never skip. Override the host with MEDIC_TEST_RABBITMQ_HOST / _PORT.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection

HOST = os.environ.get("MEDIC_TEST_RABBITMQ_HOST", "127.0.0.1")
PORT = int(os.environ.get("MEDIC_TEST_RABBITMQ_PORT", "5672"))
USER, PASSWORD = "guest", "guest"
VHOST_PREFIX = "medic-test-"
RABBITMQCTL_TIMEOUT_S = 30


def amqp_url(vhost: str) -> str:
    return f"amqp://{USER}:{PASSWORD}@{HOST}:{PORT}/{vhost}"


def rabbitmqctl(*args: str) -> str:
    """Run rabbitmqctl; any failure is an AssertionError that says what failed (never a skip)."""
    if shutil.which("rabbitmqctl") is None:
        raise AssertionError("RabbitMQ tests need `rabbitmqctl` on PATH (CI starts RabbitMQ, see .ci/run)")
    try:
        result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=RABBITMQCTL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"`rabbitmqctl {' '.join(args)}` did not answer in {RABBITMQCTL_TIMEOUT_S}s") from None
    if result.returncode != 0:
        raise AssertionError(f"`rabbitmqctl {' '.join(args)}` failed ({result.returncode}): "
                             f"{(result.stderr or result.stdout).strip()[-2000:]}")
    return result.stdout


def check_reachable(timeout_s: float = 3) -> None:
    try:
        socket.create_connection((HOST, PORT), timeout=timeout_s).close()
    except OSError as exc:
        raise AssertionError(f"RabbitMQ is not reachable at {HOST}:{PORT} ({exc}); these tests need it running "
                             f"(CI starts it in .ci/run; locally: `rabbitmq-server -detached`)") from None


def create_vhost() -> str:
    check_reachable()
    vhost = f"{VHOST_PREFIX}{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, USER, ".*", ".*", ".*")
    except AssertionError:
        delete_vhost(vhost)
        raise
    return vhost


def delete_vhost(vhost: str) -> None:
    rabbitmqctl("delete_vhost", vhost)


def queues(vhost: str) -> dict[str, int]:
    """Every queue of the vhost and its ready messages, as RabbitMQ itself lists them."""
    found = {}
    for line in rabbitmqctl("list_queues", "-p", vhost, "--quiet", "--no-table-headers", "name",
                            "messages_ready").splitlines():
        if line.strip():
            name, ready = line.rsplit("\t", 1)
            found[name] = int(ready)
    return found


def delete_queues(vhost: str) -> None:
    """Empty the vhost between tests: what one test left queued must not reach the next one's workers."""
    with Connection(amqp_url(vhost), connect_timeout=5) as connection:
        for name in queues(vhost):
            with connection.channel() as channel:
                channel.queue_delete(name)


@pytest.fixture(scope="module")
def rabbitmq_vhost() -> Iterator[str]:
    """A vhost of its own for a test module; deleted (with everything in it) at the module's end."""
    try:
        vhost = create_vhost()
    except AssertionError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield vhost
    finally:
        delete_vhost(vhost)


@pytest.fixture
def rabbitmq_url(rabbitmq_vhost: str) -> Iterator[str]:
    """`amqp://guest:guest@127.0.0.1:5672/<vhost>`; the vhost's queues are deleted after each test."""
    yield amqp_url(rabbitmq_vhost)
    delete_queues(rabbitmq_vhost)
