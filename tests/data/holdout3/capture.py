"""Build tests/data/holdout3/cases.jsonl: a third held-out set of real errors, labelled by the taxonomy only.

Written without reading medic's rules (config/rules/), its classifier, its classification tests or the
cases of the first three sets, so it measures how the rules generalise. Each error is raised for real:
against the machine's PostgreSQL, MariaDB, Redis and RabbitMQ, against servers this script starts on free
127.0.0.1 ports (a scriptable HTTP server that answers like the real APIs, SSH, FTP, a memcached-like line
server, a silent TCP listener), against closed ports, or by feeding a library real bad input. Events are
built by `medic_client.event_from_exception`; about one case in six is wrapped in an application's own
exception.

Run: /tmp/holdout3-venv/bin/python tests/data/holdout3/capture.py [family ...]   (README.md: the venv)
With family names, only those families are captured again; the other families' cases are kept.
"""


from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from medic_client import event_from_exception

HERE = Path(__file__).resolve().parent
OUT = HERE / "cases.jsonl"
SOURCE = "holdout3-app"
CASES: list[dict[str, Any]] = []
MISSED: list[str] = []
COUNTERS: collections.Counter[str] = collections.Counter()
CLEANUPS: list[Callable[[], Any]] = []
TMP = Path(tempfile.mkdtemp(prefix="holdout3-"))
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"
FAKE_CREDENTIAL = "not-a-real-key-0000"


def app_error(name: str) -> type[Exception]:
    cls = type(name, (Exception,), {})
    cls.__module__ = "clinic.errors"
    return cls


SettlementFailed = app_error("SettlementFailed")
BookingNotSaved = app_error("BookingNotSaved")
FeedImportFailed = app_error("FeedImportFailed")
ReminderNotSent = app_error("ReminderNotSent")
LedgerError = app_error("LedgerError")
PartnerSyncFailed = app_error("PartnerSyncFailed")
DeployStepFailed = app_error("DeployStepFailed")
PrescriptionRejected = app_error("PrescriptionRejected")


def capture(name: str, family: str, trigger: Callable[[], Any], *, service: str, operation: str | None,
            accept: list[str], retryable: bool | None, wrap: tuple[type[Exception], str] | None = None,
            context: dict[str, Any] | None = None) -> None:
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
        event = event_from_exception(exc, service=service, operation=operation, source=SOURCE, context=context,
                                     include_traceback=False)
        event.pop("occurred_at", None)
        CASES.append({"id": case_id, "family": family, "event": event, "accept": accept, "retryable": retryable})
        extra = " ".join(f"{key}={event[key]}" for key in ("http_status", "errno", "code") if event.get(key))
        print(f"  {case_id:16} {name:34} {event['error_type'][:50]:50} {event['message'][:60]!r} {extra}")
        return
    MISSED.append(f"{case_id} {name}: did not raise")
    print(f"  {case_id:16} {name:34} DID NOT RAISE")


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


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def in_thread(target: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout_s}s")


def start_process(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    CLEANUPS.append(lambda: (proc.terminate(), proc.wait(5)))
    wait_port(port)
    return proc


class Silent:
    """Accepts TCP connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        in_thread(self._loop)

    def _loop(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return


class LineServer:
    """A tiny line-based TCP server: sends a greeting, then answers each line with respond(line)."""

    def __init__(self, greeting: bytes, respond: Callable[[bytes], bytes | None]) -> None:
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(outer.greeting)
                for line in self.rfile:
                    answer = outer.respond(line)
                    if answer is None:  # hang up
                        return
                    self.wfile.write(answer)

        self.greeting = greeting
        self.respond = respond
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.port = server.server_address[1]
        in_thread(server.serve_forever)
        CLEANUPS.append(server.shutdown)


# --------------------------------------------------------------------------- a scriptable HTTP server

class Reply:
    """What the fake HTTP server answers to every request until the next `FAKE.set(...)`."""

    def __init__(self, status: int = 200, body: Any = b"", headers: dict[str, str] | None = None,
                 delay_s: float = 0.0, mode: str = "normal") -> None:
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


def answering(status: int = 200, body: Any = b"", headers: dict[str, str] | None = None,
              call: Callable[[], Any] | None = None, **kw: Any) -> Callable[[], Any]:
    """A trigger that first makes the fake HTTP server answer so, then runs call."""
    def trigger() -> Any:
        FAKE.set(status, body, headers, **kw)
        assert call is not None
        return call()
    return trigger


@contextlib.contextmanager
def env(**values: str | None) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value




def psql(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)  # type: ignore[arg-type]


def mysql(*statements: str) -> None:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test",
                           connect_timeout=3, autocommit=True)
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


# =========================================================================== families

@family
def psycopg_async_cases() -> None:
    import psycopg
    import psycopg_pool

    db = {"service": "clinic-pg"}
    drop = ("DROP TABLE IF EXISTS h3_visits", "DROP TABLE IF EXISTS h3_patients", "DROP ROLE IF EXISTS h3_reader")
    psql(*drop,
         "CREATE TABLE h3_patients (id int PRIMARY KEY, code varchar(4), balance numeric(8,2), ref uuid)",
         "CREATE TABLE h3_visits (id int PRIMARY KEY, patient_id int REFERENCES h3_patients(id))",
         "INSERT INTO h3_patients VALUES (1, 'A1', 10, NULL), (2, 'B2', 20, NULL)",
         "CREATE ROLE h3_reader NOLOGIN")
    CLEANUPS.append(lambda: psql(*drop))

    async def run(sql: str, params: tuple[Any, ...] = (), dsn: str = PG_DSN, role: str | None = None) -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            if role:
                await conn.execute(f"SET ROLE {role}")  # type: ignore[arg-type]
            await conn.execute(sql, params)  # type: ignore[arg-type]

    async def pool_timeout() -> None:
        pool = psycopg_pool.AsyncConnectionPool(PG_DSN, min_size=1, max_size=1, timeout=0.5, open=False)
        await pool.open()
        try:
            held = await pool.getconn()
            try:
                await pool.getconn()
            finally:
                await pool.putconn(held)
        finally:
            await pool.close()

    async def pool_closed() -> None:
        pool = psycopg_pool.AsyncConnectionPool(PG_DSN, min_size=1, max_size=1, open=False)
        await pool.open()
        await pool.close()
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")

    async def serialization() -> None:
        a = await psycopg.AsyncConnection.connect(PG_DSN)
        b = await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True)
        try:
            await a.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
            await a.execute("SELECT balance FROM h3_patients WHERE id = 1")
            await b.execute("UPDATE h3_patients SET balance = balance + 1 WHERE id = 1")
            await a.execute("UPDATE h3_patients SET balance = balance - 5 WHERE id = 1")
        finally:
            await a.close()
            await b.close()

    async def nowait() -> None:
        a = await psycopg.AsyncConnection.connect(PG_DSN)
        b = await psycopg.AsyncConnection.connect(PG_DSN)
        try:
            await a.execute("SELECT * FROM h3_patients WHERE id = 2 FOR UPDATE")
            await b.execute("SELECT * FROM h3_patients WHERE id = 2 FOR UPDATE NOWAIT")
        finally:
            await a.close()
            await b.close()

    capture("pool_timeout", "psycopg_async", pool_timeout, operation="load_schedule", accept=["timeout", "resource"],
            retryable=True, **db)
    capture("pool_closed", "psycopg_async", pool_closed, operation="load_schedule",
            accept=["internal", "unavailable"], retryable=None, **db)
    capture("serialization_failure_wrapped", "psycopg_async", serialization,
            wrap=(SettlementFailed, "visit charge not settled"),
            service="billing", operation="settle_visit", accept=["conflict"],
            retryable=True)
    capture("for_update_nowait", "psycopg_async", nowait, operation="lock_patient", accept=["conflict"],
            retryable=True, **db)
    capture("numeric_out_of_range", "psycopg_async",
            lambda: run("UPDATE h3_patients SET balance = %s WHERE id = 1", (123456789,)),
            operation="set_balance", accept=["validation", "data"], retryable=False, **db)
    capture("varchar_too_long", "psycopg_async",
            lambda: run("INSERT INTO h3_patients (id, code) VALUES (3, %s)", ("LONGCODE",)),
            operation="register_patient", accept=["validation", "data"], retryable=False, **db)
    capture("bad_uuid_wrapped", "psycopg_async",
            lambda: run("UPDATE h3_patients SET ref = %s WHERE id = 1", ("not-a-uuid",)),
            wrap=(FeedImportFailed, "lab feed row 17 rejected"), service="lab-feed", operation="import_results",
            accept=["validation", "data"], retryable=False)
    capture("permission_denied_table", "psycopg_async", lambda: run("SELECT * FROM h3_patients", role="h3_reader"),
            operation="list_patients", accept=["auth", "configuration"], retryable=False, **db)
    capture("undefined_function", "psycopg_async", lambda: run("SELECT h3_patient_age(1)"),
            operation="patient_age", accept=["internal", "configuration"], retryable=False, **db)
    capture("database_missing", "psycopg_async",
            lambda: run("SELECT 1", dsn=PG_DSN.replace("dbname=test", "dbname=h3_clinic_missing")),
            operation="connect", accept=["configuration", "not_found"], retryable=False, **db)
    capture("duplicate_key_wrapped", "psycopg_async", lambda: run("INSERT INTO h3_patients (id) VALUES (1)"),
            wrap=(BookingNotSaved, "patient could not be registered"), service="booking",
            operation="register_patient", accept=["data", "conflict"], retryable=False)


@family
def pg8000_cases() -> None:
    import pg8000.native

    db = {"service": "reports-pg"}
    drop = ("DROP TABLE IF EXISTS h3_rx", "DROP TABLE IF EXISTS h3_drugs")
    psql(*drop, "CREATE TABLE h3_drugs (id int PRIMARY KEY, name text NOT NULL)",
         "CREATE TABLE h3_rx (id int PRIMARY KEY, drug_id int REFERENCES h3_drugs(id), due date)",
         "INSERT INTO h3_drugs VALUES (1, 'ibuprofen')")
    CLEANUPS.append(lambda: psql(*drop))

    def run(sql: str, user: str = "postgres", port: int = 5432, **params: Any) -> None:
        conn = pg8000.native.Connection(user, host="127.0.0.1", port=port, database="test", timeout=3)
        try:
            conn.run(sql, **params)
        finally:
            conn.close()

    capture("role_missing", "pg8000", lambda: run("SELECT 1", user="h3_report_bot"), operation="connect",
            accept=["auth", "configuration"], retryable=False, **db)
    capture("refused", "pg8000", lambda: run("SELECT 1", port=closed_port()), operation="connect",
            accept=["network"], retryable=True, **db)
    capture("syntax", "pg8000", lambda: run("SELEC name FROM h3_drugs"), operation="drug_report",
            accept=["internal"], retryable=False, **db)
    capture("undefined_table", "pg8000", lambda: run("SELECT * FROM h3_drug_stock"), operation="stock_report",
            accept=["internal", "configuration", "not_found"], retryable=False, **db)
    capture("fk_violation", "pg8000", lambda: run("INSERT INTO h3_rx (id, drug_id) VALUES (1, 99)"),
            operation="prescribe", accept=["data", "validation"], retryable=False, **db)
    capture("not_null", "pg8000", lambda: run("INSERT INTO h3_drugs (id) VALUES (2)"), operation="add_drug",
            accept=["validation", "data", "internal"], retryable=False, **db)
    capture("bad_date_wrapped", "pg8000", lambda: run("INSERT INTO h3_rx (id, due) VALUES (2, :d)", d="2026-13-45"),
            wrap=(FeedImportFailed, "prescription import failed"), service="rx-import", operation="import_rx",
            accept=["validation", "data"], retryable=False)


@family
def asyncmy_cases() -> None:
    import asyncmy

    db = {"service": "billing-mariadb"}
    mysql("DROP TABLE IF EXISTS h3_invoice_lines", "DROP TABLE IF EXISTS h3_invoices",
          "DROP USER IF EXISTS 'h3_nobody'@'%'", "DROP USER IF EXISTS 'h3_nobody'@'localhost'",
          "CREATE TABLE h3_invoices (id int PRIMARY KEY, status ENUM('open','paid') NOT NULL, total int)"
          " ENGINE=InnoDB",
          "CREATE TABLE h3_invoice_lines (id int PRIMARY KEY, invoice_id int,"
          " FOREIGN KEY (invoice_id) REFERENCES h3_invoices(id)) ENGINE=InnoDB",
          "INSERT INTO h3_invoices VALUES (1, 'open', 10), (2, 'open', 20)",
          "INSERT INTO h3_invoice_lines VALUES (1, 1)",
          "CREATE USER 'h3_nobody'@'%' IDENTIFIED BY 'not-the-password'",
          "CREATE USER 'h3_nobody'@'localhost' IDENTIFIED BY 'not-the-password'")
    CLEANUPS.append(lambda: mysql("DROP TABLE IF EXISTS h3_invoice_lines", "DROP TABLE IF EXISTS h3_invoices",
                                  "DROP USER IF EXISTS 'h3_nobody'@'%'", "DROP USER IF EXISTS 'h3_nobody'@'localhost'"))

    async def connect(user: str = "root", password: str = "", database: str = "test") -> Any:
        return await asyncmy.connect(host="127.0.0.1", port=3306, user=user, password=password, database=database,
                                     connect_timeout=3, autocommit=True)

    async def run(*sqls: str, **kw: Any) -> None:
        conn = await connect(**kw)
        try:
            async with conn.cursor() as cur:
                for sql in sqls:
                    await cur.execute(sql)
        finally:
            conn.close()

    async def lock_wait() -> None:
        a, b = await connect(), await connect()
        try:
            async with a.cursor() as ca, b.cursor() as cb:
                await ca.execute("BEGIN")
                await ca.execute("UPDATE h3_invoices SET total = 11 WHERE id = 1")
                await cb.execute("SET SESSION innodb_lock_wait_timeout = 1")
                await cb.execute("UPDATE h3_invoices SET total = 12 WHERE id = 1")
        finally:
            a.close()
            b.close()

    capture("db_access_denied", "asyncmy", lambda: run("SELECT 1", user="h3_nobody", password="not-the-password"),
            operation="connect", accept=["auth", "configuration"], retryable=False, **db)
    capture("wrong_password", "asyncmy", lambda: run("SELECT 1", user="h3_nobody", password="still-not-it",
                                                     database=""),
            operation="connect", accept=["auth"], retryable=False, **db)
    capture("fk_parent_row", "asyncmy", lambda: run("DELETE FROM h3_invoices WHERE id = 1"),
            operation="delete_invoice", accept=["data", "conflict", "validation"], retryable=False, **db)
    capture("lock_wait_timeout_wrapped", "asyncmy", lock_wait, wrap=(SettlementFailed, "invoice 1 not settled"),
            service="billing", operation="settle_invoice", accept=["conflict", "timeout"],
            retryable=True)
    capture("max_statement_time", "asyncmy",
            lambda: run("SET STATEMENT max_statement_time=0.2 FOR SELECT SLEEP(2) FROM h3_invoices"),
            operation="aging_report", accept=["timeout"], retryable=True, **db)
    capture("enum_truncated", "asyncmy",
            lambda: run("SET SESSION sql_mode='STRICT_ALL_TABLES'",
                        "INSERT INTO h3_invoices (id, status) VALUES (3, 'refunded')"),
            operation="create_invoice", accept=["validation", "data"], retryable=False, **db)
    capture("table_missing", "asyncmy", lambda: run("SELECT * FROM h3_credit_notes"), operation="credit_notes",
            accept=["internal", "configuration", "not_found"], retryable=False, **db)
    capture("division_by_zero_strict", "asyncmy",
            lambda: run("SET SESSION sql_mode='STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO'",
                        "UPDATE h3_invoices SET total = total / 0 WHERE id = 2"),
            operation="split_invoice", accept=["internal", "validation", "data"], retryable=False, **db)
    capture("duplicate_wrapped", "asyncmy", lambda: run("INSERT INTO h3_invoices (id, status) VALUES (1, 'open')"),
            wrap=(LedgerError, "invoice 1 not booked"), service="ledger", operation="book_invoice",
            accept=["data", "conflict"], retryable=False)


@family
def redis_primitives_cases() -> None:
    import redis
    from redis.lock import Lock

    r = redis.Redis(host="127.0.0.1", port=6379, db=0, socket_timeout=3)
    keys = ["h3:slots", "h3:counter", "h3:max", "h3:events", "h3:dump", "h3:lock", "h3:lock2"]
    r.delete(*keys)
    CLEANUPS.append(lambda: r.delete(*keys))
    cache = {"service": "slots-redis"}

    def watch_conflict() -> None:
        r.set("h3:slots", 5)
        with r.pipeline() as pipe:
            pipe.watch("h3:slots")
            left = int(pipe.get("h3:slots") or 0)
            redis.Redis(host="127.0.0.1", port=6379).decr("h3:slots")
            pipe.multi()
            pipe.set("h3:slots", left - 1)
            pipe.execute()

    def lock_not_owned() -> None:
        lock = Lock(r, "h3:lock", timeout=0.1)
        lock.acquire(blocking=False)
        time.sleep(0.25)
        lock.release()

    def lock_unlocked() -> None:
        Lock(r, "h3:lock2", timeout=5).release()

    def restore_busy() -> None:
        r.set("h3:dump", "x")
        payload = r.dump("h3:dump")
        r.restore("h3:dump", 0, payload)

    capture("watch_error_wrapped", "redis_primitives", watch_conflict, wrap=(BookingNotSaved, "slot 09:30 not booked"),
            service="booking", operation="book_slot", accept=["conflict"],
            retryable=True)
    capture("lock_not_owned", "redis_primitives", lock_not_owned, operation="release_lock",
            accept=["conflict", "timeout", "internal"], retryable=None, **cache)
    capture("lock_release_unlocked", "redis_primitives", lock_unlocked, operation="release_lock",
            accept=["internal", "conflict"], retryable=False, **cache)
    capture("incr_not_integer", "redis_primitives", lambda: (r.set("h3:counter", "ten"), r.incr("h3:counter")),
            operation="count_visit", accept=["data", "internal", "validation"], retryable=False, **cache)
    capture("incr_overflow", "redis_primitives",
            lambda: (r.set("h3:max", 2**63 - 1), r.incr("h3:max")), operation="count_visit",
            accept=["data", "validation", "internal"], retryable=False, **cache)
    capture("xadd_id_too_small", "redis_primitives",
            lambda: (r.xadd("h3:events", {"a": 1}, id="5-0"), r.xadd("h3:events", {"a": 2}, id="3-0")),
            operation="append_event", accept=["conflict", "validation", "data"], retryable=False, **cache)
    capture("restore_busykey", "redis_primitives", restore_busy, operation="restore_snapshot",
            accept=["conflict", "data"], retryable=False, **cache)
    capture("restore_bad_payload", "redis_primitives", lambda: r.restore("h3:dump2", 0, b"\x00garbage"),
            operation="restore_snapshot", accept=["data", "validation"], retryable=False, **cache)
    capture("script_error_reply_wrapped", "redis_primitives",
            lambda: r.eval("return redis.error_reply('slot quota script failed: no rule for clinic')", 0),
            wrap=(BookingNotSaved, "slot not reserved"), service="booking", operation="reserve_slot",
            accept=["internal", "unknown", "configuration"], retryable=None)
    capture("xreadgroup_nogroup", "redis_primitives",
            lambda: r.xreadgroup("h3-workers", "w1", {"h3:events": ">"}, count=1), operation="consume_events",
            accept=["not_found", "configuration"], retryable=False, **cache)


@family
def amqpstorm_cases() -> None:
    import amqpstorm

    mq = {"service": "reminders-amqp"}

    def connect(**kw: Any) -> Any:
        args = {"hostname": "127.0.0.1", "username": "guest", "password": "guest", "port": 5672, "timeout": 3}
        args.update(kw)
        return amqpstorm.Connection(**args)

    def on_channel(action: Callable[[Any], Any]) -> Callable[[], None]:
        def trigger() -> None:
            conn = connect()
            try:
                channel = conn.channel()
                action(channel)
            finally:
                with contextlib.suppress(Exception):
                    conn.close()
        return trigger

    def cleanup() -> None:
        conn = connect()
        ch = conn.channel()
        ch.queue.delete("h3.reminders")
        ch.exchange.delete("h3.events")
        conn.close()

    def setup_objects(ch: Any) -> None:
        ch.queue.declare("h3.reminders", durable=True, arguments={"x-message-ttl": 60000})
        ch.exchange.declare("h3.events", exchange_type="topic")

    on_channel(setup_objects)()
    CLEANUPS.append(cleanup)

    capture("bad_password", "amqpstorm", lambda: connect(password="not-the-password"), operation="connect",
            accept=["auth"], retryable=False, **mq)
    capture("missing_vhost", "amqpstorm", lambda: connect(virtual_host="h3-clinic"), operation="connect",
            accept=["configuration", "not_found", "auth"], retryable=False, **mq)
    capture("refused", "amqpstorm", lambda: connect(port=closed_port()), operation="connect",
            accept=["network"], retryable=True, **mq)
    capture("passive_missing_queue", "amqpstorm",
            on_channel(lambda ch: ch.queue.declare("h3.no-such-queue", passive=True)), operation="check_queue",
            accept=["not_found", "configuration"], retryable=False, **mq)
    capture("queue_args_mismatch", "amqpstorm",
            on_channel(lambda ch: ch.queue.declare("h3.reminders", durable=True,
                                                   arguments={"x-message-ttl": 1000})),
            operation="declare_queue", accept=["configuration", "conflict"], retryable=False, **mq)
    capture("exchange_type_mismatch", "amqpstorm",
            on_channel(lambda ch: ch.exchange.declare("h3.events", exchange_type="fanout")),
            operation="declare_exchange", accept=["configuration", "conflict"], retryable=False, **mq)
    capture("bind_missing_exchange_wrapped", "amqpstorm",
            on_channel(lambda ch: ch.queue.bind("h3.reminders", exchange="h3.no-such-exchange", routing_key="x")),
            wrap=(ReminderNotSent, "reminder routing not set up"), service="reminders", operation="bind_queue",
            accept=["not_found", "configuration"], retryable=False)
    capture("silent_listener", "amqpstorm", lambda: connect(port=Silent().port, timeout=0.5),
            operation="connect", accept=["timeout", "network"], retryable=True, **mq)


class LoopThread:
    """An asyncio loop in a thread, for servers that must outlive each case's own loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        in_thread(self.loop.run_forever)
        CLEANUPS.append(lambda: self.loop.call_soon_threadsafe(self.loop.stop))

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)


@family
def asyncssh_cases() -> None:
    import asyncssh

    root = TMP / "sftp"
    (root / "exports").mkdir(parents=True)
    (root / "exports" / "locked.csv").write_text("id\n")

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return password == "not-the-password"

    class Sftp(asyncssh.SFTPServer):
        def __init__(self, chan: Any) -> None:
            super().__init__(chan, chroot=str(root).encode())

        def open(self, path: bytes, pflags: int, attrs: Any) -> Any:
            if path.endswith(b"locked.csv"):
                raise PermissionError(13, "Permission denied", path.decode())
            return super().open(path, pflags, attrs)

    async def process(proc: Any) -> None:
        proc.stderr.write("pg_dump: error: connection to server on socket failed: No such file or directory\n")
        proc.exit(1)

    key = asyncssh.generate_private_key("ssh-ed25519")
    other = asyncssh.generate_private_key("ssh-ed25519")
    loop = LoopThread()
    async def listen() -> Any:
        return await asyncssh.create_server(Server, "127.0.0.1", 0, server_host_keys=[key],
                                            process_factory=process, sftp_factory=Sftp)

    server = loop.run(listen())
    port = server.sockets[0].getsockname()[1]
    CLEANUPS.append(server.close)
    ssh = {"service": "backup-ssh"}

    def connect(password: str = "not-the-password", known_hosts: Any = None, port_: int = port,
                **kw: Any) -> Any:
        return asyncssh.connect("127.0.0.1", port_, username="backup", password=password, known_hosts=known_hosts,
                                client_keys=None, connect_timeout=2, **kw)

    async def bad_password() -> None:
        async with connect(password="wrong-password"):
            pass

    async def host_key_unknown() -> None:
        known = asyncssh.import_known_hosts(f"[127.0.0.1]:{port} {other.export_public_key().decode()}")
        async with connect(known_hosts=known):
            pass

    async def remote_fails() -> None:
        async with connect() as conn:
            await conn.run("pg_dump clinic", check=True)

    async def sftp(action: str) -> None:
        async with connect() as conn, conn.start_sftp_client() as client:
            if action == "missing":
                await client.get("/exports/2026-12.csv", str(TMP / "x.csv"))
            elif action == "locked":
                await client.get("/exports/locked.csv", str(TMP / "y.csv"))
            else:
                await client.rmdir("/exports")

    async def forward_refused() -> None:
        async with connect() as conn:
            await conn.create_connection(asyncssh.SSHTCPSession, "10.0.0.5", 5432)

    async def silent() -> None:
        async with connect(port_=Silent().port, login_timeout=0.5):
            pass

    capture("bad_password", "asyncssh", bad_password, operation="connect", accept=["auth"], retryable=False, **ssh)
    capture("host_key_not_verifiable", "asyncssh", host_key_unknown, operation="connect",
            accept=["auth", "configuration"], retryable=False, **ssh)
    capture("remote_exit_1_wrapped", "asyncssh", remote_fails, wrap=(DeployStepFailed, "nightly backup step failed"),
            service="deploy", operation="run_backup", accept=["unknown", "internal", "configuration"], retryable=None)
    capture("sftp_no_such_file", "asyncssh", lambda: sftp("missing"), operation="fetch_export",
            accept=["not_found"], retryable=False, **ssh)
    capture("sftp_permission_denied", "asyncssh", lambda: sftp("locked"), operation="fetch_export",
            accept=["auth"], retryable=False, **ssh)
    capture("sftp_dir_not_empty", "asyncssh", lambda: sftp("rmdir"), operation="clean_exports",
            accept=["internal", "conflict", "unknown"], retryable=False, **ssh)
    capture("forward_refused", "asyncssh", forward_refused, operation="open_tunnel",
            accept=["auth", "configuration", "network"], retryable=False, **ssh)
    capture("login_timeout", "asyncssh", silent, operation="connect", accept=["timeout", "network"], retryable=True,
            **ssh)


@family
def aioftp_cases() -> None:
    import logging

    import aioftp
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

    quiet = logging.getLogger("pyftpdlib")
    quiet.addHandler(logging.NullHandler())
    quiet.setLevel(logging.CRITICAL)
    quiet.propagate = False
    root = TMP / "ftp"
    (root / "inbox").mkdir(parents=True)

    def start(max_cons: int = 64) -> int:
        auth = DummyAuthorizer()
        auth.add_user("labs", "not-the-password", str(root), perm="elr")
        handler = type("Handler", (FTPHandler,), {"authorizer": auth, "log_prefix": ""})
        server = ThreadedFTPServer(("127.0.0.1", 0), handler)
        server.max_cons = max_cons
        in_thread(lambda: server.serve_forever(timeout=0.2, blocking=True, handle_exit=False))
        CLEANUPS.append(server.close_all)
        return server.address[1]

    port = start()
    ftp = {"service": "lab-ftp"}

    async def session(action: Callable[[Any], Any], password: str = "not-the-password", port_: int = port,
                      timeout: float = 3) -> None:
        async with aioftp.Client.context("127.0.0.1", port_, user="labs", password=password,
                                         socket_timeout=timeout, connection_timeout=timeout) as client:
            await action(client)

    async def too_many() -> None:
        port1 = start(max_cons=1)
        held = socket.create_connection(("127.0.0.1", port1))
        held.recv(100)
        try:
            await session(lambda c: c.list(), port_=port1)
        finally:
            held.close()

    async def upload(client: Any) -> None:
        (TMP / "results.hl7").write_text("MSH|^~\\&|\n")
        await client.upload(TMP / "results.hl7", "inbox/results.hl7", write_into=True)

    capture("bad_password", "aioftp", lambda: session(lambda c: c.list(), password="nope"), operation="login",
            accept=["auth"], retryable=False, **ftp)
    capture("missing_file", "aioftp", lambda: session(lambda c: c.download("inbox/2026-12-07.hl7", TMP / "dl")),
            operation="fetch_results", accept=["not_found"], retryable=False, **ftp)
    capture("upload_no_permission", "aioftp", lambda: session(upload), operation="send_results",
            accept=["auth", "configuration"], retryable=False, **ftp)
    capture("cwd_missing_wrapped", "aioftp", lambda: session(lambda c: c.change_directory("outbox")),
            wrap=(FeedImportFailed, "lab results not fetched"), service="lab-feed", operation="poll_lab",
            accept=["not_found", "configuration"], retryable=False)
    capture("too_many_connections_wrapped", "aioftp", too_many, wrap=(FeedImportFailed, "lab results not fetched"),
            service="lab-feed", operation="poll_lab",
            accept=["unavailable", "resource", "rate_limit"], retryable=True)
    capture("refused", "aioftp", lambda: session(lambda c: c.list(), port_=closed_port()), operation="login",
            accept=["network"], retryable=True, **ftp)
    capture("silent_server", "aioftp", lambda: session(lambda c: c.list(), port_=Silent().port, timeout=0.5),
            operation="login", accept=["timeout", "network"], retryable=True, **ftp)


@family
def memcache_cases() -> None:
    from pymemcache.client.base import Client

    def server(answer: bytes | None) -> int:
        def respond(line: bytes) -> bytes | None:
            if line.startswith(b"set "):
                return b""
            return answer
        return LineServer(b"", respond).port

    cache = {"service": "session-cache"}

    def client(port: int, timeout: float = 2) -> Any:
        return Client(("127.0.0.1", port), connect_timeout=timeout, timeout=timeout)

    def store(answer: bytes) -> Callable[[], Any]:
        port = server(answer)
        return lambda: client(port).set("session:81", b"x" * 40, noreply=False)

    capture("out_of_memory", "memcache", store(b"SERVER_ERROR out of memory storing object\r\n"),
            operation="save_session", accept=["resource", "unavailable"], retryable=None, **cache)
    capture("object_too_large", "memcache", store(b"SERVER_ERROR object too large for cache\r\n"),
            operation="save_session", accept=["validation", "resource"], retryable=False, **cache)
    capture("bad_data_chunk", "memcache", store(b"CLIENT_ERROR bad data chunk\r\n"), operation="save_session",
            accept=["internal", "validation", "data"], retryable=False, **cache)
    port = server(b"ERROR\r\n")
    capture("unknown_command", "memcache", lambda: client(port).get("session:81"), operation="load_session",
            accept=["internal", "configuration"], retryable=False, **cache)
    capture("key_too_long", "memcache", lambda: client(port).get("session:" + "k" * 300), operation="load_session",
            accept=["validation", "internal"], retryable=False, **cache)
    port_hang = server(None)
    capture("closed_mid_request", "memcache", lambda: client(port_hang).get("session:81"),
            operation="load_session", accept=["network"], retryable=True, **cache)
    capture("silent_timeout_wrapped", "memcache", lambda: client(Silent().port, timeout=0.4).get("session:81"),
            wrap=(BookingNotSaved, "session lookup failed"), service="booking", operation="load_session",
            accept=["timeout", "network"], retryable=True)
    capture("refused", "memcache", lambda: client(closed_port()).get("session:81"), operation="load_session",
            accept=["network"], retryable=True, **cache)


@family
def vault_cases() -> None:
    import hvac

    vault = {"service": "vault"}

    def read() -> Any:
        client = hvac.Client(url=FAKE.url, token=FAKE_CREDENTIAL, timeout=2)
        return client.secrets.kv.v2.read_secret_version(path="clinic/db", raise_on_deleted_version=True)

    def login() -> Any:
        return hvac.Client(url=FAKE.url, timeout=2).auth.approle.login(role_id="clinic-api", secret_id="")

    capture("permission_denied", "vault", answering(403, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]},
                                                    call=read),
            operation="read_db_credentials", accept=["auth"], retryable=False, **vault)
    capture("missing_path", "vault", answering(404, {"errors": []}, call=read), operation="read_db_credentials",
            accept=["not_found", "configuration"], retryable=False, **vault)
    capture("sealed", "vault", answering(503, {"errors": ["Vault is sealed"]}, call=read),
            operation="read_db_credentials", accept=["unavailable"], retryable=True, **vault)
    capture("rate_limit_quota", "vault",
            answering(429, {"errors": ["request path \"secret/data/clinic/db\": rate limit quota exceeded"]},
                      call=read),
            operation="read_db_credentials", accept=["rate_limit"], retryable=True, **vault)
    capture("internal_error_wrapped", "vault", answering(500, {"errors": ["internal error"]}, call=read),
            wrap=(DeployStepFailed, "could not render database credentials"), service="deploy",
            operation="render_config", accept=["unavailable", "unknown"], retryable=True)
    capture("missing_client_token", "vault", answering(401, {"errors": ["missing client token"]}, call=read),
            operation="read_db_credentials", accept=["auth", "configuration"], retryable=False, **vault)
    capture("approle_bad_request", "vault",
            answering(400, {"errors": ["missing secret_id"]}, call=login), operation="login",
            accept=["validation", "configuration", "auth"], retryable=False, **vault)
    capture("index_state_not_present", "vault",
            answering(412, {"errors": ["required index state not present"]}, call=read),
            operation="read_db_credentials", accept=["conflict", "unavailable"], retryable=True, **vault)


@family
def gitlab_cases() -> None:
    import gitlab

    gl = {"service": "gitlab"}

    def client() -> Any:
        return gitlab.Gitlab(FAKE.url, private_token=FAKE_CREDENTIAL, retry_transient_errors=False, timeout=2)

    def get() -> Any:
        return client().projects.get(42, obey_rate_limit=False)

    def create_project() -> Any:
        return client().projects.create({"name": "clinic-api"})

    def create_mr() -> Any:
        project = client().projects.get(42, lazy=True)
        return project.mergerequests.create({"source_branch": "fix", "target_branch": "main", "title": "Fix"})

    capture("project_not_found", "gitlab", answering(404, {"message": "404 Project Not Found"}, call=get),
            operation="get_project", accept=["not_found"], retryable=False, **gl)
    capture("unauthorized", "gitlab", answering(401, {"message": "401 Unauthorized"}, call=get),
            operation="get_project", accept=["auth"], retryable=False, **gl)
    capture("forbidden", "gitlab", answering(403, {"message": "403 Forbidden"}, call=get), operation="get_project",
            accept=["auth"], retryable=False, **gl)
    capture("name_taken", "gitlab",
            answering(400, {"message": {"name": ["has already been taken"], "path": ["has already been taken"]}},
                      call=create_project),
            operation="create_project", accept=["conflict", "validation"], retryable=False, **gl)
    capture("mr_exists_wrapped", "gitlab",
            answering(409, {"message": ["Another open merge request already exists for this source branch: !12"]},
                      call=create_mr),
            wrap=(DeployStepFailed, "release merge request not opened"), service="release-bot",
            operation="open_release_mr", accept=["conflict"], retryable=False)
    capture("rate_limited_wrapped", "gitlab",
            answering(429, "Retry later\n", {"Retry-After": "30", "Content-Type": "text/plain"}, call=get),
            wrap=(DeployStepFailed, "release notes not published"),
            service="release-bot", operation="publish_release_notes", accept=["rate_limit"], retryable=True)
    capture("server_error", "gitlab", answering(502, "<html>502 Whoops, GitLab is taking too much time to respond."
                                                     "</html>", {"Content-Type": "text/html"}, call=get),
            operation="get_project", accept=["unavailable", "timeout"], retryable=True, **gl)


@family
def docker_sdk_cases() -> None:
    import docker

    dk = {"service": "docker-engine"}

    def client(port: int | None = None) -> Any:
        return docker.DockerClient(base_url=f"tcp://127.0.0.1:{port or FAKE.port}", version="1.43", timeout=2)

    capture("no_such_container", "docker_sdk",
            answering(404, {"message": "No such container: h3-web"}, call=lambda: client().containers.get("h3-web")),
            operation="inspect_container", accept=["not_found"], retryable=False, **dk)
    capture("no_such_image", "docker_sdk",
            answering(404, {"message": "No such image: clinic/web:9.9"},
                      call=lambda: client().images.get("clinic/web:9.9")),
            operation="inspect_image", accept=["not_found", "configuration"], retryable=False, **dk)
    capture("name_in_use", "docker_sdk",
            answering(409, {"message": "Conflict. The container name \"/h3-web\" is already in use by container "
                                       "\"4f1c\". You have to remove (or rename) that container to be able to reuse "
                                       "that name."},
                      call=lambda: client().api.create_container("clinic/web:1.0", name="h3-web")),
            operation="create_container", accept=["conflict"], retryable=False, **dk)
    capture("remove_running", "docker_sdk",
            answering(409, {"message": "cannot remove container \"/h3-web\": container is running: stop the "
                                       "container before removing or force remove"},
                      call=lambda: client().api.remove_container("h3-web")),
            operation="remove_container", accept=["conflict"], retryable=None, **dk)
    capture("port_allocated_wrapped", "docker_sdk",
            answering(500, {"message": "driver failed programming external connectivity on endpoint h3-web: "
                                       "Bind for 0.0.0.0:8080 failed: port is already allocated"},
                      call=lambda: client().api.start("h3-web")),
            wrap=(DeployStepFailed, "web container did not start"), service="deploy", operation="start_web",
            accept=["configuration", "conflict", "resource"], retryable=None)
    capture("pull_access_denied", "docker_sdk",
            answering(404, {"message": "pull access denied for clinic/web, repository does not exist or may require "
                                       "'docker login': denied: requested access to the resource is denied"},
                      call=lambda: client().images.pull("clinic/web", tag="1.0")),
            operation="pull_image", accept=["auth", "not_found", "configuration"], retryable=False, **dk)
    capture("daemon_refused", "docker_sdk", lambda: client(closed_port()).ping(), operation="ping",
            accept=["network", "unavailable"], retryable=True, **dk)


@family
def sendgrid_cases() -> None:
    from sendgrid import SendGridAPIClient

    mail = {"service": "sendgrid"}
    message = {"personalizations": [{"to": [{"email": "patient@example.org"}]}],
               "from": {"email": "noreply@clinic.example"}, "subject": "Reminder",
               "content": [{"type": "text/plain", "value": "See you tomorrow"}]}

    def send() -> Any:
        return SendGridAPIClient(api_key=FAKE_CREDENTIAL, host=FAKE.url).client.mail.send.post(request_body=message)

    def err(text: str, field: str | None = None) -> dict[str, Any]:
        return {"errors": [{"message": text, "field": field, "help": None}]}

    capture("unauthorized", "sendgrid",
            answering(401, err("The provided authorization grant is invalid, expired, or revoked"), call=send),
            operation="send_reminder", accept=["auth"], retryable=False, **mail)
    capture("forbidden", "sendgrid", answering(403, err("access forbidden"), call=send), operation="send_reminder",
            accept=["auth"], retryable=False, **mail)
    capture("sender_not_verified", "sendgrid",
            answering(400, err("The from address does not match a verified Sender Identity.", "from"), call=send),
            operation="send_reminder", accept=["validation", "configuration"], retryable=False, **mail)
    capture("payload_too_large", "sendgrid", answering(413, err("Payload Too Large"), call=send),
            operation="send_reminder", accept=["validation", "resource"], retryable=False, **mail)
    capture("too_many_requests_wrapped", "sendgrid",
            answering(429, err("too many requests"), {"X-RateLimit-Reset": "1767225600"}, call=send),
            wrap=(ReminderNotSent, "appointment reminder not sent"), service="reminders", operation="send_reminder",
            accept=["rate_limit"], retryable=True)
    capture("service_unavailable", "sendgrid", answering(503, err("Service Unavailable"), call=send),
            operation="send_reminder", accept=["unavailable"], retryable=True, **mail)


@family
def minio_cases() -> None:
    import urllib3
    from minio import Minio

    store = {"service": "scans-s3"}

    def client() -> Any:
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=0.5))
        return Minio(f"127.0.0.1:{FAKE.port}", access_key="not-a-real-key", secret_key=FAKE_CREDENTIAL,
                     secure=False, region="us-east-1", http_client=http)

    def s3_error(status: int, code: str, text: str, call: Callable[[], Any]) -> Callable[[], Any]:
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{text}</Message>"
                "<Key>2026/12/scan-81.png</Key><BucketName>clinic-scans</BucketName>"
                "<Resource>/clinic-scans/2026/12/scan-81.png</Resource><RequestId>17F0A1B2C3D4E5F6</RequestId>"
                "<HostId>dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8</HostId></Error>")
        return answering(status, body, {"Content-Type": "application/xml"}, call=call)

    def get() -> Any:
        return client().get_object("clinic-scans", "2026/12/scan-81.png")

    def put() -> Any:
        import io
        return client().put_object("clinic-scans", "2026/12/scan-81.png", io.BytesIO(b"png"), 3)

    capture("no_such_key_wrapped", "minio", s3_error(404, "NoSuchKey", "The specified key does not exist.", get),
            wrap=(PartnerSyncFailed, "scan not attached to referral"),
            service="referrals", operation="attach_scan", accept=["not_found"], retryable=False)
    capture("no_such_bucket", "minio", s3_error(404, "NoSuchBucket", "The specified bucket does not exist", put),
            operation="store_scan", accept=["not_found", "configuration"], retryable=False, **store)
    capture("access_denied", "minio", s3_error(403, "AccessDenied", "Access Denied.", get), operation="get_scan",
            accept=["auth"], retryable=False, **store)
    capture("signature_mismatch", "minio",
            s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                     "signature you provided. Check your key and signing method.", get),
            operation="get_scan", accept=["auth", "configuration"], retryable=False, **store)
    capture("storage_full_wrapped", "minio",
            s3_error(507, "XMinioStorageFull", "Storage backend has reached its minimum free drive threshold. "
                     "Please delete a few objects to proceed.", put),
            wrap=(FeedImportFailed, "scan not archived"), service="imaging", operation="archive_scan",
            accept=["resource"], retryable=None)
    capture("slow_down", "minio", s3_error(503, "SlowDownWrite", "Resource requested is unwritable, please reduce "
                                                  "your request rate", put),
            operation="store_scan", accept=["rate_limit", "unavailable"], retryable=True, **store)
    capture("read_timeout", "minio", answering(200, b"", delay_s=1.5, call=get), operation="get_scan",
            accept=["timeout"], retryable=True, **store)


@family
def oauth_cases() -> None:
    from requests_oauthlib import OAuth2Session

    idp = {"service": "identity-provider"}

    def fetch(**kw: Any) -> Any:
        session = OAuth2Session("clinic-portal", redirect_uri="https://clinic.example/cb", state=kw.pop("state", None))
        return session.fetch_token(f"{FAKE.url}/oauth/token", client_secret=FAKE_CREDENTIAL, timeout=2,
                                   **({"code": "not-a-real-code"} | kw))

    def insecure() -> Any:
        with env(OAUTHLIB_INSECURE_TRANSPORT=None):
            return fetch()

    def token_reply(status: int, body: Any) -> Callable[[], Any]:
        def trigger() -> Any:
            with env(OAUTHLIB_INSECURE_TRANSPORT="1"):
                return answering(status, body, call=fetch)()
        return trigger

    def expired() -> Any:
        token = {"access_token": "not-a-real-token", "token_type": "Bearer", "expires_at": time.time() - 60}
        with env(OAUTHLIB_INSECURE_TRANSPORT="1"):
            return OAuth2Session("clinic-portal", token=token).get(f"{FAKE.url}/api/me", timeout=2)

    def state_mismatch() -> Any:
        with env(OAUTHLIB_INSECURE_TRANSPORT="1"):
            return fetch(state="f81d4fae", code=None,
                         authorization_response="https://clinic.example/cb?code=abc&state=0c9a77e1")

    capture("insecure_transport", "oauth", insecure, operation="exchange_code", accept=["configuration"],
            retryable=False, **idp)
    capture("invalid_grant", "oauth", token_reply(400, {"error": "invalid_grant",
                                                         "error_description": "Authorization code expired"}),
            operation="exchange_code", accept=["auth"], retryable=False, **idp)
    capture("invalid_client", "oauth", token_reply(401, {"error": "invalid_client",
                                                          "error_description": "Client authentication failed"}),
            operation="exchange_code", accept=["auth", "configuration"], retryable=False, **idp)
    capture("unsupported_grant_type", "oauth", token_reply(400, {"error": "unsupported_grant_type"}),
            operation="exchange_code", accept=["configuration", "validation"], retryable=False, **idp)
    capture("temporarily_unavailable", "oauth", token_reply(503, {"error": "temporarily_unavailable"}),
            operation="exchange_code", accept=["unavailable"], retryable=True, **idp)
    capture("missing_access_token", "oauth", token_reply(200, {"token_type": "Bearer", "expires_in": 3600}),
            operation="exchange_code", accept=["data", "unknown", "unavailable"], retryable=None, **idp)
    capture("token_expired_wrapped", "oauth", expired, wrap=(PartnerSyncFailed, "insurer profile not synced"),
            service="insurer-sync", operation="sync_profile", accept=["auth"], retryable=False)
    capture("state_mismatch", "oauth", state_mismatch, operation="exchange_code", accept=["auth", "validation"],
            retryable=False, **idp)


@family
def pycurl_cases() -> None:
    import io

    import pycurl

    web = {"service": "pharmacy-api"}

    def fetch(url: str | None = None, timeout_ms: int = 2000, fail: bool = True, max_redirs: int = 3) -> None:
        curl = pycurl.Curl()
        curl.setopt(pycurl.URL, url or f"{FAKE.url}/v1/stock/81")
        curl.setopt(pycurl.WRITEDATA, io.BytesIO())
        curl.setopt(pycurl.TIMEOUT_MS, timeout_ms)
        curl.setopt(pycurl.FAILONERROR, fail)
        curl.setopt(pycurl.FOLLOWLOCATION, True)
        curl.setopt(pycurl.MAXREDIRS, max_redirs)
        try:
            curl.perform()
        finally:
            curl.close()

    capture("refused", "pycurl", lambda: fetch(f"http://127.0.0.1:{closed_port()}/v1/stock"), operation="get_stock",
            accept=["network"], retryable=True, **web)
    capture("timeout", "pycurl", answering(200, b"{}", delay_s=1.0, call=lambda: fetch(timeout_ms=300)),
            operation="get_stock", accept=["timeout"], retryable=True, **web)
    capture("empty_reply", "pycurl", answering(mode="hangup", call=fetch), operation="get_stock",
            accept=["network", "unavailable"], retryable=True, **web)
    capture("partial_body", "pycurl",
            answering(body=b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"stock\": ", mode="raw", call=fetch),
            operation="get_stock", accept=["network", "data"], retryable=True, **web)
    capture("http_404", "pycurl", answering(404, {"error": "no such product"}, call=fetch), operation="get_stock",
            accept=["not_found"], retryable=False, **web)
    capture("http_503_wrapped", "pycurl", answering(503, "busy", call=fetch),
            wrap=(PartnerSyncFailed, "pharmacy stock not refreshed"), service="stock-sync", operation="refresh_stock",
            accept=["unavailable"], retryable=True)
    capture("unsupported_protocol", "pycurl", lambda: fetch("htps://pharmacy.example/v1/stock"),
            operation="get_stock", accept=["configuration", "validation"], retryable=False, **web)
    capture("redirect_loop", "pycurl",
            answering(302, b"", {"Location": "/v1/stock/81"}, call=fetch), operation="get_stock",
            accept=["configuration", "unavailable", "internal", "unknown"], retryable=None, **web)


@family
def locks_os_cases() -> None:
    import fcntl

    import filelock
    import portalocker

    work = TMP / "locks"
    work.mkdir()
    box = {"service": "report-runner"}
    held: list[Any] = []

    def filelock_timeout() -> None:
        path = work / "nightly.lock"
        proc = subprocess.Popen(["flock", str(path), "sleep", "3"])
        CLEANUPS.append(lambda: (proc.kill(), proc.wait()))
        time.sleep(0.3)
        filelock.FileLock(str(path), timeout=0.2).acquire()

    def portalocker_locked() -> None:
        target = work / "ledger.csv"
        target.write_text("id\n")
        holder = open(target, "a")  # noqa: SIM115 -- held until the end of the run
        held.append(holder)
        portalocker.lock(holder, portalocker.LOCK_EX | portalocker.LOCK_NB)
        with portalocker.Lock(str(target), mode="a", timeout=0.2, fail_when_locked=True):
            pass

    def flock_busy() -> None:
        path = work / "export.pid"
        path.write_text("1\n")
        proc = subprocess.Popen(["flock", str(path), "sleep", "3"])
        CLEANUPS.append(lambda: (proc.kill(), proc.wait()))
        time.sleep(0.3)
        with open(path) as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def addr_in_use() -> None:
        first = socket.socket()
        first.bind(("127.0.0.1", 0))
        first.listen()
        held.append(first)
        second = socket.socket()
        try:
            second.bind(("127.0.0.1", first.getsockname()[1]))
        finally:
            second.close()

    def addr_not_available() -> None:
        with socket.socket() as sock:
            sock.bind(("10.255.255.254", 8080))

    def no_such_process() -> None:
        proc = subprocess.Popen(["true"])
        proc.wait()
        os.kill(proc.pid, signal.SIGTERM)

    def fifo_no_reader() -> None:
        path = work / "events.fifo"
        os.mkfifo(path)
        os.open(path, os.O_WRONLY | os.O_NONBLOCK)

    def no_child() -> None:
        proc = subprocess.Popen(["true"])
        proc.wait()
        os.waitpid(proc.pid, 0)

    capture("filelock_timeout", "locks_os", filelock_timeout, operation="nightly_report",
            accept=["conflict", "timeout"], retryable=True, **box)
    capture("portalocker_already_locked", "locks_os", portalocker_locked, operation="append_ledger",
            accept=["conflict"], retryable=True, **box)
    capture("flock_would_block_wrapped", "locks_os", flock_busy,
            wrap=(LedgerError, "export already running"), service="ledger", operation="export_ledger",
            accept=["conflict"], retryable=True)
    capture("address_in_use", "locks_os", addr_in_use, operation="start_metrics_server",
            accept=["configuration", "conflict", "resource"], retryable=None, **box)
    capture("address_not_available", "locks_os", addr_not_available, operation="start_metrics_server",
            accept=["configuration"], retryable=False, **box)
    capture("no_such_process", "locks_os", no_such_process, operation="stop_worker",
            accept=["not_found", "internal"], retryable=False, **box)
    capture("fifo_no_reader", "locks_os", fifo_no_reader, operation="publish_event",
            accept=["unavailable", "network", "not_found"], retryable=True, **box)
    capture("no_child_process", "locks_os", no_child, operation="reap_workers", accept=["internal", "not_found"],
            retryable=False, **box)


@family
def anyio_trio_cases() -> None:
    import anyio
    import trio
    import trio.testing

    run = {"service": "scheduler"}

    async def fail_after() -> None:
        with anyio.fail_after(0.1):
            await anyio.sleep(1)

    async def broken_stream() -> None:
        send, receive = anyio.create_memory_object_stream[int](1)
        await receive.aclose()
        await send.send(1)

    async def closed_stream() -> None:
        send, receive = anyio.create_memory_object_stream[int](1)
        await send.aclose()
        await send.send(1)

    async def end_of_stream() -> None:
        send, receive = anyio.create_memory_object_stream[int](1)
        await send.aclose()
        await receive.receive()

    async def would_block() -> None:
        send, receive = anyio.create_memory_object_stream[int](1)
        send.send_nowait(1)
        send.send_nowait(2)

    async def group_failure() -> None:
        async def fetch(n: int) -> None:
            await anyio.sleep(0.01)
            int(f"slot-{n}")

        async with anyio.create_task_group() as group:
            group.start_soon(fetch, 1)
            group.start_soon(fetch, 2)

    def trio_too_slow() -> None:
        async def main() -> None:
            with trio.fail_after(0.1):
                await trio.sleep(1)
        trio.run(main)

    def trio_busy() -> None:
        async def main() -> None:
            _send, receive = trio.testing.memory_stream_one_way_pair()

            async def reader() -> None:
                await receive.receive_some()

            with trio.fail_after(2):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(reader)
                    nursery.start_soon(reader)
        trio.run(main)

    def anyio_tcp_refused() -> None:
        async def main() -> None:
            await anyio.connect_tcp("127.0.0.1", closed_port())
        anyio.run(main)

    capture("fail_after", "anyio_trio", lambda: anyio.run(fail_after), operation="sync_calendar",
            accept=["timeout"], retryable=True, **run)
    capture("broken_resource", "anyio_trio", lambda: anyio.run(broken_stream), operation="dispatch_jobs",
            accept=["internal", "unavailable", "network"], retryable=None, **run)
    capture("closed_resource", "anyio_trio", lambda: anyio.run(closed_stream), operation="dispatch_jobs",
            accept=["internal"], retryable=False, **run)
    capture("end_of_stream", "anyio_trio", lambda: anyio.run(end_of_stream), operation="collect_results",
            accept=["internal", "network", "unknown"], retryable=None, **run)
    capture("would_block", "anyio_trio", lambda: anyio.run(would_block), operation="dispatch_jobs",
            accept=["resource", "unavailable", "rate_limit"], retryable=True, **run)
    capture("task_group_failure_wrapped", "anyio_trio", lambda: anyio.run(group_failure),
            wrap=(BookingNotSaved, "slot fetch failed"), service="booking", operation="fetch_slots",
            accept=["internal", "validation"], retryable=False)
    capture("trio_too_slow", "anyio_trio", trio_too_slow, operation="sync_calendar", accept=["timeout"],
            retryable=True, **run)
    capture("trio_busy_resource", "anyio_trio", trio_busy, operation="collect_results", accept=["internal"],
            retryable=False, **run)
    capture("anyio_connect_refused", "anyio_trio", anyio_tcp_refused, operation="connect_agent",
            accept=["network"], retryable=True, **run)


@family
def validators_cases() -> None:
    import email_validator
    import fastjsonschema
    import msgspec
    import phonenumbers
    import schema
    import typeguard

    api = {"service": "intake-api"}

    class Patient(msgspec.Struct):
        name: str
        age: int

    check_visit = fastjsonschema.compile({
        "type": "object", "required": ["patient_id", "minutes"],
        "properties": {"patient_id": {"type": "integer"}, "minutes": {"type": "integer", "maximum": 240}}})

    @typeguard.typechecked
    def book(slot_minutes: int) -> None:
        pass

    capture("msgspec_validation_wrapped", "validators",
            lambda: msgspec.json.decode(b'{"name": "Ann", "age": "forty"}', type=Patient),
            wrap=(FeedImportFailed, "intake form rejected"),
            service="intake", operation="submit_intake",
            accept=["validation"], retryable=False)
    capture("msgspec_decode", "validators", lambda: msgspec.json.decode(b'{"name": "Ann", "age": 4', type=Patient),
            operation="create_patient", accept=["validation", "data"], retryable=False, **api)
    capture("fastjsonschema_maximum", "validators", lambda: check_visit({"patient_id": 81, "minutes": 600}),
            operation="book_visit", accept=["validation"], retryable=False, **api)
    capture("schema_missing_key", "validators",
            lambda: schema.Schema({"name": str, "phone": str}).validate({"name": "Ann"}),
            operation="create_patient", accept=["validation"], retryable=False, **api)
    capture("typeguard_wrong_type", "validators", lambda: book("30"), operation="book_visit",
            accept=["internal", "validation"], retryable=False, **api)
    capture("email_not_valid", "validators",
            lambda: email_validator.validate_email("ann@@clinic", check_deliverability=False),
            operation="create_patient", accept=["validation"], retryable=False, **api)
    capture("phone_not_parsed_wrapped", "validators", lambda: phonenumbers.parse("0044-CALL-ME", None),
            wrap=(ReminderNotSent, "SMS reminder not scheduled"), service="reminders", operation="schedule_sms",
            accept=["validation"], retryable=False)


@family
def codecs_cases() -> None:
    import base64
    import bz2
    import gzip
    import lzma

    import brotli
    import lz4.frame
    import zstandard

    feed = {"service": "lab-feed"}
    payload = zstandard.ZstdCompressor().compress(b"HL7 " * 500)

    capture("base64_padding", "codecs", lambda: base64.b64decode("SEw3fE1TSA"), operation="decode_attachment",
            accept=["data", "validation"], retryable=False, **feed)
    capture("lzma_corrupt", "codecs", lambda: lzma.decompress(b"\xfd7zXZ\x00\x00" + b"\x00" * 30),
            operation="unpack_batch", accept=["data"], retryable=False, **feed)
    capture("bz2_invalid", "codecs", lambda: bz2.decompress(b"BZh91AY&SYnot really bzip2"),
            operation="unpack_batch", accept=["data"], retryable=False, **feed)
    capture("gzip_bad_magic", "codecs", lambda: gzip.decompress(b"PK\x03\x04 a zip, not gzip"),
            operation="unpack_batch", accept=["data", "validation"], retryable=False, **feed)
    capture("zstd_truncated", "codecs",
            lambda: zstandard.ZstdDecompressor().decompress(payload[: len(payload) // 2]),
            operation="unpack_batch", accept=["data"], retryable=False, **feed)
    capture("brotli_garbage", "codecs", lambda: brotli.decompress(b"\x1b\xff\xff not brotli"),
            operation="unpack_batch", accept=["data"], retryable=False, **feed)
    capture("lz4_bad_frame_wrapped", "codecs", lambda: lz4.frame.decompress(b"\x04\x22\x4d\x18garbage-frame"),
            wrap=(FeedImportFailed, "lab batch 2026-12-07 unreadable"), service="lab-feed", operation="import_batch",
            accept=["data"], retryable=False)
    capture("utf8_decode", "codecs", lambda: "Müller".encode("latin-1").decode("utf-8"), operation="read_names",
            accept=["data", "validation"], retryable=False, **feed)
    capture("latin1_encode", "codecs", lambda: "Zoë 🙂".encode("latin-1"), operation="write_legacy_export",
            accept=["data", "validation", "internal"], retryable=False, **feed)


@family
def django_cases() -> None:
    import django
    from django.conf import settings

    (TMP / "templates").mkdir()
    settings.configure(
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
                   "legacy": {"ENGINE": "django.db.backends.oracle_legacy", "NAME": "clinic"}},
        INSTALLED_APPS=["django.contrib.contenttypes"], ALLOWED_HOSTS=["clinic.example"], USE_TZ=True,
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [str(TMP / "templates")]}])
    django.setup()
    from django.core.files.storage import FileSystemStorage
    from django.db import connection, connections, models
    from django.http import HttpRequest
    from django.template import Template
    from django.template.loader import get_template

    class Patient(models.Model):
        __module__ = "clinic.models"
        __qualname__ = "Patient"
        code = models.CharField(max_length=4, unique=True)
        ward = models.CharField(max_length=20)

        class Meta:
            app_label = "contenttypes"

    with connection.schema_editor() as editor:
        editor.create_model(Patient)
    Patient.objects.create(code="A1", ward="north")
    Patient.objects.create(code="B2", ward="north")
    web = {"service": "clinic-web"}

    def bad_host() -> Any:
        request = HttpRequest()
        request.META = {"HTTP_HOST": "clinic.example.attacker.test", "SERVER_NAME": "x", "SERVER_PORT": "80"}
        return request.get_host()

    capture("does_not_exist_wrapped", "django", lambda: Patient.objects.get(code="Z9"),
            wrap=(BookingNotSaved, "visit booked for an unknown patient"),
            service="booking", operation="book_visit",
            accept=["not_found"], retryable=False)
    capture("multiple_returned", "django", lambda: Patient.objects.get(ward="north"), operation="ward_lead",
            accept=["data", "internal"], retryable=False, **web)
    capture("unique_failed_wrapped", "django", lambda: Patient.objects.create(code="A1", ward="south"),
            wrap=(BookingNotSaved, "walk-in patient not registered"), service="booking",
            operation="register_walk_in", accept=["data", "conflict"], retryable=False)
    capture("full_clean", "django", lambda: Patient(code="TOO-LONG", ward="").full_clean(),
            operation="register_patient", accept=["validation"], retryable=False, **web)
    capture("disallowed_host", "django", bad_host, operation="handle_request",
            accept=["validation", "auth", "configuration"], retryable=False, **web)
    capture("template_missing", "django", lambda: get_template("reminder_email.txt"), operation="render_reminder",
            accept=["not_found", "configuration", "internal"], retryable=False, **web)
    capture("template_syntax", "django", lambda: Template("{% if %}due{% endif %}"), operation="render_reminder",
            accept=["internal", "configuration"], retryable=False, **web)
    capture("backend_missing", "django", lambda: connections["legacy"].cursor(), operation="legacy_import",
            accept=["configuration"], retryable=False, **web)
    capture("field_error", "django", lambda: list(Patient.objects.filter(room=3)), operation="ward_list",
            accept=["internal"], retryable=False, **web)
    capture("suspicious_path", "django", lambda: FileSystemStorage(location=str(TMP)).path("../../etc/passwd"),
            operation="download_attachment", accept=["validation", "auth"], retryable=False, **web)


@family
def web_frameworks_cases() -> None:
    import flask
    from starlette.staticfiles import StaticFiles
    from werkzeug.routing import Map, Rule

    urls = Map([Rule("/patients/<int:patient_id>", endpoint="patient", methods=["GET"])]).bind("clinic.example")
    app = flask.Flask("clinic")
    app.config["MAX_CONTENT_LENGTH"] = 64
    web = {"service": "clinic-web"}
    (TMP / "static").mkdir()

    def bad_json() -> Any:
        with app.test_request_context("/visits", method="POST", data=b'{"patient": 81,',
                                        content_type="application/json"):
            return flask.request.get_json()

    def missing_form_field() -> Any:
        with app.test_request_context("/visits", method="POST", data={"patient": "81"}):
            return flask.request.form["slot"]

    def too_large() -> Any:
        with app.test_request_context("/upload", method="POST", data={"note": "x" * 500}):
            return flask.request.form["note"]

    async def static(directory: Path, name: str) -> Any:
        scope = {"type": "http", "method": "GET", "path": f"/static/{name}", "headers": []}
        return await StaticFiles(directory=directory).get_response(name, scope)

    capture("route_not_found", "web_frameworks", lambda: urls.match("/visits/81"), operation="route",
            accept=["not_found"], retryable=False, **web)
    capture("method_not_allowed", "web_frameworks", lambda: urls.match("/patients/81", method="DELETE"),
            operation="route", accept=["validation", "internal"], retryable=False, **web)
    capture("bad_json_body", "web_frameworks", bad_json, operation="create_visit", accept=["validation"],
            retryable=False, **web)
    capture("missing_form_field", "web_frameworks", missing_form_field, operation="create_visit",
            accept=["validation"], retryable=False, **web)
    capture("entity_too_large_wrapped", "web_frameworks", too_large,
            wrap=(FeedImportFailed, "clinical note upload rejected"), service="notes", operation="upload_note",
            accept=["validation", "resource"], retryable=False)
    capture("static_missing", "web_frameworks", lambda: static(TMP / "static", "app.3f9c.css"),
            operation="serve_static", accept=["not_found"], retryable=False, **web)
    capture("static_dir_missing", "web_frameworks", lambda: static(TMP / "build" / "static", "app.css"),
            operation="serve_static", accept=["configuration"], retryable=False, **web)


@family
def units_locale_cases() -> None:
    import datetime as dt

    import babel
    import babel.numbers
    import croniter
    import iso8601
    import pint

    ureg = pint.UnitRegistry()
    rx = {"service": "dosage-calc"}
    capture("pint_undefined_unit_wrapped", "units_locale", lambda: ureg.Quantity(5, "mgg"),
            wrap=(PrescriptionRejected, "dose could not be checked"),
            service="prescribing", operation="check_dose",
            accept=["validation"], retryable=False)
    capture("pint_dimensionality", "units_locale", lambda: ureg.Quantity(5, "mg").to("ml"), operation="convert_dose",
            accept=["validation", "internal"], retryable=False, **rx)
    capture("babel_unknown_locale", "units_locale", lambda: babel.Locale.parse("xx_YY"), operation="render_letter",
            accept=["configuration", "validation"], retryable=False, **rx)
    capture("babel_number_format", "units_locale", lambda: babel.numbers.parse_decimal("12,5.3", locale="de_DE",
                                                                                       strict=True),
            operation="parse_dose", accept=["validation"], retryable=False, **rx)
    capture("cron_bad_expression_wrapped", "units_locale", lambda: croniter.croniter("61 7 * * *"),
            wrap=(ReminderNotSent, "reminder schedule not loaded"), service="reminders", operation="load_schedule",
            accept=["configuration", "validation"], retryable=False)
    capture("iso8601_parse", "units_locale", lambda: iso8601.parse_date("07/12/2026 09:30"),
            operation="parse_appointment", accept=["validation"], retryable=False, **rx)
    capture("naive_vs_aware", "units_locale",
            lambda: dt.datetime(2026, 12, 7, 9, 30) < dt.datetime.now(dt.UTC), operation="is_due",
            accept=["internal"], retryable=False, **rx)
    capture("date_overflow", "units_locale", lambda: dt.date(9999, 12, 31) + dt.timedelta(days=30),
            operation="next_review", accept=["internal", "validation", "data"], retryable=False, **rx)
    capture("strptime_unconverted", "units_locale",
            lambda: dt.datetime.strptime("2026-12-07 09:30 CET", "%Y-%m-%d %H:%M"), operation="parse_appointment",
            accept=["validation"], retryable=False, **rx)


@family
def math_runtime_cases() -> None:
    import math
    import statistics
    import struct

    import numpy as np

    calc = {"service": "analytics"}

    def recurse(n: int) -> int:
        return recurse(n + 1) + 1

    capture("mean_of_empty", "math_runtime", lambda: statistics.mean([]), operation="average_wait",
            accept=["internal", "data", "validation"], retryable=False, **calc)
    capture("math_domain", "math_runtime", lambda: math.sqrt(-4.0), operation="std_score",
            accept=["internal", "data", "validation"], retryable=False, **calc)
    capture("math_range", "math_runtime", lambda: math.exp(1000), operation="growth_model",
            accept=["internal", "data", "validation"], retryable=False, **calc)
    capture("int_digits_limit", "math_runtime", lambda: int("9" * 5000), operation="parse_upload",
            accept=["validation", "data"], retryable=False, **calc)
    capture("recursion", "math_runtime", lambda: recurse(0), operation="walk_referrals", accept=["internal"],
            retryable=False, **calc)
    capture("singular_matrix_wrapped", "math_runtime", lambda: np.linalg.inv(np.array([[1.0, 2.0], [2.0, 4.0]])),
            wrap=(LedgerError, "cost allocation not computed"), service="ledger", operation="allocate_costs",
            accept=["data", "internal", "validation"], retryable=False)
    capture("broadcast_shapes", "math_runtime", lambda: np.ones(3) + np.ones(4), operation="weekly_trend",
            accept=["internal"], retryable=False, **calc)
    capture("struct_short_buffer", "math_runtime", lambda: struct.unpack(">IH", b"\x00\x01\x02"),
            operation="read_device_frame", accept=["data", "validation"], retryable=False, **calc)


@family
def crypto_cases() -> None:
    import hashlib

    from Crypto.Cipher import AES
    from Crypto.Hash import SHA256
    from Crypto.PublicKey import RSA
    from Crypto.Signature import pkcs1_15
    from Crypto.Util.Padding import unpad
    from OpenSSL import crypto as ossl

    sec = {"service": "records-vault"}
    key = bytes(range(32))

    def tampered_gcm() -> Any:
        cipher = AES.new(key, AES.MODE_GCM)
        text, tag = cipher.encrypt_and_digest(b"diagnosis: J45")
        blob = bytearray(text)
        blob[0] ^= 1
        return AES.new(key, AES.MODE_GCM, nonce=cipher.nonce).decrypt_and_verify(bytes(blob), tag)

    def bad_padding() -> Any:
        cbc = AES.new(key, AES.MODE_CBC, iv=bytes(16))
        return unpad(cbc.decrypt(bytes(range(32))), 16)

    def forged_signature() -> Any:
        private = RSA.generate(2048)
        digest = SHA256.new(b"prescription 81")
        return pkcs1_15.new(private.public_key()).verify(digest, b"\x00" * 256)

    capture("gcm_mac_check_wrapped", "crypto", tampered_gcm, wrap=(LedgerError, "record 81 could not be opened"),
            service="records", operation="open_record", accept=["data", "auth"], retryable=False)
    capture("cbc_bad_padding", "crypto", bad_padding, operation="open_record", accept=["data", "auth"],
            retryable=False, **sec)
    capture("rsa_key_format", "crypto", lambda: RSA.import_key(b"-----BEGIN RSA KEY-----\nnot a key\n"),
            operation="load_signing_key", accept=["configuration", "data"], retryable=False, **sec)
    capture("signature_invalid", "crypto", forged_signature, operation="verify_prescription",
            accept=["auth", "data"], retryable=False, **sec)
    capture("aes_key_length", "crypto", lambda: AES.new(b"short-key!", AES.MODE_GCM), operation="seal_record",
            accept=["configuration", "internal"], retryable=False, **sec)
    capture("unsupported_hash", "crypto", lambda: hashlib.new("sha3-1024"), operation="fingerprint",
            accept=["configuration", "internal"], retryable=False, **sec)
    capture("openssl_bad_certificate", "crypto",
            lambda: ossl.load_certificate(ossl.FILETYPE_PEM, b"-----BEGIN CERTIFICATE-----\nAAAA\n"
                                                             b"-----END CERTIFICATE-----\n"),
            operation="load_partner_certificate", accept=["configuration", "data"], retryable=False, **sec)


@family
def office_docs_cases() -> None:
    import io
    import zipfile

    import docx
    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    plain = io.BytesIO()
    writer.write(plain)
    writer.encrypt("not-the-password")
    locked = io.BytesIO()
    writer.write(locked)
    fake_docx = io.BytesIO()
    with zipfile.ZipFile(fake_docx, "w") as zf:
        zf.writestr("word/notes.txt", "hello")
    docs = {"service": "document-intake"}

    def read_pdf(data: bytes) -> Any:
        return pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()

    capture("pdf_not_a_pdf", "office_docs", lambda: read_pdf(b"<html>Session expired</html>"),
            operation="read_referral", accept=["validation", "data"], retryable=False, **docs)
    capture("pdf_truncated", "office_docs", lambda: read_pdf(plain.getvalue()[:300]), operation="read_referral",
            accept=["data", "validation"], retryable=False, **docs)
    capture("pdf_encrypted_wrapped", "office_docs", lambda: read_pdf(locked.getvalue()),
            wrap=(FeedImportFailed, "referral letter not indexed"), service="referrals", operation="index_referral",
            accept=["validation", "auth"], retryable=False)
    capture("docx_not_a_zip", "office_docs", lambda: docx.Document(io.BytesIO(b"%PDF-1.7 not a docx")),
            operation="read_letter", accept=["validation", "data"], retryable=False, **docs)
    capture("docx_missing_file", "office_docs", lambda: docx.Document(str(TMP / "templates" / "discharge.docx")),
            operation="render_discharge", accept=["not_found", "configuration"], retryable=False, **docs)
    capture("docx_no_content_types", "office_docs", lambda: docx.Document(io.BytesIO(fake_docx.getvalue())),
            operation="read_letter", accept=["validation", "data"], retryable=False, **docs)


@family
def serial_formats_cases() -> None:
    import io
    import plistlib
    import xml.etree.ElementTree as ET

    import fastavro
    import orjson
    import pyarrow as pa
    import pyarrow.csv
    import tomlkit

    fmt = {"service": "export-service"}
    visit_schema = {"type": "record", "name": "Visit",
                    "fields": [{"name": "patient_id", "type": "int"}, {"name": "minutes", "type": "int"}]}

    def avro_write() -> Any:
        return fastavro.writer(io.BytesIO(), fastavro.parse_schema(visit_schema),
                               [{"patient_id": 81, "minutes": "thirty"}])

    capture("orjson_nan", "serial_formats", lambda: orjson.loads(b'{"temp": NaN}'), operation="read_vitals",
            accept=["validation", "data"], retryable=False, **fmt)
    capture("orjson_non_str_key", "serial_formats", lambda: orjson.dumps({(1, 2): "bed"}), operation="export_beds",
            accept=["internal"], retryable=False, **fmt)
    capture("tomlkit_duplicate_key", "serial_formats",
            lambda: tomlkit.parse('[export]\ntarget = "s3"\ntarget = "ftp"\n'), operation="load_settings",
            accept=["configuration", "validation"], retryable=False, **fmt)
    capture("avro_unknown_type", "serial_formats",
            lambda: fastavro.parse_schema({"type": "record", "name": "Visit",
                                           "fields": [{"name": "when", "type": "datetime"}]}),
            operation="load_schema", accept=["configuration", "internal"], retryable=False, **fmt)
    capture("avro_wrong_value", "serial_formats", avro_write, operation="export_visits",
            accept=["validation", "data", "internal"], retryable=False, **fmt)
    capture("arrow_csv_columns_wrapped", "serial_formats",
            lambda: pa.csv.read_csv(io.BytesIO(b"id,minutes\n1,30\n2,45,extra\n")),
            wrap=(FeedImportFailed, "visit export from partner rejected"), service="partner-import",
            operation="import_visits", accept=["validation", "data"], retryable=False)
    capture("xml_mismatched_tag", "serial_formats", lambda: ET.fromstring("<visit><id>81</visit>"),
            operation="read_hl7_xml", accept=["validation", "data"], retryable=False, **fmt)
    capture("plist_invalid", "serial_formats", lambda: plistlib.loads(b"definitely not a plist"),
            operation="read_device_profile", accept=["data", "validation"], retryable=False, **fmt)


@family
def celery_cases() -> None:
    from celery import Celery

    jobs = {"service": "clinic-worker"}

    def app(broker: str = "memory://", backend: str | None = None) -> Any:
        return Celery("clinic", broker=broker, backend=backend, set_as_current=False)

    def broker_refused() -> Any:
        a = app(broker=f"redis://127.0.0.1:{closed_port()}/0")
        a.conf.broker_connection_timeout = 1
        return a.send_task("clinic.tasks.send_reminder", args=[81], retry=False)

    def max_retries() -> Any:
        a = app()
        a.conf.task_always_eager = True

        @a.task(bind=True, max_retries=0, name="clinic.tasks.sync_insurer")
        def sync_insurer(self: Any, patient_id: int) -> None:
            raise self.retry(countdown=1)

        return sync_insurer.apply(args=[81]).get()

    def result_timeout() -> Any:
        a = app(backend="redis://127.0.0.1:6379/15")
        return a.AsyncResult("h3-0000-not-a-real-task").get(timeout=0.3)

    capture("broker_refused", "celery", broker_refused, operation="enqueue_reminder", accept=["network"],
            retryable=True, **jobs)
    capture("not_registered", "celery", lambda: app().tasks["clinic.tasks.send_reminder"], operation="route_task",
            accept=["configuration", "internal", "not_found"], retryable=False, **jobs)
    capture("max_retries_exceeded", "celery", max_retries, operation="sync_insurer",
            accept=["unknown", "unavailable", "internal"], retryable=None, **jobs)
    capture("result_timeout_wrapped", "celery", result_timeout, wrap=(ReminderNotSent, "reminder status unknown"),
            service="reminders", operation="await_reminder", accept=["timeout"], retryable=True)
    capture("unknown_backend", "celery", lambda: app(backend="casandra://db:9042/").backend,
            operation="start_worker", accept=["configuration"], retryable=False, **jobs)


FAMILIES: list[Callable[[], None]] = []  # filled at the end of the file


def write_out(wanted: set[str]) -> None:
    order = [fn.__name__.removesuffix("_cases") for fn in FAMILIES]
    kept: list[dict[str, Any]] = []
    if wanted and OUT.exists():
        captured = {case["family"] for case in CASES}
        kept = [case for case in map(json.loads, OUT.read_text().splitlines()) if case["family"] not in captured]
    cases = sorted(kept + CASES, key=lambda case: (order.index(case["family"]) if case["family"] in order
                                                   else len(order), int(case["id"].rsplit("-", 1)[1])))
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
    if MISSED:
        print("not captured:\n  " + "\n  ".join(MISSED))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    FAMILIES.extend(fn for name, fn in list(globals().items()) if name.endswith("_cases") and callable(fn))
    sys.exit(main())
