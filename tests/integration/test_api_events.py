"""POST /api/events against the real PostgreSQL and Redis: in-process (FastAPI's test client), and as a
live `medic serve` with a real worker, fed by curl and by Node.js `fetch` (the documented examples).

Broker or database outages are ports nothing listens on: the broker URL of a closed port makes the
API store events directly; with the database's port closed too, nothing can be taken (503).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from config.settings import load_settings
from tests.integration.test_serve import start_serve
from tests.support import services
from tests.support.pgcluster import free_port
from tests.support.recovery import http_target, make_event
from tests.support.services import Process, medic_command, medic_env, start_worker, wait_for
from workers.api.app import create_app
from workers.storage.db import session_factory
from workers.storage.models import Occurrence, RejectedEvent

pytestmark = pytest.mark.integration

INGEST_TOKEN = "ingest-token-0123456789abcdef"
READ_TOKEN = "read-token-0123456789abcdef"
WRITE_TOKEN = "write-token-0123456789abcdef"
TOKENS = {"shop": {"token": INGEST_TOKEN, "access": "ingest"}, "grafana": {"token": READ_TOKEN, "access": "read"},
          "oncall": {"token": WRITE_TOKEN, "access": "write"}}
SECRET = "sk_live_abcdefghijklmnop1234"
VALID = {"error_type": "TimeoutError", "message": "read timed out after 5 s", "service": "checkout"}
NO_TYPE = {"message": "no error_type", "service": "checkout"}
NO_TYPE_REASON = "invalid event: error_type: Field required"

# The documented Node.js example, as it would run (node >= 18: fetch is built in).
NODE_EXAMPLE = """
const response = await fetch(`${process.env.MEDIC_URL}/api/events`, {
  method: "POST",
  headers: {"Authorization": `Bearer ${process.env.MEDIC_TOKEN}`, "Content-Type": "application/json"},
  body: JSON.stringify({
    error_type: "FetchError", message: "GET https://partner.example/orders failed: ECONNRESET",
    service: "partner-api", operation: "list-orders", source: "shop-frontend", errno: "ECONNRESET",
  }),
});
console.log(response.status, JSON.stringify(await response.json()));
"""


class Api:
    """The API in-process on the given database and broker, called with the ingest token by default."""

    def __init__(self, database_url: str, broker_url: str, **serve):
        self.settings = load_settings(database_url=database_url, broker_url=broker_url,
                                      serve={"tokens": TOKENS, **serve})
        self.http = TestClient(create_app(self.settings), raise_server_exceptions=True)
        self.sessions = session_factory(database_url)

    def post(self, body, token: str | None = INGEST_TOKEN, **kwargs):
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **kwargs.pop("headers", {})}
        if not isinstance(body, (bytes, str)):
            body, headers = json.dumps(body), {"Content-Type": "application/json", **headers}
        return self.http.post("/api/events", content=body, headers=headers, **kwargs)

    def rows(self, query):
        with self.sessions() as session:
            return session.execute(query).all()


@pytest.fixture
def db_url(pg_database):
    return services.pg_url(pg_database)


@pytest.fixture
def api(db_url, redis_url):
    return Api(db_url, redis_url)


def closed_port_url(scheme: str) -> str:
    return f"{scheme}://127.0.0.1:{free_port()}/0" if scheme == "redis" else \
        services.pg_url("medic", port=free_port())


def test_a_batch_is_published_its_rejections_kept_and_a_worker_stores_the_rest(tmp_path, db_url, redis_url, api):
    worker = start_worker(medic_env(database_url=db_url, broker_url=redis_url), tmp_path / "worker.log")
    try:
        batch = [VALID, NO_TYPE, ["not", "an", "object"],
                 {**VALID, "message": "refused", "service": "payments", "context": {"api_key": SECRET}},
                 {"error_type": "X", "service": "s", "message": "m", "context": {"token": SECRET},
                  "http_status": "500"}]
        answer = api.post(batch)
        assert answer.status_code == 202, answer.text
        body = answer.json()
        items = body["items"]
        assert (body["accepted"], body["rejected"]) == (2, 3)
        assert [(i["index"], i["status"], i["via"]) for i in items] == [
            (0, "accepted", "broker"), (1, "rejected", "direct"), (2, "rejected", "direct"),
            (3, "accepted", "broker"), (4, "rejected", "direct")]
        assert items[1]["reason"] == NO_TYPE_REASON
        assert items[2]["reason"] == "invalid event: expected a JSON object, got an array"
        assert "http_status" in items[4]["reason"]

        rejected = {row.id: row for row, in api.rows(select(RejectedEvent))}
        assert set(rejected) == {items[1]["id"], items[2]["id"], items[4]["id"]}
        assert rejected[items[1]["id"]].reason == NO_TYPE_REASON
        assert SECRET not in rejected[items[4]["id"]].payload and "***" in rejected[items[4]["id"]].payload

        published = {items[0]["id"], items[3]["id"]}  # task ids: the worker stores them as delivery ids
        wait_for(lambda: {d for d, in api.rows(select(Occurrence.delivery_id))} == published, timeout_s=20,
                 what="the worker to store both published events")
        stored = api.rows(select(Occurrence.event).where(Occurrence.delivery_id == items[3]["id"]))[0][0]
        assert stored["context"]["api_key"] == "***"
    finally:
        worker.terminate()


def test_a_rejected_event_is_kept_with_its_reason_and_id(api):
    answer = api.post(NO_TYPE, token=WRITE_TOKEN)  # a write token may ingest, writes allowed or not
    assert answer.status_code == 202, answer.text
    item, = answer.json()["items"]
    assert item == {"index": 0, "status": "rejected", "via": "direct", "id": item["id"], "reason": NO_TYPE_REASON}
    (reason, payload), = api.rows(select(RejectedEvent.reason, RejectedEvent.payload)
                                  .where(RejectedEvent.id == item["id"]))
    assert reason == NO_TYPE_REASON and json.loads(payload) == NO_TYPE


def test_tokens_decide_who_may_ingest_and_ingest_tokens_read_nothing(api):
    assert api.post(VALID, token=None).status_code == 401
    unknown = api.post(VALID, token="wrong-token-0123456789abcdef")
    assert unknown.status_code == 401 and unknown.json()["detail"] == "unknown token"
    read = api.post(VALID, token=READ_TOKEN)
    assert read.status_code == 403 and "ingest" in read.json()["detail"]
    for path in ("/api/groups", "/api/executions", "/api/alerts"):
        refused = api.http.get(path, headers={"Authorization": f"Bearer {INGEST_TOKEN}"})
        assert refused.status_code == 403 and "only POST /api/events" in refused.json()["detail"], path
    assert api.http.get("/api/groups", headers={"Authorization": f"Bearer {READ_TOKEN}"}).status_code == 200


def test_bodies_medic_cannot_read_are_refused_naming_why(db_url, redis_url):
    api = Api(db_url, redis_url, ingest_max_events=3, ingest_max_body_bytes=2048)
    cases = [
        (api.post(json.dumps(VALID), headers={"Content-Type": "text/plain"}), 415, "application/json"),
        (api.post(json.dumps(VALID)), 415, "application/json"),  # no Content-Type at all
        (api.post('{"error_type": ', headers={"Content-Type": "application/json"}), 400, "not JSON"),
        (api.post('"just a string"', headers={"Content-Type": "application/json"}), 400, "a string"),
        (api.post("[]", headers={"Content-Type": "application/json"}), 400, "empty array"),
        (api.post('{"n": NaN}', headers={"Content-Type": "application/json"}), 400, "NaN"),
        (api.post([VALID] * 4), 413, "MEDIC_SERVE__INGEST_MAX_EVENTS"),
        (api.post({**VALID, "message": "x" * 3000}), 413, "MEDIC_SERVE__INGEST_MAX_BODY_BYTES"),
    ]
    for answer, code, says in cases:
        assert answer.status_code == code and says in answer.json()["detail"], answer.text
        assert "Traceback" not in answer.text
    assert api.rows(select(Occurrence.id)) == [] and api.rows(select(RejectedEvent.id)) == []


def test_with_the_broker_down_events_are_stored_directly(db_url):
    api = Api(db_url, closed_port_url("redis"))
    started = time.monotonic()
    with_target = make_event(http_target("http://127.0.0.1:9/orders"))  # its recovery starts here, as a worker's
    answer = api.post([VALID, NO_TYPE, {**VALID, "idempotency_key": "order-7"}, {**VALID, "idempotency_key": "order-7"},
                       with_target])
    took_s = time.monotonic() - started
    assert answer.status_code == 202, answer.text
    items = answer.json()["items"]
    assert [(i["status"], i["via"]) for i in items] == [("accepted", "direct"), ("rejected", "direct"),
                                                        ("accepted", "direct"), ("accepted", "direct"),
                                                        ("accepted", "direct")]
    # The same idempotency key twice in one batch: one occurrence (the batch's first), the other a duplicate.
    assert items[3]["duplicate"] is True and items[3]["id"] is None and "duplicate" not in items[2]
    stored = {occurrence_id for occurrence_id, in api.rows(select(Occurrence.id))}
    assert stored == {items[0]["id"], items[2]["id"], items[4]["id"]}
    # its first attempt waits for the sweeper (the broker is down), as with `medic report --direct`
    assert api.rows(text("SELECT occurrence_id, state FROM executions")) == [(items[4]["id"], "pending")]
    assert took_s < 5, f"the request took {took_s:.1f}s with the broker down"


def test_with_the_database_down_rejections_go_to_the_broker(redis_url):
    api = Api(closed_port_url("postgresql"), redis_url)
    answer = api.post([VALID, NO_TYPE])
    assert answer.status_code == 202, answer.text
    assert [(i["status"], i["via"]) for i in answer.json()["items"]] == [("accepted", "broker"), ("rejected", "broker")]


def test_with_the_broker_and_the_database_down_nothing_is_claimed_accepted():
    api = Api(closed_port_url("postgresql"), closed_port_url("redis"))
    answer = api.post([VALID, NO_TYPE])
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert "broker and the database are unavailable" in body["detail"] and body["published"] == []
    assert "accepted" not in body and answer.headers["retry-after"]


def test_a_token_over_its_rate_gets_429_with_retry_after(db_url, redis_url):
    # A slow rate, so the refill while a slow machine runs the requests stays far below one event.
    api = Api(db_url, redis_url, ingest_rate_per_s=0.1, ingest_burst_events=3, ingest_max_events=3)
    started_s = time.monotonic()
    assert api.post([VALID, VALID]).status_code == 202
    refused = api.post([VALID, VALID])  # 1 event left in the bucket, 2 asked: 10 s to wait at 0.1/s
    refill_s = time.monotonic() - started_s  # what has dripped back since shortens the wait by as much
    assert refused.status_code == 429
    assert 10 - refill_s - 1 <= int(refused.headers["retry-after"]) <= 10
    assert "MEDIC_SERVE__INGEST_RATE_PER_S" in refused.json()["detail"]
    assert api.post(VALID).status_code == 202  # the one left
    assert api.post(VALID).status_code == 429  # empty: refused before the body is read
    assert api.post(VALID, token=WRITE_TOKEN).status_code == 202  # each token has its own bucket


def test_curl_and_node_report_to_a_live_medic_serve_and_a_worker_stores_it(tmp_path, db_url, redis_url):
    worker = Process(medic_command("worker", "--queues", "medic.errors", "--concurrency", "1"),
                     medic_env(database_url=db_url, broker_url=redis_url), tmp_path / "worker.log")
    serve, base = start_serve(tmp_path, db_url, redis_url, tokens=json.dumps(TOKENS))  # meanwhile the worker starts
    try:
        worker.wait_ready()
        curl = subprocess.run(
            ["curl", "-sS", "-X", "POST", f"{base}/api/events", "-H", f"Authorization: Bearer {INGEST_TOKEN}",
             "-H", "Content-Type: application/json",
             "--data", json.dumps({"error_type": "ConnectTimeout", "message": "connect timed out",
                                   "service": "partner-api", "source": "cron.sh"})],
            capture_output=True, text=True, timeout=30, check=True) if shutil.which("curl") else None
        task_ids = [json.loads(curl.stdout)["items"][0]["id"]] if curl else []
        if shutil.which("node"):
            script = tmp_path / "report.mjs"
            script.write_text(NODE_EXAMPLE)
            ran = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=30, check=True,
                                 env={"PATH": "/usr/bin:/bin", "MEDIC_URL": base, "MEDIC_TOKEN": INGEST_TOKEN})
            status, answer = ran.stdout.split(" ", 1)
            assert status == "202", ran.stdout + ran.stderr
            task_ids.append(json.loads(answer)["items"][0]["id"])
        if not task_ids:
            pytest.skip("neither curl nor node is installed")
        sessions = session_factory(db_url)

        def stored() -> set[str]:
            with sessions() as session:
                return set(session.scalars(select(Occurrence.delivery_id)))

        wait_for(lambda: stored() == set(task_ids), timeout_s=20, what="the worker to store the reported events")

        def chunks():  # no Content-Length: the server counts what it reads and stops at the cap
            for _ in range(4):
                yield b"[" + b" " * 2**19
        streamed = httpx.post(f"{base}/api/events", content=chunks(), timeout=10,
                              headers={"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"})
        assert streamed.status_code == 413 and "MEDIC_SERVE__INGEST_MAX_BODY_BYTES" in streamed.text
        assert httpx.get(f"{base}/api/openapi.json", timeout=10).json()["paths"]["/api/events"]["post"]
        print(f"stored by the worker: {len(task_ids)} events (curl: {curl is not None}, node: {len(task_ids) > 1})")
    finally:
        serve.terminate(timeout_s=15)
        worker.terminate()
        print(serve.output()[-3000:])
