"""medic_client in a plain Python script (no Celery worker, no app of its own): a `Reporter(broker_url=...)`,
its logging handler and a guard, run as a subprocess. With the run's Redis as broker the events are
`medic.report` messages on queue `medic.errors`; with nothing listening the script still finishes
within seconds, and each event is logged masked and spooled."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from kombu import Connection, Exchange, Queue

from medic_client import Reporter
from tests.support import consuming
from workers.intake.contract import ErrorEvent

pytestmark = pytest.mark.integration

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1
SECRET = "sk_live_abcdefghijklmnop1234"
MEDIC_ERRORS = Queue("medic.errors", Exchange("medic.errors"), routing_key="medic.errors")

SCRIPT = f'''
import logging
import sys

from medic_client import MedicHandler, Reporter

logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")  # stderr
reporter = Reporter(broker_url=sys.argv[1], service="nightly-sync", spool=sys.argv[2], source="sync-script")
log = logging.getLogger("nightly")
log.addHandler(MedicHandler(reporter))


def fetch_orders(shop):
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as exc:
        raise RuntimeError(f"shop {{shop}}: orders API unreachable") from exc


try:
    fetch_orders(7)
except RuntimeError:
    log.exception("nightly sync of shop %s failed", 7,
                  extra={{"medic_operation": "fetch_orders", "medic_context": {{"api_key": "{SECRET}", "shop": 7}}}})


@reporter.guard(reraise=False)
def cleanup():
    raise KeyError("tmp-dir")


cleanup()
print("script done", flush=True)
'''


def run_script(tmp_path: Path, broker_url: str) -> tuple[subprocess.CompletedProcess, float, Path]:
    script = tmp_path / "nightly.py"
    script.write_text(SCRIPT)
    spool = tmp_path / "medic-spool.jsonl"
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script), broker_url, str(spool)], capture_output=True, text=True,
                          timeout=30, cwd=tmp_path)
    return done, time.monotonic() - started, spool


def test_a_script_reports_to_the_broker(tmp_path, redis_url):
    done, _, spool = run_script(tmp_path, redis_url)
    assert done.returncode == 0 and "script done" in done.stdout, done.stderr
    assert "medic report not sent" not in done.stderr and not spool.exists()
    with Connection(redis_url) as conn:  # the script has ended: everything it sent is on the queue
        messages = consuming.receive(conn, MEDIC_ERRORS, 2, timeout_s=5, no_ack=True)
    assert [m.headers["task"] for m in messages] == ["medic.report", "medic.report"]
    assert redis.Redis.from_url(redis_url).llen("medic.errors") == 0  # once each: the guard's not logged again
    logged, guarded = (m.payload[0][0] for m in messages)
    for event in (logged, guarded):
        ErrorEvent.model_validate(event)
        assert (event["service"], event["source"]) == ("nightly-sync", "sync-script")
    assert (logged["error_type"], logged["message"]) == ("RuntimeError", "shop 7: orders API unreachable")
    assert logged["operation"] == "fetch_orders" and logged["errno"] == "ECONNREFUSED"
    assert logged["causes"] == [{"error_type": "ConnectionRefusedError", "message": "[Errno 111] Connection refused"}]
    assert logged["context"] == {"logger": "nightly", "log_message": "nightly sync of shop 7 failed",
                                 "api_key": SECRET, "shop": 7}  # masked by medic at intake, not by the client
    assert (guarded["error_type"], guarded["operation"]) == ("KeyError", "__main__.cleanup")


def test_a_script_with_the_broker_down_finishes_in_seconds_and_keeps_the_events(tmp_path):
    done, elapsed_s, spool = run_script(tmp_path, NOWHERE)
    assert done.returncode == 0 and "script done" in done.stdout, done.stderr
    assert elapsed_s < 8, f"the script took {elapsed_s:.1f} s"  # interpreter and Celery import included
    not_sent = [line for line in done.stderr.splitlines() if "medic report not sent" in line]
    assert len(not_sent) == 2 and all(line.startswith("medic.capture ERROR") for line in not_sent)
    assert SECRET not in done.stderr
    # the broker's error is in those two lines only: no traceback of it (the app's own log line has its own)
    assert [line for line in done.stderr.splitlines() if "OperationalError" in line] == not_sent
    kept = [json.loads(line) for line in spool.read_text().splitlines()]
    assert [(event["error_type"], event["operation"]) for event in kept] == [
        ("RuntimeError", "fetch_orders"), ("KeyError", "__main__.cleanup")]
    assert kept[0]["context"]["shop"] == 7 and SECRET not in spool.read_text()


def test_a_broker_that_accepts_and_never_answers_holds_a_report_for_about_the_timeout(tmp_path):
    """The worst case of a logging call: the broker's host is there, the broker hangs (the Redis transport
    ignores broker_connection_timeout; the reporter sets its socket timeouts)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept_and_stay_silent():
        try:
            while True:
                accepted.append(listener.accept()[0])
        except OSError:  # the listener closed: the test is over
            pass

    threading.Thread(target=accept_and_stay_silent, daemon=True).start()
    reporter = Reporter(broker_url=f"redis://127.0.0.1:{listener.getsockname()[1]}/0", service="nightly-sync",
                        spool=tmp_path / "spool.jsonl", timeout_s=0.5)
    try:
        started = time.monotonic()
        assert reporter.report(RuntimeError("hung broker")) is None
        elapsed_s = time.monotonic() - started
    finally:
        reporter.close()
        listener.close()
        for conn in accepted:
            conn.close()
    assert accepted and elapsed_s < 2 * 0.5 + 0.5, f"held {elapsed_s:.2f} s"
    assert json.loads((tmp_path / "spool.jsonl").read_text())["message"] == "hung broker"
