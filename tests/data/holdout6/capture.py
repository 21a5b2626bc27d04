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


class Closer(Silent):
    """Accepts TCP connections and closes each at once, without a byte."""

    def _loop(self) -> None:
        while True:
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            conn.close()


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
    c(
        "data_too_long",
        run("INSERT INTO h6_appointments VALUES (3, 'p-0000000000000004', 1, NULL)"),
        "book_slot",
        ["validation", "data"],
        False,
    )
    c(
        "bad_datetime",
        run("UPDATE h6_appointments SET slot = '2026-13-45 25:00' WHERE id = 2"),
        "reschedule",
        ["validation", "data"],
        False,
    )
    c("syntax_error", run("SELECT * FROM h6_appointments WHERE"), "list_slots", ["internal"], False)
    c("missing_table", run("SELECT * FROM h6_rooms"), "list_rooms", ["configuration", "not_found", "internal"], False)
    c(
        "update_denied",
        run("UPDATE h6_appointments SET room = 1 WHERE id = 2", user="h6_reader", password="reader-pass-0000"),
        "move_room",
        ["auth", "configuration"],
        False,
    )
    c("lock_wait_timeout", lock_wait, "move_room", ["conflict", "timeout"], True)
    c(
        "deadlock_wrapped",
        deadlock,
        "swap_rooms",
        ["conflict"],
        True,
        wrap=(ScheduleFailed, "rooms for appointments 1 and 2 not swapped"),
        service="scheduling",
    )


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
    c(
        "unique_mrn",
        lambda: orm(lambda: Patient.create(id=3, mrn="MRN-0001", last_name="Ruiz")),
        "register_patient",
        ["conflict", "data", "validation"],
        False,
    )
    c(
        "foreign_key_wrapped",
        lambda: orm(lambda: Visit.create(patient_id=999, reason="follow-up")),
        "record_visit",
        ["data", "not_found", "validation"],
        False,
        wrap=(RecordSyncFailed, "visit for patient 999 not recorded"),
        service="records",
    )
    c(
        "multiple_returned",
        lambda: orm(lambda: Patient.get(last_name="Okafor")),
        "find_patient",
        ["internal", "data"],
        False,
    )
    c(
        "max_length",
        lambda: orm(lambda: Patient.create(id=4, mrn="MRN-" + "9" * 30, last_name="Ruiz")),
        "register_patient",
        ["validation"],
        False,
    )
    c(
        "unknown_filter",
        lambda: orm(lambda: Patient.filter(date_of_birth="1980-01-01").first()),
        "find_patient",
        ["internal"],
        False,
    )
    c("statement_timeout", lambda: orm(sleep_past_timeout), "patient_report", ["timeout"], True)
    c(
        "missing_models_module",
        lambda: orm(lambda: Patient.all(), modules="clinic.h6_models_missing"),
        "startup",
        ["configuration", "internal"],
        False,
    )
    c(
        "missing_database",
        lambda: orm(lambda: Patient.all(), url="postgres://postgres@127.0.0.1:5432/h6_missing"),
        "get_patient",
        ["configuration", "not_found"],
        False,
    )
    c(
        "missing_role_wrapped",
        lambda: orm(lambda: Patient.all(), url="postgres://h6_nobody@127.0.0.1:5432/test"),
        "get_patient",
        ["configuration", "auth"],
        False,
        wrap=(PatientLookupFailed, "patient list unavailable"),
        service="patients",
    )


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
    c(
        "not_integer_wrapped",
        unwrapped(not_integer),
        "take_slot",
        ["data", "validation", "internal"],
        False,
        wrap=(BookingFailed, "could not take a free slot"),
        service="bookings",
    )
    c("unknown_command", unwrapped(unknown_command), "read_patient", ["configuration", "internal"], False)
    c(
        "wrong_password",
        unwrapped(ping, username="h6_clinic", password="not-the-password"),
        "connect",
        ["auth", "configuration"],
        False,
    )
    c("watch_conflict", unwrapped(watch_conflict), "assign_room", ["conflict"], True)
    c("busygroup", unwrapped(busy_group), "create_checkin_group", ["conflict", "validation"], False)
    c("nogroup", unwrapped(no_group), "read_lab_results", ["not_found", "configuration"], False)
    c("script_wrong_type", unwrapped(script_error), "count_visit", ["internal", "data"], False)
    c(
        "lock_not_acquired_wrapped",
        unwrapped(lock_not_acquired),
        "run_invoices",
        ["conflict", "timeout"],
        True,
        wrap=(ReportFailed, "invoice run skipped"),
        service="billing",
    )
    c(
        "silent_timeout",
        unwrapped(get_patient, port=silent.port, connect_timeout=0.5, stream_timeout=0.5),
        "read_patient",
        ["timeout", "network", "unavailable"],
        True,
    )


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
    c(
        "http_404",
        answering(404, problem(404, "Not Found", "claim CL-0042 does not exist"), call=get()),
        "get_claim",
        ["not_found"],
        False,
    )
    c(
        "http_401",
        answering(
            401,
            problem(401, "Unauthorized", "API key expired"),
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            call=get(),
        ),
        "get_claim",
        ["auth"],
        False,
    )
    c(
        "http_429_wrapped",
        answering(
            429,
            problem(429, "Too Many Requests", "limit of 60 requests per minute"),
            {"Retry-After": "30"},
            call=post_claim,
        ),
        "submit_claim",
        ["rate_limit"],
        True,
        wrap=(ClaimNotSubmitted, "claim for visit 881 not submitted"),
        service="claims",
    )
    c(
        "http_502",
        answering(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"}, call=get()),
        "get_claim",
        ["unavailable"],
        True,
    )
    c(
        "http_409",
        answering(409, problem(409, "Conflict", "claim CL-0042 was already submitted"), call=post_claim),
        "submit_claim",
        ["conflict", "validation"],
        False,
    )
    c(
        "read_timeout_wrapped",
        answering(200, {"status": "ok"}, delay_s=2.0, call=get(timeout=0.5)),
        "get_claim",
        ["timeout"],
        True,
        wrap=(ClaimNotSubmitted, "status of claim CL-0042 unknown"),
        service="claims",
    )
    c("hangup", answering(mode="hangup", call=get()), "get_claim", ["network", "unavailable"], True)
    c(
        "redirect_loop",
        answering(302, b"", {"Location": "/v2/claims/CL-0042"}, call=get(max_redirects=5)),
        "get_claim",
        ["configuration", "unavailable", "internal"],
        False,
    )
    c(
        "bad_json",
        answering(200, "<html>Maintenance window until 06:00</html>", {"Content-Type": "text/html"}, call=get()),
        "get_claim",
        ["unavailable", "data", "unknown"],
        None,
    )


@family
def notion_cases() -> None:
    import notion_client

    def client(timeout_ms: int = 3000) -> Any:
        return notion_client.Client(
            auth="secret_not-a-real-key-0000",
            base_url=FAKE.url,
            timeout_ms=timeout_ms,
            retry=False,
            log_level=logging.CRITICAL,
        )

    def error(status: int, code: str, message: str) -> dict[str, Any]:
        return {
            "object": "error",
            "status": status,
            "code": code,
            "message": message,
            "request_id": "5b3c3e4a-0000-4000-8000-000000000000",
        }

    page = "1f0c2a4e-0000-4000-8000-00000000beef"

    def get_page() -> Any:
        return client().pages.retrieve(page_id=page)

    def add_note() -> Any:
        return client().pages.create(parent={"database_id": page}, properties={"Name": {"title": []}})

    c = recorder("notion", "notion")
    c(
        "object_not_found",
        answering(
            404,
            error(
                404,
                "object_not_found",
                f"Could not find page with ID: {page}. Make sure the relevant pages"
                " and databases are shared with your integration.",
            ),
            call=get_page,
        ),
        "read_care_plan",
        ["not_found", "auth"],
        False,
    )
    c(
        "unauthorized",
        answering(401, error(401, "unauthorized", "API token is invalid."), call=get_page),
        "read_care_plan",
        ["auth"],
        False,
    )
    c(
        "restricted_resource",
        answering(
            403,
            error(403, "restricted_resource", "Integration does not have update content capabilities."),
            call=add_note,
        ),
        "write_visit_note",
        ["auth", "configuration"],
        False,
    )
    c(
        "rate_limited_wrapped",
        answering(
            429,
            error(429, "rate_limited", "You have been rate limited. Please try again in a few minutes."),
            {"Retry-After": "12"},
            call=add_note,
        ),
        "write_visit_note",
        ["rate_limit"],
        True,
        wrap=(RecordSyncFailed, "visit note 77 not copied to Notion"),
        service="care-notes",
    )
    c(
        "validation_error",
        answering(
            400,
            error(
                400,
                "validation_error",
                "body failed validation: body.properties.Name.title should be defined, instead was `undefined`.",
            ),
            call=add_note,
        ),
        "write_visit_note",
        ["validation"],
        False,
    )
    c(
        "conflict_error",
        answering(
            409, error(409, "conflict_error", "Conflict occurred while saving. Please try again."), call=add_note
        ),
        "write_visit_note",
        ["conflict"],
        True,
    )
    c(
        "service_unavailable_wrapped",
        answering(
            503, error(503, "service_unavailable", "Notion is unavailable, please try again later."), call=get_page
        ),
        "read_care_plan",
        ["unavailable"],
        True,
        wrap=(PatientLookupFailed, "care plan for p-0001 not loaded"),
        service="care-plans",
    )
    c(
        "request_timeout",
        answering(200, {"object": "page"}, delay_s=2.0, call=lambda: client(400).pages.retrieve(page_id=page)),
        "read_care_plan",
        ["timeout"],
        True,
    )
    c(
        "html_gateway",
        answering(
            502,
            "<html><head><title>502 Bad Gateway</title></head></html>",
            {"Content-Type": "text/html"},
            call=get_page,
        ),
        "read_care_plan",
        ["unavailable"],
        True,
    )


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
    c(
        "unauthorized",
        answering(401, {"message": "Unauthorized", "request_id": "0c1d"}, call=summarise()),
        "summarise_visit",
        ["auth"],
        False,
    )
    c(
        "rate_limited",
        answering(
            429,
            {
                "object": "error",
                "message": "Requests rate limit exceeded",
                "type": "rate_limited",
                "param": None,
                "code": "1300",
            },
            call=summarise(),
        ),
        "summarise_visit",
        ["rate_limit"],
        True,
    )
    c(
        "capacity_exceeded_wrapped",
        answering(
            429,
            {
                "object": "error",
                "message": "Service tier capacity exceeded for this model.",
                "type": "service_tier_capacity_exceeded",
                "param": None,
                "code": "3505",
            },
            call=summarise(),
        ),
        "summarise_visit",
        ["rate_limit", "unavailable"],
        True,
        wrap=(ReportFailed, "visit summary for p-0001 not generated"),
        service="visit-summaries",
    )
    c(
        "validation_422",
        answering(
            422,
            {
                "object": "error",
                "message": {
                    "detail": [{"type": "missing", "loc": ["body", "messages"], "msg": "Field required", "input": None}]
                },
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
            call=summarise(),
        ),
        "summarise_visit",
        ["validation"],
        False,
    )
    c(
        "invalid_model",
        answering(
            400,
            {
                "object": "error",
                "message": "Invalid model: mistral-small-latest",
                "type": "invalid_model",
                "param": None,
                "code": "1500",
            },
            call=summarise(),
        ),
        "summarise_visit",
        ["validation", "configuration", "not_found"],
        False,
    )
    c(
        "internal_500",
        answering(
            500,
            {
                "object": "error",
                "message": "Internal server error",
                "type": "internal_error",
                "param": None,
                "code": None,
            },
            call=summarise(),
        ),
        "summarise_visit",
        ["unavailable"],
        True,
    )
    c("timeout", answering(200, {}, delay_s=2.0, call=summarise(500)), "summarise_visit", ["timeout"], True)
    c("hangup", answering(mode="hangup", call=summarise()), "summarise_visit", ["network", "unavailable"], True)


@family
def qdrant_cases() -> None:
    from qdrant_client import QdrantClient, models

    def client(timeout: int = 3) -> Any:
        return QdrantClient(
            url=FAKE.url, api_key=FAKE_CREDENTIAL, timeout=timeout, check_compatibility=False, https=False
        )

    def err(message: str) -> dict[str, Any]:
        return {"status": {"error": message}, "time": 0.000021}

    def search() -> Any:
        return client().query_points("h6_visit_notes", query=[0.1, 0.2, 0.3], limit=3)

    def upsert() -> Any:
        return client().upsert("h6_visit_notes", points=[models.PointStruct(id=1, vector=[0.1, 0.2], payload={})])

    c = recorder("qdrant", "vector-db")
    c(
        "collection_missing",
        answering(404, err("Not found: Collection `h6_visit_notes` doesn't exist!"), call=search),
        "similar_notes",
        ["not_found", "configuration"],
        False,
    )
    c(
        "wrong_dimension",
        answering(400, err("Wrong input: Vector dimension error: expected dim: 3, got 2"), call=upsert),
        "index_note",
        ["validation", "internal", "configuration"],
        False,
    )
    c(
        "forbidden_wrapped",
        answering(403, err("Forbidden: Global access is required"), call=upsert),
        "index_note",
        ["auth"],
        False,
        wrap=(RecordSyncFailed, "note 12 not indexed"),
        service="note-search",
    )
    c(
        "unauthorized",
        answering(
            401, {"status": "error", "message": "Must provide an API key or an Authorization bearer token"}, call=search
        ),
        "similar_notes",
        ["auth"],
        False,
    )
    c(
        "overloaded",
        answering(503, err("Service internal error: Too many requests in the update queue"), call=upsert),
        "index_note",
        ["unavailable", "rate_limit"],
        True,
    )
    c(
        "disk_full",
        answering(500, err("Service internal error: No space left on device (os error 28)"), call=upsert),
        "index_note",
        ["resource", "unavailable"],
        False,
    )
    c(
        "timeout",
        answering(
            200,
            {"result": [], "status": "ok", "time": 0.1},
            delay_s=2.5,
            call=lambda: client(1).query_points("h6_visit_notes", query=[0.1, 0.2, 0.3]),
        ),
        "similar_notes",
        ["timeout"],
        True,
    )
    c(
        "rate_limited",
        answering(429, err("Too many requests: rate limit exceeded, retry later"), {"Retry-After": "5"}, call=search),
        "similar_notes",
        ["rate_limit"],
        True,
    )


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
    c(
        "acl_not_found",
        answering(403, "ACL not found", {"Content-Type": "text/plain"}, call=kv_get()),
        "read_flags",
        ["auth"],
        False,
    )
    c(
        "permission_denied_wrapped",
        answering(
            403,
            "Permission denied: token with AccessorID 'a1b2' lacks permission 'service:write' on \"booking-api\"",
            {"Content-Type": "text/plain"},
            call=register,
        ),
        "register_service",
        ["auth", "configuration"],
        False,
        wrap=(ScheduleFailed, "booking-api not registered"),
        service="service-registry",
    )
    c(
        "no_leader",
        answering(500, "No cluster leader", {"Content-Type": "text/plain"}, call=kv_get()),
        "read_flags",
        ["unavailable"],
        True,
    )
    c(
        "bad_request",
        answering(400, "Invalid service address", {"Content-Type": "text/plain"}, call=register),
        "register_service",
        ["validation", "configuration"],
        False,
    )
    c(
        "rate_limited",
        answering(
            429, "rate limit exceeded for operation", {"Content-Type": "text/plain", "Retry-After": "1"}, call=kv_get()
        ),
        "read_flags",
        ["rate_limit"],
        True,
    )
    c(
        "rpc_deadline",
        answering(500, "rpc error making call: i/o deadline reached", {"Content-Type": "text/plain"}, call=kv_get()),
        "read_flags",
        ["unavailable", "timeout"],
        True,
    )


@family
def hubspot_cases() -> None:
    from hubspot import HubSpot
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate

    def api() -> Any:
        return HubSpot(access_token="pat-na1-not-a-real-key-0000", host=FAKE.url)

    def error(category: str, message: str) -> dict[str, Any]:
        return {
            "status": "error",
            "message": message,
            "correlationId": "0b8f6a1e-0000-4000-8000-000000000000",
            "category": category,
        }

    def get_contact() -> Any:
        return api().crm.contacts.basic_api.get_by_id("9001")

    def create_contact() -> Any:
        body = SimplePublicObjectInputForCreate(properties={"email": "p-0001@example.test", "firstname": "Ada"})
        return api().crm.contacts.basic_api.create(simple_public_object_input_for_create=body)

    c = recorder("hubspot", "hubspot")
    c(
        "object_not_found",
        answering(404, error("OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric."), call=get_contact),
        "sync_patient_contact",
        ["not_found"],
        False,
    )
    c(
        "expired_token",
        answering(
            401,
            error("EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired 2 hour(s) ago."),
            call=get_contact,
        ),
        "sync_patient_contact",
        ["auth"],
        False,
    )
    c(
        "missing_scopes",
        answering(
            403,
            error(
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to"
                " make this call. Read more about required scopes here: "
                "https://developers.hubspot.com/scopes.",
            ),
            call=create_contact,
        ),
        "create_patient_contact",
        ["auth", "configuration"],
        False,
    )
    c(
        "contact_exists_wrapped",
        answering(409, error("CONFLICT", "Contact already exists. Existing ID: 9001"), call=create_contact),
        "create_patient_contact",
        ["conflict", "validation"],
        False,
        wrap=(RecordSyncFailed, "patient p-0001 not pushed to the CRM"),
        service="crm-sync",
    )
    c(
        "invalid_email",
        answering(
            400,
            error(
                "VALIDATION_ERROR",
                'Property values were not valid: [{"isValid":false,'
                '"message":"Email address p-0001@example is invalid","error":'
                '"INVALID_EMAIL","name":"email"}]',
            ),
            call=create_contact,
        ),
        "create_patient_contact",
        ["validation"],
        False,
    )
    c(
        "ten_secondly_rolling",
        answering(
            429,
            error("RATE_LIMITS", "You have reached your ten_secondly_rolling limit."),
            {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Remaining": "0"},
            call=get_contact,
        ),
        "sync_patient_contact",
        ["rate_limit"],
        True,
    )
    c(
        "daily_limit",
        answering(
            429,
            error("RATE_LIMITS", "You have reached your daily limit."),
            {"X-HubSpot-RateLimit-Daily-Remaining": "0"},
            call=create_contact,
        ),
        "create_patient_contact",
        ["rate_limit", "resource"],
        True,
    )
    c(
        "bad_gateway",
        answering(502, "<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}, call=get_contact),
        "sync_patient_contact",
        ["unavailable"],
        True,
    )
    c(
        "timeout_wrapped",
        answering(
            200, {}, delay_s=2.0, call=lambda: api().crm.contacts.basic_api.get_by_id("9001", _request_timeout=0.5)
        ),
        "sync_patient_contact",
        ["timeout"],
        True,
        wrap=(RecordSyncFailed, "contact 9001 not refreshed"),
        service="crm-sync",
    )


def imap_server(answers: dict[str, str]) -> LineServer:
    """A fake IMAP server: each command (by name) answers the text given, `{tag}` replaced; others get OK."""

    def answer(line: bytes) -> bytes | None:
        parts = line.decode(errors="replace").split()
        if len(parts) < 2:
            return b"* BAD empty command\r\n"
        tag, command = parts[0], parts[1].upper()
        if command == "UID" and len(parts) > 2:
            command = parts[2].upper()
        reply = answers.get(command)
        if reply == "CLOSE":
            return None
        if reply is None:
            if command == "SELECT" or command == "EXAMINE":
                reply = "* 3 EXISTS\r\n* FLAGS (\\Seen)\r\n{tag} OK [READ-WRITE] SELECT completed"
            elif command == "CAPABILITY":
                reply = "* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE\r\n{tag} OK Capability completed."
            elif command == "LOGOUT":
                return f"* BYE\r\n{tag} OK LOGOUT completed\r\n".encode()
            else:
                reply = f"{{tag}} OK {command} completed"
        return (reply.replace("{tag}", tag) + "\r\n").encode()

    return LineServer(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE] Dovecot ready.\r\n", answer)


@family
def imapclient_cases() -> None:
    from imapclient import IMAPClient

    def session(answers: dict[str, str], body: Callable[[Any], Any], timeout: float = 3) -> Callable[[], Any]:
        def trigger() -> Any:
            port = silent.port if answers.get("*") == "SILENT" else imap_server(answers).port
            client = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=timeout)
            try:
                client.login("referrals@clinic.test", "not-the-password")
                return body(client)
            finally:
                with contextlib.suppress(Exception):
                    client.shutdown()

        return trigger

    silent = Silent()
    c = recorder("imapclient", "referrals-mailbox")
    c(
        "authentication_failed",
        session({"LOGIN": "{tag} NO [AUTHENTICATIONFAILED] Authentication failed."}, lambda cl: None),
        "login",
        ["auth"],
        False,
    )
    c(
        "auth_unavailable",
        session({"LOGIN": "{tag} NO [UNAVAILABLE] Temporary authentication failure. [host:0042]"}, lambda cl: None),
        "login",
        ["unavailable", "auth"],
        True,
    )
    c(
        "mailbox_nonexistent_wrapped",
        session(
            {"SELECT": "{tag} NO [NONEXISTENT] Mailbox doesn't exist: Referrals/2026"},
            lambda cl: cl.select_folder("Referrals/2026"),
        ),
        "fetch_referrals",
        ["not_found", "configuration"],
        False,
        wrap=(ImportFailed, "referrals of 2026 not fetched"),
        service="referrals",
    )
    c(
        "over_quota_wrapped",
        session(
            {"APPEND": "{tag} NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"},
            lambda cl: cl.append("Sent", b"Subject: referral 77\r\n\r\nattached\r\n"),
        ),
        "file_referral",
        ["resource"],
        False,
        wrap=(ImportFailed, "referral 77 not filed"),
        service="referrals",
    )
    c(
        "bye_during_select",
        session(
            {"SELECT": "* BYE Server shutting down.\r\n{tag} NO shutting down"}, lambda cl: cl.select_folder("INBOX")
        ),
        "fetch_referrals",
        ["unavailable", "network"],
        True,
    )
    c(
        "bad_search",
        session(
            {"SEARCH": "{tag} BAD Error in IMAP command SEARCH: Unknown argument SINCEX"},
            lambda cl: (cl.select_folder("INBOX"), cl.search(["SINCEX", "01-Dec-2026"])),
        ),
        "fetch_referrals",
        ["internal", "validation"],
        False,
    )
    c(
        "move_unsupported",
        session({}, lambda cl: (cl.select_folder("INBOX"), cl.move([1], "Referrals/Done"))),
        "archive_referral",
        ["configuration", "internal"],
        False,
    )
    c("silent_server", session({"*": "SILENT"}, lambda cl: None, timeout=0.5), "login", ["timeout"], True)
    c(
        "closed_mid_fetch",
        session({"FETCH": "CLOSE"}, lambda cl: (cl.select_folder("INBOX"), cl.fetch([1], ["RFC822"]))),
        "fetch_referrals",
        ["network", "unavailable"],
        True,
    )


@family
def amqtt_cases() -> None:
    from amqtt.client import MQTTClient

    logging.getLogger("amqtt").setLevel(logging.CRITICAL)
    logging.getLogger("transitions").setLevel(logging.CRITICAL)

    def client(client_id: str = "h6-ward-monitor") -> Any:
        return MQTTClient(client_id=client_id, config={"auto_reconnect": False})

    async def connect(uri: str, client_id: str = "h6-ward-monitor", **kw: Any) -> None:
        await asyncio.wait_for(client(client_id).connect(uri, **kw), 2)

    async def publish_wildcard() -> None:
        cl = client()
        await cl.connect("mqtt://127.0.0.1:1883")
        try:
            await cl.publish("clinic/ward-3/+/alarm", b'{"bed": 4}')
        finally:
            await cl.disconnect()

    async def no_message() -> None:
        cl = client()
        await cl.connect("mqtt://127.0.0.1:1883")
        try:
            await cl.subscribe([("h6/clinic/ward-3/alarms", 1)])
            await cl.deliver_message(timeout_duration=0.5)
        finally:
            await cl.disconnect()

    silent, closer = Silent(), Closer()
    c = recorder("amqtt", "ward-broker")
    c(
        "identifier_rejected",
        lambda: connect("mqtt://127.0.0.1:1883", client_id="", cleansession=False),
        "connect",
        ["configuration", "validation", "auth"],
        False,
    )
    c("publish_wildcard", publish_wildcard, "raise_alarm", ["internal", "validation"], False)
    c(
        "no_message_wrapped",
        no_message,
        "await_alarm",
        ["timeout"],
        True,
        wrap=(ReminderNotSent, "ward 3 alarm acknowledgement not received"),
        service="ward-alarms",
    )
    c("tls_to_plain_port", lambda: connect("mqtts://127.0.0.1:1883"), "connect", ["configuration", "network"], False)
    c("bad_scheme", lambda: connect("http://127.0.0.1:1883"), "connect", ["configuration"], False)
    c(
        "silent_broker",
        lambda: connect(f"mqtt://127.0.0.1:{silent.port}"),
        "connect",
        ["timeout", "network", "unknown"],
        True,
    )
    c("broker_closes", lambda: connect(f"mqtt://127.0.0.1:{closer.port}"), "connect", ["network", "unavailable"], True)
    c("refused", lambda: connect(f"mqtt://127.0.0.1:{closed_port()}"), "connect", ["network", "unavailable"], True)


@family
def huggingface_cases() -> None:
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_ETAG_TIMEOUT"] = "2"
    from huggingface_hub import HfApi, hf_hub_download

    repo = "clinic-ai/triage-notes-small"

    def info() -> Any:
        return HfApi(endpoint=FAKE.url, token="hf_not-a-real-key-0000").model_info(repo)

    def download() -> Any:
        return hf_hub_download(
            repo,
            "config.json",
            endpoint=FAKE.url,
            token="hf_not-a-real-key-0000",
            cache_dir=str(TMP / "hf-cache"),
            etag_timeout=1,
        )

    def err(message: str) -> dict[str, str]:
        return {"error": message}

    c = recorder("huggingface", "model-hub")
    c(
        "repo_not_found_wrapped",
        answering(
            404,
            err("Repository not found"),
            {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"},
            call=info,
        ),
        "load_model_card",
        ["not_found", "auth"],
        False,
        wrap=(PatientLookupFailed, "triage model card unavailable"),
        service="triage",
    )
    c(
        "gated_repo_wrapped",
        answering(
            403,
            err(
                "Access to model clinic-ai/triage-notes-small is restricted. You must"
                " have access to it and be authenticated to access it. Please log in."
            ),
            {"X-Error-Code": "GatedRepo"},
            call=download,
        ),
        "download_model",
        ["auth"],
        False,
        wrap=(ReportFailed, "triage model not loaded"),
        service="triage",
    )
    c(
        "entry_not_found",
        answering(
            404,
            err("Entry not found"),
            {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found"},
            call=download,
        ),
        "download_model",
        ["not_found", "configuration"],
        False,
    )
    c(
        "invalid_token",
        answering(401, err("Invalid credentials in Authorization header"), call=info),
        "load_model_card",
        ["auth"],
        False,
    )
    c(
        "rate_limited",
        answering(
            429,
            err("You have exceeded our hourly quotas for action: resolve. We invite you to retry later."),
            {"Retry-After": "300"},
            call=info,
        ),
        "load_model_card",
        ["rate_limit"],
        True,
    )
    c(
        "bad_request_revision",
        answering(
            400,
            err("Invalid rev id: not-a-branch"),
            call=lambda: HfApi(endpoint=FAKE.url).model_info(repo, revision="not-a-branch"),
        ),
        "load_model_card",
        ["validation", "not_found"],
        False,
    )
    c(
        "server_error",
        answering(500, err("Internal Error - We're working hard to fix this as soon as possible!"), call=info),
        "load_model_card",
        ["unavailable"],
        True,
    )
    c(
        "not_a_hub_endpoint",
        answering(200, {"id": repo}, call=download),
        "download_model",
        ["configuration", "unavailable", "data"],
        False,
    )


@family
def cohere_cases() -> None:
    import cohere

    def chat(timeout: float = 3) -> Callable[[], Any]:
        def call() -> Any:
            client = cohere.ClientV2(api_key=FAKE_CREDENTIAL, base_url=FAKE.url, timeout=timeout)
            return client.chat(model="command-r", messages=[{"role": "user", "content": "Summarise visit 881."}])

        return call

    c = recorder("cohere", "cohere-api")
    c("unauthorized", answering(401, {"message": "invalid api token"}, call=chat()), "summarise_visit", ["auth"], False)
    c(
        "too_many_requests",
        answering(
            429, {"message": "You are using a Trial key, which is limited to 10 API calls / minute."}, call=chat()
        ),
        "summarise_visit",
        ["rate_limit"],
        True,
    )
    c(
        "bad_request",
        answering(
            400,
            {"message": "invalid request: message must be at least 1 token long or tool results must be specified."},
            call=chat(),
        ),
        "summarise_visit",
        ["validation"],
        False,
    )
    c(
        "not_found_model_wrapped",
        answering(
            404,
            {
                "message": "model 'command-r' not found, make sure the correct model"
                " ID was used and that you have access to the model."
            },
            call=chat(),
        ),
        "summarise_visit",
        ["not_found", "configuration"],
        False,
        wrap=(ReportFailed, "visit summary 881 not generated"),
        service="visit-summaries",
    )
    c(
        "unprocessable",
        answering(422, {"message": "Your request was flagged as potentially violating our usage policy."}, call=chat()),
        "summarise_visit",
        ["validation"],
        False,
    )
    c(
        "service_unavailable",
        answering(503, {"message": "the service is temporarily overloaded, please retry"}, call=chat()),
        "summarise_visit",
        ["unavailable"],
        True,
    )
    c("read_timeout", answering(200, {}, delay_s=2.0, call=chat(0.5)), "summarise_visit", ["timeout"], True)


@family
def gevent_cases() -> None:
    import gevent
    import gevent.event
    import gevent.queue

    def timeout_block() -> Any:
        with gevent.Timeout(0.2):
            gevent.sleep(2)

    def async_result() -> Any:
        return gevent.event.AsyncResult().get(timeout=0.2)

    def queue_full() -> Any:
        queue: Any = gevent.queue.Queue(maxsize=2)
        for n in range(3):
            queue.put_nowait(f"reminder-{n}")

    def queue_empty() -> Any:
        return gevent.queue.Queue().get(timeout=0.2)

    def loop_exit() -> Any:
        return gevent.queue.Channel().get()

    def joinall_error() -> Any:
        jobs = [gevent.spawn(_divide, 120, n) for n in (3, 0, 5)]
        gevent.joinall(jobs, raise_error=True)

    def over_release() -> Any:
        import gevent.lock

        sem = gevent.lock.BoundedSemaphore(1)
        with sem:
            pass
        sem.release()

    c = recorder("gevent", "reminder-workers")
    c("timeout_block", timeout_block, "send_reminders", ["timeout"], True)
    c(
        "async_result_timeout_wrapped",
        async_result,
        "await_sms_receipt",
        ["timeout"],
        True,
        wrap=(ReminderNotSent, "SMS receipt for reminder 31 not received"),
        service="sms-gateway",
    )
    c("queue_full", queue_full, "queue_reminder", ["resource", "unavailable", "rate_limit"], True)
    c("queue_empty", queue_empty, "next_reminder", ["timeout", "not_found"], True)
    c("loop_exit", loop_exit, "next_reminder", ["internal"], False)
    c("joinall_raise_error", joinall_error, "average_visit_cost", ["internal", "data"], False)
    c("semaphore_over_release", over_release, "send_reminders", ["internal"], False)


@family
def aiosonic_cases() -> None:
    import aiosonic
    from aiosonic.timeout import Timeouts

    async def get(path: str = "/api/v1/slots?clinic=north", *, read_s: float = 3, follow: bool = True) -> Any:
        async with aiosonic.HTTPClient() as client:
            resp = await client.get(
                FAKE.url + path, timeouts=Timeouts(sock_read=read_s, request_timeout=5), follow=follow
            )
            resp.raise_for_status()
            return await resp.json()

    c = recorder("aiosonic", "scheduling-api")
    c(
        "http_503",
        answering(503, problem(503, "Service Unavailable", "scheduler restarting"), {"Retry-After": "20"}, call=get),
        "list_free_slots",
        ["unavailable"],
        True,
    )
    c(
        "http_403",
        answering(403, problem(403, "Forbidden", "clinic north is not in this key's scope"), call=get),
        "list_free_slots",
        ["auth"],
        False,
    )
    c(
        "http_422_wrapped",
        answering(422, problem(422, "Unprocessable Entity", "clinic: unknown value 'north'"), call=get),
        "list_free_slots",
        ["validation"],
        False,
        wrap=(BookingFailed, "no slots offered to patient p-0001"),
        service="bookings",
    )
    c(
        "read_timeout",
        answering(200, {"slots": []}, delay_s=2.0, call=lambda: get(read_s=0.4)),
        "list_free_slots",
        ["timeout"],
        True,
    )
    c("hangup", answering(mode="hangup", call=get), "list_free_slots", ["network", "unavailable"], True)
    c(
        "max_redirects",
        answering(307, b"", {"Location": "/api/v1/slots?clinic=north"}, call=get),
        "list_free_slots",
        ["configuration", "unavailable", "internal"],
        False,
    )
    c(
        "garbage_status_line",
        answering(body=b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", mode="raw", call=get),
        "list_free_slots",
        ["configuration", "network", "data"],
        False,
    )


@family
def compression_cases() -> None:
    import brotli
    import lz4.block
    import lz4.frame
    import snappy
    import zstandard

    payload = json.dumps([{"patient": f"p-{n:04d}", "visit": n} for n in range(400)]).encode()
    zst = zstandard.ZstdCompressor().compress(payload)
    lz4f = bytearray(lz4.frame.compress(payload, content_checksum=True))
    lz4f[len(lz4f) // 2] ^= 0xFF

    def zstd_truncated() -> Any:
        return zstandard.ZstdDecompressor().decompress(zst[: len(zst) // 2])

    def zstd_dictionary() -> Any:
        dict_data = zstandard.train_dictionary(2048, [payload[i : i + 300] for i in range(0, len(payload) - 300, 97)])
        packed = zstandard.ZstdCompressor(dict_data=dict_data).compress(payload)
        return zstandard.ZstdDecompressor().decompress(packed)

    c = recorder("compression", "visit-archive")
    c(
        "zstd_not_a_frame",
        lambda: zstandard.ZstdDecompressor().decompress(payload[:64]),
        "restore_visits",
        ["data", "validation"],
        False,
    )
    c(
        "zstd_truncated_wrapped",
        zstd_truncated,
        "restore_visits",
        ["data"],
        False,
        wrap=(ImportFailed, "visit archive 2026-11 not restored"),
        service="archive-import",
    )
    c("zstd_missing_dictionary", zstd_dictionary, "restore_visits", ["configuration", "data"], False)
    c("lz4_checksum", lambda: lz4.frame.decompress(bytes(lz4f)), "restore_visits", ["data"], False)
    c(
        "lz4_block_corrupt",
        lambda: lz4.block.decompress(b"\x40\x1f\x00\x00" + bytes(range(40))),
        "restore_visits",
        ["data"],
        False,
    )
    c(
        "brotli_garbage",
        lambda: brotli.decompress(b"\x1b\x4a\x03\x00" + payload[:80]),
        "restore_visits",
        ["data"],
        False,
    )
    c(
        "snappy_invalid",
        lambda: snappy.uncompress(b"\xff\xff\xff\xff\x0fnot snappy at all"),
        "restore_visits",
        ["data"],
        False,
    )
    c(
        "snappy_str_input",
        lambda: snappy.uncompress("p-0001,p-0002"),
        "restore_visits",
        ["internal", "validation"],
        False,
    )


@family
def config_formats_cases() -> None:
    import hcl2
    import tomlkit
    from pyhocon import ConfigFactory

    hocon = 'clinic { name = "North", reminders { hours_before = 24, sender = ${?SMTP_FROM} } }\n'

    c = recorder("config_formats", "settings")
    c(
        "toml_unexpected_char",
        lambda: tomlkit.parse("[reminders]\nhours_before = 24h\n"),
        "load_settings",
        ["configuration", "validation"],
        False,
    )
    c(
        "toml_duplicate_key",
        lambda: tomlkit.parse('[clinic]\nname = "North"\nname = "South"\n'),
        "load_settings",
        ["configuration", "validation"],
        False,
    )
    c(
        "hocon_unresolved_wrapped",
        lambda: ConfigFactory.parse_string("smtp { host = ${SMTP_HOST} }"),
        "load_settings",
        ["configuration"],
        False,
        wrap=(ReminderNotSent, "reminder service not started"),
        service="reminders",
    )
    c(
        "hocon_missing_key",
        lambda: ConfigFactory.parse_string(hocon).get_string("clinic.reminders.template"),
        "load_settings",
        ["configuration", "not_found"],
        False,
    )
    c(
        "hocon_wrong_type",
        lambda: ConfigFactory.parse_string('clinic { beds = "twelve" }').get_int("clinic.beds"),
        "load_settings",
        ["configuration", "validation"],
        False,
    )
    c(
        "hocon_syntax",
        lambda: ConfigFactory.parse_string('clinic { name = "North"\n  beds = [1, 2\n}'),
        "load_settings",
        ["configuration", "validation"],
        False,
    )
    c(
        "hcl_syntax",
        lambda: hcl2.loads('resource "clinic" "north" {\n  beds = \n}\n'),
        "plan_infrastructure",
        ["configuration", "validation"],
        False,
    )
    c(
        "hocon_missing_file",
        lambda: ConfigFactory.parse_file(str(TMP / "clinic-production.conf"), required=True),
        "load_settings",
        ["configuration", "not_found"],
        False,
    )


@family
def queries_cases() -> None:
    import jmespath
    import msgspec
    from jsonpath_ng.ext import parse as jsonpath_parse

    class Visit(msgspec.Struct):
        patient: str
        qty: int

    visits = {"visits": [{"patient": "p-0001", "cost": "12.50"}, {"patient": "p-0002", "cost": "8.00"}]}

    c = recorder("queries", "billing")
    c(
        "msgspec_wrong_type",
        lambda: msgspec.json.decode(b'{"patient": "p-0001", "qty": "3"}', type=Visit),
        "import_visit",
        ["validation", "data"],
        False,
    )
    c(
        "msgspec_missing_field_wrapped",
        lambda: msgspec.json.decode(b'{"qty": 3}', type=Visit),
        "import_visit",
        ["validation", "data"],
        False,
        wrap=(ImportFailed, "visit line 14 rejected"),
        service="visit-import",
    )
    c(
        "msgspec_truncated",
        lambda: msgspec.json.decode(b'{"patient": "p-0001", "qty": 3', type=Visit),
        "import_visit",
        ["data", "validation"],
        False,
    )
    c(
        "msgspec_unencodable",
        lambda: msgspec.json.encode({"patient": "p-0001", "seen": {object()}}),
        "export_visit",
        ["internal"],
        False,
    )
    c(
        "msgpack_garbage",
        lambda: msgspec.msgpack.decode(b"\xc1\x00\x01", type=Visit),
        "import_visit",
        ["data", "validation"],
        False,
    )
    c(
        "jmespath_syntax",
        lambda: jmespath.search("visits[?cost >]", visits),
        "sum_costs",
        ["internal", "validation"],
        False,
    )
    c("jmespath_type", lambda: jmespath.search("sum(visits[].cost)", visits), "sum_costs", ["data", "internal"], False)
    c(
        "jsonpath_syntax",
        lambda: jsonpath_parse("$.visits[?(@.cost > )]"),
        "sum_costs",
        ["internal", "validation"],
        False,
    )


@family
def schemas_cases() -> None:
    import fastjsonschema
    import trafaret as t
    from schema import And, Schema, Use

    referral = {
        "type": "object",
        "required": ["patient", "specialty"],
        "properties": {"patient": {"type": "string", "pattern": "^p-[0-9]{4}$"}, "specialty": {"type": "string"}},
    }
    validate = fastjsonschema.compile(referral)
    person = Schema({"name": And(str, len), "age": And(Use(int), lambda n: 0 <= n < 130)})
    booking = t.Dict({t.Key("patient"): t.Regexp(r"^p-\d{4}$"), t.Key("minutes"): t.ToInt(gte=10, lte=120)})

    c = recorder("schemas", "referrals-api")
    c("fastjsonschema_required", lambda: validate({"patient": "p-0001"}), "accept_referral", ["validation"], False)
    c(
        "fastjsonschema_pattern_wrapped",
        lambda: validate({"patient": "patient 1", "specialty": "cardiology"}),
        "accept_referral",
        ["validation"],
        False,
        wrap=(ImportFailed, "referral from GP 8812 rejected"),
        service="referrals",
    )
    c(
        "fastjsonschema_bad_schema",
        lambda: fastjsonschema.compile({"type": "integr"}),
        "startup",
        ["configuration", "internal"],
        False,
    )
    c("schema_missing_key", lambda: person.validate({"name": "Ada"}), "register_patient", ["validation"], False)
    c(
        "schema_not_int",
        lambda: person.validate({"name": "Ada", "age": "forty"}),
        "register_patient",
        ["validation"],
        False,
    )
    c(
        "schema_wrong_key",
        lambda: person.validate({"name": "Ada", "age": 40, "blood": "A+"}),
        "register_patient",
        ["validation"],
        False,
    )
    c(
        "trafaret_data_error",
        lambda: booking.check({"patient": "p-1", "minutes": "5"}),
        "book_slot",
        ["validation"],
        False,
    )
    c("trafaret_email", lambda: t.Email.check("ada@@clinic"), "register_patient", ["validation"], False)


@family
def type_checks_cases() -> None:
    import dataclasses

    import dacite
    from beartype import beartype
    from typeguard import check_type, typechecked

    @dataclasses.dataclass
    class Prescription:
        patient: str
        drug: str
        doses: int

    @typechecked
    def schedule(patient: str, minutes: int) -> str:
        return f"{patient}:{minutes}"

    @beartype
    def dose_mg(weight_kg: float, mg_per_kg: float) -> float:
        return weight_kg * mg_per_kg

    @beartype
    def room_for(patient: str) -> int:
        return f"room of {patient}"  # type: ignore[return-value]

    c = recorder("type_checks", "prescriptions")
    c(
        "typeguard_check_type",
        lambda: check_type({"doses": "3"}, dict[str, int]),
        "load_prescription",
        ["internal", "validation"],
        False,
    )
    c(
        "typeguard_argument_wrapped",
        lambda: schedule("p-0001", "30"),
        "schedule_dose",
        ["internal"],
        False,
        wrap=(ScheduleFailed, "dose for p-0001 not scheduled"),
        service="scheduling",
    )
    c("beartype_param", lambda: dose_mg("72", 1.5), "compute_dose", ["internal"], False)
    c("beartype_return", lambda: room_for("p-0001"), "assign_room", ["internal"], False)
    c(
        "dacite_missing",
        lambda: dacite.from_dict(Prescription, {"patient": "p-0001", "drug": "amoxicillin"}),
        "load_prescription",
        ["validation", "data"],
        False,
    )
    c(
        "dacite_wrong_type",
        lambda: dacite.from_dict(Prescription, {"patient": "p-0001", "drug": "amoxicillin", "doses": "three"}),
        "load_prescription",
        ["validation", "data"],
        False,
    )
    c(
        "dacite_unexpected",
        lambda: dacite.from_dict(
            Prescription,
            {"patient": "p-0001", "drug": "amoxicillin", "doses": 3, "refills": 2},
            config=dacite.Config(strict=True),
        ),
        "load_prescription",
        ["validation", "data"],
        False,
    )


@family
def signatures_cases() -> None:
    import ecdsa
    import pyotp
    import rsa

    sk = ecdsa.SigningKey.generate(curve=ecdsa.NIST256p)
    vk = sk.get_verifying_key()
    other_vk = ecdsa.SigningKey.generate(curve=ecdsa.NIST256p).get_verifying_key()
    lab_result = b'{"patient": "p-0001", "hba1c": 6.1}'
    signature = sk.sign(lab_result)
    (pub, priv), (_, other_priv) = rsa.newkeys(512), rsa.newkeys(512)
    rsa_sig = rsa.sign(lab_result, priv, "SHA-256")

    c = recorder("signatures", "lab-gateway")
    c(
        "ecdsa_tampered",
        lambda: vk.verify(signature, lab_result.replace(b"6.1", b"5.1")),
        "accept_lab_result",
        ["auth", "data"],
        False,
    )
    c(
        "ecdsa_other_key_wrapped",
        lambda: other_vk.verify(signature, lab_result),
        "accept_lab_result",
        ["auth"],
        False,
        wrap=(RecordSyncFailed, "lab result 4471 rejected"),
        service="lab-results",
    )
    c(
        "ecdsa_bad_pem",
        lambda: ecdsa.VerifyingKey.from_pem(
            "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQ==\n-----END PUBLIC KEY-----\n"
        ),
        "load_lab_key",
        ["configuration", "data"],
        False,
    )
    c(
        "ecdsa_wrong_length",
        lambda: ecdsa.VerifyingKey.from_string(b"\x04" + b"\x01" * 40, curve=ecdsa.NIST256p),
        "load_lab_key",
        ["configuration", "data", "validation"],
        False,
    )
    c(
        "rsa_verify_failed",
        lambda: rsa.verify(lab_result + b" ", rsa_sig, pub),
        "accept_lab_result",
        ["auth", "data"],
        False,
    )
    c(
        "rsa_decrypt_wrong_key",
        lambda: rsa.decrypt(rsa.encrypt(b"visit-token-0000", pub), other_priv),
        "open_lab_token",
        ["auth", "configuration", "data"],
        False,
    )
    c(
        "rsa_message_too_long",
        lambda: rsa.encrypt(lab_result * 4, pub),
        "send_lab_token",
        ["internal", "validation"],
        False,
    )
    c(
        "totp_bad_secret",
        lambda: pyotp.TOTP("not base32 at all!").now(),
        "login_second_factor",
        ["configuration", "data"],
        False,
    )


@family
def dates_money_cases() -> None:
    import datetime

    import dateparser
    import holidays
    import iso8601
    from croniter import croniter
    from moneyed import Money, get_currency

    c = recorder("dates_money", "scheduling")
    c("cron_bad_minute", lambda: croniter("61 8 * * mon-fri"), "plan_reminders", ["configuration", "validation"], False)
    c(
        "cron_impossible_date_wrapped",
        lambda: croniter("0 9 31 2 *", datetime.datetime(2026, 12, 8)).get_next(),
        "plan_reminders",
        ["configuration", "validation"],
        False,
        wrap=(ReminderNotSent, "monthly reminder never scheduled"),
        service="reminders",
    )
    c(
        "iso8601_bad_month",
        lambda: iso8601.parse_date("2026-13-01T09:00:00Z"),
        "import_appointment",
        ["validation", "data"],
        False,
    )
    c(
        "dateparser_bad_setting",
        lambda: dateparser.parse("next tuesday", settings={"PREFER_DATES_FROM": "soon"}),
        "parse_request",
        ["internal", "configuration"],
        False,
    )
    c(
        "dateparser_unknown_language",
        lambda: dateparser.parse("mardi prochain", languages=["xx"]),
        "parse_request",
        ["configuration", "validation"],
        False,
    )
    c(
        "holidays_unknown_country",
        lambda: holidays.country_holidays("XK-North"),
        "plan_rota",
        ["configuration", "validation", "not_found"],
        False,
    )
    c(
        "money_currency_mismatch",
        lambda: Money("120.00", "EUR") + Money("35.00", "USD"),
        "total_invoice",
        ["internal", "validation", "data"],
        False,
    )
    c(
        "money_unknown_currency",
        lambda: get_currency("EUX"),
        "total_invoice",
        ["validation", "configuration", "data"],
        False,
    )


@family
def caches_cases() -> None:
    import aiocache
    import cachetools
    import diskcache

    cache_dir = TMP / "diskcache"

    def locked() -> Any:
        cache = diskcache.Cache(str(cache_dir), timeout=0.2)
        holder = diskcache.Cache(str(cache_dir), timeout=5)
        started, done = threading.Event(), threading.Event()

        def hold() -> None:
            with holder.transact():
                holder.set("slots:north", [1, 2, 3])
                started.set()
                done.wait(3)

        thread = in_thread(hold)
        started.wait(3)
        try:
            cache.set("slots:north", [4])
        finally:
            done.set()
            thread.join(5)
            cache.close()
            holder.close()

    def disk_missing() -> Any:
        with diskcache.Cache(str(cache_dir)) as cache:
            return cache["patient:9001"]

    def deque_empty() -> Any:
        return diskcache.Deque(directory=str(TMP / "deque")).popleft()

    def too_large() -> Any:
        lru: cachetools.LRUCache[str, str] = cachetools.LRUCache(maxsize=1024, getsizeof=len)
        lru["report:2026-11"] = "x" * 4096

    async def add_twice() -> None:
        cache = aiocache.SimpleMemoryCache()
        await cache.add("booking:881", "p-0001")
        await cache.add("booking:881", "p-0002")

    async def json_set() -> None:
        from aiocache.serializers import JsonSerializer

        cache = aiocache.SimpleMemoryCache(serializer=JsonSerializer())
        await cache.set("patient:1", {"allergies": {"penicillin"}})

    c = recorder("caches", "local-cache")
    c("diskcache_locked", locked, "cache_slots", ["conflict", "timeout"], True)
    c("diskcache_missing", disk_missing, "get_patient", ["not_found", "internal"], False)
    c("diskcache_deque_empty", deque_empty, "next_reminder", ["not_found", "internal"], False)
    c(
        "cachetools_too_large_wrapped",
        too_large,
        "cache_report",
        ["resource", "internal"],
        False,
        wrap=(ReportFailed, "monthly report not cached"),
        service="reports",
    )
    c("aiocache_add_existing", add_twice, "hold_booking", ["conflict"], False)
    c("aiocache_unserialisable", json_set, "cache_patient", ["internal"], False)
    c(
        "ttlcache_missing",
        lambda: cachetools.TTLCache(maxsize=10, ttl=60)["session:abc"],
        "get_session",
        ["not_found", "auth", "internal"],
        False,
    )


@family
def rate_limiters_cases() -> None:
    from aiolimiter import AsyncLimiter
    from pyrate_limiter import Duration, Limiter, Rate
    from ratelimit import RateLimitException, limits

    @limits(calls=2, period=60, raise_on_limit=True)
    def send_sms(patient: str) -> str:
        return patient

    def sms_burst() -> None:
        for n in range(3):
            send_sms(f"p-{n:04d}")

    def pyrate_blocked() -> None:
        limiter = Limiter(Rate(2, Duration.MINUTE))
        for _ in range(3):
            if not limiter.try_acquire("insurer-api", blocking=True, timeout=0.3):
                raise RuntimeError("rate limit reached for insurer-api")

    def pyrate_bad_timeout() -> None:
        Limiter(Rate(2, Duration.MINUTE)).try_acquire("insurer-api", blocking=True, timeout=-5)

    async def over_capacity() -> None:
        await AsyncLimiter(5, 1).acquire(8)

    async def limited_sms() -> None:
        try:
            sms_burst()
        except RateLimitException as exc:
            raise ReminderNotSent("SMS reminders paused") from exc

    c = recorder("rate_limiters", "sms-gateway")
    c("ratelimit_exceeded", sms_burst, "send_reminder", ["rate_limit"], True)
    c(
        "ratelimit_app_wrapped",
        limited_sms,
        "send_reminder",
        ["rate_limit"],
        True,
        wrap=(ScheduleFailed, "reminder batch 12 not sent"),
        service="reminders",
    )
    c("pyrate_full", pyrate_blocked, "submit_claim", ["rate_limit"], True, service="insurer-api")
    c(
        "pyrate_bad_timeout",
        pyrate_bad_timeout,
        "submit_claim",
        ["internal", "configuration"],
        False,
        service="insurer-api",
    )
    c("aiolimiter_over_capacity", over_capacity, "send_reminder", ["internal", "configuration"], False)
    c("ratelimit_limit_in_loop", lambda: [send_sms("p-9999") for _ in range(2)], "send_reminder", ["rate_limit"], True)


def _crash_worker(code: int) -> None:
    os._exit(code)


def _divide(total: int, visits: int) -> float:
    return total / visits


def _slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@family
def concurrency_cases() -> None:
    import concurrent.futures as cf
    import multiprocessing

    fork = multiprocessing.get_context("fork")

    def future_timeout() -> Any:
        with cf.ThreadPoolExecutor(1) as pool:
            return pool.submit(time.sleep, 1.0).result(timeout=0.2)

    def broken_pool() -> Any:
        with cf.ProcessPoolExecutor(1, mp_context=fork) as pool:
            return pool.submit(_crash_worker, 9).result(timeout=10)

    def cancelled() -> Any:
        with cf.ThreadPoolExecutor(1) as pool:
            pool.submit(time.sleep, 0.3)
            queued = pool.submit(_slow, 0.1)
            queued.cancel()
            return queued.result()

    def after_shutdown() -> Any:
        pool = cf.ThreadPoolExecutor(1)
        pool.shutdown()
        return pool.submit(_slow, 0.1)

    def pickling() -> Any:
        with fork.Pool(1) as pool:
            return pool.apply(lambda: 42)

    def pool_timeout() -> Any:
        with fork.Pool(1) as pool:
            return pool.apply_async(_slow, (1.0,)).get(timeout=0.2)

    def remote_error() -> Any:
        with fork.Pool(1) as pool:
            return pool.apply(_divide, (1200, 0))

    def bad_initializer() -> Any:
        with cf.ThreadPoolExecutor(1, initializer=_divide, initargs=(1, 0)) as pool:
            return pool.submit(_slow, 0.1).result()

    c = recorder("concurrency", "report-workers")
    c("future_timeout", future_timeout, "build_report", ["timeout"], True)
    c(
        "broken_process_pool_wrapped",
        broken_pool,
        "build_report",
        ["unknown", "resource", "internal"],
        None,
        wrap=(ReportFailed, "occupancy report not built"),
        service="reports",
    )
    c("future_cancelled", cancelled, "build_report", ["unknown", "internal", "timeout"], None)
    c("submit_after_shutdown", after_shutdown, "build_report", ["internal", "unavailable"], False)
    c("pickle_lambda", pickling, "build_report", ["internal"], False)
    c(
        "pool_get_timeout_wrapped",
        pool_timeout,
        "build_report",
        ["timeout"],
        True,
        wrap=(ReportFailed, "bed occupancy report late"),
        service="reports",
    )
    c("remote_zero_division", remote_error, "average_cost", ["internal", "data"], False)
    c("thread_initializer_failed", bad_initializer, "build_report", ["internal", "configuration"], False)


@family
def templates_cases() -> None:
    import chevron
    from mako.lookup import TemplateLookup
    from mako.template import Template

    (TMP / "templates").mkdir(exist_ok=True)
    lookup = TemplateLookup(directories=[str(TMP / "templates")], strict_undefined=True)

    c = recorder("templates", "letters")
    c(
        "mako_syntax",
        lambda: Template("Dear ${patient.name,\nyour visit is on ${visit.date}."),
        "render_letter",
        ["internal"],
        False,
    )
    c(
        "mako_undefined_wrapped",
        lambda: Template("Dear ${patient_name},", strict_undefined=True).render(),
        "render_letter",
        ["internal"],
        False,
        wrap=(ReminderNotSent, "appointment letter 881 not rendered"),
        service="reminders",
    )
    c(
        "mako_missing_template",
        lambda: lookup.get_template("/letters/referral.mako"),
        "render_letter",
        ["configuration", "not_found"],
        False,
    )
    c(
        "mako_compile_error",
        lambda: Template("<% for v in visits %>\n${v}\n<% endfor %>"),
        "render_letter",
        ["internal"],
        False,
    )
    c(
        "mako_runtime_error",
        lambda: Template("${total // visits}").render(total=120, visits=0),
        "render_letter",
        ["internal", "data"],
        False,
    )
    c(
        "chevron_unclosed_section",
        lambda: chevron.render("{{#visits}}<li>{{date}}</li>", {"visits": []}),
        "render_letter",
        ["internal"],
        False,
    )
    c(
        "chevron_unclosed_tag",
        lambda: chevron.render("Dear {{patient", {"patient": "Ada"}),
        "render_letter",
        ["internal"],
        False,
    )


@family
def documents_cases() -> None:
    import zipfile as zf

    import docx
    import html5lib

    text_file = TMP / "discharge.docx"
    text_file.write_text("Discharge summary for p-0001\n")
    no_types = TMP / "empty.docx"
    with zf.ZipFile(no_types, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")

    def missing_style() -> Any:
        return docx.Document().add_paragraph("Discharge summary", style="Clinic Heading")

    def cell_out_of_range() -> Any:
        return docx.Document().add_table(rows=2, cols=2).cell(3, 0)

    c = recorder("documents", "letters")
    c(
        "docx_missing_file",
        lambda: docx.Document(str(TMP / "letters" / "referral-77.docx")),
        "load_letter",
        ["not_found"],
        False,
    )
    c(
        "docx_not_a_zip_wrapped",
        lambda: docx.Document(str(text_file)),
        "load_letter",
        ["data", "validation", "not_found"],
        False,
        wrap=(ImportFailed, "discharge letter from ward 3 not imported"),
        service="letters-import",
    )
    c("docx_no_content_types", lambda: docx.Document(str(no_types)), "load_letter", ["data", "validation"], False)
    c("docx_missing_style", missing_style, "write_letter", ["configuration", "internal"], False)
    c("docx_cell_out_of_range", cell_out_of_range, "write_letter", ["internal"], False)
    c(
        "html5lib_strict",
        lambda: html5lib.HTMLParser(strict=True).parse("<p>Referral<b>urgent</p></i>"),
        "import_referral_html",
        ["validation", "data"],
        False,
    )


@family
def invoke_cases() -> None:
    import gzip as gz

    import invoke

    corrupt = TMP / "visits-2026-11.csv.gz"
    rows = "".join(f"p-{n:04d},{n * 7919 % 10007},{n * 104729 % 1009}\n" for n in range(3000)).encode()
    packed = gz.compress(rows, mtime=0)
    corrupt.write_bytes(packed[: len(packed) // 2])

    def run(command: str, **kw: Any) -> Callable[[], Any]:
        return lambda: invoke.run(command, hide=True, in_stream=False, **kw)

    c = recorder("invoke", "nightly-jobs")
    c("exit_1", run("grep -q p-9999 /etc/hostname"), "find_patient_export", ["unknown", "not_found"], None)
    c("command_not_found", run("pg_dumpx --version"), "backup_database", ["configuration"], False)
    c(
        "timed_out_wrapped",
        run("sleep 5", timeout=0.5),
        "backup_database",
        ["timeout"],
        True,
        wrap=(ExportFailed, "nightly backup did not finish"),
        service="backups",
    )
    c(
        "tar_missing_archive",
        run(f"tar -tzf {TMP / 'backups' / 'visits-2026-11.tgz'}"),
        "verify_backup",
        ["not_found", "configuration"],
        False,
    )
    c("gzip_corrupt", run(f"gzip -t {corrupt}"), "verify_backup", ["data"], False)
    c("killed", run("sh -c 'kill -9 $$'"), "rebuild_index", ["unknown", "resource"], None)
    c(
        "unknown_task",
        lambda: invoke.Collection(invoke.task(lambda ctx: None, name="backup"))["deploy"],
        "run_task",
        ["internal", "configuration", "not_found"],
        False,
    )


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
