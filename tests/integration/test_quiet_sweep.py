"""An idle medic is quiet: the sweeper's passes that find nothing log nothing at INFO (beat's
"Sending due task", Celery's "received" / "succeeded" and medic's own line), with real processes."""

from __future__ import annotations

import json
import re

import pytest
import redis

from tests.support.recovery import task_log
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

PASSES = 4
SWEEP = "medic.recovery.sweep"
# The beat entry's run count, kept by RedBeat (config/celery_app.py: medic:redbeat: prefix).
REDBEAT_SWEEP_KEY = "medic:redbeat:recovery-sweep"
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<level>[A-Z]+) +(?P<logger>\S+): (?P<message>.*)$")


def beat_runs(redis_url: str) -> int:
    meta = redis.Redis.from_url(redis_url).hget(REDBEAT_SWEEP_KEY, "meta")
    return int(json.loads(meta).get("total_run_count") or 0) if meta else 0


def log_lines(text: str) -> list[dict]:
    return [m.groupdict() for m in map(LINE.match, text.splitlines()) if m]


def test_idle_sweep_passes_log_nothing_at_info(medic, client, redis_url):
    medic.configure(recovery_sweep_log_idle=False)
    worker = medic.worker(concurrency=1)  # one pool process: a task that ran ran after every task before it
    ready_at = len(log_lines(worker.output()))
    beat = medic.beat()
    before = beat_runs(redis_url)
    wait_for(lambda: beat_runs(redis_url) >= before + PASSES, timeout_s=30, what=f"beat to send {PASSES} sweeps")
    # A fence behind those passes: a run of an attempt that does not exist, logged by Celery at INFO.
    fence = client.send_task("medic.recovery.run", args=[10**9], queue="medic.recovery").id
    wait_for(lambda: fence in task_log([worker.log_path])[1], timeout_s=30, what="the fence task to run")

    lines = log_lines(worker.output())[ready_at:]
    fence_at = next(n for n, line in enumerate(lines) if fence in line["message"])
    idle = lines[:fence_at]
    assert idle == [], "an idle worker logged while sweeping:\n" + "\n".join(map(str, idle))
    assert not [line for line in log_lines(worker.output()) if SWEEP in line["message"]]
    assert not [line for line in log_lines(beat.output()) if SWEEP in line["message"]]


def test_idle_sweep_passes_show_at_debug_as_debug_only(medic, redis_url):
    medic.configure(recovery_sweep_log_idle=False, log_level="DEBUG")
    worker = medic.worker(concurrency=1)
    beat = medic.beat()
    wait_for(lambda: worker.output().count("sweep: nothing to do") >= PASSES, timeout_s=30,
             what=f"{PASSES} idle sweeper passes")
    sweep_lines = [line for process in (worker, beat) for line in log_lines(process.output())
                   if SWEEP in line["message"] or line["message"].startswith("sweep")]
    assert sweep_lines, "no sweeper line at DEBUG"
    assert {line["level"] for line in sweep_lines} == {"DEBUG"}, sweep_lines
    received = [line for line in sweep_lines if "] received" in line["message"]]
    succeeded = [line for line in sweep_lines if "succeeded in" in line["message"]]
    assert len(received) >= PASSES and len(succeeded) >= PASSES - 1
