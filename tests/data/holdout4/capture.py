"""Build tests/data/holdout4/cases.jsonl: a fourth held-out set of real errors, labelled by the taxonomy only.

Written without reading medic's rules (config/rules/), its classifier, its classification tests or the
cases of the earlier sets, so it measures how the rules generalise. Each error is raised for real: against
the machine's PostgreSQL, MariaDB, Redis, RabbitMQ and Mosquitto, against servers this script starts on
free 127.0.0.1 ports (a scriptable HTTP server that answers like the real APIs, a silent TCP listener),
against closed ports, or by feeding a library real bad input. Events are built by
`medic_client.event_from_exception`; about one case in six is wrapped in an application's own exception.

Run: /tmp/holdout4-venv/bin/python tests/data/holdout4/capture.py [family ...]   (README.md: the venv)
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
SOURCE = "holdout4-app"
CASES: list[dict[str, Any]] = []
MISSED: list[str] = []
COUNTERS: collections.Counter[str] = collections.Counter()
CLEANUPS: list[Callable[[], Any]] = []
TMP = Path(tempfile.mkdtemp(prefix="holdout4-"))
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"
FAKE_CREDENTIAL = "not-a-real-key-0000"


def app_error(name: str) -> type[Exception]:
    cls = type(name, (Exception,), {})
    cls.__module__ = "shop.errors"
    return cls


OrderNotPlaced = app_error("OrderNotPlaced")
PaymentFailed = app_error("PaymentFailed")
CatalogImportFailed = app_error("CatalogImportFailed")
NotificationFailed = app_error("NotificationFailed")
InventorySyncFailed = app_error("InventorySyncFailed")
ShipmentNotBooked = app_error("ShipmentNotBooked")
ReportFailed = app_error("ReportFailed")
SearchIndexFailed = app_error("SearchIndexFailed")
CheckoutError = app_error("CheckoutError")
SessionRejected = app_error("SessionRejected")


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
def peewee_pg_cases() -> None:
    import threading as th

    import peewee as pw

    db = pw.PostgresqlDatabase("test", host="127.0.0.1", port=5432, user="postgres", connect_timeout=3)
    drop = ("DROP TABLE IF EXISTS h4_order_lines", "DROP TABLE IF EXISTS h4_orders", "DROP TABLE IF EXISTS h4_customers")
    psql(*drop,
         "CREATE TABLE h4_customers (id int PRIMARY KEY, email text UNIQUE NOT NULL, credit numeric(6,2) CHECK (credit >= 0))",
         "CREATE TABLE h4_orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES h4_customers(id), qty int)",
         "INSERT INTO h4_customers VALUES (1, 'ann@example.com', 10), (2, 'bob@example.com', 20)",
         "INSERT INTO h4_orders VALUES (1, 1, 2), (2, 2, 5)")
    CLEANUPS.append(lambda: psql(*drop))

    class Customer(pw.Model):
        id = pw.IntegerField(primary_key=True)
        email = pw.TextField()
        credit = pw.DecimalField()

        class Meta:
            database = db
            table_name = "h4_customers"

    class Order(pw.Model):
        id = pw.IntegerField(primary_key=True)
        customer = pw.ForeignKeyField(Customer, column_name="customer_id")
        qty = pw.IntegerField()

        class Meta:
            database = db
            table_name = "h4_orders"

    class Coupon(pw.Model):
        code = pw.TextField()

        class Meta:
            database = db
            table_name = "h4_coupons"

    def deadlock() -> None:
        dbs = [pw.PostgresqlDatabase("test", host="127.0.0.1", port=5432, user="postgres") for _ in range(2)]
        errors: list[BaseException] = []
        barrier = th.Barrier(2)

        def worker(i: int) -> None:
            d = dbs[i]
            try:
                with d.atomic():
                    d.execute_sql("UPDATE h4_customers SET credit = credit + 1 WHERE id = %s", (i + 1,))
                    barrier.wait()
                    d.execute_sql("UPDATE h4_customers SET credit = credit + 1 WHERE id = %s", (2 - i,))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [th.Thread(target=worker, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        for d in dbs:
            d.close()
        if errors:
            raise errors[0]

    pg = {"service": "shop-db"}
    capture("does_not_exist", "peewee_pg", lambda: Customer.get_by_id(404), operation="load_customer",
            accept=["not_found"], retryable=False, **pg)
    capture("unique_email", "peewee_pg", lambda: Customer.insert(id=3, email="ann@example.com", credit=0).execute(),
            operation="register_customer", accept=["conflict", "data", "validation"], retryable=False, **pg)
    capture("fk_missing_customer", "peewee_pg", lambda: Order.insert(id=3, customer=99, qty=1).execute(),
            operation="place_order", accept=["data", "validation", "not_found"], retryable=False, **pg)
    capture("check_negative_credit_wrapped", "peewee_pg",
            lambda: Customer.update(credit=Customer.credit - 50).where(Customer.id == 1).execute(),
            wrap=(PaymentFailed, "could not debit store credit for customer 1"), service="payments",
            operation="debit_credit", accept=["validation", "data", "conflict"], retryable=False)
    capture("invalid_integer_input", "peewee_pg", lambda: db.execute_sql("SELECT * FROM h4_orders WHERE qty = %s", ("two",)),
            operation="filter_orders", accept=["validation", "data", "internal"], retryable=False, **pg)
    capture("undefined_table", "peewee_pg", lambda: list(Coupon.select()), operation="list_coupons",
            accept=["configuration", "internal", "not_found"], retryable=False, **pg)
    capture("missing_database", "peewee_pg",
            lambda: pw.PostgresqlDatabase("h4_shop_missing", host="127.0.0.1", user="postgres").connect(),
            operation="connect", accept=["configuration", "not_found"], retryable=False, **pg)
    capture("deadlock", "peewee_pg", deadlock, operation="rebalance_credit", accept=["conflict"], retryable=True, **pg)
    capture("not_null_qty", "peewee_pg", lambda: db.execute_sql("INSERT INTO h4_orders VALUES (9, NULL, 1)"),
            operation="place_order", accept=["validation", "data"], retryable=False, **pg)


@family
def peewee_mysql_cases() -> None:
    import threading as th

    import peewee as pw

    drop = ("DROP TABLE IF EXISTS h4_stock", "DROP USER IF EXISTS 'h4_clerk'@'%'", "DROP USER IF EXISTS 'h4_clerk'@'localhost'")
    mysql(*drop,
          "CREATE TABLE h4_stock (sku varchar(8) PRIMARY KEY, qty int unsigned NOT NULL, note varchar(10)) ENGINE=InnoDB",
          "INSERT INTO h4_stock VALUES ('A-1', 5, NULL), ('B-2', 7, NULL)",
          "CREATE USER 'h4_clerk'@'localhost' IDENTIFIED BY 'clerk-pass-0000'",
          "CREATE USER 'h4_clerk'@'%' IDENTIFIED BY 'clerk-pass-0000'",
          "GRANT SELECT ON test.h4_stock TO 'h4_clerk'@'localhost'",
          "GRANT SELECT ON test.h4_stock TO 'h4_clerk'@'%'")
    CLEANUPS.append(lambda: mysql(*drop))

    def mdb(user: str = "root", password: str = "", database: str = "test") -> pw.MySQLDatabase:
        return pw.MySQLDatabase(database, host="127.0.0.1", port=3306, user=user, password=password,
                                connect_timeout=3, sql_mode="STRICT_TRANS_TABLES")

    db = mdb()

    def lock_wait() -> None:
        holder = mdb()
        holder.connect()
        holder.execute_sql("BEGIN")
        holder.execute_sql("SELECT * FROM h4_stock WHERE sku = 'A-1' FOR UPDATE")
        try:
            other = mdb()
            other.execute_sql("SET SESSION innodb_lock_wait_timeout = 1")
            other.execute_sql("UPDATE h4_stock SET qty = qty - 1 WHERE sku = 'A-1'")
        finally:
            holder.execute_sql("ROLLBACK")
            holder.close()

    def deadlock() -> None:
        dbs = [mdb() for _ in range(2)]
        errors: list[BaseException] = []
        barrier = th.Barrier(2)

        def worker(i: int) -> None:
            d = dbs[i]
            try:
                d.execute_sql("SET SESSION innodb_lock_wait_timeout = 10")
                with d.atomic():
                    d.execute_sql("UPDATE h4_stock SET qty = qty + 1 WHERE sku = %s", ("A-1" if i == 0 else "B-2",))
                    barrier.wait()
                    time.sleep(0.2 * i)
                    d.execute_sql("UPDATE h4_stock SET qty = qty + 1 WHERE sku = %s", ("B-2" if i == 0 else "A-1",))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [th.Thread(target=worker, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        if errors:
            raise errors[0]

    my = {"service": "inventory-db"}
    capture("duplicate_sku", "peewee_mysql", lambda: db.execute_sql("INSERT INTO h4_stock VALUES ('A-1', 1, NULL)"),
            operation="add_sku", accept=["conflict", "data", "validation"], retryable=False, **my)
    capture("data_too_long", "peewee_mysql",
            lambda: db.execute_sql("UPDATE h4_stock SET note = 'fragile, keep upright' WHERE sku = 'A-1'"),
            operation="annotate_sku", accept=["validation", "data"], retryable=False, **my)
    capture("unsigned_out_of_range_wrapped", "peewee_mysql",
            lambda: db.execute_sql("UPDATE h4_stock SET qty = qty - 10 WHERE sku = 'A-1'"),
            wrap=(InventorySyncFailed, "stock for A-1 could not be decremented"), service="inventory",
            operation="reserve_stock", accept=["validation", "data", "conflict"], retryable=False)
    capture("unknown_column", "peewee_mysql", lambda: db.execute_sql("SELECT warehouse FROM h4_stock"),
            operation="stock_report", accept=["internal", "configuration"], retryable=False, **my)
    capture("insert_denied", "peewee_mysql",
            lambda: mdb("h4_clerk", "clerk-pass-0000").execute_sql("INSERT INTO h4_stock VALUES ('C-3', 1, NULL)"),
            operation="add_sku", accept=["auth", "configuration"], retryable=False, **my)
    capture("bad_password", "peewee_mysql", lambda: mdb("h4_clerk", "not-the-password").connect(),
            operation="connect", accept=["auth", "configuration"], retryable=False, **my)
    capture("unknown_database", "peewee_mysql", lambda: mdb(database="h4_warehouse").connect(),
            operation="connect", accept=["configuration", "not_found"], retryable=False, **my)
    capture("lock_wait_timeout", "peewee_mysql", lock_wait, operation="reserve_stock",
            accept=["conflict", "timeout"], retryable=True, **my)
    capture("deadlock", "peewee_mysql", deadlock, operation="transfer_stock", accept=["conflict"], retryable=True, **my)


@family
def valkey_cases() -> None:
    import valkey

    r = valkey.Valkey(host="127.0.0.1", port=6379, db=0, socket_timeout=3)

    def cleanup() -> None:
        for key in r.scan_iter("h4:*"):
            r.delete(key)
        with contextlib.suppress(Exception):
            r.acl_deluser("h4_reader")
    CLEANUPS.append(cleanup)
    r.set("h4:cart:17", "3 items")
    r.delete("h4:stream:orders")
    r.xadd("h4:stream:orders", {"order": "1"})
    r.xgroup_create("h4:stream:orders", "packers", id="0")
    r.acl_setuser("h4_reader", enabled=True, passwords=["+reader-pass-0000"], keys=["h4:*"],
                  commands=["+get", "+ping"])

    def exec_abort() -> Any:
        pipe = r.pipeline(transaction=True)
        pipe.set("h4:tmp", "1")
        pipe.execute_command("HSET", "h4:tmp")  # wrong number of arguments: queued command rejected
        return pipe.execute()

    def no_perm() -> Any:
        c = valkey.Valkey(host="127.0.0.1", port=6379, username="h4_reader", password="reader-pass-0000")
        return c.set("h4:cart:18", "1")

    def blocking_read_timeout() -> Any:
        c = valkey.Valkey(host="127.0.0.1", port=6379, socket_timeout=0.5)
        return c.blpop(["h4:queue:empty"], timeout=3)

    kv = {"service": "cart-cache"}
    capture("wrongtype_hget", "valkey", lambda: r.hget("h4:cart:17", "items"), operation="read_cart",
            accept=["internal", "data"], retryable=False, **kv)
    capture("noscript", "valkey", lambda: r.evalsha("0" * 40, 0), operation="reserve_slot",
            accept=["not_found", "configuration", "internal"], retryable=None, **kv)
    capture("busygroup", "valkey", lambda: r.xgroup_create("h4:stream:orders", "packers", id="0"),
            operation="create_consumer_group", accept=["conflict", "internal"], retryable=False, **kv)
    capture("not_a_float", "valkey", lambda: r.incrbyfloat("h4:cart:17", 1.5), operation="add_to_total",
            accept=["data", "internal", "validation"], retryable=False, **kv)
    capture("exec_abort", "valkey", exec_abort, operation="checkout_tx", accept=["internal"], retryable=False, **kv)
    capture("wrongpass", "valkey",
            lambda: valkey.Valkey(host="127.0.0.1", port=6379, username="h4_reader", password="not-the-password").ping(),
            operation="connect", accept=["auth", "configuration"], retryable=False, **kv)
    capture("noperm_wrapped", "valkey", no_perm, wrap=(CheckoutError, "could not save the cart"), service="checkout",
            operation="save_cart", accept=["auth", "configuration"], retryable=False)
    capture("blocking_read_timeout", "valkey", blocking_read_timeout, operation="next_job",
            accept=["timeout", "internal", "configuration"], retryable=True, **kv)
    capture("bad_expire_option", "valkey", lambda: r.execute_command("SET", "h4:cart:19", "1", "EX", "-5"),
            operation="save_cart", accept=["validation", "internal"], retryable=False, **kv)


@family
def dramatiq_cases() -> None:
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.rate_limits import ConcurrentRateLimiter
    from dramatiq.rate_limits.backends import RedisBackend as LimiterBackend
    from dramatiq.results import Results
    from dramatiq.results.backends import RedisBackend as ResultBackend

    import redis as redis_py

    def cleanup() -> None:
        c = redis_py.Redis(host="127.0.0.1", port=6379, db=0)
        for key in c.scan_iter("h4:*"):
            c.delete(key)
    CLEANUPS.append(cleanup)

    results = ResultBackend(namespace="h4:dq-results", host="127.0.0.1", port=6379, db=0)
    broker = RedisBroker(namespace="h4:dq", host="127.0.0.1", port=6379, db=0)
    broker.add_middleware(Results(backend=results))
    dramatiq.set_broker(broker)

    @dramatiq.actor(store_results=True, actor_name="send_receipt", broker=broker)
    def send_receipt(order_id: int) -> str:
        return f"sent {order_id}"

    def result_missing() -> Any:
        message = send_receipt.message(17)
        return message.get_result(backend=results)

    def result_timeout() -> Any:
        message = send_receipt.send(18)
        return message.get_result(backend=results, block=True, timeout=300)

    def rate_limited() -> Any:
        backend = LimiterBackend(host="127.0.0.1", port=6379, db=0)
        mutex = ConcurrentRateLimiter(backend, "h4:label-printer", limit=1)
        with mutex.acquire():
            with mutex.acquire():
                return None

    def encode_error() -> Any:
        return send_receipt.send({"when": time})

    def refused() -> Any:
        b = RedisBroker(namespace="h4:dq", host="127.0.0.1", port=closed_port(), db=0)

        @dramatiq.actor(actor_name="print_label", broker=b)
        def print_label(order_id: int) -> None:
            pass

        return print_label.send(1)

    jobs = {"service": "shop-worker"}
    capture("actor_not_found", "dramatiq", lambda: broker.get_actor("refund_order"), operation="route_message",
            accept=["configuration", "not_found", "internal"], retryable=False, **jobs)
    capture("result_missing", "dramatiq", result_missing, operation="receipt_status",
            accept=["not_found", "unknown", "conflict"], retryable=None, **jobs)
    capture("result_timeout_wrapped", "dramatiq", result_timeout, wrap=(NotificationFailed, "receipt not confirmed"),
            service="notifications", operation="await_receipt", accept=["timeout"], retryable=True)
    capture("rate_limit_exceeded", "dramatiq", rate_limited, operation="print_label",
            accept=["rate_limit", "conflict"], retryable=True, **jobs)
    capture("encode_error", "dramatiq", encode_error, operation="enqueue_receipt",
            accept=["internal", "validation"], retryable=False, **jobs)
    capture("broker_refused", "dramatiq", refused, operation="enqueue_label", accept=["network"], retryable=True, **jobs)
    capture("bad_option", "dramatiq", lambda: send_receipt.send_with_options(args=(1,), delay="soon"),
            operation="enqueue_receipt", accept=["internal", "validation"], retryable=False, **jobs)


@family
def huey_cases() -> None:
    from huey import SqliteHuey
    from huey.exceptions import CancelExecution

    huey = SqliteHuey("h4-shop", filename=str(TMP / "huey.db"), immediate=True)

    @huey.task()
    def price_feed(sku: str) -> float:
        return {"A-1": 9.5}[sku]

    @huey.task(retries=0)
    def cancelled() -> None:
        raise CancelExecution(retry=False)

    @huey.task()
    @huey.lock_task("h4-nightly-export")
    def nightly_export() -> str:
        return "done"

    def locked() -> Any:
        with huey.lock_task("h4-nightly-export"):
            return nightly_export().get(blocking=True, timeout=2)

    def result_timeout() -> Any:
        h = SqliteHuey("h4-shop-queued", filename=str(TMP / "huey2.db"))

        @h.task()
        def rebuild_sitemap() -> None:
            pass

        return rebuild_sitemap().get(blocking=True, timeout=0.3)

    def revoked() -> Any:
        h = SqliteHuey("h4-shop-queued", filename=str(TMP / "huey3.db"), immediate=True)

        @h.task()
        def refund(order_id: int) -> None:
            pass

        refund.revoke()
        res = refund(17)
        return res.get(blocking=True, timeout=1)

    jobs = {"service": "shop-jobs"}
    capture("task_exception", "huey", lambda: price_feed("Z-9").get(), operation="price_feed",
            accept=["not_found", "internal", "unknown", "data"], retryable=False, **jobs)
    capture("task_locked", "huey", locked, operation="nightly_export", accept=["conflict"], retryable=True, **jobs)
    capture("result_timeout_wrapped", "huey", result_timeout, wrap=(ReportFailed, "sitemap rebuild did not finish"),
            service="reports", operation="rebuild_sitemap", accept=["timeout", "unavailable"], retryable=True)
    capture("cancelled", "huey", lambda: cancelled().get(), operation="cancelled_task",
            accept=["unknown", "internal", "conflict"], retryable=None, **jobs)
    capture("revoked", "huey", revoked, operation="refund", accept=["timeout", "unknown"],
            retryable=None, **jobs)
    capture("bad_crontab", "huey", lambda: __import__("huey").crontab(minute="75"), operation="schedule_jobs",
            accept=["configuration", "validation"], retryable=False, **jobs)


@family
def rabbitpy_cases() -> None:
    import rabbitpy

    url = "amqp://guest:guest@127.0.0.1:5672/%2F"

    def cleanup() -> None:
        with rabbitpy.Connection(url) as conn, conn.channel() as ch:
            rabbitpy.Queue(ch, "h4.shipments").delete()
            rabbitpy.Queue(ch, "h4.returns").delete()
    CLEANUPS.append(cleanup)
    with rabbitpy.Connection(url) as conn, conn.channel() as ch:
        rabbitpy.Queue(ch, "h4.shipments", durable=True, arguments={"x-max-length": 100}).declare()

    def on_channel(action: Callable[[Any], Any], target: str = url) -> Callable[[], Any]:
        def run() -> Any:
            with rabbitpy.Connection(target) as conn, conn.channel() as ch:
                return action(ch)
        return run

    def exclusive_locked() -> Any:
        with rabbitpy.Connection(url) as owner, owner.channel() as och:
            rabbitpy.Queue(och, "h4.returns", exclusive=True).declare()
            with rabbitpy.Connection(url) as conn, conn.channel() as ch:
                return rabbitpy.Queue(ch, "h4.returns").declare(passive=True)

    def publish_missing_exchange(ch: Any) -> Any:
        ch.enable_publisher_confirms()
        msg = rabbitpy.Message(ch, b'{"order": 17}')
        msg.publish("h4.no-such-exchange", "shipments.created")
        return rabbitpy.Queue(ch, "h4.shipments").declare(passive=True)

    mq = {"service": "shipping-bus"}
    capture("bad_password", "rabbitpy", lambda: rabbitpy.Connection("amqp://guest:not-the-password@127.0.0.1:5672/%2F"),
            operation="connect", accept=["auth", "configuration"], retryable=False, **mq)
    capture("missing_vhost", "rabbitpy", lambda: rabbitpy.Connection("amqp://guest:guest@127.0.0.1:5672/h4-shop"),
            operation="connect", accept=["configuration", "auth", "not_found"], retryable=False, **mq)
    capture("passive_missing_queue", "rabbitpy", on_channel(lambda ch: rabbitpy.Queue(ch, "h4.invoices").declare(passive=True)),
            operation="check_queue", accept=["not_found", "configuration"], retryable=False, **mq)
    capture("queue_args_mismatch", "rabbitpy",
            on_channel(lambda ch: rabbitpy.Queue(ch, "h4.shipments", durable=True, arguments={"x-max-length": 500}).declare()),
            operation="declare_queue", accept=["configuration", "conflict"], retryable=False, **mq)
    capture("exclusive_locked_wrapped", "rabbitpy", exclusive_locked,
            wrap=(ShipmentNotBooked, "returns queue not available"), service="shipping", operation="book_return",
            accept=["conflict", "auth", "unavailable"], retryable=None)
    capture("publish_missing_exchange", "rabbitpy", on_channel(publish_missing_exchange), operation="publish_shipment",
            accept=["not_found", "configuration"], retryable=False, **mq)
    capture("refused", "rabbitpy", lambda: rabbitpy.Connection(f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F"),
            operation="connect", accept=["network", "timeout"], retryable=True, **mq)


@family
def gmqtt_cases() -> None:
    import gmqtt

    async def connect(client_id: str = "h4-tracker", port: int = 1883, version: int = gmqtt.constants.MQTTv311,
                      **kw: Any) -> Any:
        client = gmqtt.Client(client_id, **kw)
        await client.connect("127.0.0.1", port, version=version, keepalive=10)
        return client

    async def refused() -> None:
        await connect(port=closed_port())

    async def silent() -> None:
        listener = Silent()
        await asyncio.wait_for(connect(port=listener.port), 1.0)

    def connack(code: int) -> int:
        """A broker that answers CONNECT with a CONNACK carrying this return code."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)

        def loop() -> None:
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(bytes([0x20, 0x02, 0x00, code]))
                    time.sleep(0.5)
                    conn.close()
        in_thread(loop)
        CLEANUPS.append(sock.close)
        return sock.getsockname()[1]

    async def refused_code(code: int) -> None:
        await asyncio.wait_for(connect(port=connack(code)), 3.0)

    async def empty_id() -> None:
        await asyncio.wait_for(connect(client_id="", clean_session=False), 3.0)

    mq = {"service": "tracking-mqtt"}
    capture("refused", "gmqtt", refused, operation="connect", accept=["network"], retryable=True, **mq)
    capture("silent_broker", "gmqtt", silent, operation="connect", accept=["timeout", "network"], retryable=True, **mq)
    capture("bad_credentials", "gmqtt", lambda: refused_code(4), operation="connect", accept=["auth", "configuration"],
            retryable=False, **mq)
    capture("not_authorized", "gmqtt", lambda: refused_code(5), operation="connect", accept=["auth"], retryable=False, **mq)
    capture("server_unavailable_wrapped", "gmqtt", lambda: refused_code(3),
            wrap=(ShipmentNotBooked, "tracking feed not connected"), service="shipping", operation="start_tracking",
            accept=["unavailable"], retryable=True)


@family
def aiosqlite_cases() -> None:
    import sqlite3

    import aiosqlite

    path = TMP / "offline-orders.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, ref TEXT UNIQUE, total REAL CHECK (total >= 0))")
        conn.execute("INSERT INTO orders VALUES (1, 'R-1', 5.0)")

    async def locked() -> None:
        async with aiosqlite.connect(path, timeout=0.2) as a, aiosqlite.connect(path, timeout=0.2) as b:
            await a.execute("BEGIN IMMEDIATE")
            await a.execute("UPDATE orders SET total = 6 WHERE id = 1")
            try:
                await b.execute("BEGIN IMMEDIATE")
            finally:
                await a.rollback()

    async def run(sql: str, target: str = str(path), uri: bool = False) -> None:
        async with aiosqlite.connect(target, uri=uri) as db:
            await db.execute(sql)
            await db.commit()

    async def closed() -> None:
        db = await aiosqlite.connect(path)
        await db.close()
        await db.execute("SELECT 1")

    lite = {"service": "pos-offline"}
    capture("database_locked", "aiosqlite", locked, operation="sync_order", accept=["conflict", "timeout"],
            retryable=True, **lite)
    capture("readonly", "aiosqlite", lambda: run("INSERT INTO orders VALUES (2, 'R-2', 1)", f"file:{path}?mode=ro", True),
            operation="save_order", accept=["configuration", "auth"], retryable=False, **lite)
    capture("unique_ref", "aiosqlite", lambda: run("INSERT INTO orders VALUES (3, 'R-1', 1)"), operation="save_order",
            accept=["conflict", "data", "validation"], retryable=False, **lite)
    capture("check_total_wrapped", "aiosqlite", lambda: run("UPDATE orders SET total = -3 WHERE id = 1"),
            wrap=(OrderNotPlaced, "offline order could not be stored"), service="pos", operation="apply_discount",
            accept=["validation", "data"], retryable=False)
    capture("unable_to_open", "aiosqlite", lambda: run("SELECT 1", str(TMP / "missing-dir" / "orders.db")),
            operation="open_store", accept=["configuration", "not_found"], retryable=False, **lite)
    capture("closed_connection", "aiosqlite", closed, operation="sync_order", accept=["internal"], retryable=False, **lite)


@family
def duckdb_cases() -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, sku VARCHAR NOT NULL, amount DECIMAL(8,2))")
    con.execute("INSERT INTO sales VALUES (1, 'A-1', 9.50)")
    bad_csv = TMP / "sales.csv"
    bad_csv.write_text("id,sku,amount\n1,A-1,9.50\n2,B-2,nine\n")
    ro_path = TMP / "warehouse.duckdb"
    duckdb.connect(str(ro_path)).close()

    an = {"service": "analytics"}
    capture("constraint_pk", "duckdb", lambda: con.execute("INSERT INTO sales VALUES (1, 'A-2', 1)"),
            operation="load_sales", accept=["conflict", "data", "validation"], retryable=False, **an)
    capture("catalog_missing_table", "duckdb", lambda: con.execute("SELECT * FROM refunds"), operation="refund_report",
            accept=["configuration", "not_found", "internal"], retryable=False, **an)
    capture("binder_unknown_column", "duckdb", lambda: con.execute("SELECT region FROM sales"), operation="sales_by_region",
            accept=["internal", "validation"], retryable=False, **an)
    capture("conversion", "duckdb", lambda: con.execute("SELECT CAST('twelve' AS INTEGER)"), operation="parse_qty",
            accept=["validation", "data"], retryable=False, **an)
    capture("csv_bad_value_wrapped", "duckdb",
            lambda: con.execute(f"SELECT * FROM read_csv('{bad_csv}', columns={{'id': 'INTEGER', 'sku': 'VARCHAR', 'amount': 'DECIMAL(8,2)'}}, header=true)").fetchall(),
            wrap=(ReportFailed, "daily sales import failed"), service="reports", operation="import_sales",
            accept=["data", "validation"], retryable=False)
    capture("missing_file", "duckdb", lambda: con.execute(f"SELECT * FROM read_parquet('{TMP / 'nope.parquet'}')"),
            operation="load_snapshot", accept=["not_found", "configuration"], retryable=False, **an)
    capture("parser_error", "duckdb", lambda: con.execute("SELEC sku FROM sales"), operation="adhoc_query",
            accept=["internal", "validation"], retryable=False, **an)
    capture("read_only", "duckdb",
            lambda: duckdb.connect(str(ro_path), read_only=True).execute("CREATE TABLE t (x INT)"),
            operation="materialize", accept=["configuration", "auth"], retryable=False, **an)
    capture("not_null", "duckdb", lambda: con.execute("INSERT INTO sales VALUES (5, NULL, 1)"), operation="load_sales",
            accept=["validation", "data"], retryable=False, **an)


@family
def slack_cases() -> None:
    from slack_sdk import WebClient

    client = WebClient(token="xoxb-" + FAKE_CREDENTIAL, base_url=FAKE.url + "/api/", timeout=3)

    def slack(error: str, status: int = 200, headers: dict[str, str] | None = None, **extra: Any) -> Any:
        return answering(status, {"ok": False, "error": error, **extra}, headers,
                         call=lambda: client.chat_postMessage(channel="C0H4ORDERS", text="order 17 shipped"))

    ops = {"service": "shop-notify", "operation": "post_order_update"}
    capture("channel_not_found", "slack", slack("channel_not_found"), accept=["not_found", "configuration"],
            retryable=False, **ops)
    capture("invalid_auth", "slack", slack("invalid_auth"), accept=["auth"], retryable=False, **ops)
    capture("not_in_channel", "slack", slack("not_in_channel"), accept=["auth", "configuration"], retryable=False, **ops)
    capture("missing_scope", "slack", slack("missing_scope", needed="chat:write", provided="channels:read"),
            accept=["auth", "configuration"], retryable=False, **ops)
    capture("ratelimited_wrapped", "slack", slack("ratelimited", 429, {"Retry-After": "30"}),
            wrap=(NotificationFailed, "order update not posted"), service="notifications",
            operation="notify_channel", accept=["rate_limit"], retryable=True)
    capture("msg_too_long", "slack", slack("msg_too_long"), accept=["validation"], retryable=False, **ops)
    capture("token_revoked", "slack", slack("token_revoked"), accept=["auth"], retryable=False, **ops)
    capture("fatal_error", "slack", slack("fatal_error", 500), accept=["unavailable", "unknown"], retryable=True, **ops)


@family
def twilio_cases() -> None:
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    class ToFake(TwilioHttpClient):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            url = FAKE.url + "/" + url.split("://", 1)[1].split("/", 1)[1]
            return super().request(method, url, *args, **kwargs)

    client = Client("AC" + "0" * 32, "not-the-password", http_client=ToFake(timeout=3))

    def twilio(status: int, code: int, message: str) -> Any:
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status}
        return answering(status, body, call=lambda: client.messages.create(
            to="+15005550009", from_="+15005550006", body="Your order 17 has shipped"))

    ops = {"service": "shop-sms", "operation": "send_shipping_sms"}
    capture("authenticate", "twilio", twilio(401, 20003, "Authenticate"), accept=["auth"], retryable=False, **ops)
    capture("invalid_to_number", "twilio", twilio(400, 21211, "Invalid 'To' Phone Number: +1500555XXXX"),
            accept=["validation"], retryable=False, **ops)
    capture("unsubscribed_recipient", "twilio",
            twilio(400, 21610, "Attempt to send to unsubscribed recipient"), accept=["validation", "auth"],
            retryable=False, **ops)
    capture("too_many_requests_wrapped", "twilio", twilio(429, 20429, "Too Many Requests"),
            wrap=(NotificationFailed, "shipping SMS not sent"), service="notifications", operation="notify_customer",
            accept=["rate_limit"], retryable=True)
    capture("resource_not_found", "twilio",
            twilio(404, 20404, "The requested resource /2010-04-01/Accounts/AC00/Messages.json was not found"),
            accept=["not_found", "configuration"], retryable=False, **ops)
    capture("service_unavailable", "twilio", twilio(503, 20503, "Service unavailable"), accept=["unavailable"],
            retryable=True, **ops)
    capture("account_suspended", "twilio", twilio(401, 20005, "Account not active"),
            accept=["auth", "configuration"], retryable=False, **ops)


@family
def github_cases() -> None:
    from github import Auth, Github

    gh = Github(auth=Auth.Token(FAKE_CREDENTIAL), base_url=FAKE.url, retry=None, timeout=3)
    docs = "https://docs.github.com/rest"

    def repo_call(status: int, body: Any, headers: dict[str, str] | None = None,
                  call: Callable[[], Any] | None = None) -> Any:
        return answering(status, body, headers, call=call or (lambda: gh.get_repo("acme/shop-storefront")))

    repo_json = {"id": 1, "name": "shop-storefront", "full_name": "acme/shop-storefront",
                 "url": f"{FAKE.url}/repos/acme/shop-storefront"}

    def create_release() -> Any:
        FAKE.set(200, repo_json)
        repo = gh.get_repo("acme/shop-storefront")
        FAKE.set(422, {"message": "Validation Failed", "errors": [{"resource": "Release", "code": "already_exists",
                                                                   "field": "tag_name"}], "documentation_url": docs})
        return repo.create_git_release("v1.4.0", "v1.4.0", "storefront release")

    def merge() -> Any:
        FAKE.set(200, repo_json)
        repo = gh.get_repo("acme/shop-storefront")
        FAKE.set(409, {"message": "Merge conflict", "documentation_url": docs})
        return repo.merge("main", "feature/checkout")

    ops = {"service": "release-bot", "operation": "load_repo"}
    capture("not_found", "github", repo_call(404, {"message": "Not Found", "documentation_url": docs}),
            accept=["not_found", "auth", "configuration"], retryable=False, **ops)
    capture("bad_credentials", "github", repo_call(401, {"message": "Bad credentials", "documentation_url": docs}),
            accept=["auth"], retryable=False, **ops)
    capture("rate_limit", "github", repo_call(403, {"message": "API rate limit exceeded for installation ID 4711.",
                                                     "documentation_url": docs},
                                               {"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "5000",
                                                "X-RateLimit-Reset": str(int(time.time()) + 600)}),
            accept=["rate_limit"], retryable=True, **ops)
    capture("integration_forbidden", "github",
            repo_call(403, {"message": "Resource not accessible by integration", "documentation_url": docs}),
            accept=["auth", "configuration"], retryable=False, **ops)
    capture("release_exists", "github", create_release, service="release-bot", operation="publish_release",
            accept=["conflict", "validation"], retryable=False)
    capture("merge_conflict_wrapped", "github", merge, wrap=(CatalogImportFailed, "could not merge the catalog branch"),
            service="catalog-sync", operation="merge_catalog", accept=["conflict"], retryable=False)
    capture("bad_gateway", "github", repo_call(502, "<html><body><h1>502 Bad Gateway</h1></body></html>",
                                              {"Content-Type": "text/html"}),
            accept=["unavailable"], retryable=True, **ops)


@family
def azure_blob_cases() -> None:
    from azure.storage.blob import BlobServiceClient

    svc = BlobServiceClient(account_url=f"{FAKE.url}/h4shopassets", retry_total=0, connection_timeout=3,
                            read_timeout=3)
    blob = svc.get_blob_client("invoices", "2026/12/INV-17.pdf")

    def azure(status: int, code: str, message: str, call: Callable[[], Any] | None = None) -> Any:
        body = (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}\n'
                f'RequestId:0f3c7e2a-h4\nTime:2026-12-07T21:30:00.0000000Z</Message></Error>')
        return answering(status, body, {"Content-Type": "application/xml", "x-ms-error-code": code,
                                        "x-ms-request-id": "0f3c7e2a-h4"},
                         call=call or (lambda: blob.download_blob().readall()))

    def upload() -> Any:
        return blob.upload_blob(b"%PDF-1.7 invoice", overwrite=False)

    ops = {"service": "invoice-store", "operation": "download_invoice"}
    capture("blob_not_found", "azure_blob", azure(404, "BlobNotFound", "The specified blob does not exist."),
            accept=["not_found"], retryable=False, **ops)
    capture("container_not_found", "azure_blob",
            azure(404, "ContainerNotFound", "The specified container does not exist."),
            accept=["not_found", "configuration"], retryable=False, **ops)
    capture("blob_exists", "azure_blob", azure(409, "BlobAlreadyExists", "The specified blob already exists.", upload),
            service="invoice-store", operation="store_invoice", accept=["conflict"], retryable=False)
    capture("auth_failed", "azure_blob",
            azure(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of "
                  "Authorization header is formed correctly including the signature."),
            accept=["auth"], retryable=False, **ops)
    capture("server_busy_wrapped", "azure_blob",
            azure(503, "ServerBusy", "The server is busy.", upload), wrap=(ReportFailed, "invoice archive failed"),
            service="reports", operation="archive_invoice", accept=["unavailable", "rate_limit"], retryable=True)
    capture("lease_missing", "azure_blob",
            azure(412, "LeaseIdMissing", "There is currently a lease on the blob and no lease ID was specified in "
                  "the request.", lambda: blob.upload_blob(b"%PDF", overwrite=True)),
            service="invoice-store", operation="store_invoice", accept=["conflict"], retryable=True)
    capture("body_too_large", "azure_blob",
            azure(413, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit.",
                  upload), service="invoice-store", operation="store_invoice", accept=["validation", "resource"],
            retryable=False)
    capture("account_disabled", "azure_blob", azure(403, "AccountIsDisabled", "The specified account is disabled."),
            accept=["auth", "configuration"], retryable=False, **ops)


@family
def anthropic_cases() -> None:
    import anthropic

    client = anthropic.Anthropic(api_key=FAKE_CREDENTIAL, base_url=FAKE.url, max_retries=0, timeout=3)

    def api(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Any:
        body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_h4_0001"}
        return answering(status, body, headers, call=lambda: client.messages.create(
            model="claude-sonnet-4-5", max_tokens=256,
            messages=[{"role": "user", "content": "Summarise the return reason for order 17"}]))

    ops = {"service": "support-assistant", "operation": "summarise_return"}
    capture("authentication_error", "anthropic", api(401, "authentication_error", "invalid x-api-key"),
            accept=["auth"], retryable=False, **ops)
    capture("permission_error", "anthropic",
            api(403, "permission_error", "Your API key does not have permission to use the specified resource."),
            accept=["auth"], retryable=False, **ops)
    capture("invalid_request", "anthropic",
            api(400, "invalid_request_error", "max_tokens: 256 > 128, which is the maximum allowed"),
            accept=["validation"], retryable=False, **ops)
    capture("model_not_found", "anthropic", api(404, "not_found_error", "model: claude-sonnet-4-5"),
            accept=["not_found", "configuration"], retryable=False, **ops)
    capture("rate_limit", "anthropic",
            api(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
                {"retry-after": "20"}), accept=["rate_limit"], retryable=True, **ops)
    capture("overloaded_wrapped", "anthropic", api(529, "overloaded_error", "Overloaded"),
            wrap=(SearchIndexFailed, "return summaries not generated"), service="support",
            operation="enrich_ticket", accept=["unavailable", "rate_limit"], retryable=True)
    capture("request_too_large", "anthropic", api(413, "request_too_large", "Request exceeds the maximum allowed number of bytes."),
            accept=["validation", "resource"], retryable=False, **ops)
    capture("api_error", "anthropic", api(500, "api_error", "Internal server error"), accept=["unavailable", "unknown"],
            retryable=True, **ops)
    capture("credit_balance", "anthropic",
            api(400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
            accept=["resource", "configuration", "auth", "validation"], retryable=False, **ops)


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
