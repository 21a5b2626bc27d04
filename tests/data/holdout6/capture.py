"""Build tests/data/holdout6/cases.jsonl: a sixth held-out set of real errors, labelled by the taxonomy only.

Written without reading medic's rules (config/rules/), its classifier, its classification tests or the
cases of the earlier sets, so it measures how the rules generalise. Each error is raised for real: against
the machine's MariaDB, PostgreSQL, Redis (db 9) and Mosquitto, against servers this script starts on free
127.0.0.1 ports (a scriptable HTTP server that answers like the real APIs, a fake IMAP server, a silent TCP
listener), or by feeding a library real bad input. Events are built by `medic_client.event_from_exception`;
about one case in six is wrapped in an application's own exception (a clinic's booking application).

Run: /tmp/holdout6-venv/bin/python tests/data/holdout6/capture.py [family ...]   (README.md: the venv)
With family names, only those families are captured again; the other families' cases are kept.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from medic_client import event_from_exception

HERE = Path(__file__).resolve().parent
OUT = HERE / "cases.jsonl"
SOURCE = "holdout6-app"
CASES: list[dict[str, Any]] = []
MISSED: list[str] = []
COUNTERS: collections.Counter[str] = collections.Counter()
CLEANUPS: list[Callable[[], Any]] = []
TMP = Path(tempfile.mkdtemp(prefix="holdout6-"))
FAKE_CREDENTIAL = "not-a-real-key-0000"
REDIS_DB = 9
PREFIX = "h6:"


def app_error(name: str) -> type[Exception]:
    cls = type(name, (Exception,), {})
    cls.__module__ = "clinic.errors"
    return cls


BookingFailed = app_error("BookingFailed")
ReminderNotSent = app_error("ReminderNotSent")
RecordSyncFailed = app_error("RecordSyncFailed")
ClaimNotSubmitted = app_error("ClaimNotSubmitted")
ImportFailed = app_error("ImportFailed")
ReportFailed = app_error("ReportFailed")
PatientLookupFailed = app_error("PatientLookupFailed")
ScheduleFailed = app_error("ScheduleFailed")
ExportFailed = app_error("ExportFailed")
LoginRejected = app_error("LoginRejected")


def capture(
    name: str,
    family: str,
    trigger: Callable[[], Any],
    *,
    service: str,
    operation: str | None,
    accept: list[str],
    retryable: bool | None,
    wrap: tuple[type[Exception], str] | None = None,
    context: dict[str, Any] | None = None,
) -> None:
    """Run trigger (a coroutine function's coroutine is awaited) and record what it raises as a case."""
    COUNTERS[family] += 1
    case_id = f"{family}-{COUNTERS[family]}"
    try:
        try:
            result = trigger()
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            if wrap is None:
                raise
            raise wrap[0](wrap[1]) from exc
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 -- every exception is a case (CancelledError too)
        event = event_from_exception(
            exc, service=service, operation=operation, source=SOURCE, context=context, include_traceback=False
        )
        event.pop("occurred_at", None)
        CASES.append({"id": case_id, "family": family, "event": event, "accept": accept, "retryable": retryable})
        extra = " ".join(f"{key}={event[key]}" for key in ("http_status", "errno", "code") if event.get(key))
        print(f"  {case_id:18} {name:34} {event['error_type'][:50]:50} {event['message'][:60]!r} {extra}")
        return
    MISSED.append(f"{case_id} {name}: did not raise")
    print(f"  {case_id:18} {name:34} DID NOT RAISE")


def family(fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        print(f"[{fn.__name__}]")
        try:
            fn()
        except Exception:  # noqa: BLE001
            MISSED.append(f"{fn.__name__}: setup failed: {traceback.format_exc(limit=4)}")
            print(traceback.format_exc())

    run.__name__ = fn.__name__
    return run


def recorder(fam: str, service: str) -> Callable[..., None]:
    """capture() bound to one family and a default service: c(name, trigger, operation, accept, retryable)."""

    def c(
        name: str,
        trigger: Callable[[], Any],
        operation: str,
        accept: list[str],
        retryable: bool | None,
        *,
        service: str = service,
        wrap: tuple[type[Exception], str] | None = None,
    ) -> None:
        capture(name, fam, trigger, service=service, operation=operation, accept=accept, retryable=retryable, wrap=wrap)

    return c


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def in_thread(target: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


class Silent:
    """Accepts TCP connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        in_thread(self._loop)
        CLEANUPS.append(self.sock.close)

    def _loop(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return


class LineServer:
    """A TCP server speaking a line protocol: greeting, then answer(line) -> reply (None closes)."""

    def __init__(self, greeting: bytes, answer: Callable[[bytes], bytes | None]) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.greeting, self.answer = greeting, answer
        in_thread(self._loop)
        CLEANUPS.append(self.sock.close)

    def _loop(self) -> None:
        while True:
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            in_thread(lambda conn=conn: self._serve(conn))

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            if self.greeting:
                conn.sendall(self.greeting)
            reader = conn.makefile("rb")
            for line in reader:
                reply = self.answer(line)
                if reply is None:
                    return
                conn.sendall(reply)


# --------------------------------------------------------------------------- a scriptable HTTP server


class Reply:
    """What the fake HTTP server answers to every request until the next `FAKE.set(...)`."""

    def __init__(
        self,
        status: int = 200,
        body: Any = b"",
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
        mode: str = "normal",
    ) -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        elif isinstance(body, str):
            body = body.encode()
        self.status, self.body, self.headers = status, body, headers or {}
        self.delay_s, self.mode = delay_s, mode


class FakeHTTP:
    def __init__(self) -> None:
        self.reply = Reply()
        self.routes: dict[str, Reply] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                reply = fake.reply
                for prefix, routed in fake.routes.items():
                    if self.path.startswith(prefix):
                        reply = routed
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.mode == "hangup":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply.mode == "raw":
                    self.wfile.write(reply.body)
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_one  # noqa: N815

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.port = server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        in_thread(server.serve_forever)
        CLEANUPS.append(server.shutdown)

    def set(self, status: int = 200, body: Any = b"", headers: dict[str, str] | None = None, **kw: Any) -> None:
        self.reply = Reply(status, body, headers, **kw)


FAKE: FakeHTTP


def answering(
    status: int = 200,
    body: Any = b"",
    headers: dict[str, str] | None = None,
    call: Callable[[], Any] | None = None,
    **kw: Any,
) -> Callable[[], Any]:
    """A trigger that first makes the fake HTTP server answer so, then runs call."""

    def trigger() -> Any:
        FAKE.set(status, body, headers, **kw)
        assert call is not None
        return call()

    return trigger


# =========================================================================== families

def maria_connect(**kw: Any) -> Any:
    import mariadb

    params: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 3306,
        "user": "root",
        "password": "",
        "database": "test",
        "connect_timeout": 3,
        "autocommit": True,
    }
    params.update(kw)
    return mariadb.connect(**params)


def maria(*statements: str) -> None:
    conn = maria_connect()
    try:
        cur = conn.cursor()
        for sql in statements:
            cur.execute(sql)
    finally:
        conn.close()


@family
def mariadb_cases() -> None:
    maria(
        "DROP TABLE IF EXISTS h6_appointments",
        "CREATE TABLE h6_appointments (id INT PRIMARY KEY, patient VARCHAR(12) NOT NULL, room TINYINT UNSIGNED,"
        " slot DATETIME) ENGINE=InnoDB",
        "INSERT INTO h6_appointments VALUES (1, 'p-0001', 3, '2026-12-09 09:00:00'), (2, 'p-0002', 4, NULL)",
        "DROP USER IF EXISTS 'h6_reader'@'%'",
        "CREATE USER 'h6_reader'@'%' IDENTIFIED BY 'reader-pass-0000'",
        "GRANT SELECT ON test.h6_appointments TO 'h6_reader'@'%'",
    )
    CLEANUPS.append(lambda: maria("DROP TABLE IF EXISTS h6_appointments", "DROP USER IF EXISTS 'h6_reader'@'%'"))

    def run(sql: str, **kw: Any) -> Callable[[], None]:
        def trigger() -> None:
            conn = maria_connect(**kw)
            try:
                conn.cursor().execute(sql)
            finally:
                conn.close()

        return trigger

    def lock_wait() -> None:
        holder = maria_connect(autocommit=False)
        waiter = maria_connect(autocommit=False)
        try:
            holder.cursor().execute("SELECT * FROM h6_appointments WHERE id = 1 FOR UPDATE")
            cur = waiter.cursor()
            cur.execute("SET SESSION innodb_lock_wait_timeout = 1")
            cur.execute("UPDATE h6_appointments SET room = 5 WHERE id = 1")
        finally:
            holder.rollback()
            holder.close()
            waiter.close()

    def deadlock() -> None:
        a = maria_connect(autocommit=False)
        b = maria_connect(autocommit=False)
        errors: list[BaseException] = []
        try:
            a.cursor().execute("UPDATE h6_appointments SET room = 6 WHERE id = 1")
            b.cursor().execute("UPDATE h6_appointments SET room = 7 WHERE id = 2")

            def a_second() -> None:
                try:
                    a.cursor().execute("UPDATE h6_appointments SET room = 6 WHERE id = 2")
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)

            thread = in_thread(a_second)
            time.sleep(0.3)
            try:
                b.cursor().execute("UPDATE h6_appointments SET room = 7 WHERE id = 1")
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            thread.join(5)
        finally:
            for conn in (a, b):
                with contextlib.suppress(Exception):
                    conn.rollback()
                conn.close()
        raise errors[0]

    c = recorder("mariadb", "clinic-db")
    c("access_denied", run("SELECT 1", password="not-the-password"), "connect", ["auth"], False)
    c("unknown_database", run("SELECT 1", database="h6_missing_db"), "connect", ["configuration", "not_found"], False)
    c(
        "duplicate_key_wrapped",
        run("INSERT INTO h6_appointments VALUES (1, 'p-0003', 2, NULL)"),
        "book_slot",
        ["conflict", "data", "validation"],
        False,
        wrap=(BookingFailed, "appointment 1 could not be booked"),
        service="bookings",
    )
    c("data_too_long", run("INSERT INTO h6_appointments VALUES (3, 'p-0000000000000004', 1, NULL)"),
      "book_slot", ["validation", "data"], False)
    c("bad_datetime", run("UPDATE h6_appointments SET slot = '2026-13-45 25:00' WHERE id = 2"), "reschedule",
      ["validation", "data"], False)
    c("syntax_error", run("SELECT * FROM h6_appointments WHERE"), "list_slots", ["internal"], False)
    c("missing_table", run("SELECT * FROM h6_rooms"), "list_rooms", ["configuration", "not_found", "internal"], False)
    c("update_denied", run("UPDATE h6_appointments SET room = 1 WHERE id = 2", user="h6_reader",
                           password="reader-pass-0000"), "move_room", ["auth", "configuration"], False)
    c("lock_wait_timeout", lock_wait, "move_room", ["conflict", "timeout"], True)
    c("deadlock_wrapped", deadlock, "swap_rooms", ["conflict"], True,
      wrap=(ScheduleFailed, "rooms for appointments 1 and 2 not swapped"), service="scheduling")


PG_URL = "postgres://postgres@127.0.0.1:5432/test"


@family
def tortoise_cases() -> None:
    import types

    from tortoise import Tortoise, fields
    from tortoise.models import Model

    module = types.ModuleType("h6_clinic_models")

    class Patient(Model):
        id = fields.IntField(primary_key=True)
        mrn = fields.CharField(max_length=16, unique=True)
        last_name = fields.CharField(max_length=40)

        class Meta:
            table = "h6_patients"

    class Visit(Model):
        id = fields.IntField(primary_key=True)
        patient = fields.ForeignKeyField("models.Patient", related_name="visits")
        reason = fields.CharField(max_length=80)

        class Meta:
            table = "h6_visits"

    module.Patient, module.Visit = Patient, Visit
    Patient.__module__ = Visit.__module__ = module.__name__
    sys.modules[module.__name__] = module

    async def orm(body: Callable[[], Any], url: str = PG_URL, modules: str = module.__name__) -> Any:
        await Tortoise.init(db_url=url, modules={"models": [modules]})
        try:
            return await body()
        finally:
            await Tortoise.close_connections()

    async def setup() -> None:
        conn = Tortoise.get_connection("default")
        await conn.execute_script("DROP TABLE IF EXISTS h6_visits; DROP TABLE IF EXISTS h6_patients")
        await Tortoise.generate_schemas()
        await Patient.create(id=1, mrn="MRN-0001", last_name="Okafor")
        await Patient.create(id=2, mrn="MRN-0002", last_name="Okafor")

    async def teardown() -> None:
        await Tortoise.get_connection("default").execute_script(
            "DROP TABLE IF EXISTS h6_visits; DROP TABLE IF EXISTS h6_patients"
        )

    asyncio.run(orm(setup))
    CLEANUPS.append(lambda: asyncio.run(orm(teardown)))

    def sleep_past_timeout() -> Any:
        return Tortoise.get_connection("default").execute_script("SET statement_timeout = 200; SELECT pg_sleep(3)")

    c = recorder("tortoise", "patients-db")
    c("does_not_exist", lambda: orm(lambda: Patient.get(id=999)), "get_patient", ["not_found"], False)
    c("unique_mrn", lambda: orm(lambda: Patient.create(id=3, mrn="MRN-0001", last_name="Ruiz")), "register_patient",
      ["conflict", "data", "validation"], False)
    c("foreign_key_wrapped", lambda: orm(lambda: Visit.create(patient_id=999, reason="follow-up")), "record_visit",
      ["data", "not_found", "validation"], False, wrap=(RecordSyncFailed, "visit for patient 999 not recorded"),
      service="records")
    c("multiple_returned", lambda: orm(lambda: Patient.get(last_name="Okafor")), "find_patient", ["internal", "data"],
      False)
    c("max_length", lambda: orm(lambda: Patient.create(id=4, mrn="MRN-" + "9" * 30, last_name="Ruiz")),
      "register_patient", ["validation"], False)
    c("unknown_filter", lambda: orm(lambda: Patient.filter(date_of_birth="1980-01-01").first()), "find_patient",
      ["internal"], False)
    c("statement_timeout", lambda: orm(sleep_past_timeout), "patient_report", ["timeout"], True)
    c("missing_models_module", lambda: orm(lambda: Patient.all(), modules="clinic.h6_models_missing"), "startup",
      ["configuration", "internal"], False)
    c("missing_database", lambda: orm(lambda: Patient.all(), url="postgres://postgres@127.0.0.1:5432/h6_missing"),
      "get_patient", ["configuration", "not_found"], False)
    c("missing_role_wrapped", lambda: orm(lambda: Patient.all(), url="postgres://h6_nobody@127.0.0.1:5432/test"),
      "get_patient", ["configuration", "auth"], False, wrap=(PatientLookupFailed, "patient list unavailable"),
      service="patients")


@family
def coredis_cases() -> None:
    import coredis

    def client(**kw: Any) -> Any:
        params: dict[str, Any] = {"host": "127.0.0.1", "port": 6379, "db": REDIS_DB, "stream_timeout": 3}
        params.update(kw)
        return coredis.Redis(**params)

    async def cleanup() -> None:
        async with client() as r:
            keys = [key async for key in r.scan_iter(match=PREFIX + "*")]
            if keys:
                await r.delete(keys)

    CLEANUPS.append(lambda: asyncio.run(cleanup()))

    def unwrapped(body: Callable[..., Any], **kw: Any) -> Callable[[], Any]:
        """Run body(r) inside `async with client`, and raise its error after the client closed (anyio would
        otherwise wrap it in an ExceptionGroup), as an application catching RedisError does."""

        async def trigger() -> None:
            failure: BaseException | None = None
            async with client(**kw) as r:
                try:
                    await body(r)
                except coredis.exceptions.RedisError as exc:
                    failure = exc
            if failure is not None:
                raise failure

        return trigger

    async def wrong_type(r: Any) -> None:
        await r.set(PREFIX + "reminders:today", "sent")
        await r.lpush(PREFIX + "reminders:today", ["p-0001"])

    async def not_integer(r: Any) -> None:
        await r.set(PREFIX + "slots:free", "four")
        await r.decr(PREFIX + "slots:free")

    async def unknown_command(r: Any) -> None:
        await r.json.get(PREFIX + "patient:1")

    async def ping(r: Any) -> None:
        await r.ping()

    async def watch_conflict(r: Any) -> None:
        await r.set(PREFIX + "room:3:holder", "p-0001")
        async with r.pipeline(transaction=True) as pipe, pipe.watch(PREFIX + "room:3:holder"):
            async with client() as other:
                await other.set(PREFIX + "room:3:holder", "p-0002")
            pipe.set(PREFIX + "room:3:holder", "p-0003")

    async def busy_group(r: Any) -> None:
        await r.xgroup_create(PREFIX + "checkins", "front-desk", identifier="$", mkstream=True)
        await r.xgroup_create(PREFIX + "checkins", "front-desk", identifier="$", mkstream=True)

    async def no_group(r: Any) -> None:
        await r.xadd(PREFIX + "labs", {"patient": "p-0001"})
        await r.xreadgroup("lab-results", "worker-1", streams={PREFIX + "labs": ">"}, count=1)

    async def script_error(r: Any) -> None:
        await r.hset(PREFIX + "patient:1", {"name": "Okafor"})
        await r.eval("return redis.call('incr', KEYS[1])", keys=[PREFIX + "patient:1"])

    async def lock_not_acquired(r: Any) -> None:
        await r.set(PREFIX + "lock:invoice-run", "other-worker-token")
        async with r.lock(PREFIX + "lock:invoice-run", timeout=5, blocking_timeout=0.3):
            pass

    async def get_patient(r: Any) -> None:
        await r.get(PREFIX + "patient:1")

    silent = Silent()
    c = recorder("coredis", "clinic-cache")
    c("wrong_type", unwrapped(wrong_type), "queue_reminder", ["internal", "data"], False)
    c("not_integer_wrapped", unwrapped(not_integer), "take_slot", ["data", "validation", "internal"], False,
      wrap=(BookingFailed, "could not take a free slot"), service="bookings")
    c("unknown_command", unwrapped(unknown_command), "read_patient", ["configuration", "internal"], False)
    c("wrong_password", unwrapped(ping, username="h6_clinic", password="not-the-password"), "connect",
      ["auth", "configuration"], False)
    c("watch_conflict", unwrapped(watch_conflict), "assign_room", ["conflict"], True)
    c("busygroup", unwrapped(busy_group), "create_checkin_group", ["conflict", "validation"], False)
    c("nogroup", unwrapped(no_group), "read_lab_results", ["not_found", "configuration"], False)
    c("script_wrong_type", unwrapped(script_error), "count_visit", ["internal", "data"], False)
    c("lock_not_acquired_wrapped", unwrapped(lock_not_acquired), "run_invoices", ["conflict", "timeout"], True,
      wrap=(ReportFailed, "invoice run skipped"), service="billing")
    c("silent_timeout", unwrapped(get_patient, port=silent.port, connect_timeout=0.5, stream_timeout=0.5),
      "read_patient", ["timeout", "network", "unavailable"], True)


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


@family
def curl_cffi_cases() -> None:
    from curl_cffi import requests as curl

    def get(path: str = "/v2/claims/CL-0042", timeout: float = 3, **kw: Any) -> Callable[[], Any]:
        def call() -> Any:
            resp = curl.get(FAKE.url + path, timeout=timeout, impersonate="chrome", **kw)
            resp.raise_for_status()
            return resp.json()

        return call

    def post_claim() -> Any:
        resp = curl.post(FAKE.url + "/v2/claims", json={"patient": "p-0001", "amount": "120.00"}, timeout=3)
        resp.raise_for_status()
        return resp.json()

    c = recorder("curl_cffi", "insurer-api")
    c("http_404", answering(404, problem(404, "Not Found", "claim CL-0042 does not exist"), call=get()),
      "get_claim", ["not_found"], False)
    c("http_401", answering(401, problem(401, "Unauthorized", "API key expired"),
                            {"WWW-Authenticate": 'Bearer error="invalid_token"'}, call=get()),
      "get_claim", ["auth"], False)
    c("http_429_wrapped", answering(429, problem(429, "Too Many Requests", "limit of 60 requests per minute"),
                                    {"Retry-After": "30"}, call=post_claim),
      "submit_claim", ["rate_limit"], True, wrap=(ClaimNotSubmitted, "claim for visit 881 not submitted"),
      service="claims")
    c("http_502", answering(502, "<html><body><h1>502 Bad Gateway</h1></body></html>",
                            {"Content-Type": "text/html"}, call=get()),
      "get_claim", ["unavailable"], True)
    c("http_409", answering(409, problem(409, "Conflict", "claim CL-0042 was already submitted"), call=post_claim),
      "submit_claim", ["conflict", "validation"], False)
    c("read_timeout", answering(200, {"status": "ok"}, delay_s=2.0, call=get(timeout=0.5)), "get_claim",
      ["timeout"], True)
    c("hangup", answering(mode="hangup", call=get()), "get_claim", ["network", "unavailable"], True)
    c("redirect_loop", answering(302, b"", {"Location": "/v2/claims/CL-0042"}, call=get(max_redirects=5)),
      "get_claim", ["configuration", "unavailable", "internal"], False)
    c("bad_json", answering(200, "<html>Maintenance window until 06:00</html>", {"Content-Type": "text/html"},
                            call=get()),
      "get_claim", ["unavailable", "data", "unknown"], None)


@family
def notion_cases() -> None:
    import notion_client

    def client(timeout_ms: int = 3000) -> Any:
        return notion_client.Client(auth="secret_not-a-real-key-0000", base_url=FAKE.url, timeout_ms=timeout_ms,
                                    retry=False, log_level=logging.CRITICAL)

    def error(status: int, code: str, message: str) -> dict[str, Any]:
        return {"object": "error", "status": status, "code": code, "message": message,
                "request_id": "5b3c3e4a-0000-4000-8000-000000000000"}

    page = "1f0c2a4e-0000-4000-8000-00000000beef"

    def get_page() -> Any:
        return client().pages.retrieve(page_id=page)

    def add_note() -> Any:
        return client().pages.create(parent={"database_id": page}, properties={"Name": {"title": []}})

    c = recorder("notion", "notion")
    c("object_not_found", answering(404, error(404, "object_not_found",
                                               f"Could not find page with ID: {page}. Make sure the relevant pages"
                                               " and databases are shared with your integration."), call=get_page),
      "read_care_plan", ["not_found", "auth"], False)
    c("unauthorized", answering(401, error(401, "unauthorized", "API token is invalid."), call=get_page),
      "read_care_plan", ["auth"], False)
    c("restricted_resource", answering(403, error(403, "restricted_resource",
                                                  "Integration does not have update content capabilities."),
                                       call=add_note), "write_visit_note", ["auth", "configuration"], False)
    c("rate_limited_wrapped", answering(429, error(429, "rate_limited", "You have been rate limited. Please try again"
                                                   " in a few minutes."), {"Retry-After": "12"}, call=add_note),
      "write_visit_note", ["rate_limit"], True, wrap=(RecordSyncFailed, "visit note 77 not copied to Notion"),
      service="care-notes")
    c("validation_error", answering(400, error(400, "validation_error",
                                               "body failed validation: body.properties.Name.title should be"
                                               " defined, instead was `undefined`."), call=add_note),
      "write_visit_note", ["validation"], False)
    c("conflict_error", answering(409, error(409, "conflict_error",
                                             "Conflict occurred while saving. Please try again."), call=add_note),
      "write_visit_note", ["conflict"], True)
    c("service_unavailable", answering(503, error(503, "service_unavailable",
                                                  "Notion is unavailable, please try again later."), call=get_page),
      "read_care_plan", ["unavailable"], True)
    c("request_timeout", answering(200, {"object": "page"}, delay_s=2.0, call=lambda: client(400).pages.retrieve(
        page_id=page)), "read_care_plan", ["timeout"], True)
    c("html_gateway", answering(502, "<html><head><title>502 Bad Gateway</title></head></html>",
                                {"Content-Type": "text/html"}, call=get_page),
      "read_care_plan", ["unavailable"], True)


@family
def mistral_cases() -> None:
    from mistralai.client import Mistral

    def client(timeout_ms: int = 3000) -> Any:
        return Mistral(api_key=FAKE_CREDENTIAL, server_url=FAKE.url, timeout_ms=timeout_ms)

    def summarise(timeout_ms: int = 3000) -> Callable[[], Any]:
        def call() -> Any:
            return client(timeout_ms).chat.complete(
                model="mistral-small-latest",
                messages=[{"role": "user", "content": "Summarise the visit notes of patient p-0001."}],
            )

        return call

    c = recorder("mistral", "mistral-api")
    c("unauthorized", answering(401, {"message": "Unauthorized", "request_id": "0c1d"}, call=summarise()),
      "summarise_visit", ["auth"], False)
    c("rate_limited", answering(429, {"object": "error", "message": "Requests rate limit exceeded",
                                      "type": "rate_limited", "param": None, "code": "1300"}, call=summarise()),
      "summarise_visit", ["rate_limit"], True)
    c("capacity_exceeded_wrapped", answering(429, {"object": "error", "message": "Service tier capacity exceeded for"
                                                   " this model.", "type": "service_tier_capacity_exceeded",
                                                   "param": None, "code": "3505"}, call=summarise()),
      "summarise_visit", ["rate_limit", "unavailable"], True,
      wrap=(ReportFailed, "visit summary for p-0001 not generated"), service="visit-summaries")
    c("validation_422", answering(422, {"object": "error", "message": {"detail": [
        {"type": "missing", "loc": ["body", "messages"], "msg": "Field required", "input": None}]},
        "type": "invalid_request_error", "param": None, "code": None}, call=summarise()),
      "summarise_visit", ["validation"], False)
    c("invalid_model", answering(400, {"object": "error", "message": "Invalid model: mistral-small-latest",
                                       "type": "invalid_model", "param": None, "code": "1500"}, call=summarise()),
      "summarise_visit", ["validation", "configuration", "not_found"], False)
    c("internal_500", answering(500, {"object": "error", "message": "Internal server error", "type": "internal_error",
                                      "param": None, "code": None}, call=summarise()),
      "summarise_visit", ["unavailable"], True)
    c("timeout", answering(200, {}, delay_s=2.0, call=summarise(500)), "summarise_visit", ["timeout"], True)
    c("hangup", answering(mode="hangup", call=summarise()), "summarise_visit", ["network", "unavailable"], True)


@family
def qdrant_cases() -> None:
    from qdrant_client import QdrantClient, models

    def client(timeout: int = 3) -> Any:
        return QdrantClient(url=FAKE.url, api_key=FAKE_CREDENTIAL, timeout=timeout, check_compatibility=False,
                            https=False)

    def err(message: str) -> dict[str, Any]:
        return {"status": {"error": message}, "time": 0.000021}

    def search() -> Any:
        return client().query_points("h6_visit_notes", query=[0.1, 0.2, 0.3], limit=3)

    def upsert() -> Any:
        return client().upsert("h6_visit_notes", points=[models.PointStruct(id=1, vector=[0.1, 0.2], payload={})])

    c = recorder("qdrant", "vector-db")
    c("collection_missing", answering(404, err("Not found: Collection `h6_visit_notes` doesn't exist!"), call=search),
      "similar_notes", ["not_found", "configuration"], False)
    c("wrong_dimension", answering(400, err("Wrong input: Vector dimension error: expected dim: 3, got 2"),
                                   call=upsert), "index_note", ["validation", "internal", "configuration"], False)
    c("forbidden_wrapped", answering(403, err("Forbidden: Global access is required"), call=upsert), "index_note",
      ["auth"], False, wrap=(RecordSyncFailed, "note 12 not indexed"), service="note-search")
    c("unauthorized", answering(401, {"status": "error", "message": "Must provide an API key or an Authorization"
                                      " bearer token"}, call=search), "similar_notes", ["auth"], False)
    c("overloaded", answering(503, err("Service internal error: Too many requests in the update queue"),
                              call=upsert), "index_note", ["unavailable", "rate_limit"], True)
    c("disk_full", answering(500, err("Service internal error: No space left on device (os error 28)"), call=upsert),
      "index_note", ["resource", "unavailable"], False)
    c("timeout", answering(200, {"result": [], "status": "ok", "time": 0.1}, delay_s=2.5,
                           call=lambda: client(1).query_points("h6_visit_notes", query=[0.1, 0.2, 0.3])),
      "similar_notes", ["timeout"], True)
    c("rate_limited", answering(429, err("Too many requests: rate limit exceeded, retry later"),
                                {"Retry-After": "5"}, call=search), "similar_notes", ["rate_limit"], True)


@family
def consul_cases() -> None:
    import consul

    def kv_get() -> Callable[[], Any]:
        def call() -> Any:
            return consul.Consul(host="127.0.0.1", port=FAKE.port, token=FAKE_CREDENTIAL).kv.get(
                "clinic/feature-flags/reminders"
            )

        return call

    def register() -> Any:
        return consul.Consul(host="127.0.0.1", port=FAKE.port).agent.service.register(
            "booking-api", service_id="booking-api-1", port=8080
        )

    c = recorder("consul", "consul")
    c("acl_not_found", answering(403, "ACL not found", {"Content-Type": "text/plain"}, call=kv_get()),
      "read_flags", ["auth"], False)
    c("permission_denied_wrapped", answering(403, "Permission denied: token with AccessorID 'a1b2' lacks permission"
                                             " 'service:write' on \"booking-api\"", {"Content-Type": "text/plain"},
                                             call=register),
      "register_service", ["auth", "configuration"], False,
      wrap=(ScheduleFailed, "booking-api not registered"), service="service-registry")
    c("no_leader", answering(500, "No cluster leader", {"Content-Type": "text/plain"}, call=kv_get()),
      "read_flags", ["unavailable"], True)
    c("bad_request", answering(400, "Invalid service address", {"Content-Type": "text/plain"}, call=register),
      "register_service", ["validation", "configuration"], False)
    c("rate_limited", answering(429, "rate limit exceeded for operation", {"Content-Type": "text/plain",
                                                                          "Retry-After": "1"}, call=kv_get()),
      "read_flags", ["rate_limit"], True)
    c("rpc_deadline", answering(500, "rpc error making call: i/o deadline reached", {"Content-Type": "text/plain"},
                                call=kv_get()), "read_flags", ["unavailable", "timeout"], True)


FAMILIES: list[Callable[[], None]] = []  # filled at the end of the file


def write_out(wanted: set[str]) -> None:
    order = [fn.__name__.removesuffix("_cases") for fn in FAMILIES]
    kept: list[dict[str, Any]] = []
    if wanted and OUT.exists():
        captured = {case["family"] for case in CASES}
        kept = [case for case in map(json.loads, OUT.read_text().splitlines()) if case["family"] not in captured]
    cases = sorted(
        kept + CASES,
        key=lambda case: (
            order.index(case["family"]) if case["family"] in order else len(order),
            int(case["id"].rsplit("-", 1)[1]),
        ),
    )
    with OUT.open("w") as out:
        for case in cases:
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
    print(f"\n{len(CASES)} cases captured, {len(cases)} written to {OUT.name}")


def main() -> int:
    global FAKE
    FAKE = FakeHTTP()
    wanted = {name.removesuffix("_cases") for name in sys.argv[1:]}
    unknown = wanted - {fn.__name__.removesuffix("_cases") for fn in FAMILIES}
    if unknown:
        print(f"unknown families: {sorted(unknown)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        for run in FAMILIES:
            if not wanted or run.__name__.removesuffix("_cases") in wanted:
                run()
    finally:
        for cleanup in reversed(CLEANUPS):
            with contextlib.suppress(Exception):
                cleanup()
        shutil.rmtree(TMP, ignore_errors=True)
    write_out(wanted)
    for name, n in sorted(collections.Counter(case["family"] for case in CASES).items()):
        print(f"  {name:18} {n}")
    print(f"{time.monotonic() - started:.1f} s")
    if MISSED:
        print("not captured:\n  " + "\n  ".join(MISSED))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    FAMILIES.extend(fn for name, fn in list(globals().items()) if name.endswith("_cases") and callable(fn))
    sys.exit(main())
