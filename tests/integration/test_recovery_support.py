"""The recovery tests' own machinery works on its own: the test app's worker and the scripted HTTP server."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
import redis
from celery import signature

from tests.support import testapp
from tests.support.httpserver import respond
from tests.support.services import wait_for

pytestmark = pytest.mark.integration


def queued_messages(redis_url: str, queue: str) -> list[dict]:
    """Messages waiting in a Redis-transport queue: task name, args, kwargs."""
    found = []
    for raw in redis.Redis.from_url(redis_url).lrange(queue, 0, -1):
        envelope = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        found.append({"task": envelope["headers"]["task"], "id": envelope["headers"]["id"], "args": args,
                      "kwargs": kwargs})
    return found


def test_testapp_worker_runs_flaky_tasks_and_sends_link_callbacks(client, redis_url, tmp_path):
    worker = testapp.start_testapp_worker(tmp_path / "testapp.log", broker_url=redis_url)
    try:
        callbacks = {"link": signature("sanity.done", queue="sanity-callbacks"),
                     "link_error": signature("sanity.failed", queue="sanity-callbacks")}
        client.send_task("testapp.flaky", args=["k1", 1], queue="testapp", task_id="first", **callbacks)
        wait_for(lambda: len(queued_messages(redis_url, "sanity-callbacks")) == 1, timeout_s=20, what="the errback")
        client.send_task("testapp.flaky", args=["k1", 1], queue="testapp", task_id="second", **callbacks)
        wait_for(lambda: len(queued_messages(redis_url, "sanity-callbacks")) == 2, timeout_s=10, what="the callback")
        client.send_task("testapp.always_fails", args=["k2"], queue="testapp")
        client.send_task("testapp.slow", args=["k3", 0.2], queue="testapp")
        wait_for(lambda: testapp.effects("k3", redis_url) == 1, timeout_s=10, what="the slow task")

        assert testapp.calls("k1", redis_url) == 2 and testapp.effects("k1", redis_url) == 1
        assert testapp.task_ids("k1", redis_url) == ["first", "second"]
        first, second = testapp.times("k1", redis_url)
        assert 0 <= second - first < 10 and abs(time.time() - second) < 10
        assert testapp.calls("k2", redis_url) == 1 and testapp.effects("k2", redis_url) == 0
        assert testapp.calls("k3", redis_url) == 1
        # Without a result backend, the app's worker still sends both callbacks to the queue they name:
        # the errback (not a task of this app) gets the failed task's id, the callback its return value.
        # LPUSH/BRPOP: the list's head is the newest message.
        done, failed = queued_messages(redis_url, "sanity-callbacks")
        assert (failed["task"], failed["args"]) == ("sanity.failed", ["first"])
        assert (done["task"], done["args"]) == ("sanity.done", [{"ok": True}])
        assert "partner API down" in worker.output()
    finally:
        worker.terminate()
        print(worker.output()[-3000:])


def test_http_server_scripts_responses_and_counts_effects_per_idempotency_key(http_server):
    http_server.script("/flaky", respond(503, {"Retry-After": "2"}), respond(200, body={"done": 1}))
    http_server.script("/slow", respond(200, delay_s=0.3))
    url = http_server.url
    with httpx.Client(timeout=2) as http:
        first = http.post(url("/flaky"), json={"a": 1}, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == 503 and first.headers["Retry-After"] == "2"
        assert http.post(url("/flaky"), json={"a": 1}, headers={"Idempotency-Key": "k-1"}).json() == {"done": 1}
        assert http.post(url("/flaky"), json={"a": 1}, headers={"Idempotency-Key": "k-1"}).status_code == 200  # repeats
        assert http.post(url("/flaky"), json={"a": 2}, headers={"Idempotency-Key": "k-2"}).status_code == 200
        assert http.get(url("/nowhere")).status_code == 404
        started = time.monotonic()
        assert http.put(url("/slow")).status_code == 200
        assert time.monotonic() - started >= 0.3
        http_server.script("/flaky", 400)  # a new script replaces the rest of the old one
        assert http.post(url("/flaky?x=1")).status_code == 400

    assert http_server.calls("/flaky") == 5
    assert http_server.effects("/flaky") == 2  # k-1 once despite two 2xx answers, k-2 once
    assert http_server.successes("/flaky") == 3
    assert http_server.idempotency_keys("/flaky") == ["k-1", "k-1", "k-1", "k-2", None]
    assert http_server.requests("/flaky")[0].json() == {"a": 1}
    times = http_server.times("/flaky")
    assert times == sorted(times) and abs(time.time() - times[-1]) < 5
    assert http_server.effects("/slow") == 1 and http_server.calls("/nowhere") == 1
