"""Build tests/data/holdout2/cases.jsonl: a second held-out set of real errors, labelled by the taxonomy only.

Written without reading medic's rules (config/rules/), its classifier, its classification tests or the
cases of the first two sets, so it measures how the rules generalise. Each error is raised for real:
against the machine's PostgreSQL, MariaDB, Redis, RabbitMQ, Mosquitto and NATS, against servers this
script starts on free 127.0.0.1 ports (a scriptable HTTP server that answers like the real APIs, FTP,
SMTP, IMAP/POP3, XML-RPC, websockets, private redis-server and mosquitto processes, a silent TCP
listener), against closed ports, or by feeding a library real bad input. Events are built by
`medic_client.event_from_exception`; about one case in six is wrapped in an application's own exception.

Run: /tmp/holdout2-venv/bin/python tests/data/holdout2/capture.py [family ...]   (README.md: the venv)
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
SOURCE = "holdout2-app"
CASES: list[dict[str, Any]] = []
MISSED: list[str] = []
COUNTERS: collections.Counter[str] = collections.Counter()
CLEANUPS: list[Callable[[], Any]] = []
TMP = Path(tempfile.mkdtemp(prefix="holdout2-"))
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"
FAKE_CREDENTIAL = "not-a-real-key-0000"


def app_error(name: str) -> type[Exception]:
    cls = type(name, (Exception,), {})
    cls.__module__ = "fulfilment.errors"
    return cls


OrderSyncFailed = app_error("OrderSyncFailed")
ShipmentNotBooked = app_error("ShipmentNotBooked")
ImportRejected = app_error("ImportRejected")
NotificationFailed = app_error("NotificationFailed")
StoreError = app_error("StoreError")
UpstreamError = app_error("UpstreamError")
SessionError = app_error("SessionError")


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
    import psycopg2

    conn = psycopg2.connect(PG_DSN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


def mysql(*statements: str) -> None:
    import MySQLdb

    conn = MySQLdb.connect(host="127.0.0.1", port=3306, user="root", passwd="", db="test", connect_timeout=3)
    try:
        cur = conn.cursor()
        for sql in statements:
            cur.execute(sql)
        conn.commit()
    finally:
        conn.close()


# =========================================================================== families

@family
def psycopg2_cases() -> None:
    import psycopg2

    db = {"service": "orders-pg"}
    psql("DROP TABLE IF EXISTS h2_lines", "DROP TABLE IF EXISTS h2_orders", "DROP ROLE IF EXISTS h2_capped",
         "CREATE TABLE h2_orders (id int PRIMARY KEY, customer text NOT NULL, total numeric CHECK (total >= 0))",
         "CREATE TABLE h2_lines (id serial PRIMARY KEY, order_id int NOT NULL REFERENCES h2_orders(id),"
         " qty int NOT NULL)",
         "INSERT INTO h2_orders VALUES (1, 'ann', 10), (2, 'bob', 20)",
         "CREATE ROLE h2_capped LOGIN CONNECTION LIMIT 0")
    CLEANUPS.append(lambda: psql("DROP TABLE IF EXISTS h2_lines", "DROP TABLE IF EXISTS h2_orders",
                                 "DROP ROLE IF EXISTS h2_capped"))

    def run(sql: str, params: tuple[Any, ...] = (), dsn: str = PG_DSN, readonly: bool = False) -> None:
        conn = psycopg2.connect(dsn)
        try:
            if readonly:
                conn.set_session(readonly=True)
            with conn.cursor() as cur:
                cur.execute(sql, params)
            conn.commit()
        finally:
            conn.close()

    capture("missing_role", "psycopg2", lambda: run("SELECT 1", dsn=PG_DSN.replace("user=postgres",
                                                                                    "user=orders_writer")),
            operation="connect", accept=["configuration", "auth"], retryable=False, **db)
    capture("role_connection_limit", "psycopg2", lambda: run("SELECT 1", dsn=PG_DSN.replace("user=postgres",
                                                                                             "user=h2_capped")),
            operation="connect", accept=["unavailable", "resource", "configuration"], retryable=None, **db)
    capture("foreign_key", "psycopg2", lambda: run("INSERT INTO h2_lines (order_id, qty) VALUES (%s, %s)", (99, 1)),
            operation="add_line", accept=["data", "validation"], retryable=False, **db)
    capture("check_violation", "psycopg2", lambda: run("UPDATE h2_orders SET total = total - 50 WHERE id = 1"),
            operation="apply_refund", accept=["data", "validation"], retryable=False, **db)
    capture("invalid_text_representation", "psycopg2",
            lambda: run("SELECT * FROM h2_orders WHERE id = %s::int", ("12a",)),
            operation="get_order", accept=["validation", "internal"], retryable=False, **db)
    capture("read_only_transaction", "psycopg2",
            lambda: run("INSERT INTO h2_orders VALUES (3, 'cy', 1)", readonly=True),
            operation="create_order", accept=["unavailable", "configuration", "internal"], retryable=None, **db)
    capture("statement_timeout_wrapped", "psycopg2",
            lambda: run("SELECT pg_sleep(2)", dsn=PG_DSN + " options='-c statement_timeout=200'"),
            wrap=(OrderSyncFailed, "order totals not synced to the ledger"), operation="sync_totals",
            accept=["timeout"], retryable=True, **db)

    def cancelled() -> None:
        conn = psycopg2.connect(PG_DSN)
        timer = threading.Timer(0.2, conn.cancel)
        timer.start()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_sleep(3)")
        finally:
            timer.cancel()
            conn.close()

    capture("cancelled_by_watchdog", "psycopg2", cancelled, operation="daily_totals",
            accept=["timeout", "unknown"], retryable=None, **db)

    def lock_timeout() -> None:
        holder = psycopg2.connect(PG_DSN)
        other = psycopg2.connect(PG_DSN + " options='-c lock_timeout=200'")
        try:
            with holder.cursor() as cur:
                cur.execute("SELECT * FROM h2_orders WHERE id = 2 FOR UPDATE")
            with other.cursor() as cur:
                cur.execute("UPDATE h2_orders SET total = 21 WHERE id = 2")
        finally:
            holder.close()
            other.close()

    capture("lock_timeout", "psycopg2", lock_timeout, operation="apply_refund", accept=["conflict", "timeout"],
            retryable=True, **db)

    def deadlock() -> None:
        a, b = psycopg2.connect(PG_DSN), psycopg2.connect(PG_DSN)
        errors: list[BaseException] = []
        try:
            ca, cb = a.cursor(), b.cursor()
            ca.execute("UPDATE h2_orders SET total = total + 1 WHERE id = 1")
            cb.execute("UPDATE h2_orders SET total = total + 1 WHERE id = 2")

            def second(cur: Any, sql: str) -> None:
                try:
                    cur.execute(sql)
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)

            t1 = in_thread(lambda: second(ca, "UPDATE h2_orders SET total = total + 1 WHERE id = 2"))
            time.sleep(0.1)
            t2 = in_thread(lambda: second(cb, "UPDATE h2_orders SET total = total + 1 WHERE id = 1"))
            t1.join(5)
            t2.join(5)
        finally:
            a.close()
            b.close()
        if errors:
            raise errors[0]

    capture("deadlock_wrapped", "psycopg2", deadlock, wrap=(ShipmentNotBooked, "shipment for orders 1,2 not booked"),
            operation="book_shipment", accept=["conflict"], retryable=True, **db)

    def idle_in_transaction() -> None:
        conn = psycopg2.connect(PG_DSN + " options='-c idle_in_transaction_session_timeout=200'")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                time.sleep(0.6)
                cur.execute("SELECT 2")
        finally:
            conn.close()

    capture("idle_in_transaction_timeout", "psycopg2", idle_in_transaction, operation="export_orders",
            accept=["network", "timeout", "unavailable"], retryable=True, **db)
    capture("undefined_table_wrapped", "psycopg2", lambda: run("SELECT * FROM h2_order_archive"),
            wrap=(StoreError, "archive lookup failed"), operation="find_archived_order",
            accept=["internal", "configuration", "not_found"], retryable=False, **db)


@family
def sqlalchemy_cases() -> None:
    import sqlalchemy as sa
    from sqlalchemy import orm

    db = {"service": "inventory-db"}
    url = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"

    class Base(orm.DeclarativeBase):
        pass

    class Warehouse(Base):
        __tablename__ = "h2_warehouses"
        id = sa.Column(sa.Integer, primary_key=True)
        city = sa.Column(sa.String, nullable=False)
        version = sa.Column(sa.Integer, nullable=False)
        bins = orm.relationship("Bin", back_populates="warehouse")
        __mapper_args__ = {"version_id_col": version}

    class Bin(Base):
        __tablename__ = "h2_bins"
        id = sa.Column(sa.Integer, primary_key=True)
        warehouse_id = sa.Column(sa.ForeignKey("h2_warehouses.id"), nullable=False)
        warehouse = orm.relationship("Warehouse", back_populates="bins")

    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    CLEANUPS.append(lambda: (Base.metadata.drop_all(engine), engine.dispose()))
    with orm.Session(engine) as session:
        session.add_all([Warehouse(id=1, city="Lyon"), Warehouse(id=2, city="Lyon"), Bin(id=1, warehouse_id=1)])
        session.commit()

    def refused() -> None:
        other = sa.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{closed_port()}/test")
        with other.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    capture("connect_refused", "sqlalchemy", refused, operation="reserve_stock", accept=["network"], retryable=True,
            **db)

    def duplicate() -> None:
        with orm.Session(engine) as session:
            session.add(Warehouse(id=1, city="Lille"))
            session.commit()

    capture("integrity_duplicate", "sqlalchemy", duplicate, operation="add_warehouse", accept=["data", "conflict"],
            retryable=False, **db)

    def one(city: str) -> None:
        with orm.Session(engine) as session:
            session.execute(sa.select(Warehouse).where(Warehouse.city == city)).scalar_one()

    capture("no_result_found", "sqlalchemy", lambda: one("Nantes"), operation="get_warehouse",
            accept=["not_found"], retryable=False, **db)
    capture("multiple_results_found", "sqlalchemy", lambda: one("Lyon"), operation="get_warehouse",
            accept=["internal", "data"], retryable=False, **db)

    def pool_exhausted() -> None:
        small = sa.create_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.3)
        try:
            with small.connect(), small.connect():
                pass
        finally:
            small.dispose()

    capture("pool_timeout_wrapped", "sqlalchemy", pool_exhausted, wrap=(StoreError, "stock level unavailable"),
            operation="reserve_stock", accept=["timeout", "resource"], retryable=True, **db)

    def detached() -> None:
        with orm.Session(engine) as session:
            warehouse = session.get(Warehouse, 1)
        assert warehouse is not None
        len(warehouse.bins)

    capture("detached_instance", "sqlalchemy", detached, operation="list_bins", accept=["internal"],
            retryable=False, **db)

    def stale() -> None:
        with orm.Session(engine) as first, orm.Session(engine) as second:
            mine = first.get(Warehouse, 2)
            theirs = second.get(Warehouse, 2)
            assert mine is not None and theirs is not None
            theirs.city = "Lille"
            second.commit()
            mine.city = "Nice"
            first.commit()

    capture("stale_version", "sqlalchemy", stale, operation="rename_warehouse", accept=["conflict"],
            retryable=True, **db)
    capture("bad_url", "sqlalchemy", lambda: sa.create_engine("postgresql+psycopg2//postgres@db/inventory"),
            operation="startup", accept=["configuration"], retryable=False, **db)
    capture("unknown_dialect", "sqlalchemy", lambda: sa.create_engine("cockroach://root@db:26257/inventory"),
            operation="startup", accept=["configuration"], retryable=False, **db)

    def pending_rollback() -> None:
        with orm.Session(engine) as session:
            session.add(Warehouse(id=2, city="Metz"))
            with contextlib.suppress(sa.exc.IntegrityError):
                session.flush()
            session.execute(sa.select(Warehouse)).all()

    capture("pending_rollback", "sqlalchemy", pending_rollback, operation="import_warehouses",
            accept=["internal"], retryable=False, **db)

    def undefined_column() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT capacity FROM h2_warehouses"))

    capture("undefined_column_wrapped", "sqlalchemy", undefined_column,
            wrap=(StoreError, "capacity report failed"), operation="capacity_report", accept=["internal"],
            retryable=False, **db)


@family
def mysqlclient_cases() -> None:
    import MySQLdb

    db = {"service": "catalog-mariadb"}
    mysql("DROP TABLE IF EXISTS h2_products",
          "CREATE TABLE h2_products (sku VARCHAR(12) PRIMARY KEY, name VARCHAR(40) NOT NULL,"
          " stock SMALLINT NOT NULL, price DECIMAL(8,2) CHECK (price > 0)) ENGINE=InnoDB",
          "INSERT INTO h2_products VALUES ('A-1', 'lamp', 3, 10.00), ('B-2', 'desk', 1, 99.00)",
          "DROP USER IF EXISTS 'h2_capped'@'%'", "DROP USER IF EXISTS 'h2_reader'@'%'",
          "CREATE USER 'h2_capped'@'%' IDENTIFIED BY 'not-the-password' WITH MAX_USER_CONNECTIONS 1",
          "GRANT SELECT ON test.* TO 'h2_capped'@'%'",
          "CREATE USER 'h2_reader'@'%' IDENTIFIED BY 'not-the-password'",
          "GRANT SELECT ON test.* TO 'h2_reader'@'%'")
    CLEANUPS.append(lambda: mysql("DROP TABLE IF EXISTS h2_products", "DROP USER IF EXISTS 'h2_capped'@'%'",
                                  "DROP USER IF EXISTS 'h2_reader'@'%'"))

    def connect(**kw: Any) -> Any:
        params = {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": "", "db": "test",
                  "connect_timeout": 3, **kw}
        return MySQLdb.connect(**params)

    def run(*statements: str, **kw: Any) -> None:
        conn = connect(**kw)
        try:
            cur = conn.cursor()
            for sql in statements:
                cur.execute(sql)
            conn.commit()
        finally:
            conn.close()


    def capped() -> None:
        first = connect(user="h2_capped", passwd="not-the-password")
        try:
            connect(user="h2_capped", passwd="not-the-password").close()
        finally:
            first.close()

    capture("max_user_connections", "mysqlclient", capped, operation="list_products",
            accept=["resource", "unavailable", "rate_limit"], retryable=None, **db)
    capture("super_privilege", "mysqlclient",
            lambda: run("SET GLOBAL max_connections = 500", user="h2_reader", passwd="not-the-password"),
            operation="tune_pool", accept=["auth"], retryable=False, **db)
    capture("read_only_transaction", "mysqlclient",
            lambda: run("START TRANSACTION READ ONLY", "UPDATE h2_products SET stock = 2 WHERE sku = 'A-1'"),
            operation="reserve_stock", accept=["internal", "configuration", "unavailable"], retryable=None, **db)
    capture("column_null", "mysqlclient", lambda: run("INSERT INTO h2_products VALUES ('C-3', NULL, 1, 5.00)"),
            operation="add_product", accept=["data", "validation"], retryable=False, **db)
    capture("incorrect_integer", "mysqlclient",
            lambda: run("INSERT INTO h2_products VALUES ('C-3', 'chair', 'many', 5.00)"),
            operation="add_product", accept=["validation", "data"], retryable=False, **db)
    capture("out_of_range", "mysqlclient", lambda: run("UPDATE h2_products SET stock = 70000 WHERE sku = 'A-1'"),
            operation="restock", accept=["validation", "data"], retryable=False, **db)
    capture("check_constraint_wrapped", "mysqlclient",
            lambda: run("UPDATE h2_products SET price = -1 WHERE sku = 'A-1'"),
            wrap=(ImportRejected, "price list row 4 rejected"), operation="import_prices",
            accept=["data", "validation"], retryable=False, **db)
    capture("unknown_column", "mysqlclient", lambda: run("SELECT colour FROM h2_products"),
            operation="list_products", accept=["internal"], retryable=False, **db)

    def deadlock() -> None:
        a, b = connect(), connect()
        errors: list[BaseException] = []
        try:
            ca, cb = a.cursor(), b.cursor()
            ca.execute("START TRANSACTION")
            cb.execute("START TRANSACTION")
            ca.execute("UPDATE h2_products SET stock = stock - 1 WHERE sku = 'A-1'")
            cb.execute("UPDATE h2_products SET stock = stock - 1 WHERE sku = 'B-2'")

            def second(cur: Any, sql: str) -> None:
                try:
                    cur.execute(sql)
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)

            t1 = in_thread(lambda: second(ca, "UPDATE h2_products SET stock = stock - 1 WHERE sku = 'B-2'"))
            time.sleep(0.2)
            t2 = in_thread(lambda: second(cb, "UPDATE h2_products SET stock = stock - 1 WHERE sku = 'A-1'"))
            t1.join(10)
            t2.join(10)
        finally:
            a.close()
            b.close()
        if errors:
            raise errors[0]

    capture("deadlock", "mysqlclient", deadlock, operation="reserve_bundle", accept=["conflict"], retryable=True,
            **db)

    def killed() -> None:
        victim, admin = connect(), connect()
        try:
            admin.cursor().execute(f"KILL {victim.thread_id()}")
            time.sleep(0.1)
            victim.cursor().execute("SELECT 1")
        finally:
            admin.close()
            with contextlib.suppress(Exception):
                victim.close()

    capture("connection_killed_wrapped", "mysqlclient", killed, wrap=(OrderSyncFailed, "catalog sync interrupted"),
            operation="sync_catalog", accept=["network", "unavailable"], retryable=True, **db)


@family
def redis_async_cases() -> None:
    import redis.asyncio as aioredis

    cache = {"service": "session-cache"}
    secret = "not-the-password"
    main_port, replica_port, tiny_port = closed_port(), closed_port(), closed_port()
    common = ["--save", "", "--appendonly", "no", "--dir", str(TMP), "--bind", "127.0.0.1"]
    start_process(["redis-server", "--port", str(main_port), "--requirepass", secret, "--maxmemory", "3mb",
                   "--maxmemory-policy", "noeviction", "--busy-reply-threshold", "100", *common], main_port)
    start_process(["redis-server", "--port", str(replica_port), "--replicaof", "127.0.0.1", str(main_port),
                   "--masterauth", secret, *common], replica_port)
    start_process(["redis-server", "--port", str(tiny_port), "--maxclients", "1", *common], tiny_port)

    def client(port: int = main_port, **kw: Any) -> Any:
        params: dict[str, Any] = {"host": "127.0.0.1", "port": port, "socket_connect_timeout": 1,
                                  "socket_timeout": 2, **kw}
        if port == main_port and "password" not in params and "username" not in params:
            params["password"] = secret
        return aioredis.Redis(**params)

    async def admin() -> None:
        r = client()
        await r.acl_setuser("h2_reader", enabled=True, passwords=["+" + secret], keys=["*"], commands=["+get"])
        await r.set("sess:1", "alice")
        await r.aclose()

    asyncio.run(admin())

    async def call(r: Any, *command: Any) -> None:
        try:
            await r.execute_command(*command)
        finally:
            await r.aclose()

    silent = Silent()
    capture("connect_timeout", "redis_async",
            lambda: call(client(silent.port, socket_connect_timeout=0.3, socket_timeout=0.3), "GET", "sess:1"),
            operation="load_session", accept=["timeout", "network"], retryable=True, **cache)
    capture("read_timeout_wrapped", "redis_async",
            lambda: call(client(socket_timeout=0.3), "BLPOP", "jobs:empty", "5"),
            wrap=(SessionError, "session store did not answer"), operation="next_job", accept=["timeout"],
            retryable=True, **cache)

    async def fill() -> None:
        r = client()
        try:
            for n in range(200):
                await r.set(f"blob:{n}", "x" * 100_000)
        finally:
            await r.flushall()
            await r.set("sess:1", "alice")
            await r.aclose()

    capture("oom", "redis_async", fill, operation="store_session", accept=["resource"], retryable=None, **cache)
    capture("noauth", "redis_async", lambda: call(client(password=None), "GET", "sess:1"), operation="load_session",
            accept=["auth", "configuration"], retryable=False, **cache)
    capture("noperm", "redis_async",
            lambda: call(client(username="h2_reader", password=secret), "SET", "sess:1", "bob"),
            operation="store_session", accept=["auth"], retryable=False, **cache)

    async def crowded() -> None:
        holder = client(tiny_port)
        await holder.ping()
        try:
            await call(client(tiny_port), "GET", "sess:1")
        finally:
            await holder.aclose()

    capture("max_clients", "redis_async", crowded, operation="load_session",
            accept=["unavailable", "resource"], retryable=None, **cache)
    capture("script_runtime_error", "redis_async",
            lambda: call(client(), "EVAL", "return redis.call('INCRBY', KEYS[1], 1)", "1", "sess:1"),
            operation="touch_session", accept=["internal", "data"], retryable=False, **cache)

    async def busy() -> None:
        spinner, other = client(socket_timeout=5), client()
        spin = asyncio.create_task(spinner.eval(
            "local t = redis.call('TIME') local stop = t[1] + 2"
            " while tonumber(redis.call('TIME')[1]) < stop do end return 1", 0))
        await asyncio.sleep(0.4)
        try:
            await other.get("sess:1")
        finally:
            with contextlib.suppress(Exception):
                await other.script_kill()
            with contextlib.suppress(Exception):
                await spin
            await other.aclose()
            await spinner.aclose()

    capture("busy_script", "redis_async", busy, operation="load_session", accept=["unavailable"], retryable=True,
            **cache)

    async def exec_abort() -> None:
        r = client()
        try:
            async with r.pipeline(transaction=True) as pipe:
                pipe.set("sess:2", "carol")
                pipe.execute_command("EXPIRE", "sess:2")
                await pipe.execute()
        finally:
            await r.aclose()

    capture("exec_abort", "redis_async", exec_abort, operation="store_session", accept=["internal"],
            retryable=False, **cache)
    capture("readonly_replica_wrapped", "redis_async", lambda: call(client(replica_port), "SET", "sess:3", "dan"),
            wrap=(SessionError, "session not saved"), operation="store_session",
            accept=["unavailable", "configuration"], retryable=None, **cache)


@family
def aiormq_cases() -> None:
    import aiormq

    mq = {"service": "events-broker"}
    broker = "amqp://guest:guest@127.0.0.1:5672/"

    async def on_channel(action: Callable[[Any], Any], url: str = broker) -> None:
        conn = await aiormq.connect(url)
        try:
            channel = await conn.channel()
            await action(channel)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def setup(channel: Any) -> None:
        await channel.queue_delete("h2.capped")
        await channel.queue_declare("h2.capped", durable=False,
                                    arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
        await channel.exchange_declare("h2.internal", exchange_type="topic", internal=True, auto_delete=True)

    asyncio.run(on_channel(setup))
    async def teardown(channel: Any) -> None:
        await channel.queue_delete("h2.capped")
        await channel.exchange_delete("h2.internal")

    CLEANUPS.append(lambda: asyncio.run(on_channel(teardown)))

    capture("refused", "aiormq", lambda: aiormq.connect(f"amqp://guest:guest@127.0.0.1:{closed_port()}/"),
            operation="connect", accept=["network"], retryable=True, **mq)
    smtp_like = LineServer(b"220 mail.internal ESMTP Postfix\r\n", lambda line: b"502 5.5.2 Error\r\n")
    capture("not_amqp", "aiormq",
            lambda: asyncio.wait_for(aiormq.connect(f"amqp://guest:guest@127.0.0.1:{smtp_like.port}/"), 3),
            operation="connect", accept=["timeout", "configuration", "network"], retryable=None, **mq)

    async def unroutable(channel: Any) -> None:
        await channel.basic_publish(b'{"order": 7}', exchange="amq.direct", routing_key="h2.nobody",
                                    mandatory=True)

    capture("mandatory_unroutable", "aiormq", lambda: on_channel(unroutable), operation="publish_order_created",
            accept=["not_found", "configuration", "unavailable"], retryable=None, **mq)

    async def overflow(channel: Any) -> None:
        for n in range(3):
            await channel.basic_publish(b"%d" % n, routing_key="h2.capped")

    capture("queue_full_nack", "aiormq", lambda: on_channel(overflow), operation="publish_order_created",
            accept=["resource", "unavailable"], retryable=None, **mq)
    capture("queue_full_nack_wrapped", "aiormq", lambda: on_channel(overflow),
            wrap=(NotificationFailed, "order-created event not published"), operation="publish_order_created",
            accept=["resource", "unavailable"], retryable=None, **mq)

    async def internal_exchange(channel: Any) -> None:
        await channel.basic_publish(b"{}", exchange="h2.internal", routing_key="orders.created")
        await channel.basic_qos(prefetch_count=1)

    capture("publish_internal_exchange", "aiormq", lambda: on_channel(internal_exchange),
            operation="publish_order_created", accept=["configuration", "auth"], retryable=False, **mq)

    async def unknown_tag(channel: Any) -> None:
        await channel.basic_ack(delivery_tag=42)
        await channel.basic_qos(prefetch_count=1)

    capture("ack_unknown_delivery_tag", "aiormq", lambda: on_channel(unknown_tag), operation="ack_order_event",
            accept=["internal"], retryable=False, **mq)

    async def consume_missing(channel: Any) -> None:
        await channel.basic_consume("h2.orders.retry", lambda message: None)

    capture("consume_missing_queue", "aiormq", lambda: on_channel(consume_missing), operation="consume_retries",
            accept=["not_found", "configuration"], retryable=False, **mq)


@family
def aiomqtt_cases() -> None:
    import aiomqtt

    mqtt = {"service": "telemetry-mqtt"}
    secure_port = closed_port()
    conf_dir = TMP / "mosquitto"
    conf_dir.mkdir()
    passwords = conf_dir / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "telemetry", "not-the-password"], check=True,
                   capture_output=True)
    conf = conf_dir / "mosquitto.conf"
    conf.write_text(f"listener {secure_port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
                    "persistence false\n")
    for path in (TMP, conf_dir, passwords, conf):
        path.chmod(0o755 if path.is_dir() else 0o644)
    start_process(["mosquitto", "-c", str(conf)], secure_port)

    async def publish(port: int = 1883, topic: str = "plant/7/temperature", payload: bytes = b"21.5",
                      **kw: Any) -> None:
        async with aiomqtt.Client("127.0.0.1", port, timeout=kw.pop("timeout", 2), **kw) as client:
            await client.publish(topic, payload, qos=1)

    capture("refused", "aiomqtt", lambda: publish(closed_port()), operation="publish_reading", accept=["network"],
            retryable=True, **mqtt)
    silent = Silent()
    capture("no_connack", "aiomqtt", lambda: publish(silent.port, timeout=0.5), operation="publish_reading",
            accept=["timeout", "network"], retryable=True, **mqtt)
    capture("bad_password", "aiomqtt",
            lambda: publish(secure_port, username="telemetry", password="wrong-password",
                            protocol=aiomqtt.ProtocolVersion.V5),
            operation="publish_reading", accept=["auth"], retryable=False, **mqtt)
    capture("anonymous_refused_wrapped", "aiomqtt", lambda: publish(secure_port),
            wrap=(NotificationFailed, "temperature reading not forwarded"), operation="publish_reading",
            accept=["auth", "configuration"], retryable=False, **mqtt)
    capture("wildcard_topic", "aiomqtt", lambda: publish(topic="plant/+/temperature"), operation="publish_reading",
            accept=["validation", "internal"], retryable=False, **mqtt)
    smtp_like = LineServer(b"220 mail.internal ESMTP Postfix\r\n", lambda line: b"502 5.5.2 Error\r\n")
    capture("not_mqtt", "aiomqtt", lambda: publish(smtp_like.port, timeout=1), operation="publish_reading",
            accept=["configuration", "network", "timeout"], retryable=None, **mqtt)


@family
def aiosmtplib_cases() -> None:
    import aiosmtplib
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    mail = {"service": "mail-relay"}

    class Handler:
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                              options: list[str]) -> str:
            if address.startswith("nobody@"):
                return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
            if address.startswith("later@"):
                return "451 4.7.1 <later@shop.test>: Recipient address rejected: Greylisted, please try again later"
            if address.startswith("busy@"):
                return "421 4.3.2 Service not available, closing transmission channel"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            return "250 Message accepted for delivery"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        return AuthResult(success=False, handled=False)

    controller = Controller(Handler(), hostname="127.0.0.1", port=closed_port(), data_size_limit=4096,
                            authenticator=authenticate, auth_require_tls=False)
    controller.start()
    CLEANUPS.append(controller.stop)
    port = controller.port

    def send(to: str, body: str = "Your order has shipped.", smtp_port: int = port, **kw: Any) -> Any:
        message = f"From: shop@shop.test\r\nTo: {to}\r\nSubject: Order 7\r\n\r\n{body}\r\n"
        return aiosmtplib.send(message, sender="shop@shop.test", recipients=[to], hostname="127.0.0.1",
                               port=smtp_port, start_tls=kw.pop("start_tls", False), timeout=kw.pop("timeout", 3),
                               **kw)

    capture("auth_failed", "aiosmtplib", lambda: send("ann@shop.test", username="shop", password="wrong-password"),
            operation="send_shipping_mail", accept=["auth"], retryable=False, **mail)
    capture("recipient_unknown", "aiosmtplib", lambda: send("nobody@shop.test"), operation="send_shipping_mail",
            accept=["not_found", "validation"], retryable=False, **mail)
    capture("greylisted", "aiosmtplib", lambda: send("later@shop.test"), operation="send_shipping_mail",
            accept=["unavailable", "rate_limit"], retryable=True, **mail)
    capture("service_closing_wrapped", "aiosmtplib", lambda: send("busy@shop.test"),
            wrap=(NotificationFailed, "shipping mail not sent"), operation="send_shipping_mail",
            accept=["unavailable"], retryable=True, **mail)
    capture("message_too_big", "aiosmtplib", lambda: send("ann@shop.test", body="invoice " * 2000),
            operation="send_invoice_mail", accept=["validation", "resource"], retryable=False, **mail)
    capture("starttls_unsupported", "aiosmtplib", lambda: send("ann@shop.test", start_tls=True),
            operation="send_shipping_mail", accept=["configuration"], retryable=False, **mail)
    silent = Silent()
    capture("greeting_timeout", "aiosmtplib", lambda: send("ann@shop.test", smtp_port=silent.port, timeout=0.4),
            operation="send_shipping_mail", accept=["timeout"], retryable=True, **mail)


@family
def mailbox_cases() -> None:
    import imaplib
    import poplib

    inbox = {"service": "support-mailbox"}

    def imap_server(login_answer: bytes, greeting: bytes = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n",
                    select_answer: bytes = b"OK [READ-WRITE] SELECT completed") -> int:
        def respond(line: bytes) -> bytes | None:
            tag, _, rest = line.decode().partition(" ")
            command = rest.split(" ", 1)[0].upper().strip()
            if command == "CAPABILITY":
                return f"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n".encode()
            if command == "LOGIN":
                return None if login_answer == b"HANGUP" else tag.encode() + b" " + login_answer + b"\r\n"
            if command == "SELECT":
                return tag.encode() + b" " + select_answer + b"\r\n"
            if command == "LOGOUT":
                return f"* BYE\r\n{tag} OK\r\n".encode()
            return f"{tag} BAD Command unknown\r\n".encode()
        return LineServer(greeting, respond).port

    def imap(port: int, mailbox: str = "INBOX", **kw: Any) -> None:
        client = imaplib.IMAP4("127.0.0.1", port, timeout=kw.get("timeout", 2))
        client.login("support@shop.test", "not-the-password")
        client.select(mailbox)
        client.search(None, "UNSEEN")

    capture("imap_auth_failed", "mailbox",
            lambda: imap(imap_server(b"NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)")),
            operation="fetch_tickets", accept=["auth"], retryable=False, **inbox)
    capture("imap_temporary_auth_failure", "mailbox",
            lambda: imap(imap_server(b"NO [UNAVAILABLE] Temporary authentication failure")),
            operation="fetch_tickets", accept=["unavailable", "auth"], retryable=True, **inbox)
    capture("imap_greeting_bye", "mailbox",
            lambda: imap(imap_server(b"OK", greeting=b"* BYE [UNAVAILABLE] Too many connections from 10.1.2.3\r\n")),
            operation="fetch_tickets", accept=["unavailable", "rate_limit", "resource"], retryable=True, **inbox)
    capture("imap_dropped_wrapped", "mailbox", lambda: imap(imap_server(b"HANGUP")),
            wrap=(ImportRejected, "ticket import stopped"), operation="fetch_tickets",
            accept=["network"], retryable=True, **inbox)
    capture("imap_bad_command", "mailbox", lambda: imap(imap_server(b"OK LOGIN completed")),
            operation="fetch_tickets", accept=["internal", "validation", "configuration"], retryable=False, **inbox)

    def pop_server(answers: dict[str, bytes], greeting: bytes = b"+OK POP3 ready\r\n") -> int:
        def respond(line: bytes) -> bytes | None:
            command = line.decode().split(" ", 1)[0].upper().strip()
            return answers.get(command, b"+OK\r\n")
        return LineServer(greeting, respond).port

    def pop(port: int, message: int = 1) -> None:
        client = poplib.POP3("127.0.0.1", port, timeout=2)
        client.user("returns@shop.test")
        client.pass_("not-the-password")
        client.retr(message)

    capture("pop_auth_failed", "mailbox", lambda: pop(pop_server({"PASS": b"-ERR [AUTH] Invalid login\r\n"})),
            operation="fetch_returns", accept=["auth"], retryable=False, **inbox)
    capture("pop_mailbox_in_use_wrapped", "mailbox",
            lambda: pop(pop_server({"PASS": b"-ERR [IN-USE] Mailbox is locked by another POP3 session\r\n"})),
            wrap=(ImportRejected, "returns import skipped"),
            operation="fetch_returns", accept=["conflict", "unavailable"], retryable=True, **inbox)
    capture("pop_no_such_message", "mailbox",
            lambda: pop(pop_server({"RETR": b"-ERR There's no message 9.\r\n"}), message=9),
            operation="fetch_returns", accept=["not_found"], retryable=False, **inbox)
    capture("pop_busy_greeting", "mailbox",
            lambda: pop(pop_server({}, greeting=b"-ERR [SYS/TEMP] Server busy, try again later\r\n")),
            operation="fetch_returns", accept=["unavailable"], retryable=True, **inbox)


@family
def xmlrpc_cases() -> None:
    import xmlrpc.client
    from xmlrpc.server import SimpleXMLRPCServer

    erp = {"service": "erp-xmlrpc"}

    def reserve(sku: str, qty: int) -> bool:
        if qty <= 0:
            raise ValueError(f"quantity must be positive, got {qty}")
        raise xmlrpc.client.Fault(404, f"No product with SKU {sku!r}")

    server = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False)
    server.register_function(reserve, "stock.reserve")
    in_thread(server.serve_forever)
    CLEANUPS.append(server.shutdown)
    erp_url = f"http://127.0.0.1:{server.server_address[1]}/RPC2"

    def call(method: str, *args: Any, url: str = erp_url) -> None:
        proxy = xmlrpc.client.ServerProxy(url)
        getattr(proxy, method)(*args)

    capture("method_not_supported", "xmlrpc", lambda: call("stock.release", "A-1", 1), operation="release_stock",
            accept=["configuration", "internal"], retryable=False, **erp)
    capture("remote_value_error", "xmlrpc", lambda: call("stock.reserve", "A-1", 0), operation="reserve_stock",
            accept=["validation", "unavailable"], retryable=False, **erp)
    capture("application_fault_404", "xmlrpc", lambda: call("stock.reserve", "Z-9", 2), operation="reserve_stock",
            accept=["not_found"], retryable=False, **erp)
    capture("cannot_marshal_none", "xmlrpc", lambda: call("stock.reserve", None, 2), operation="reserve_stock",
            accept=["internal"], retryable=False, **erp)
    capture("protocol_error_401", "xmlrpc",
            answering(401, "Unauthorized", {"WWW-Authenticate": 'Basic realm="erp"'},
                      call=lambda: call("stock.reserve", "A-1", 1, url=FAKE.url + "/RPC2")),
            operation="reserve_stock", accept=["auth"], retryable=False, **erp)
    capture("protocol_error_503_wrapped", "xmlrpc",
            answering(503, "Service Unavailable", {"Retry-After": "30"},
                      call=lambda: call("stock.reserve", "A-1", 1, url=FAKE.url + "/RPC2")),
            wrap=(ShipmentNotBooked, "stock not reserved for shipment"), operation="reserve_stock",
            accept=["unavailable"], retryable=True, **erp)
    capture("html_instead_of_xml", "xmlrpc",
            answering(200, "<html><body><h1>Maintenance</h1></body></html>", {"Content-Type": "text/xml"},
                      call=lambda: call("stock.reserve", "A-1", 1, url=FAKE.url + "/RPC2")),
            operation="reserve_stock", accept=["data", "unavailable", "unknown"], retryable=None, **erp)


@family
def http_lowlevel_cases() -> None:
    import http.client

    import urllib3

    api = {"service": "carrier-api"}

    def get(path: str = "/v2/rates", timeout_s: float = 2.0) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", FAKE.port, timeout=timeout_s)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
        finally:
            conn.close()

    capture("remote_disconnected", "http_lowlevel", answering(mode="hangup", call=get), operation="quote_rates",
            accept=["network"], retryable=True, **api)
    capture("incomplete_read_wrapped", "http_lowlevel",
            answering(mode="raw", body=b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"rates\": [", call=get),
            wrap=(ShipmentNotBooked, "no carrier rate for shipment"),
            operation="quote_rates", accept=["network", "data"], retryable=True, **api)
    capture("bad_status_line", "http_lowlevel", answering(mode="raw", body=b"HTTP/1.1 2OO OK\r\n\r\n", call=get),
            operation="quote_rates", accept=["network", "unavailable", "configuration", "data"], retryable=None,
            **api)
    capture("header_line_too_long", "http_lowlevel",
            answering(mode="raw", body=b"HTTP/1.1 200 OK\r\nX-Trace: " + b"a" * 70_000 + b"\r\n\r\n", call=get),
            operation="quote_rates", accept=["network", "data", "unavailable"], retryable=None, **api)
    capture("invalid_port", "http_lowlevel",
            lambda: http.client.HTTPConnection("carrier.internal:80a"), operation="quote_rates",
            accept=["configuration"], retryable=False, **api)

    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1, read=0.4))
    capture("urllib3_read_timeout_wrapped", "http_lowlevel",
            answering(200, b"{}", delay_s=1.0, call=lambda: pool.request("GET", FAKE.url + "/v2/rates")),
            wrap=(ShipmentNotBooked, "no carrier rate for shipment"), operation="quote_rates",
            accept=["timeout"], retryable=True, **api)
    retrying = urllib3.PoolManager(retries=urllib3.Retry(total=2, redirect=2, status_forcelist=[503],
                                                         backoff_factor=0, respect_retry_after_header=False),
                                   timeout=2)
    capture("urllib3_too_many_503", "http_lowlevel",
            answering(503, {"error": "maintenance"}, {"Retry-After": "1"},
                      call=lambda: retrying.request("GET", FAKE.url + "/v2/rates")),
            operation="quote_rates", accept=["unavailable"], retryable=True, **api)
    capture("urllib3_redirect_loop", "http_lowlevel",
            answering(302, b"", {"Location": "/v2/rates"},
                      call=lambda: retrying.request("GET", FAKE.url + "/v2/rates")),
            operation="quote_rates", accept=["configuration", "unavailable"], retryable=False, **api)
    capture("urllib3_bad_url", "http_lowlevel", lambda: pool.request("GET", "http://[carrier.internal/v2/rates"),
            operation="quote_rates", accept=["configuration"], retryable=False, **api)
    capture("urllib3_protocol_error", "http_lowlevel",
            answering(mode="hangup", call=lambda: urllib3.PoolManager(retries=urllib3.Retry(total=0, read=0))
                      .request("GET", FAKE.url + "/v2/rates")),
            operation="quote_rates", accept=["network"], retryable=True, **api)


@family
def websocket_cases() -> None:
    import websocket  # websocket-client
    from websockets.sync.client import connect as ws_connect
    from websockets.sync.server import serve

    feed = {"service": "market-feed"}

    def handler(conn: Any) -> None:
        path = conn.request.path
        closes = {"/close/1013": (1013, "try again later: feed restarting"),
                  "/close/1001": (1001, "server going down for deploy"),
                  "/close/1003": (1003, "binary frames are not supported"),
                  "/close/1007": (1007, "payload is not valid UTF-8 JSON"),
                  "/close/4001": (4001, "unauthorized: token revoked"),
                  "/close/4029": (4029, "rate limited: 20 subscriptions per minute")}
        if path in closes:
            conn.recv()
            conn.close(*closes[path])
            return
        if path == "/silent":
            time.sleep(3)
            return
        for message in conn:
            conn.send(message)

    def process_request(conn: Any, request: Any) -> Any:
        if request.path == "/forbidden":
            return conn.respond(403, "Forbidden: origin not allowed\n")
        if request.path == "/busy":
            return conn.respond(429, "Too Many Requests\n")
        return None

    server = serve(handler, "127.0.0.1", 0, process_request=process_request)
    in_thread(server.serve_forever)
    CLEANUPS.append(server.shutdown)
    base = f"ws://127.0.0.1:{server.socket.getsockname()[1]}"

    def subscribe(path: str) -> None:
        with ws_connect(base + path, open_timeout=2) as conn:
            conn.send('{"subscribe": "EURUSD"}')
            conn.recv(timeout=2)

    def client_subscribe(url: str, timeout_s: float = 2) -> None:
        ws = websocket.create_connection(url, timeout=timeout_s)
        try:
            ws.send('{"subscribe": "EURUSD"}')
            ws.recv()
        finally:
            ws.close()

    capture("close_1013", "websocket", lambda: subscribe("/close/1013"), operation="subscribe_quotes",
            accept=["unavailable", "rate_limit"], retryable=True, **feed)
    capture("close_1001_wrapped", "websocket", lambda: subscribe("/close/1001"),
            wrap=(UpstreamError, "quote stream ended"), operation="subscribe_quotes",
            accept=["unavailable", "network"], retryable=True, **feed)
    capture("close_1003", "websocket", lambda: subscribe("/close/1003"), operation="subscribe_quotes",
            accept=["validation", "internal"], retryable=False, **feed)
    capture("close_1007", "websocket", lambda: subscribe("/close/1007"), operation="subscribe_quotes",
            accept=["data", "validation"], retryable=False, **feed)
    capture("close_4001", "websocket", lambda: subscribe("/close/4001"), operation="subscribe_quotes",
            accept=["auth"], retryable=False, **feed)
    capture("close_4029", "websocket", lambda: subscribe("/close/4029"), operation="subscribe_quotes",
            accept=["rate_limit"], retryable=True, **feed)
    capture("client_handshake_403", "websocket", lambda: client_subscribe(base + "/forbidden"),
            operation="subscribe_quotes", accept=["auth"], retryable=False, **feed)
    capture("client_handshake_429", "websocket", lambda: client_subscribe(base + "/busy"),
            operation="subscribe_quotes", accept=["rate_limit"], retryable=True, **feed)
    capture("client_recv_timeout", "websocket", lambda: client_subscribe(base + "/silent", timeout_s=0.4),
            operation="subscribe_quotes", accept=["timeout"], retryable=True, **feed)
    capture("client_not_websocket", "websocket",
            answering(200, "<html>dashboard</html>", {"Content-Type": "text/html"},
                      call=lambda: client_subscribe(f"ws://127.0.0.1:{FAKE.port}/quotes")),
            operation="subscribe_quotes", accept=["configuration"], retryable=False, **feed)


@family
def boto3_cases() -> None:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1, read_timeout=0.5,
                    s3={"addressing_style": "path"})
    keys = {"aws_access_key_id": "AKIAEXAMPLEFAKE00000", "aws_secret_access_key": FAKE_CREDENTIAL,
            "region_name": "eu-west-1", "config": config}
    s3 = boto3.client("s3", endpoint_url=FAKE.url, **keys)
    dynamo = boto3.client("dynamodb", endpoint_url=FAKE.url, **keys)

    def s3_error(status: int, code: str, message: str) -> Callable[[], Any]:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<RequestId>4442587FB7D0A2F9</RequestId><HostId>fake</HostId></Error>")
        return answering(status, body, {"Content-Type": "application/xml"},
                         call=lambda: s3.get_object(Bucket="invoices", Key="2026/12/INV-7.pdf"))

    def dynamo_error(status: int, code: str, message: str) -> Callable[[], Any]:
        body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
        return answering(status, json.dumps(body), {"Content-Type": "application/x-amz-json-1.0"},
                         call=lambda: dynamo.put_item(TableName="orders", Item={"pk": {"S": "order#7"}},
                                                      ConditionExpression="attribute_not_exists(pk)"))

    s3_svc = {"service": "s3"}
    ddb_svc = {"service": "dynamodb"}
    capture("s3_no_such_key", "boto3", s3_error(404, "NoSuchKey", "The specified key does not exist."),
            operation="download_invoice", accept=["not_found"], retryable=False, **s3_svc)
    capture("s3_access_denied", "boto3", s3_error(403, "AccessDenied", "Access Denied"),
            operation="download_invoice", accept=["auth"], retryable=False, **s3_svc)
    capture("s3_slow_down", "boto3", s3_error(503, "SlowDown", "Please reduce your request rate."),
            operation="download_invoice", accept=["rate_limit", "unavailable"], retryable=True, **s3_svc)
    capture("s3_no_such_bucket_wrapped", "boto3", s3_error(404, "NoSuchBucket", "The specified bucket does not exist"),
            wrap=(StoreError, "invoice archive unreachable"), operation="download_invoice",
            accept=["configuration", "not_found"], retryable=False, **s3_svc)
    capture("s3_expired_token", "boto3", s3_error(400, "ExpiredToken",
                                                  "The provided token has expired."),
            operation="download_invoice", accept=["auth"], retryable=False, **s3_svc)
    capture("dynamodb_throughput", "boto3",
            dynamo_error(400, "ProvisionedThroughputExceededException",
                         "The level of configured provisioned throughput for the table was exceeded."),
            operation="save_order", accept=["rate_limit", "resource"], retryable=True, **ddb_svc)
    capture("dynamodb_conditional_check_wrapped", "boto3",
            dynamo_error(400, "ConditionalCheckFailedException", "The conditional request failed"),
            wrap=(OrderSyncFailed, "order 7 not saved"),
            operation="save_order", accept=["conflict"], retryable=None, **ddb_svc)
    capture("dynamodb_table_missing", "boto3",
            dynamo_error(400, "ResourceNotFoundException", "Requested resource not found: Table: orders not found"),
            operation="save_order", accept=["configuration", "not_found"], retryable=False, **ddb_svc)
    capture("read_timeout", "boto3",
            answering(200, b"{}", {"Content-Type": "application/x-amz-json-1.0"}, delay_s=1.5,
                      call=lambda: dynamo.get_item(TableName="orders", Key={"pk": {"S": "order#7"}})),
            operation="load_order", accept=["timeout"], retryable=True, **ddb_svc)
    capture("param_validation", "boto3", lambda: dynamo.get_item(TableName="orders", Key={"pk": "order#7"}),
            operation="load_order", accept=["internal", "validation"], retryable=False, **ddb_svc)

    def no_credentials() -> None:
        with env(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_SESSION_TOKEN=None, AWS_PROFILE=None,
                 AWS_SHARED_CREDENTIALS_FILE=str(TMP / "none"), AWS_CONFIG_FILE=str(TMP / "none"),
                 AWS_EC2_METADATA_DISABLED="true", AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=None,
                 AWS_CONTAINER_CREDENTIALS_FULL_URI=None, AWS_WEB_IDENTITY_TOKEN_FILE=None):
            client = boto3.session.Session().client("s3", region_name="eu-west-1", endpoint_url=FAKE.url,
                                                    config=config)
            client.list_objects_v2(Bucket="invoices")

    capture("no_credentials", "boto3", no_credentials, operation="list_invoices", accept=["configuration", "auth"],
            retryable=False, **s3_svc)


@family
def stripe_cases() -> None:
    import stripe

    pay = {"service": "stripe"}
    client = stripe.StripeClient(FAKE_CREDENTIAL, base_addresses={"api": FAKE.url}, max_network_retries=0)
    slow_client = stripe.StripeClient(FAKE_CREDENTIAL, base_addresses={"api": FAKE.url}, max_network_retries=0,
                                      http_client=stripe.RequestsClient(timeout=0.5))

    def error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
              use: Any = client) -> Callable[[], Any]:
        return answering(status, {"error": body}, {"Request-Id": "req_h2fake", **(headers or {})},
                         call=lambda: use.v1.payment_intents.create(
                             params={"amount": 4200, "currency": "eur", "customer": "cus_h2fake", "confirm": True}))

    capture("card_declined", "stripe",
            error(402, {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                        "message": "Your card has insufficient funds.", "param": ""}),
            operation="charge_order", accept=["validation", "auth"], retryable=False, **pay)
    capture("invalid_api_key", "stripe",
            error(401, {"type": "invalid_request_error",
                        "message": "Invalid API Key provided: not-a-re************0000"}),
            operation="charge_order", accept=["auth", "configuration"], retryable=False, **pay)
    capture("rate_limited_wrapped", "stripe",
            error(429, {"type": "invalid_request_error", "code": "rate_limit",
                        "message": "Request rate limit exceeded. Learn more about rate limits here."}),
            wrap=(OrderSyncFailed, "order 7 not charged"), operation="charge_order", accept=["rate_limit"],
            retryable=True, **pay)
    capture("no_such_customer", "stripe",
            error(400, {"type": "invalid_request_error", "code": "resource_missing", "param": "customer",
                        "message": "No such customer: 'cus_h2fake'"}),
            operation="charge_order", accept=["not_found", "validation"], retryable=False, **pay)
    capture("idempotency_key_in_use", "stripe",
            error(409, {"type": "idempotency_error", "code": "idempotency_key_in_use",
                        "message": "There is currently another in-progress request using this Idempotent Key"}),
            operation="charge_order", accept=["conflict"], retryable=True, **pay)
    capture("api_error_500", "stripe",
            error(500, {"type": "api_error", "message": "An unknown error occurred"}),
            operation="charge_order", accept=["unavailable"], retryable=True, **pay)
    capture("read_timeout", "stripe",
            answering(200, b"{}", delay_s=1.5, call=lambda: slow_client.v1.customers.retrieve("cus_h2fake")),
            operation="load_customer", accept=["timeout", "network"], retryable=True, **pay)


@family
def llm_api_cases() -> None:
    import anthropic
    import openai

    oai = openai.OpenAI(api_key=FAKE_CREDENTIAL, base_url=FAKE.url + "/v1", max_retries=0, timeout=1.0)
    claude = anthropic.Anthropic(api_key=FAKE_CREDENTIAL, base_url=FAKE.url, max_retries=0, timeout=1.0)
    openai_svc = {"service": "openai"}
    anthropic_svc = {"service": "anthropic"}

    def chat() -> Any:
        return oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Summarise"}])

    def message() -> Any:
        return claude.messages.create(model="claude-sonnet-4-5", max_tokens=256,
                                      messages=[{"role": "user", "content": "Summarise ticket 7"}])

    def oai_error(status: int, kind: str, code: str | None, text: str, **kw: Any) -> Callable[[], Any]:
        return answering(status, {"error": {"message": text, "type": kind, "param": None, "code": code}},
                         call=chat, **kw)

    def claude_error(status: int, kind: str, text: str) -> Callable[[], Any]:
        return answering(status, {"type": "error", "error": {"type": kind, "message": text}},
                         {"request-id": "req_h2fake"}, call=message)

    capture("openai_quota", "llm_api",
            oai_error(429, "insufficient_quota", "insufficient_quota",
                      "You exceeded your current quota, please check your plan and billing details."),
            operation="summarise_ticket", accept=["resource", "rate_limit"], retryable=False, **openai_svc)
    capture("openai_rate_limit", "llm_api",
            oai_error(429, "requests", "rate_limit_exceeded",
                      "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 500, Used 500.",
                      headers={"retry-after": "2"}),
            operation="summarise_ticket", accept=["rate_limit"], retryable=True, **openai_svc)
    capture("openai_context_length", "llm_api",
            oai_error(400, "invalid_request_error", "context_length_exceeded",
                      "This model's maximum context length is 128000 tokens. However, your messages resulted in "
                      "131072 tokens."),
            operation="summarise_ticket", accept=["validation"], retryable=False, **openai_svc)
    capture("openai_model_not_found", "llm_api",
            oai_error(404, "invalid_request_error", "model_not_found",
                      "The model `gpt-4o-mini` does not exist or you do not have access to it."),
            operation="summarise_ticket", accept=["configuration", "not_found"], retryable=False, **openai_svc)
    capture("openai_timeout_wrapped", "llm_api", answering(200, b"{}", delay_s=2, call=chat),
            wrap=(UpstreamError, "ticket summary not generated"), operation="summarise_ticket",
            accept=["timeout"], retryable=True, **openai_svc)
    capture("anthropic_overloaded_wrapped", "llm_api", claude_error(529, "overloaded_error", "Overloaded"),
            wrap=(UpstreamError, "ticket summary not generated"),
            operation="summarise_ticket", accept=["unavailable", "rate_limit"], retryable=True, **anthropic_svc)
    capture("anthropic_permission", "llm_api",
            claude_error(403, "permission_error", "Your API key does not have permission to use the specified "
                                                  "resource."),
            operation="summarise_ticket", accept=["auth"], retryable=False, **anthropic_svc)
    capture("anthropic_request_too_large", "llm_api",
            claude_error(413, "request_too_large", "Request exceeds the maximum allowed number of bytes."),
            operation="summarise_ticket", accept=["validation", "resource"], retryable=False, **anthropic_svc)
    capture("anthropic_connection", "llm_api",
            lambda: anthropic.Anthropic(api_key=FAKE_CREDENTIAL, base_url=f"http://127.0.0.1:{closed_port()}",
                                        max_retries=0).messages.create(
                model="claude-sonnet-4-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}]),
            operation="summarise_ticket", accept=["network"], retryable=True, **anthropic_svc)


@family
def os_errors_cases() -> None:
    import resource

    files = {"service": "local-disk"}
    work = TMP / "os"
    work.mkdir()

    def here(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with contextlib.chdir(work):  # relative paths: messages carry no machine paths
                return fn()
        return run

    with contextlib.chdir(work):
        Path("exports").mkdir()
        Path("exports/2026-12.csv").write_text("id,total\n1,10\n")
        Path("settings.toml").write_text("[db]\n")
        os.symlink("loop-b", "loop-a")
        os.symlink("loop-a", "loop-b")
        Path("readonly").mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(work / "readonly")],
                             capture_output=True).returncode == 0
    if mounted:
        CLEANUPS.append(lambda: subprocess.run(["umount", str(work / "readonly")], capture_output=True))

    capture("same_file", "os_errors", here(lambda: shutil.copy("exports/2026-12.csv", "exports/2026-12.csv")),
            operation="archive_export", accept=["internal", "validation"], retryable=False, **files)
    capture("directory_not_empty", "os_errors", here(lambda: os.rmdir("exports")), operation="purge_exports",
            accept=["internal", "conflict"], retryable=None, **files)
    shm = Path(tempfile.mkdtemp(prefix="h2-", dir="/dev/shm"))
    CLEANUPS.append(lambda: shutil.rmtree(shm, ignore_errors=True))
    (shm / "upload.part").write_bytes(b"x")
    capture("cross_device_rename", "os_errors",
            here(lambda: os.rename(shm / "upload.part", "exports/upload.csv")), operation="store_upload",
            accept=["configuration", "internal"], retryable=False, **files)
    capture("symlink_loop", "os_errors", here(lambda: Path("loop-a").read_text()), operation="load_template",
            accept=["configuration", "internal"], retryable=False, **files)
    capture("not_a_directory", "os_errors", here(lambda: Path("settings.toml/local.toml").read_text()),
            operation="load_settings", accept=["configuration", "not_found"], retryable=False, **files)
    capture("file_exists", "os_errors", here(lambda: open("exports/2026-12.csv", "x")),  # noqa: SIM115
            operation="start_export", accept=["conflict", "internal"], retryable=False, **files)
    if mounted:
        capture("read_only_fs_wrapped", "os_errors", here(lambda: Path("readonly/report.pdf").write_bytes(b"%PDF")),
                wrap=(StoreError, "report not stored"), operation="store_report",
                accept=["configuration", "unavailable", "resource"], retryable=False, **files)
    else:
        MISSED.append("os_errors read_only_fs: could not mount a read-only tmpfs")

    def text_busy() -> None:
        shutil.copy("/bin/sleep", "worker-bin")
        proc = subprocess.Popen(["./worker-bin", "5"])
        try:
            time.sleep(0.1)
            with open("worker-bin", "wb") as binary:
                binary.write(b"")
        finally:
            proc.kill()
            proc.wait()

    capture("text_file_busy", "os_errors", here(text_busy), operation="deploy_worker",
            accept=["conflict", "unavailable"], retryable=True, **files)

    def file_too_large() -> None:
        old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
        old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, old_limit[1]))
        try:
            with open("exports/big.bin", "wb") as out:
                out.write(b"\0" * (2 << 20))
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
            signal.signal(signal.SIGXFSZ, old_handler)

    capture("file_too_large", "os_errors", here(file_too_large), operation="write_export",
            accept=["resource"], retryable=None, **files)

    def out_of_memory() -> None:
        old_limit = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/status") as status:
            vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, ((vm_kb << 10) + (200 << 20), old_limit[1]))
        try:
            bytearray(1 << 30)
        finally:
            resource.setrlimit(resource.RLIMIT_AS, old_limit)

    capture("memory_error", "os_errors", out_of_memory, operation="render_catalogue_pdf",
            accept=["resource"], retryable=None, **files)


@family
def concurrency_cases() -> None:
    import concurrent.futures
    import multiprocessing
    import queue

    jobs = {"service": "report-workers"}

    def crash_pool() -> None:
        with concurrent.futures.ProcessPoolExecutor(max_workers=1,
                                                    mp_context=multiprocessing.get_context("fork")) as pool:
            pool.submit(os._exit, 9).result(timeout=10)

    capture("broken_process_pool", "concurrency", crash_pool, operation="render_reports",
            accept=["unknown", "resource", "internal"], retryable=None, **jobs)

    def slow_future() -> None:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(time.sleep, 0.6).result(timeout=0.1)

    capture("future_timeout", "concurrency", slow_future, operation="render_reports", accept=["timeout"],
            retryable=True, **jobs)

    def after_shutdown() -> None:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        pool.shutdown()
        pool.submit(print)

    capture("submit_after_shutdown", "concurrency", after_shutdown, operation="render_reports",
            accept=["internal", "unavailable"], retryable=None, **jobs)

    def child_raises() -> None:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            pool.apply(divmod, (7, 0))

    capture("pool_child_raises_wrapped", "concurrency", child_raises,
            wrap=(ImportRejected, "monthly report job failed"), operation="render_reports",
            accept=["internal"], retryable=False, **jobs)
    capture("queue_empty", "concurrency", lambda: queue.Queue().get(timeout=0.1), operation="next_report_job",
            accept=["timeout", "unknown"], retryable=True, **jobs)

    async def wait_for() -> None:
        await asyncio.wait_for(asyncio.sleep(1), timeout=0.1)

    capture("asyncio_wait_for", "concurrency", wait_for, operation="render_reports", accept=["timeout"],
            retryable=True, **jobs)

    async def cancelled() -> None:
        task = asyncio.create_task(asyncio.sleep(1))
        await asyncio.sleep(0)
        task.cancel()
        await task

    capture("task_cancelled", "concurrency", cancelled, operation="render_reports",
            accept=["unknown", "unavailable"], retryable=None, **jobs)

    async def read_frame(payload: bytes, limit: int = 2 ** 16) -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(payload)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=limit)
            if payload.startswith(b"\x00"):
                await reader.readexactly(64)
            else:
                await reader.readline()
            writer.close()
        finally:
            server.close()

    capture("incomplete_read", "concurrency", lambda: read_frame(b"\x00\x00\x00\x40partial"),
            operation="read_price_feed", accept=["network", "data"], retryable=True, service="price-feed")
    capture("line_limit_overrun", "concurrency", lambda: read_frame(b"x" * 4096, limit=1024),
            operation="read_price_feed", accept=["data", "validation", "resource"], retryable=False,
            service="price-feed")


@family
def tokens_cases() -> None:
    import itsdangerous
    import jose.jwt
    import nacl.exceptions
    import nacl.secret
    import nacl.signing
    import nacl.utils
    from joserfc import jwt as rfc_jwt
    from joserfc.jwk import OctKey
    from passlib.context import CryptContext

    web = {"service": "web-session"}
    now = int(time.time())
    signer = itsdangerous.URLSafeTimedSerializer("session-secret-for-tests", salt="cart")
    cookie = signer.dumps({"cart": 7})
    capture("itsdangerous_tampered_cookie", "tokens", lambda: signer.loads(cookie[:-3] + "abc"),
            operation="load_cart", accept=["auth", "validation"], retryable=False, **web)
    class IssuedTwoHoursAgo(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 7200

    reset = itsdangerous.URLSafeTimedSerializer("reset-secret-for-tests", salt="password-reset")
    link = itsdangerous.URLSafeTimedSerializer("reset-secret-for-tests", salt="password-reset",
                                               signer=IssuedTwoHoursAgo).dumps("ann@shop.test")
    capture("itsdangerous_link_expired", "tokens", lambda: reset.loads(link, max_age=3600),
            operation="reset_password", accept=["auth"], retryable=False, **web)
    rotated = itsdangerous.URLSafeTimedSerializer("rotated-secret-for-tests", salt="cart")
    capture("itsdangerous_rotated_key_wrapped", "tokens", lambda: rotated.loads(cookie),
            wrap=(SessionError, "cart session rejected"), operation="load_cart",
            accept=["auth", "configuration"], retryable=False, **web)

    api = {"service": "partner-gateway"}
    key = OctKey.import_key("a-shared-hmac-secret-of-32-bytes!")
    expired = rfc_jwt.encode({"alg": "HS256"}, {"sub": "partner-7", "exp": now - 60, "aud": "orders"}, key)

    def rfc_validate(token: str, **claims: Any) -> None:
        decoded = rfc_jwt.decode(token, key)
        rfc_jwt.JWTClaimsRegistry(**claims).validate(decoded.claims)

    capture("joserfc_expired", "tokens", lambda: rfc_validate(expired, aud={"essential": True, "value": "orders"}),
            operation="authorise_partner", accept=["auth"], retryable=False, **api)
    other_aud = rfc_jwt.encode({"alg": "HS256"}, {"sub": "partner-7", "exp": now + 600, "aud": "billing"}, key)
    capture("joserfc_wrong_audience", "tokens",
            lambda: rfc_validate(other_aud, aud={"essential": True, "value": "orders"}),
            operation="authorise_partner", accept=["auth"], retryable=False, **api)
    capture("joserfc_garbage", "tokens", lambda: rfc_validate("eyJhbGciOiJIUzI1NiJ9.bm9wZQ"),
            operation="authorise_partner", accept=["auth", "validation"], retryable=False, **api)
    jose_token = jose.jwt.encode({"sub": "partner-7", "exp": now - 30}, "jose-secret-for-tests", algorithm="HS256")
    capture("python_jose_alg_not_allowed", "tokens",
            lambda: jose.jwt.decode(jose_token, "not a PEM key", algorithms=["RS256"]),
            operation="authorise_partner", accept=["auth", "validation", "configuration"], retryable=False, **api)

    vault = {"service": "secrets-vault"}
    box = nacl.secret.SecretBox(nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE))
    sealed = bytearray(box.encrypt(b"iban=DE00 0000 0000"))
    sealed[-1] ^= 1
    capture("nacl_decrypt_tampered_wrapped", "tokens", lambda: box.decrypt(bytes(sealed)),
            wrap=(StoreError, "bank details unreadable"), operation="read_bank_details",
            accept=["data", "auth"], retryable=False, **vault)
    verify_key = nacl.signing.SigningKey.generate().verify_key
    forged = nacl.signing.SigningKey.generate().sign(b'{"event": "payout.paid"}')
    capture("nacl_webhook_signature", "tokens", lambda: verify_key.verify(forged), operation="receive_webhook",
            accept=["auth", "validation", "data"], retryable=False, service="payout-webhooks")
    capture("nacl_wrong_key_size", "tokens", lambda: nacl.secret.SecretBox(b"short-key"),
            operation="read_bank_details", accept=["configuration", "internal"], retryable=False, **vault)
    passwords = CryptContext(schemes=["bcrypt", "pbkdf2_sha256"])
    capture("passlib_unknown_hash", "tokens", lambda: passwords.verify("hunter2", "5f4dcc3b5aa765d61d8327deb882cf99"),
            operation="login", accept=["data", "configuration"], retryable=False, service="accounts-db")
    capture("passlib_missing_backend", "tokens", lambda: passwords.hash("hunter2"), operation="register",
            accept=["configuration"], retryable=False, service="accounts-db")


@family
def documents_cases() -> None:
    import defusedxml.ElementTree
    import dotenv
    import json5
    import pydantic_settings
    import xmltodict
    from ruamel.yaml import YAML

    settings = {"service": "app-config"}
    uploads = {"service": "partner-uploads"}
    capture("ruamel_duplicate_key_settings", "documents",
            lambda: YAML(typ="rt").load("database:\n  host: db.internal\n  port: 5432\n  host: db2.internal\n"),
            operation="load_settings", accept=["configuration"], retryable=False,
            context={"path": "config/app.yaml"}, **settings)
    capture("ruamel_scanner_error_upload", "documents",
            lambda: YAML(typ="safe").load("products:\n  - sku: A-1\n\tname: lamp\n"),
            operation="import_products", accept=["validation"], retryable=False, **uploads)
    capture("json5_bad_upload", "documents", lambda: json5.loads("{sku: 'A-1', price: 12,5}"),
            operation="import_products", accept=["validation"], retryable=False, **uploads)
    capture("dotenv_missing_file", "documents",
            lambda: dotenv.find_dotenv(".env.production", raise_error_if_not_found=True, usecwd=True),
            operation="load_settings", accept=["configuration", "not_found"], retryable=False, **settings)

    class Settings(pydantic_settings.BaseSettings):
        model_config = pydantic_settings.SettingsConfigDict(env_prefix="H2SHOP_")
        database_url: str
        worker_count: int = 4

    def load_settings() -> None:
        with env(H2SHOP_DATABASE_URL=None, H2SHOP_WORKER_COUNT="four"):
            Settings()

    capture("pydantic_settings_missing_wrapped", "documents", load_settings,
            wrap=(ImportRejected, "service settings invalid; refusing to start"), operation="startup",
            accept=["configuration"], retryable=False, **settings)
    capture("xmltodict_truncated_message", "documents",
            lambda: xmltodict.parse("<order><id>7</id><lines><line sku='A-1'>2</line>"),
            operation="receive_edi_order", accept=["data", "validation"], retryable=False, service="edi-inbox")
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            "<order>&lol2;</order>")
    capture("defusedxml_entities_forbidden", "documents", lambda: defusedxml.ElementTree.fromstring(bomb),
            operation="receive_edi_order", accept=["validation"], retryable=False, service="edi-inbox")


@family
def tabular_cases() -> None:
    import csv
    import io

    import openpyxl
    import pandas

    uploads = {"service": "partner-uploads"}

    def read_csv(text: str, **kw: Any) -> None:
        list(csv.reader(io.StringIO(text), **kw))

    capture("csv_field_limit", "tabular", lambda: read_csv('sku,notes\nA-1,"' + "x" * 200_000 + '"\n'),
            operation="import_price_list", accept=["validation", "data", "resource"], retryable=False, **uploads)
    capture("csv_strict_quote", "tabular", lambda: read_csv('sku,name\nA-1,"lamp"shade\n', strict=True),
            operation="import_price_list", accept=["validation", "data"], retryable=False, **uploads)
    capture("pandas_empty", "tabular", lambda: pandas.read_csv(io.StringIO("")), operation="import_price_list",
            accept=["validation", "data"], retryable=False, **uploads)
    capture("pandas_tokenizing", "tabular",
            lambda: pandas.read_csv(io.StringIO("sku,price,qty\nA-1,10,2\nB-2,5,1,extra,cols\n")),
            operation="import_price_list", accept=["validation", "data"], retryable=False, **uploads)
    capture("pandas_bad_number_wrapped", "tabular",
            lambda: pandas.read_csv(io.StringIO("sku,price\nA-1,10\nB-2,ten\n"))["price"].astype(float),
            wrap=(ImportRejected, "price list from partner 12 rejected"), operation="import_price_list",
            accept=["validation", "data"], retryable=False, **uploads)

    def fake_xlsx() -> None:
        openpyxl.load_workbook(io.BytesIO(b"PK\x03\x04 this is not really a workbook"))

    capture("openpyxl_not_a_zip_wrapped", "tabular", fake_xlsx,
            wrap=(ImportRejected, "stock sheet upload rejected"), operation="import_stock_sheet",
            accept=["validation", "data"], retryable=False, **uploads)

    def sheet_missing() -> None:
        book = io.BytesIO()
        workbook = openpyxl.Workbook()
        workbook.active.title = "Prices"
        workbook.save(book)
        openpyxl.load_workbook(book)["Stock"]

    capture("openpyxl_missing_sheet", "tabular", sheet_missing, operation="import_stock_sheet",
            accept=["validation", "not_found"], retryable=False, **uploads)


@family
def validation_cases() -> None:
    import attrs
    import cattrs
    import cerberus
    import voluptuous

    api = {"service": "orders-api"}
    order_schema = voluptuous.Schema({voluptuous.Required("sku"): str, voluptuous.Required("qty"): int})
    capture("voluptuous_invalid", "validation", lambda: order_schema({"sku": "A-1", "qty": "two"}),
            operation="create_order", accept=["validation"], retryable=False, **api)
    capture("cerberus_not_a_document", "validation",
            lambda: cerberus.Validator({"sku": {"type": "string"}}).validate(["A-1", 2]),
            operation="create_order", accept=["validation"], retryable=False, **api)
    capture("cerberus_bad_schema", "validation",
            lambda: cerberus.Validator({"sku": {"type": "sku-string"}}).validate({"sku": "A-1"}),
            operation="create_order", accept=["internal", "configuration"], retryable=False, **api)

    @attrs.define
    class Line:
        sku: str = attrs.field(validator=attrs.validators.instance_of(str))
        qty: int = attrs.field(validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)])

    @attrs.define
    class Order:
        id: int
        lines: list[Line]

    attrs.resolve_types(Order, localns={"Line": Line})  # the module's annotations are strings

    capture("attrs_validator", "validation", lambda: Line("A-1", 0), operation="create_order",
            accept=["validation", "internal"], retryable=False, **api)
    capture("cattrs_structure_wrapped", "validation",
            lambda: cattrs.Converter().structure({"id": "seven", "lines": [{"sku": "A-1"}]}, Order),
            wrap=(ImportRejected, "order feed row rejected"), operation="import_orders",
            accept=["validation"], retryable=False, **api)


@family
def templates_cases() -> None:
    import chevron
    from mako.lookup import TemplateLookup
    from mako.template import Template

    mail = {"service": "mail-templates"}
    capture("mako_syntax", "templates", lambda: Template("Hello ${name\n% for line in lines:\n"),
            operation="render_order_mail", accept=["internal", "configuration"], retryable=False, **mail)
    capture("mako_missing_template", "templates",
            lambda: TemplateLookup(directories=["templates"]).get_template("mail/shipped.mako"),
            operation="render_order_mail", accept=["configuration", "not_found", "internal"], retryable=False,
            **mail)
    capture("mako_strict_undefined", "templates",
            lambda: Template("Dear ${customer_name}, order ${order_id} shipped.", strict_undefined=True)
            .render(order_id=7),
            operation="render_order_mail", accept=["internal"], retryable=False, **mail)
    capture("mako_attribute_error_wrapped", "templates",
            lambda: Template("Total: ${order.total.quantize(2)}").render(order={"total": 3}),
            wrap=(NotificationFailed, "order mail not rendered"), operation="render_order_mail",
            accept=["internal"], retryable=False, **mail)
    capture("chevron_unclosed_section", "templates",
            lambda: chevron.render("{{#lines}}{{sku}} x {{qty}}\n", {"lines": []}),
            operation="render_order_mail", accept=["internal", "configuration"], retryable=False, **mail)


@family
def numbers_dates_cases() -> None:
    import decimal
    import fractions
    import zoneinfo
    from datetime import datetime

    import dateutil.parser
    import numpy
    import pytz

    booking = {"service": "booking-api"}
    capture("dateutil_unparseable", "numbers_dates", lambda: dateutil.parser.parse("next tuesday-ish 25:61"),
            operation="create_booking", accept=["validation"], retryable=False, **booking)
    capture("pytz_unknown_zone_input", "numbers_dates", lambda: pytz.timezone("Europe/Atlantis"),
            operation="create_booking", accept=["validation", "not_found"], retryable=False, **booking)
    capture("zoneinfo_unknown_zone_settings", "numbers_dates", lambda: zoneinfo.ZoneInfo("CET+1/Berlin"),
            operation="startup", accept=["configuration"], retryable=False, service="scheduler")
    berlin = pytz.timezone("Europe/Berlin")
    capture("pytz_nonexistent_time", "numbers_dates",
            lambda: berlin.localize(datetime(2026, 3, 29, 2, 30), is_dst=None), operation="create_booking",
            accept=["validation", "data"], retryable=False, **booking)
    capture("pytz_ambiguous_time_wrapped", "numbers_dates",
            lambda: berlin.localize(datetime(2026, 10, 25, 2, 30), is_dst=None),
            wrap=(ImportRejected, "timetable row 31 rejected"), operation="import_timetable",
            accept=["validation", "data"], retryable=False, **booking)

    def decimal_division() -> None:
        with decimal.localcontext() as ctx:
            ctx.traps[decimal.DivisionByZero] = True
            decimal.Decimal("120.00") / decimal.Decimal("0")

    pricing = {"service": "pricing"}
    capture("decimal_division_by_zero", "numbers_dates", decimal_division, operation="unit_price",
            accept=["internal", "data"], retryable=False, **pricing)
    capture("fraction_zero_denominator", "numbers_dates", lambda: fractions.Fraction(3, 0),
            operation="split_payment", accept=["internal", "validation"], retryable=False, **pricing)

    def numpy_overflow() -> None:
        with numpy.errstate(all="raise"):
            numpy.exp(numpy.array([1.0, 800.0]))

    capture("numpy_overflow", "numbers_dates", numpy_overflow, operation="demand_forecast",
            accept=["data", "internal"], retryable=False, service="forecasting")



@family
def saas_sdk_cases() -> None:
    import github
    import slack_sdk
    import slack_sdk.errors
    from azure.core import PipelineClient
    from azure.core.exceptions import map_error
    from azure.core.pipeline.policies import RetryPolicy
    from azure.core.rest import HttpRequest

    slack = slack_sdk.WebClient(token="xoxb-not-a-real-token", base_url=FAKE.url + "/api/", timeout=2)
    chat = {"service": "slack"}

    def post() -> Any:
        return slack.chat_postMessage(channel="#orders", text="Order 7 shipped")

    capture("slack_invalid_auth", "saas_sdk", answering(200, {"ok": False, "error": "invalid_auth"}, call=post),
            operation="post_order_update", accept=["auth"], retryable=False, **chat)
    capture("slack_channel_not_found", "saas_sdk",
            answering(200, {"ok": False, "error": "channel_not_found"}, call=post),
            operation="post_order_update", accept=["not_found", "configuration"], retryable=False, **chat)
    capture("slack_ratelimited", "saas_sdk",
            answering(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"}, call=post),
            operation="post_order_update", accept=["rate_limit"], retryable=True, **chat)
    capture("slack_missing_scope_wrapped", "saas_sdk",
            answering(200, {"ok": False, "error": "missing_scope", "needed": "chat:write",
                            "provided": "channels:read"}, call=post),
            wrap=(NotificationFailed, "order update not posted"), operation="post_order_update",
            accept=["auth", "configuration"], retryable=False, **chat)

    gh = github.Github(auth=github.Auth.Token("ghp_not_a_real_token"), base_url=FAKE.url, retry=None, timeout=2)
    code = {"service": "github"}
    capture("github_not_found", "saas_sdk",
            answering(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
                      call=lambda: gh.get_repo("shop/fulfilment")),
            operation="open_release_issue", accept=["not_found", "configuration"], retryable=False, **code)
    capture("github_bad_credentials", "saas_sdk",
            answering(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
                      call=lambda: gh.get_repo("shop/fulfilment")),
            operation="open_release_issue", accept=["auth"], retryable=False, **code)
    capture("github_rate_limit", "saas_sdk",
            answering(403, {"message": "API rate limit exceeded for installation ID 7.",
                            "documentation_url": "https://docs.github.com/rest/rate-limit"},
                      {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 600)},
                      call=lambda: gh.get_repo("shop/fulfilment")),
            operation="open_release_issue", accept=["rate_limit"], retryable=True, **code)

    azure = PipelineClient(FAKE.url, policies=[RetryPolicy(retry_total=0)])
    blob = {"service": "azure-blob"}

    def azure_call() -> None:
        response = azure.send_request(HttpRequest("PUT", FAKE.url + "/labels/order-7.pdf"))
        map_error(response.status_code, response, {})
        response.raise_for_status()

    from azure.core.exceptions import ClientAuthenticationError, ResourceExistsError, ResourceNotFoundError

    def mapped() -> None:
        response = azure.send_request(HttpRequest("GET", FAKE.url + "/labels/order-7.pdf"))
        map_error(response.status_code, response, {401: ClientAuthenticationError, 404: ResourceNotFoundError,
                                                    409: ResourceExistsError})
        response.raise_for_status()

    capture("azure_not_found", "saas_sdk",
            answering(404, "<Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message>"
                           "</Error>", {"x-ms-error-code": "BlobNotFound"}, call=mapped),
            operation="fetch_label", accept=["not_found"], retryable=False, **blob)
    capture("azure_exists", "saas_sdk",
            answering(409, "<Error><Code>BlobAlreadyExists</Code></Error>", {"x-ms-error-code": "BlobAlreadyExists"},
                      call=mapped),
            operation="fetch_label", accept=["conflict"], retryable=False, **blob)
    capture("azure_server_busy", "saas_sdk",
            answering(503, "<Error><Code>ServerBusy</Code><Message>Ingress is over the account limit.</Message>"
                           "</Error>", {"x-ms-error-code": "ServerBusy"}, call=azure_call),
            operation="store_label", accept=["unavailable", "rate_limit"], retryable=True, **blob)


@family
def resilience_cases() -> None:
    import urllib.request

    import pybreaker
    import tenacity

    partner = {"service": "partner-api"}

    @tenacity.retry(stop=tenacity.stop_after_attempt(2), wait=tenacity.wait_none())
    def fetch_refused() -> None:
        urllib.request.urlopen(f"http://127.0.0.1:{closed_port()}/stock", timeout=1)

    capture("tenacity_refused", "resilience", fetch_refused, operation="sync_stock", accept=["network"],
            retryable=True, **partner)

    @tenacity.retry(stop=tenacity.stop_after_attempt(2), wait=tenacity.wait_none())
    def fetch_503() -> None:
        urllib.request.urlopen(FAKE.url + "/stock", timeout=1)

    capture("tenacity_503_wrapped", "resilience", answering(503, {"error": "maintenance"}, call=fetch_503),
            wrap=(OrderSyncFailed, "stock sync gave up"), operation="sync_stock", accept=["unavailable"],
            retryable=True, **partner)

    @tenacity.retry(stop=tenacity.stop_after_delay(0.5), wait=tenacity.wait_fixed(0.1),
                    retry=tenacity.retry_if_result(lambda result: result is None))
    def poll_export() -> Any:
        return None

    capture("tenacity_result_never_ready", "resilience", poll_export, operation="await_export",
            accept=["timeout", "unknown"], retryable=True, **partner)

    breaker = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60)

    def guarded() -> None:
        breaker.call(urllib.request.urlopen, f"http://127.0.0.1:{closed_port()}/stock", timeout=1)

    with contextlib.suppress(Exception):
        guarded()
    capture("pybreaker_trips", "resilience", guarded, operation="sync_stock", accept=["unavailable", "network"],
            retryable=True, **partner)
    capture("pybreaker_open", "resilience", guarded, operation="sync_stock", accept=["unavailable"],
            retryable=True, **partner)


@family
def nats_jetstream_cases() -> None:
    import nats
    from nats.js.api import DiscardPolicy, StreamConfig

    stream = {"service": "order-events"}

    async def with_js(action: Callable[[Any], Any]) -> None:
        nc = await nats.connect("nats://127.0.0.1:4222", connect_timeout=2, max_reconnect_attempts=0)
        try:
            await action(nc.jetstream(timeout=2))
        finally:
            await nc.close()

    async def setup(js: Any) -> None:
        for name in ("H2_ORDERS", "H2_AUDIT", "KV_h2_carts"):
            with contextlib.suppress(Exception):
                await js.delete_stream(name)
        await js.add_stream(StreamConfig(name="H2_ORDERS", subjects=["h2.orders.>"], max_msg_size=1024))
        await js.add_stream(StreamConfig(name="H2_AUDIT", subjects=["h2.audit.>"], max_msgs=2,
                                         discard=DiscardPolicy.NEW))
        kv = await js.create_key_value(bucket="h2_carts")
        await kv.put("cart.7", b'{"items": 1}')
        await js.publish("h2.orders.created", b'{"order": 7}')

    async def teardown(js: Any) -> None:
        for name in ("H2_ORDERS", "H2_AUDIT", "KV_h2_carts"):
            with contextlib.suppress(Exception):
                await js.delete_stream(name)

    asyncio.run(with_js(setup))
    CLEANUPS.append(lambda: asyncio.run(with_js(teardown)))

    async def expected_sequence(js: Any) -> None:
        await js.publish("h2.orders.paid", b'{"order": 7}', headers={"Nats-Expected-Last-Sequence": "0"})

    capture("wrong_last_sequence", "nats_jetstream", lambda: with_js(expected_sequence),
            operation="append_order_event", accept=["conflict"], retryable=True, **stream)

    async def stale_revision(js: Any) -> None:
        kv = await js.key_value("h2_carts")
        entry = await kv.get("cart.7")
        await kv.put("cart.7", b'{"items": 2}')
        await kv.update("cart.7", b'{"items": 3}', last=entry.revision)

    capture("kv_stale_revision_wrapped", "nats_jetstream", lambda: with_js(stale_revision),
            wrap=(SessionError, "cart 7 not updated"), operation="update_cart", accept=["conflict"],
            retryable=True, **stream)

    async def create_existing(js: Any) -> None:
        kv = await js.key_value("h2_carts")
        await kv.create("cart.7", b'{"items": 0}')

    capture("kv_create_existing", "nats_jetstream", lambda: with_js(create_existing), operation="open_cart",
            accept=["conflict", "data"], retryable=None, **stream)

    async def too_big(js: Any) -> None:
        await js.publish("h2.orders.created", b"x" * 4096)

    capture("message_over_stream_limit", "nats_jetstream", lambda: with_js(too_big),
            operation="append_order_event", accept=["validation", "resource"], retryable=False, **stream)

    async def stream_full(js: Any) -> None:
        for n in range(3):
            await js.publish("h2.audit.login", b"%d" % n)

    capture("stream_full_discard_new", "nats_jetstream", lambda: with_js(stream_full),
            operation="append_audit_event", accept=["resource", "unavailable"], retryable=None, **stream)

    async def missing_consumer(js: Any) -> None:
        await js.consumer_info("H2_ORDERS", "invoice-worker")

    capture("consumer_not_found", "nats_jetstream", lambda: with_js(missing_consumer),
            operation="start_invoice_worker", accept=["not_found", "configuration"], retryable=False, **stream)


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
