"""The embedded default: `medic run` with SQLite as database and broker, nothing else."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest
from celery import Celery

from tests.support.services import Process, count_rows, medic_command, medic_env, run_medic, wait_for

pytestmark = pytest.mark.integration


def test_medic_run_stores_events_sent_by_a_plain_celery_client_and_the_cli(tmp_path):
    env = medic_env(data_dir=tmp_path / "data", log_format="text")
    run = Process(medic_command("run", "--concurrency", "2"), env, tmp_path / "run.log")
    try:
        run.wait_ready(timeout_s=90)
        client = Celery("some-app", broker=f"sqla+sqlite:///{tmp_path / 'data' / 'broker.sqlite'}")
        client.conf.update(task_serializer="json", broker_connection_retry_on_startup=True)
        for n in range(5):
            client.send_task("medic.report", queue="medic.errors", args=[{
                "error_type": "ConnectionRefusedError", "message": f"[Errno 111] Connection refused (attempt {n})",
                "service": "partner-api", "errno": "ECONNREFUSED"}])
        sent = run_medic(env, "report", "--error-type", "KeyError", "--message", "'customer_id'", "--service",
                         "billing")
        assert sent.returncode == 0, sent.stderr

        def stored() -> list[dict]:
            listed = run_medic(env, "errors", "list", "--json")
            return json.loads(listed.stdout) if listed.returncode == 0 else []

        wait_for(lambda: sum(g["count"] for g in stored()) == 6, timeout_s=60, interval_s=0.5, what="6 occurrences")
        groups = {g["service"]: g for g in stored()}
        assert groups["partner-api"]["category"] == "network" and groups["partner-api"]["count"] == 5
        assert groups["billing"]["category"] == "internal" and groups["billing"]["retryable"] is False
    finally:
        if run.proc.poll() is None:
            run.proc.send_signal(signal.SIGTERM)  # to the main process, as a supervisor would
        assert run.proc.wait(60) == 0, run.output()[-3000:]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_medic_run_killed_outright_takes_its_beat_and_pool_with_it(tmp_path):
    """A supervisor's stop timeout ends in SIGKILL of the main process only: the embedded beat and the
    pool processes must not go on without it (an orphaned beat went on scheduling into the broker)."""
    env = medic_env(data_dir=tmp_path / "data", log_format="text")
    run = Process(medic_command("run", "--concurrency", "2"), env, tmp_path / "run.log")
    try:
        run.wait_ready(timeout_s=90)
        wait_for(lambda: len(children_of(run.proc.pid)) >= 3, timeout_s=30, what="the beat and 2 pool processes")
        children = children_of(run.proc.pid)
        run.proc.kill()
        run.proc.wait(10)
        wait_for(lambda: not any(alive(pid) for pid in children), timeout_s=10, interval_s=0.2,
                 what=f"the children {children} of the killed medic run to exit")
    finally:
        run.kill()


def test_medic_run_killed_mid_stream_loses_nothing_of_what_it_held(tmp_path):
    """Power lost mid-stream (SIGKILL of every process): what the worker held unacknowledged comes back
    after the visibility timeout, and every event is stored exactly once after the restart."""
    data_dir = tmp_path / "data"
    env = medic_env(data_dir=data_dir, broker_visibility_timeout_s=10, log_format="text")
    database = f"sqlite:///{data_dir / 'medic.sqlite'}"
    run = Process(medic_command("run", "--concurrency", "2"), env, tmp_path / "run-1.log")
    total = 500
    try:
        run.wait_ready(timeout_s=90)
        client = Celery("some-app", broker=f"sqla+sqlite:///{data_dir / 'broker.sqlite'}")
        client.conf.update(task_serializer="json", broker_connection_retry_on_startup=True)
        for n in range(total):
            client.send_task("medic.report", queue="medic.errors", task_id=f"event-{n}", args=[{
                "error_type": "ConnectionRefusedError", "message": f"refused ({n})", "service": "partner-api"}])
        wait_for(lambda: count_rows(database, "occurrences") >= 20, timeout_s=60, what="the first events stored")
    finally:
        os.killpg(run.proc.pid, signal.SIGKILL)
        run.proc.wait(10)
    stored_before = count_rows(database, "occurrences")
    again = Process(medic_command("run", "--concurrency", "2"), env, tmp_path / "run-2.log")
    try:
        again.wait_ready(timeout_s=90)
        wait_for(lambda: count_rows(database, "occurrences") >= total, timeout_s=120, interval_s=0.5,
                 what=f"{total} events stored after the restart (stored before the kill: {stored_before})")

        def broker_rows() -> int:
            with sqlite3.connect(data_dir / "broker.sqlite") as broker:
                return broker.execute("SELECT count(*) FROM kombu_message").fetchone()[0]

        # Rows the killed worker had stored but not acknowledged come back after the visibility
        # timeout (10 s), are recognised as stored and deleted: the file does not keep what passed.
        wait_for(lambda: broker_rows() < 20, timeout_s=40, interval_s=0.5, what="the broker's rows acknowledged")
        assert count_rows(database, "occurrences") == total  # exactly once: none twice
    finally:
        again.terminate()
