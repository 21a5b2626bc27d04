"""Recovery end to end in embedded mode: `medic run` alone (SQLite database, kombu's SQLAlchemy
transport on SQLite as broker, one worker with beat inside), HTTP replays against a scripted
local server, events reported through the embedded broker with `medic report` as an app would.

No Redis and no PostgreSQL: breakers live in medic's SQLite database (MEDIC_BREAKER_STORE auto).
The embedded broker never gives back a message a killed worker had taken (it stays invisible),
so after a SIGKILL only the sweeper's re-sends and deadlines bring the executions to their end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import recovery
from tests.support.httpserver import respond
from tests.support.recovery import SERVICE, http_target, make_event, plan, retry_step, write_plans
from tests.support.replay_http import allow_http
from tests.support.services import Process, medic_command, medic_env, run_medic, wait_for

pytestmark = pytest.mark.integration

SWEEP_INTERVAL_S = 0.5
REDISPATCH_AFTER_S = 2
# HTTP attempts' deadline is the target's timeout_s + 5 s (DEADLINE_GRACE_S).
HTTP_TIMEOUT_S = 1.0
HTTP_DEADLINE_S = HTTP_TIMEOUT_S + 5
STOP_TIMEOUT_S = 15


class Embedded:
    """`medic run` processes of one test on one data dir, and what the test reads from them."""

    def __init__(self, tmp_path: Path, plans_file: Path, **settings: Any):
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "data"
        self.db_url = f"sqlite:///{self.data_dir / 'medic.sqlite'}"
        self.env = medic_env(data_dir=self.data_dir, plans_files=plans_file, log_format="text", log_level="INFO",
                             recovery_sweep_interval_s=SWEEP_INTERVAL_S,
                             recovery_redispatch_after_s=REDISPATCH_AFTER_S, **settings)
        self.runs: list[Process] = []

    def start(self, concurrency: int = 2) -> Process:
        log = self.tmp_path / f"run-{len(self.runs) + 1}.log"
        run = Process(medic_command("run", "--concurrency", str(concurrency)), self.env, log)
        self.runs.append(run)
        run.wait_ready("ready.", timeout_s=60)
        run.wait_ready("beat: Starting...", timeout_s=30)
        return run

    def report(self, *events: dict) -> None:
        """`medic report EVENTS.jsonl`: queued as `medic.report` on the embedded broker."""
        path = self.tmp_path / f"events-{time.monotonic_ns()}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
        sent = run_medic(self.env, "report", "--json", str(path))
        assert sent.returncode == 0, f"medic report failed ({sent.returncode}):\n{sent.stdout}\n{sent.stderr}"
        outcomes = json.loads(sent.stdout)
        assert len(outcomes) == len(events) and all(o["status"] == "queued" for o in outcomes), sent.stdout

    def stop(self) -> None:
        """SIGTERM to the main process, as a supervisor would (Celery's warm shutdown); the group is
        killed if that takes too long, and whatever of the group is left over is killed too."""
        for run in self.runs:
            try:
                if run.proc.poll() is None:
                    started = time.monotonic()
                    run.proc.send_signal(signal.SIGTERM)
                    try:
                        run.proc.wait(STOP_TIMEOUT_S)
                        print(f"{run.log_path.name}: stopped by SIGTERM in {time.monotonic() - started:.1f}s, "
                              f"exit {run.proc.returncode}")
                    except subprocess.TimeoutExpired:
                        print(f"!!!!! {run.log_path.name}: still running {STOP_TIMEOUT_S}s after SIGTERM: killed")
                try:
                    os.killpg(run.proc.pid, signal.SIGKILL)  # pool children or beat left behind
                except ProcessLookupError:
                    pass
                run.kill()
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {run.log_path.name}: {exc!r}")

    def logs(self) -> list[Path]:
        return [run.log_path for run in self.runs]

    def wait_quiet(self, passes: int = 2, *, timeout_s: float = 30) -> list[dict]:
        """A positive barrier for "nothing more happens" once the executions have ended: `passes`
        sweeper passes taken after now ran (behind whatever was queued before) and had nothing left
        to send or time out."""
        sweeps = recovery.wait_sweeps(self.logs, passes, timeout_s=timeout_s)
        _check(all(s["dispatched"] == 0 and s["timed_out"] == 0 for s in sweeps),
               f"the sweeper still had attempts to send or time out: {sweeps}", self)
        return sweeps

    def evidence(self, chars: int = 5000) -> str:
        parts = []
        for run in self.runs:
            try:
                parts.append(f"===== {run.log_path.name} (exit {run.proc.returncode}) =====\n{run.output()[-chars:]}")
            except OSError as exc:
                parts.append(f"===== {run.log_path.name}: {exc!r}")
        parts.append(recovery.describe(self.db_url))
        try:
            parts.append(f"-- leases {recovery.rows(self.db_url, 'SELECT * FROM leases')}")
            parts.append(f"-- breakers {recovery.rows(self.db_url, 'SELECT * FROM breakers')}")
        except Exception as exc:
            parts.append(f"(could not read leases/breakers: {exc!r})")
        return "\n".join(parts)


@pytest.fixture
def embedded_factory(tmp_path):
    made: list[Embedded] = []

    def make(plans_file: Path, **settings: Any) -> Embedded:
        made.append(Embedded(tmp_path, plans_file, **settings))
        return made[-1]

    try:
        yield make
    finally:
        for stack in made:
            stack.stop()
            print(stack.evidence())  # pytest shows it for a failed test
        recovery.dispose_engines()


def _check(condition: bool, message: str, stack: Embedded) -> None:
    if not condition:
        raise AssertionError(f"{message}\n{stack.evidence()}")


def test_embedded_http_replay_succeeds_after_one_503_with_breakers_in_sqlite(embedded_factory, http_server, tmp_path):
    http_server.script("/orders", respond(503), respond(200, body={"id": 7}))
    plans = write_plans(tmp_path, [plan("embedded-retry", retry_step(5, 0.2, 2, 1, "none"), {"kind": "dead_letter"})])
    medic = embedded_factory(plans, replay_http__allow=allow_http(http_server))
    medic.start()

    medic.report(make_event(http_target(http_server.url("/orders"), body={"order": 7}, timeout_s=HTTP_TIMEOUT_S)))
    [execution] = recovery.wait_executions(medic.db_url, 1, timeout_s=20)
    [done] = recovery.wait_execution_state(medic.db_url, execution["id"], recovery.FINAL_STATES, timeout_s=20)
    medic.wait_quiet()  # a stray third call would have come by now

    _check(done["state"] == "succeeded" and done["plan_name"] == "embedded-retry", f"ended {done}", medic)
    _check(http_server.calls("/orders") == 2 and http_server.effects("/orders") == 1,
           f"calls {http_server.calls('/orders')}, effects {http_server.effects('/orders')}", medic)
    requests = http_server.requests("/orders")
    assert {r.idempotency_key for r in requests} == {f"medic-execution-{done['id']}"}
    assert [r.method for r in requests] == ["POST", "POST"] and requests[1].json() == {"order": 7}
    attempts = recovery.attempts(medic.db_url, done["id"])
    _check([(a["step_kind"], a["number"], a["state"], a["outcome"]) for a in attempts] == [
        ("retry", 1, "failed", "retryable"), ("retry", 2, "succeeded", "success")], "attempts", medic)
    assert "503" in (attempts[0]["error"] or "")
    gap = http_server.times("/orders")[1] - http_server.times("/orders")[0]
    assert gap >= 0.4 - 0.1, f"the second call came {gap:.2f}s after the first (policy: 0.4 s)"
    # The breaker of the service is a row of medic's SQLite database (no Redis in this mode).
    [breaker] = recovery.rows(medic.db_url, "SELECT * FROM breakers WHERE service = :s", s=SERVICE)
    state = breaker["state"] if isinstance(breaker["state"], dict) else json.loads(breaker["state"])
    assert state["state"] == "closed", breaker
    assert recovery.breaker_transitions(medic.db_url) == []


def test_embedded_long_delay_waits_in_sqlite_and_the_sweeper_sends_it_once_at_its_time(embedded_factory, http_server,
                                                                                       tmp_path):
    delay_s = 3.0  # above MEDIC_RECOVERY_COUNTDOWN_MAX_S: no countdown, the sweeper sends it when due
    http_server.script("/later", respond(200))
    plans = write_plans(tmp_path, [plan("embedded-long", retry_step(2, delay_s, 2, 60, "none"),
                                        {"kind": "dead_letter"})])
    medic = embedded_factory(plans, recovery_countdown_max_s=1, replay_http__allow=allow_http(http_server))
    medic.start()

    reported_at = time.time()
    medic.report(make_event(http_target(http_server.url("/later"), timeout_s=HTTP_TIMEOUT_S)))
    [execution] = recovery.wait_executions(medic.db_url, 1, timeout_s=20)
    wait_for(lambda: len(recovery.attempts(medic.db_url, execution["id"])) == 1, timeout_s=10, what="the first attempt")
    [attempt] = recovery.attempts(medic.db_url, execution["id"])
    due = recovery.epoch(attempt["scheduled_for"])
    _check(attempt["state"] == "scheduled" and attempt["dispatched_at"] is None, "dispatched before it was due", medic)
    assert reported_at + delay_s - 0.5 <= due <= reported_at + delay_s + 3, \
        f"due {due - reported_at:.2f}s after reporting"

    [done] = recovery.wait_execution_state(medic.db_url, execution["id"], recovery.FINAL_STATES, timeout_s=20)
    medic.wait_quiet()  # a second send by a later sweep would have run by now

    _check(done["state"] == "succeeded", f"ended {done['state']}", medic)
    _check(http_server.calls("/later") == 1 and http_server.effects("/later") == 1,
           f"calls {http_server.calls('/later')} at {http_server.times('/later')}, due {due}", medic)
    [ran_at] = http_server.times("/later")
    assert ran_at >= due - 0.2, f"replayed {due - ran_at:.2f}s before it was due"
    assert ran_at <= due + SWEEP_INTERVAL_S + 2, f"replayed {ran_at - due:.2f}s after it was due"
    [attempt] = recovery.attempts(medic.db_url, execution["id"])
    assert (attempt["state"], attempt["outcome"], attempt["dispatch_count"]) == ("succeeded", "success", 1), attempt
    assert recovery.epoch(attempt["dispatched_at"]) >= due - 0.2


EVENTS = 8


def test_sigkill_of_medic_run_mid_chain_then_restart_finishes_every_execution_with_one_effect(embedded_factory,
                                                                                               http_server, tmp_path):
    paths = [f"/crash-{n}" for n in range(EVENTS)]
    for n, path in enumerate(paths):
        # Slow answers keep attempts running at the kill; 1 or 2 failures, then success for good.
        failures = [respond(503, delay_s=0.3)] * (1 + n % 2)
        http_server.script(path, *failures, respond(200, delay_s=0.3))
    # Every first attempt fails: the default breaker (5 failures) would open and defer the rest for 30 s.
    plans = write_plans(tmp_path, [plan("embedded-crash", retry_step(8, 0.3, 2, 1, "none"), {"kind": "dead_letter"})],
                        breakers={"services": {SERVICE: {"failure_threshold": 1000}}})
    medic = embedded_factory(plans, replay_http__allow=allow_http(http_server))
    first = medic.start(concurrency=4)
    db_url = medic.db_url

    medic.report(*[make_event(http_target(http_server.url(p), body={"n": n}, timeout_s=HTTP_TIMEOUT_S),
                              operation=f"crash-{n}") for n, p in enumerate(paths)])

    def mid_chain() -> bool:
        # Every event stored (intake messages taken by the killed worker would be lost with it),
        # some executions done and some attempts in flight.
        states = [e["state"] for e in recovery.executions(db_url)]
        in_flight = [a for a in recovery.attempts(db_url) if a["state"] in ("scheduled", "running")]
        return (len(states) == EVENTS and sum(s == "succeeded" for s in states) >= 1
                and len(in_flight) >= 3 and any(a["state"] == "running" for a in in_flight))

    try:
        wait_for(mid_chain, timeout_s=25, interval_s=0.02, what="executions mid-chain with an attempt running")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{medic.evidence()}") from None
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)
    killed_at = time.time()
    at_kill = recovery.describe(db_url)
    leases_at_kill = recovery.rows(db_url, "SELECT * FROM leases")
    unfinished = [e["id"] for e in recovery.executions(db_url) if e["state"] not in recovery.FINAL_STATES]
    running = [a["id"] for a in recovery.attempts(db_url) if a["state"] == "running"]
    print(f"killed at {killed_at:.3f}: unfinished executions {unfinished}, running attempts {running}, "
          f"leases {leases_at_kill}\n{at_kill}")
    assert unfinished, "every execution finished before the kill"
    assert running, "no attempt was running at the kill (the server answers after 0.3 s: the test is too slow)"

    medic.start(concurrency=4)
    restarted_at = time.time()
    # Worst case: a running attempt's deadline (6 s after its claim), or a sweep lease the killed
    # process held (30 s), then the chain's remaining tries.
    try:
        recovery.wait_execution_state(db_url, None, recovery.FINAL_STATES, timeout_s=45, count=EVENTS)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nat the kill:\n{at_kill}\nleases at the kill: {leases_at_kill}\n"
                             f"{medic.evidence()}") from None
    finished_at = time.time()
    medic.wait_quiet(timeout_s=45)  # a late duplicate would have reached the server by now

    finished = recovery.executions(db_url)
    _check([e["state"] for e in finished] == ["succeeded"] * EVENTS, "not every execution succeeded", medic)
    effects = {p: (http_server.effects(p), http_server.calls(p), http_server.successes(p)) for p in paths}
    _check(all(e == 1 for e, _, _ in effects.values()), f"effects != 1 (path: effects, calls, 2xx): {effects}", medic)
    for path in paths:
        keys = set(http_server.idempotency_keys(path))
        _check(len(keys) == 1 and next(iter(keys)).startswith("medic-execution-"), f"{path}: keys {keys}", medic)
    timed_out = [a for a in recovery.attempts(db_url) if a["state"] == "timed_out"]
    resent = [a for a in recovery.attempts(db_url) if a["dispatch_count"] > 1]
    for execution in finished:
        attempts = recovery.attempts(db_url, execution["id"])
        assert attempts[-1]["state"] == "succeeded", recovery.describe(db_url)
        assert [a["number"] for a in attempts] == list(range(1, len(attempts) + 1)), recovery.describe(db_url)
        assert sum(a["state"] == "succeeded" for a in attempts) == 1, recovery.describe(db_url)
    # What the restart had to repair: attempts of the dead process timed out by the sweeper, and
    # messages the embedded broker lost sent again.
    print(f"recovered in {finished_at - killed_at:.1f}s; timed out by the sweeper: "
          f"{[(a['execution_id'], a['number']) for a in timed_out]}; sent more than once: "
          f"{[(a['execution_id'], a['number'], a['dispatch_count']) for a in resent]}; "
          f"(effects, calls, 2xx): {effects}")
    assert {a["id"] for a in timed_out} == set(running), (
        f"running at the kill: {running}; timed out: {[a['id'] for a in timed_out]}\n{recovery.describe(db_url)}")
    for attempt in timed_out:  # timed out by the sweeper at the deadline: the target's timeout_s + 5 s
        claimed, deadline, ended = (recovery.epoch(attempt[k]) for k in ("claimed_at", "deadline_at", "finished_at"))
        assert attempt["outcome"] == "timeout" and abs(deadline - claimed - HTTP_DEADLINE_S) < 0.01, attempt
        assert ended >= deadline, attempt
        if not leases_at_kill:  # (a sweep lease the killed process held delays the first sweeps up to 30 s)
            assert ended <= max(deadline, restarted_at) + 2 * SWEEP_INTERVAL_S + 2, attempt
