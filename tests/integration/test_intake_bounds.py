"""Intake's bounds with a real `medic worker` (issue 12, items 7 and 8).

- a message whose body or headers are over the wire limit is kept as a rejected event without
  being decoded, and the worker does not grow with it (a 29 MB event of 1.5 M keys);
- an event still being processed at the soft time limit is rejected, not retried;
- an event that outlives the hard time limit is rejected once, not redelivered;
- an event whose pool process dies is run again a bounded number of times, then rejected; the
  other events of its batch are stored.

The slow and crashing events are test-only behaviours a `sitecustomize` module gives the worker's
`triage` (services slow-svc, stubborn-svc, crash-svc); everything else is medic's own code.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.integration.conftest import BROKERS
from tests.support import services
from tests.support.services import REPO, count_rows, medic_env, start_worker, wait_for

pytestmark = pytest.mark.integration

SITECUSTOMIZE = textwrap.dedent("""
    import os
    import time

    from celery.exceptions import SoftTimeLimitExceeded

    import workers.intake.service as reporting

    _triage = reporting.triage


    def triage(raw, **kwargs):
        service = raw.get("service") if isinstance(raw, dict) else None
        if service == "slow-svc":
            time.sleep(60)
        elif service == "stubborn-svc":  # ignores the soft limit: only the hard one stops it
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    time.sleep(0.1)
                except SoftTimeLimitExceeded:
                    pass
        elif service == "crash-svc":
            os._exit(9)
        return _triage(raw, **kwargs)


    reporting.triage = triage
""")


def event(service: str = "orders", **fields) -> dict:
    return {"error_type": "TimeoutError", "message": "upstream timed out", "service": service, **fields}


def send(client, payload) -> str:
    return client.send_task("medic.report", args=[payload], queue="medic.errors").id


def rejections(db_url: str) -> list[dict]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT reason, payload, payload_bytes FROM rejected_events ORDER BY id"))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def worker_rss_bytes(pid: int) -> tuple[int, int]:
    """RSS of the worker's main process (the consumer) and of its pool processes together."""
    return rss_bytes(pid), sum(rss_bytes(child) for child in children(pid))


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.fixture
def db_url(pg_database):
    return services.pg_url(pg_database)


@pytest.fixture
def worker_env(tmp_path, db_url, broker_url):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = medic_env(database_url=db_url, broker_url=broker_url, broker_visibility_timeout_s=10,
                    task_soft_time_limit_s=2, task_time_limit_s=4, data_dir=tmp_path / "data", log_format="text")
    env["PYTHONPATH"] = f"{hooks}:{REPO}"
    return env


@pytest.fixture
def worker(tmp_path, worker_env):
    process = start_worker(worker_env, tmp_path / "worker.log", concurrency=1)
    yield process
    print(process.output()[-6000:])
    process.terminate()


def test_a_29_mb_event_is_rejected_undecoded_without_the_worker_growing(client, worker, db_url):
    wide = {f"k{n}": n for n in range(1_500_000)}  # 1.5 M keys, about 29 MB of JSON
    consumer_before, pool_before = worker_rss_bytes(worker.proc.pid)
    consumer_peak, pool_peak = consumer_before, pool_before
    started = time.monotonic()
    send(client, event(context=wide))
    del wide
    deadline = time.monotonic() + 120
    while not count_rows(db_url, "rejected_events") and time.monotonic() < deadline:
        consumer_now, pool_now = worker_rss_bytes(worker.proc.pid)
        consumer_peak, pool_peak = max(consumer_peak, consumer_now), max(pool_peak, pool_now)
        time.sleep(0.05)
    took_s = time.monotonic() - started
    mib = 2**20
    print(f"29 MB event: consumer RSS {consumer_before / mib:.0f} -> peak {consumer_peak / mib:.0f} MiB, "
          f"pool {pool_before / mib:.0f} -> peak {pool_peak / mib:.0f} MiB; rejected {took_s:.1f} s after sending")
    [rejected] = rejections(db_url)
    assert "not decoded" in rejected["reason"] and "MEDIC_MAX_EVENT_BYTES" in rejected["reason"]
    assert rejected["payload_bytes"] > 28_000_000
    assert len(rejected["payload"].encode()) <= 16_384
    assert pool_peak - pool_before < 20 * mib  # never decoded in the pool
    # The Redis transport itself holds the envelope (JSON, base64 text, bytes: about 5 x 29 MB) while
    # it hands the message over; decoding the body added another 350 MB here before the wire limits.
    assert consumer_peak - consumer_before < 220 * mib
    send(client, event("after"))
    wait_for(lambda: count_rows(db_url, "occurrences") == 1, timeout_s=30, what="the next event")


@BROKERS
def test_a_body_over_the_wire_limit_is_rejected_undecoded(client, worker, db_url):
    send(client, event(context={"blob": "x" * 1_000_000}))
    send(client, event("after"))
    wait_for(lambda: count_rows(db_url, "occurrences") == 1, timeout_s=30, what="the next event")
    [rejected] = rejections(db_url)
    assert "over the 790528-byte limit" in rejected["reason"] and "not decoded" in rejected["reason"]
    assert rejected["payload_bytes"] > 1_000_000 and len(rejected["payload"].encode()) <= 16_384


@BROKERS
def test_oversized_headers_are_rejected_undecoded(client, worker, db_url):
    client.send_task("medic.report", args=[event()], queue="medic.errors", headers={"padding": "x" * 100_000})
    wait_for(lambda: count_rows(db_url, "rejected_events") == 1, timeout_s=30, what="a rejected event")
    [rejected] = rejections(db_url)
    assert "headers" in rejected["reason"] and "not decoded" in rejected["reason"]


def test_an_event_at_the_soft_time_limit_is_rejected_not_retried(client, worker, db_url):
    send(client, event("slow-svc"))
    wait_for(lambda: count_rows(db_url, "rejected_events") == 1, timeout_s=30, what="a rejected event")
    [rejected] = rejections(db_url)
    assert "longer than MEDIC_TASK_SOFT_TIME_LIMIT_S (2 s)" in rejected["reason"]
    assert json.loads(rejected["payload"])["service"] == "slow-svc"
    send(client, event("after"))  # prefetch 1, one process: runs after anything the slow one caused
    wait_for(lambda: count_rows(db_url, "occurrences") == 1, timeout_s=30, what="the next event")
    assert "storage unavailable" not in worker.output()
    assert "retry" not in worker.output().lower().replace("retry_", "")
    assert count_rows(db_url, "rejected_events") == 1


def test_an_event_past_the_hard_time_limit_is_rejected_once_not_redelivered(client, worker, db_url):
    send(client, event("stubborn-svc"))
    wait_for(lambda: count_rows(db_url, "rejected_events") >= 1, timeout_s=30, what="a rejected event")
    send(client, event("after"))
    wait_for(lambda: count_rows(db_url, "occurrences") == 1, timeout_s=30, what="the next event")
    time.sleep(6)  # a redelivery would have run (and timed out) again by now
    reasons = [r["reason"] for r in rejections(db_url)]
    assert len(reasons) == 1 and "hard time limit" in reasons[0], reasons
    kept = [line for line in worker.output().splitlines() if "kept an unprocessable message as rejected" in line]
    assert len(kept) == 1 and "hard time limit" in kept[0], kept


def test_an_event_that_kills_its_process_is_rejected_alone_and_its_batch_is_stored(client, worker, db_url):
    bystanders = [event("orders", message=f"upstream timed out on shard {n}") for n in range(30)]
    for payload in bystanders[:15] + [event("crash-svc")] + bystanders[15:]:  # one burst: the poison mid-batch
        send(client, payload)
    wait_for(lambda: count_rows(db_url, "rejected_events") >= 1, timeout_s=60, what="a rejected event")
    wait_for(lambda: count_rows(db_url, "occurrences") == 30, timeout_s=30, what="the other 30 events")
    reasons = [r["reason"] for r in rejections(db_url)]
    # Given up on by the loss count, or by the hard time limit when billiard hands a run to a pool
    # process that is being replaced and never runs it. Either way the bystanders were never rejected.
    assert len(reasons) == 1 and ("lost 3 times" in reasons[0] or "hard time limit" in reasons[0]), reasons
    assert "crash-svc" in rejections(db_url)[0]["payload"]
    # Lost once in its batch, then at most twice alone.
    losses = [line for line in worker.output().splitlines() if "a pool process was lost with a batch" in line]
    assert 1 <= len(losses) <= 3, losses
