"""Watching the embedded default: its broker (kombu's SQLAlchemy transport) has no broadcast exchange,
so `medic probe worker` reads the worker's heartbeat file instead of pinging, and `medic flower`
refuses to start, saying what to use instead."""

from __future__ import annotations

import time

import pytest

from tests.support.services import Process, medic_command, medic_env, run_medic, wait_for
from workers.worker_heartbeat import MAX_AGE_S

pytestmark = pytest.mark.integration

WORKER = "medic-embedded@%h"  # the node name `medic run` gives its worker


def test_probe_worker_reads_the_embedded_workers_heartbeat_alive_then_dead(tmp_path):
    env = medic_env(data_dir=tmp_path / "data", log_format="text")
    run = Process(medic_command("run", "--concurrency", "1"), env, tmp_path / "run.log")
    try:
        run.wait_ready(timeout_s=90)
        alive = run_medic(env, "probe", "worker", WORKER)
        assert alive.returncode == 0, alive.stdout + alive.stderr
        assert alive.stdout.startswith("ok: worker medic-embedded@") and "heartbeat" in alive.stdout
        assert run_medic(env, "probe", "worker", "someone-else@%h").returncode == 1

        assert run.terminate(60) == 0, run.output()[-8000:]
        stopped = time.monotonic()
        wait_for(lambda: run_medic(env, "probe", "worker", WORKER).returncode == 1, timeout_s=MAX_AGE_S + 30,
                 interval_s=1, what="the probe to see the stopped worker as dead")
        dead = run_medic(env, "probe", "worker", WORKER)
        assert dead.returncode == 1 and dead.stderr.startswith("unhealthy: worker medic-embedded@")
        assert dead.stderr.count("\n") == 1
        assert time.monotonic() - stopped < MAX_AGE_S + 30
    finally:
        run.kill()


def test_flower_on_the_embedded_broker_exits_3_saying_what_to_use_instead(tmp_path):
    env = medic_env(data_dir=tmp_path / "data", flower__basic_auth="ops:flower-pass-4711")
    result = run_medic(env, "flower", "--port", "1")
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1
    line = result.stderr
    assert "Flower needs a broker with broadcast and events (Redis or RabbitMQ)" in line
    assert "MEDIC_BROKER_URL" in line and "medic+sqlite:///" in line
    for instead in ("medic health", "medic executions list", "medic probe worker"):
        assert instead in line
