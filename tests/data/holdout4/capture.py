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


def psql(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)  # type: ignore[arg-type]


def mysql(*statements: str) -> None:
    import pymysql

    conn = pymysql.connect(
        host="127.0.0.1", port=3306, user="root", password="", database="test", connect_timeout=3, autocommit=True
    )
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
    drop = (
        "DROP TABLE IF EXISTS h4_order_lines",
        "DROP TABLE IF EXISTS h4_orders",
        "DROP TABLE IF EXISTS h4_customers",
    )
    psql(
        *drop,
        "CREATE TABLE h4_customers (id int PRIMARY KEY, email text UNIQUE NOT NULL, "
        "credit numeric(6,2) CHECK (credit >= 0))",
        "CREATE TABLE h4_orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES h4_customers(id), qty int)",
        "INSERT INTO h4_customers VALUES (1, 'ann@example.com', 10), (2, 'bob@example.com', 20)",
        "INSERT INTO h4_orders VALUES (1, 1, 2), (2, 2, 5)",
    )
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
    capture(
        "does_not_exist",
        "peewee_pg",
        lambda: Customer.get_by_id(404),
        operation="load_customer",
        accept=["not_found"],
        retryable=False,
        **pg,
    )
    capture(
        "unique_email",
        "peewee_pg",
        lambda: Customer.insert(id=3, email="ann@example.com", credit=0).execute(),
        operation="register_customer",
        accept=["conflict", "data", "validation"],
        retryable=False,
        **pg,
    )
    capture(
        "fk_missing_customer",
        "peewee_pg",
        lambda: Order.insert(id=3, customer=99, qty=1).execute(),
        operation="place_order",
        accept=["data", "validation", "not_found"],
        retryable=False,
        **pg,
    )
    capture(
        "check_negative_credit_wrapped",
        "peewee_pg",
        lambda: Customer.update(credit=Customer.credit - 50).where(Customer.id == 1).execute(),
        wrap=(PaymentFailed, "could not debit store credit for customer 1"),
        service="payments",
        operation="debit_credit",
        accept=["validation", "data", "conflict"],
        retryable=False,
    )
    capture(
        "invalid_integer_input",
        "peewee_pg",
        lambda: db.execute_sql("SELECT * FROM h4_orders WHERE qty = %s", ("two",)),
        operation="filter_orders",
        accept=["validation", "data", "internal"],
        retryable=False,
        **pg,
    )
    capture(
        "undefined_table",
        "peewee_pg",
        lambda: list(Coupon.select()),
        operation="list_coupons",
        accept=["configuration", "internal", "not_found"],
        retryable=False,
        **pg,
    )
    capture(
        "missing_database",
        "peewee_pg",
        lambda: pw.PostgresqlDatabase("h4_shop_missing", host="127.0.0.1", user="postgres").connect(),
        operation="connect",
        accept=["configuration", "not_found"],
        retryable=False,
        **pg,
    )
    capture(
        "deadlock_wrapped",
        "peewee_pg",
        deadlock,
        wrap=(PaymentFailed, "store credit transfer failed"),
        service="payments",
        operation="transfer_credit",
        accept=["conflict"],
        retryable=True,
    )
    capture(
        "not_null_qty",
        "peewee_pg",
        lambda: db.execute_sql("INSERT INTO h4_orders VALUES (9, NULL, 1)"),
        operation="place_order",
        accept=["validation", "data"],
        retryable=False,
        **pg,
    )


@family
def peewee_mysql_cases() -> None:
    import threading as th

    import peewee as pw

    drop = (
        "DROP TABLE IF EXISTS h4_stock",
        "DROP USER IF EXISTS 'h4_clerk'@'%'",
        "DROP USER IF EXISTS 'h4_clerk'@'localhost'",
    )
    mysql(
        *drop,
        "CREATE TABLE h4_stock (sku varchar(8) PRIMARY KEY, qty int unsigned NOT NULL, note varchar(10)) ENGINE=InnoDB",
        "INSERT INTO h4_stock VALUES ('A-1', 5, NULL), ('B-2', 7, NULL)",
        "CREATE USER 'h4_clerk'@'localhost' IDENTIFIED BY 'clerk-pass-0000'",
        "CREATE USER 'h4_clerk'@'%' IDENTIFIED BY 'clerk-pass-0000'",
        "GRANT SELECT ON test.h4_stock TO 'h4_clerk'@'localhost'",
        "GRANT SELECT ON test.h4_stock TO 'h4_clerk'@'%'",
    )
    CLEANUPS.append(lambda: mysql(*drop))

    def mdb(user: str = "root", password: str = "", database: str = "test") -> pw.MySQLDatabase:
        return pw.MySQLDatabase(
            database,
            host="127.0.0.1",
            port=3306,
            user=user,
            password=password,
            connect_timeout=3,
            sql_mode="STRICT_TRANS_TABLES",
        )

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
    capture(
        "duplicate_sku",
        "peewee_mysql",
        lambda: db.execute_sql("INSERT INTO h4_stock VALUES ('A-1', 1, NULL)"),
        operation="add_sku",
        accept=["conflict", "data", "validation"],
        retryable=False,
        **my,
    )
    capture(
        "data_too_long",
        "peewee_mysql",
        lambda: db.execute_sql("UPDATE h4_stock SET note = 'fragile, keep upright' WHERE sku = 'A-1'"),
        operation="annotate_sku",
        accept=["validation", "data"],
        retryable=False,
        **my,
    )
    capture(
        "unsigned_out_of_range_wrapped",
        "peewee_mysql",
        lambda: db.execute_sql("UPDATE h4_stock SET qty = qty - 10 WHERE sku = 'A-1'"),
        wrap=(InventorySyncFailed, "stock for A-1 could not be decremented"),
        service="inventory",
        operation="reserve_stock",
        accept=["validation", "data", "conflict"],
        retryable=False,
    )
    capture(
        "unknown_column",
        "peewee_mysql",
        lambda: db.execute_sql("SELECT warehouse FROM h4_stock"),
        operation="stock_report",
        accept=["internal", "configuration"],
        retryable=False,
        **my,
    )
    capture(
        "insert_denied",
        "peewee_mysql",
        lambda: mdb("h4_clerk", "clerk-pass-0000").execute_sql("INSERT INTO h4_stock VALUES ('C-3', 1, NULL)"),
        operation="add_sku",
        accept=["auth", "configuration"],
        retryable=False,
        **my,
    )
    capture(
        "bad_password",
        "peewee_mysql",
        lambda: mdb("h4_clerk", "not-the-password").connect(),
        operation="connect",
        accept=["auth", "configuration"],
        retryable=False,
        **my,
    )
    capture(
        "unknown_database",
        "peewee_mysql",
        lambda: mdb(database="h4_warehouse").connect(),
        operation="connect",
        accept=["configuration", "not_found"],
        retryable=False,
        **my,
    )
    capture(
        "lock_wait_timeout_wrapped",
        "peewee_mysql",
        lock_wait,
        wrap=(OrderNotPlaced, "stock could not be reserved"),
        service="orders",
        operation="place_order",
        accept=["conflict", "timeout"],
        retryable=True,
    )
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
    r.acl_setuser("h4_reader", enabled=True, passwords=["+reader-pass-0000"], keys=["h4:*"], commands=["+get", "+ping"])

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
    capture(
        "wrongtype_hget",
        "valkey",
        lambda: r.hget("h4:cart:17", "items"),
        operation="read_cart",
        accept=["internal", "data"],
        retryable=False,
        **kv,
    )
    capture(
        "noscript",
        "valkey",
        lambda: r.evalsha("0" * 40, 0),
        operation="reserve_slot",
        accept=["not_found", "configuration", "internal"],
        retryable=None,
        **kv,
    )
    capture(
        "busygroup",
        "valkey",
        lambda: r.xgroup_create("h4:stream:orders", "packers", id="0"),
        operation="create_consumer_group",
        accept=["conflict", "internal"],
        retryable=False,
        **kv,
    )
    capture(
        "not_a_float",
        "valkey",
        lambda: r.incrbyfloat("h4:cart:17", 1.5),
        operation="add_to_total",
        accept=["data", "internal", "validation"],
        retryable=False,
        **kv,
    )
    capture("exec_abort", "valkey", exec_abort, operation="checkout_tx", accept=["internal"], retryable=False, **kv)
    capture(
        "wrongpass",
        "valkey",
        lambda: valkey.Valkey(host="127.0.0.1", port=6379, username="h4_reader", password="not-the-password").ping(),
        operation="connect",
        accept=["auth", "configuration"],
        retryable=False,
        **kv,
    )
    capture(
        "noperm_wrapped",
        "valkey",
        no_perm,
        wrap=(CheckoutError, "could not save the cart"),
        service="checkout",
        operation="save_cart",
        accept=["auth", "configuration"],
        retryable=False,
    )
    capture(
        "blocking_read_timeout",
        "valkey",
        blocking_read_timeout,
        operation="next_job",
        accept=["timeout", "internal", "configuration"],
        retryable=None,
        **kv,
    )
    capture(
        "bad_expire_option",
        "valkey",
        lambda: r.execute_command("SET", "h4:cart:19", "1", "EX", "-5"),
        operation="save_cart",
        accept=["validation", "internal"],
        retryable=False,
        **kv,
    )


@family
def dramatiq_cases() -> None:
    import dramatiq
    import redis as redis_py
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.rate_limits import ConcurrentRateLimiter
    from dramatiq.rate_limits.backends import RedisBackend as LimiterBackend
    from dramatiq.results import Results
    from dramatiq.results.backends import RedisBackend as ResultBackend

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
    capture(
        "actor_not_found",
        "dramatiq",
        lambda: broker.get_actor("refund_order"),
        operation="route_message",
        accept=["configuration", "not_found", "internal"],
        retryable=False,
        **jobs,
    )
    capture(
        "result_missing",
        "dramatiq",
        result_missing,
        operation="receipt_status",
        accept=["not_found", "unknown", "unavailable"],
        retryable=None,
        **jobs,
    )
    capture(
        "result_timeout_wrapped",
        "dramatiq",
        result_timeout,
        wrap=(NotificationFailed, "receipt not confirmed"),
        service="notifications",
        operation="await_receipt",
        accept=["timeout"],
        retryable=True,
    )
    capture(
        "rate_limit_exceeded",
        "dramatiq",
        rate_limited,
        operation="print_label",
        accept=["rate_limit", "conflict"],
        retryable=True,
        **jobs,
    )
    capture(
        "encode_error",
        "dramatiq",
        encode_error,
        operation="enqueue_receipt",
        accept=["internal", "validation"],
        retryable=False,
        **jobs,
    )
    capture(
        "broker_refused", "dramatiq", refused, operation="enqueue_label", accept=["network"], retryable=True, **jobs
    )
    capture(
        "bad_option",
        "dramatiq",
        lambda: send_receipt.send_with_options(args=(1,), delay="soon"),
        operation="enqueue_receipt",
        accept=["internal", "validation"],
        retryable=False,
        **jobs,
    )


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
    capture(
        "task_exception",
        "huey",
        lambda: price_feed("Z-9").get(),
        operation="price_feed",
        accept=["internal", "not_found", "unknown", "data"],
        retryable=False,
        **jobs,
    )
    capture("task_locked", "huey", locked, operation="nightly_export", accept=["conflict"], retryable=True, **jobs)
    capture(
        "result_timeout_wrapped",
        "huey",
        result_timeout,
        wrap=(ReportFailed, "sitemap rebuild did not finish"),
        service="reports",
        operation="rebuild_sitemap",
        accept=["timeout", "unavailable"],
        retryable=True,
    )
    capture(
        "cancelled",
        "huey",
        lambda: cancelled().get(),
        operation="cancelled_task",
        accept=["unknown", "internal", "conflict"],
        retryable=None,
        **jobs,
    )
    capture("revoked", "huey", revoked, operation="refund", accept=["timeout", "unknown"], retryable=None, **jobs)
    capture(
        "bad_crontab",
        "huey",
        lambda: __import__("huey").crontab(minute="75"),
        operation="schedule_jobs",
        accept=["configuration", "validation"],
        retryable=False,
        **jobs,
    )


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
    capture(
        "bad_password",
        "rabbitpy",
        lambda: rabbitpy.Connection("amqp://guest:not-the-password@127.0.0.1:5672/%2F"),
        operation="connect",
        accept=["auth", "configuration"],
        retryable=False,
        **mq,
    )
    capture(
        "missing_vhost",
        "rabbitpy",
        lambda: rabbitpy.Connection("amqp://guest:guest@127.0.0.1:5672/h4-shop"),
        operation="connect",
        accept=["configuration", "auth", "not_found"],
        retryable=False,
        **mq,
    )
    capture(
        "passive_missing_queue",
        "rabbitpy",
        on_channel(lambda ch: rabbitpy.Queue(ch, "h4.invoices").declare(passive=True)),
        operation="check_queue",
        accept=["not_found", "configuration"],
        retryable=False,
        **mq,
    )
    capture(
        "queue_args_mismatch",
        "rabbitpy",
        on_channel(
            lambda ch: rabbitpy.Queue(ch, "h4.shipments", durable=True, arguments={"x-max-length": 500}).declare()
        ),
        operation="declare_queue",
        accept=["configuration", "conflict"],
        retryable=False,
        **mq,
    )
    capture(
        "exclusive_locked_wrapped",
        "rabbitpy",
        exclusive_locked,
        wrap=(ShipmentNotBooked, "returns queue not available"),
        service="shipping",
        operation="book_return",
        accept=["conflict", "auth", "unavailable"],
        retryable=None,
    )
    capture(
        "publish_missing_exchange",
        "rabbitpy",
        on_channel(publish_missing_exchange),
        operation="publish_shipment",
        accept=["not_found", "configuration"],
        retryable=False,
        **mq,
    )
    capture(
        "refused",
        "rabbitpy",
        lambda: rabbitpy.Connection(f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F"),
        operation="connect",
        accept=["network", "timeout"],
        retryable=True,
        **mq,
    )


@family
def gmqtt_cases() -> None:
    import gmqtt

    async def connect(
        client_id: str = "h4-tracker", port: int = 1883, version: int = gmqtt.constants.MQTTv311, **kw: Any
    ) -> Any:
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
    capture(
        "bad_credentials",
        "gmqtt",
        lambda: refused_code(4),
        operation="connect",
        accept=["auth", "configuration"],
        retryable=False,
        **mq,
    )
    capture(
        "not_authorized", "gmqtt", lambda: refused_code(5), operation="connect", accept=["auth"], retryable=False, **mq
    )
    capture(
        "server_unavailable_wrapped",
        "gmqtt",
        lambda: refused_code(3),
        wrap=(ShipmentNotBooked, "tracking feed not connected"),
        service="shipping",
        operation="start_tracking",
        accept=["unavailable"],
        retryable=True,
    )


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
    capture(
        "database_locked",
        "aiosqlite",
        locked,
        operation="sync_order",
        accept=["conflict", "timeout"],
        retryable=True,
        **lite,
    )
    capture(
        "readonly",
        "aiosqlite",
        lambda: run("INSERT INTO orders VALUES (2, 'R-2', 1)", f"file:{path}?mode=ro", True),
        operation="save_order",
        accept=["configuration", "auth"],
        retryable=False,
        **lite,
    )
    capture(
        "unique_ref",
        "aiosqlite",
        lambda: run("INSERT INTO orders VALUES (3, 'R-1', 1)"),
        operation="save_order",
        accept=["conflict", "data", "validation"],
        retryable=False,
        **lite,
    )
    capture(
        "check_total_wrapped",
        "aiosqlite",
        lambda: run("UPDATE orders SET total = -3 WHERE id = 1"),
        wrap=(OrderNotPlaced, "offline order could not be stored"),
        service="pos",
        operation="apply_discount",
        accept=["validation", "data"],
        retryable=False,
    )
    capture(
        "unable_to_open",
        "aiosqlite",
        lambda: run("SELECT 1", str(TMP / "missing-dir" / "orders.db")),
        operation="open_store",
        accept=["configuration", "not_found"],
        retryable=False,
        **lite,
    )
    capture(
        "closed_connection", "aiosqlite", closed, operation="sync_order", accept=["internal"], retryable=False, **lite
    )


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
    capture(
        "constraint_pk",
        "duckdb",
        lambda: con.execute("INSERT INTO sales VALUES (1, 'A-2', 1)"),
        operation="load_sales",
        accept=["conflict", "data", "validation"],
        retryable=False,
        **an,
    )
    capture(
        "catalog_missing_table_wrapped",
        "duckdb",
        lambda: con.execute("SELECT * FROM refunds"),
        wrap=(ReportFailed, "refund report failed"),
        service="reports",
        operation="refund_report",
        accept=["configuration", "not_found", "internal"],
        retryable=False,
    )
    capture(
        "binder_unknown_column",
        "duckdb",
        lambda: con.execute("SELECT region FROM sales"),
        operation="sales_by_region",
        accept=["internal", "validation"],
        retryable=False,
        **an,
    )
    capture(
        "conversion",
        "duckdb",
        lambda: con.execute("SELECT CAST('twelve' AS INTEGER)"),
        operation="parse_qty",
        accept=["validation", "data"],
        retryable=False,
        **an,
    )
    capture(
        "csv_bad_value_wrapped",
        "duckdb",
        lambda: con.execute(
            f"SELECT * FROM read_csv('{bad_csv}', "
            "columns={'id': 'INTEGER', 'sku': 'VARCHAR', 'amount': 'DECIMAL(8,2)'}, header=true)"
        ).fetchall(),
        wrap=(ReportFailed, "daily sales import failed"),
        service="reports",
        operation="import_sales",
        accept=["data", "validation"],
        retryable=False,
    )
    capture(
        "missing_file",
        "duckdb",
        lambda: con.execute(f"SELECT * FROM read_parquet('{TMP / 'nope.parquet'}')"),
        operation="load_snapshot",
        accept=["not_found", "configuration"],
        retryable=False,
        **an,
    )
    capture(
        "parser_error",
        "duckdb",
        lambda: con.execute("SELEC sku FROM sales"),
        operation="adhoc_query",
        accept=["internal", "validation"],
        retryable=False,
        **an,
    )
    capture(
        "read_only",
        "duckdb",
        lambda: duckdb.connect(str(ro_path), read_only=True).execute("CREATE TABLE t (x INT)"),
        operation="materialize",
        accept=["configuration", "auth"],
        retryable=False,
        **an,
    )
    capture(
        "not_null",
        "duckdb",
        lambda: con.execute("INSERT INTO sales VALUES (5, NULL, 1)"),
        operation="load_sales",
        accept=["validation", "data"],
        retryable=False,
        **an,
    )


@family
def slack_cases() -> None:
    from slack_sdk import WebClient

    client = WebClient(token="xoxb-" + FAKE_CREDENTIAL, base_url=FAKE.url + "/api/", timeout=3)

    def slack(error: str, status: int = 200, headers: dict[str, str] | None = None, **extra: Any) -> Any:
        return answering(
            status,
            {"ok": False, "error": error, **extra},
            headers,
            call=lambda: client.chat_postMessage(channel="C0H4ORDERS", text="order 17 shipped"),
        )

    ops = {"service": "shop-notify", "operation": "post_order_update"}
    capture(
        "channel_not_found",
        "slack",
        slack("channel_not_found"),
        accept=["not_found", "configuration"],
        retryable=False,
        **ops,
    )
    capture("invalid_auth", "slack", slack("invalid_auth"), accept=["auth"], retryable=False, **ops)
    capture(
        "not_in_channel", "slack", slack("not_in_channel"), accept=["auth", "configuration"], retryable=False, **ops
    )
    capture(
        "missing_scope",
        "slack",
        slack("missing_scope", needed="chat:write", provided="channels:read"),
        accept=["auth", "configuration"],
        retryable=False,
        **ops,
    )
    capture(
        "ratelimited_wrapped",
        "slack",
        slack("ratelimited", 429, {"Retry-After": "30"}),
        wrap=(NotificationFailed, "order update not posted"),
        service="notifications",
        operation="notify_channel",
        accept=["rate_limit"],
        retryable=True,
    )
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
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return answering(
            status,
            body,
            call=lambda: client.messages.create(
                to="+15005550009", from_="+15005550006", body="Your order 17 has shipped"
            ),
        )

    ops = {"service": "shop-sms", "operation": "send_shipping_sms"}
    capture("authenticate", "twilio", twilio(401, 20003, "Authenticate"), accept=["auth"], retryable=False, **ops)
    capture(
        "invalid_to_number",
        "twilio",
        twilio(400, 21211, "Invalid 'To' Phone Number: +1500555XXXX"),
        accept=["validation"],
        retryable=False,
        **ops,
    )
    capture(
        "unsubscribed_recipient",
        "twilio",
        twilio(400, 21610, "Attempt to send to unsubscribed recipient"),
        accept=["validation", "auth"],
        retryable=False,
        **ops,
    )
    capture(
        "too_many_requests_wrapped",
        "twilio",
        twilio(429, 20429, "Too Many Requests"),
        wrap=(NotificationFailed, "shipping SMS not sent"),
        service="notifications",
        operation="notify_customer",
        accept=["rate_limit"],
        retryable=True,
    )
    capture(
        "resource_not_found",
        "twilio",
        twilio(404, 20404, "The requested resource /2010-04-01/Accounts/AC00/Messages.json was not found"),
        accept=["not_found", "configuration"],
        retryable=False,
        **ops,
    )
    capture(
        "service_unavailable",
        "twilio",
        twilio(503, 20503, "Service unavailable"),
        accept=["unavailable"],
        retryable=True,
        **ops,
    )
    capture(
        "account_suspended",
        "twilio",
        twilio(401, 20005, "Account not active"),
        accept=["auth", "configuration"],
        retryable=False,
        **ops,
    )


@family
def github_cases() -> None:
    from github import Auth, Github

    gh = Github(auth=Auth.Token(FAKE_CREDENTIAL), base_url=FAKE.url, retry=None, timeout=3)
    docs = "https://docs.github.com/rest"

    def repo_call(
        status: int, body: Any, headers: dict[str, str] | None = None, call: Callable[[], Any] | None = None
    ) -> Any:
        return answering(status, body, headers, call=call or (lambda: gh.get_repo("acme/shop-storefront")))

    repo_json = {
        "id": 1,
        "name": "shop-storefront",
        "full_name": "acme/shop-storefront",
        "url": f"{FAKE.url}/repos/acme/shop-storefront",
    }

    def create_release() -> Any:
        FAKE.set(200, repo_json)
        repo = gh.get_repo("acme/shop-storefront")
        FAKE.set(
            422,
            {
                "message": "Validation Failed",
                "errors": [{"resource": "Release", "code": "already_exists", "field": "tag_name"}],
                "documentation_url": docs,
            },
        )
        return repo.create_git_release("v1.4.0", "v1.4.0", "storefront release")

    def merge() -> Any:
        FAKE.set(200, repo_json)
        repo = gh.get_repo("acme/shop-storefront")
        FAKE.set(409, {"message": "Merge conflict", "documentation_url": docs})
        return repo.merge("main", "feature/checkout")

    ops = {"service": "release-bot", "operation": "load_repo"}
    capture(
        "not_found",
        "github",
        repo_call(404, {"message": "Not Found", "documentation_url": docs}),
        accept=["not_found", "auth", "configuration"],
        retryable=False,
        **ops,
    )
    capture(
        "bad_credentials",
        "github",
        repo_call(401, {"message": "Bad credentials", "documentation_url": docs}),
        accept=["auth"],
        retryable=False,
        **ops,
    )
    capture(
        "rate_limit",
        "github",
        repo_call(
            403,
            {"message": "API rate limit exceeded for installation ID 4711.", "documentation_url": docs},
            {
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Reset": str(int(time.time()) + 600),
            },
        ),
        accept=["rate_limit"],
        retryable=True,
        **ops,
    )
    capture(
        "integration_forbidden",
        "github",
        repo_call(403, {"message": "Resource not accessible by integration", "documentation_url": docs}),
        accept=["auth", "configuration"],
        retryable=False,
        **ops,
    )
    capture(
        "release_exists",
        "github",
        create_release,
        service="release-bot",
        operation="publish_release",
        accept=["conflict", "validation"],
        retryable=False,
    )
    capture(
        "merge_conflict_wrapped",
        "github",
        merge,
        wrap=(CatalogImportFailed, "could not merge the catalog branch"),
        service="catalog-sync",
        operation="merge_catalog",
        accept=["conflict"],
        retryable=None,
    )
    capture(
        "bad_gateway",
        "github",
        repo_call(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"}),
        accept=["unavailable"],
        retryable=True,
        **ops,
    )


@family
def azure_blob_cases() -> None:
    from azure.storage.blob import BlobServiceClient

    svc = BlobServiceClient(account_url=f"{FAKE.url}/h4shopassets", retry_total=0, connection_timeout=3, read_timeout=3)
    blob = svc.get_blob_client("invoices", "2026/12/INV-17.pdf")

    def azure(status: int, code: str, message: str, call: Callable[[], Any] | None = None) -> Any:
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}\n'
            f"RequestId:0f3c7e2a-h4\nTime:2026-12-07T21:30:00.0000000Z</Message></Error>"
        )
        return answering(
            status,
            body,
            {"Content-Type": "application/xml", "x-ms-error-code": code, "x-ms-request-id": "0f3c7e2a-h4"},
            call=call or (lambda: blob.download_blob().readall()),
        )

    def upload() -> Any:
        return blob.upload_blob(b"%PDF-1.7 invoice", overwrite=False)

    ops = {"service": "invoice-store", "operation": "download_invoice"}
    capture(
        "blob_not_found",
        "azure_blob",
        azure(404, "BlobNotFound", "The specified blob does not exist."),
        accept=["not_found"],
        retryable=False,
        **ops,
    )
    capture(
        "container_not_found",
        "azure_blob",
        azure(404, "ContainerNotFound", "The specified container does not exist."),
        accept=["not_found", "configuration"],
        retryable=False,
        **ops,
    )
    capture(
        "blob_exists",
        "azure_blob",
        azure(409, "BlobAlreadyExists", "The specified blob already exists.", upload),
        service="invoice-store",
        operation="store_invoice",
        accept=["conflict"],
        retryable=False,
    )
    capture(
        "auth_failed",
        "azure_blob",
        azure(
            403,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of "
            "Authorization header is formed correctly including the signature.",
        ),
        accept=["auth"],
        retryable=False,
        **ops,
    )
    capture(
        "server_busy_wrapped",
        "azure_blob",
        azure(503, "ServerBusy", "The server is busy.", upload),
        wrap=(ReportFailed, "invoice archive failed"),
        service="reports",
        operation="archive_invoice",
        accept=["unavailable", "rate_limit"],
        retryable=True,
    )
    capture(
        "lease_missing",
        "azure_blob",
        azure(
            412,
            "LeaseIdMissing",
            "There is currently a lease on the blob and no lease ID was specified in the request.",
            lambda: blob.upload_blob(b"%PDF", overwrite=True),
        ),
        service="invoice-store",
        operation="store_invoice",
        accept=["conflict"],
        retryable=True,
    )
    capture(
        "body_too_large",
        "azure_blob",
        azure(
            413,
            "RequestBodyTooLarge",
            "The request body is too large and exceeds the maximum permissible limit.",
            upload,
        ),
        service="invoice-store",
        operation="store_invoice",
        accept=["validation", "resource"],
        retryable=False,
    )
    capture(
        "account_disabled",
        "azure_blob",
        azure(403, "AccountIsDisabled", "The specified account is disabled."),
        accept=["auth", "configuration"],
        retryable=False,
        **ops,
    )


@family
def anthropic_cases() -> None:
    import anthropic

    client = anthropic.Anthropic(api_key=FAKE_CREDENTIAL, base_url=FAKE.url, max_retries=0, timeout=3)

    def api(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Any:
        body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_h4_0001"}
        return answering(
            status,
            body,
            headers,
            call=lambda: client.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=256,
                messages=[{"role": "user", "content": "Summarise the return reason for order 17"}],
            ),
        )

    ops = {"service": "support-assistant", "operation": "summarise_return"}
    capture(
        "authentication_error",
        "anthropic",
        api(401, "authentication_error", "invalid x-api-key"),
        accept=["auth"],
        retryable=False,
        **ops,
    )
    capture(
        "permission_error",
        "anthropic",
        api(403, "permission_error", "Your API key does not have permission to use the specified resource."),
        accept=["auth"],
        retryable=False,
        **ops,
    )
    capture(
        "invalid_request",
        "anthropic",
        api(400, "invalid_request_error", "max_tokens: 256 > 128, which is the maximum allowed"),
        accept=["validation"],
        retryable=False,
        **ops,
    )
    capture(
        "model_not_found",
        "anthropic",
        api(404, "not_found_error", "model: claude-sonnet-4-5"),
        accept=["not_found", "configuration"],
        retryable=False,
        **ops,
    )
    capture(
        "rate_limit_wrapped",
        "anthropic",
        api(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            {"retry-after": "20"},
        ),
        wrap=(SearchIndexFailed, "product descriptions not generated"),
        service="catalog",
        operation="describe_products",
        accept=["rate_limit"],
        retryable=True,
    )
    capture(
        "overloaded_wrapped",
        "anthropic",
        api(529, "overloaded_error", "Overloaded"),
        wrap=(SearchIndexFailed, "return summaries not generated"),
        service="support",
        operation="enrich_ticket",
        accept=["unavailable", "rate_limit"],
        retryable=True,
    )
    capture(
        "request_too_large",
        "anthropic",
        api(413, "request_too_large", "Request exceeds the maximum allowed number of bytes."),
        accept=["validation", "resource"],
        retryable=False,
        **ops,
    )
    capture(
        "api_error",
        "anthropic",
        api(500, "api_error", "Internal server error"),
        accept=["unavailable", "unknown"],
        retryable=True,
        **ops,
    )
    capture(
        "credit_balance",
        "anthropic",
        api(400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
        accept=["resource", "configuration", "auth", "validation"],
        retryable=False,
        **ops,
    )


@family
def search_engines_cases() -> None:
    import meilisearch
    import typesense

    meili = meilisearch.Client(FAKE.url, FAKE_CREDENTIAL, timeout=3)
    ts = typesense.Client(
        {
            "nodes": [{"host": "127.0.0.1", "port": str(FAKE.port), "protocol": "http"}],
            "api_key": FAKE_CREDENTIAL,
            "connection_timeout_seconds": 3,
            "num_retries": 0,
            "retry_interval_seconds": 0,
        }
    )

    def meili_error(status: int, code: str, kind: str, message: str, call: Callable[[], Any] | None = None) -> Any:
        body = {"message": message, "code": code, "type": kind, "link": f"https://docs.meilisearch.com/errors#{code}"}
        return answering(status, body, call=call or (lambda: meili.index("products").get_document("sku-17")))

    def ts_error(status: int, message: str, call: Callable[[], Any] | None = None) -> Any:
        return answering(
            status,
            {"message": message},
            call=call or (lambda: ts.collections["products"].documents["sku-17"].retrieve()),
        )

    ops = {"service": "product-search", "operation": "load_product"}
    capture(
        "meili_index_not_found",
        "search_engines",
        meili_error(404, "index_not_found", "invalid_request", "Index `products` not found."),
        accept=["not_found", "configuration"],
        retryable=False,
        **ops,
    )
    capture(
        "meili_invalid_api_key",
        "search_engines",
        meili_error(403, "invalid_api_key", "auth", "The provided API key is invalid."),
        accept=["auth"],
        retryable=False,
        **ops,
    )
    capture(
        "meili_document_fields",
        "search_engines",
        meili_error(
            400,
            "invalid_document_id",
            "invalid_request",
            "Document identifier `sku 17` is invalid. A document identifier can be of type integer or "
            "string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and "
            "underscores (_).",
            lambda: meili.index("products").add_documents([{"id": "sku 17"}]),
        ),
        service="product-search",
        operation="index_product",
        accept=["validation"],
        retryable=False,
    )
    capture(
        "meili_no_space_wrapped",
        "search_engines",
        meili_error(
            500,
            "no_space_left_on_device",
            "system",
            "No space left on device.",
            lambda: meili.index("products").add_documents([{"id": "sku-17"}]),
        ),
        wrap=(SearchIndexFailed, "catalog reindex failed"),
        service="catalog",
        operation="reindex_catalog",
        accept=["resource"],
        retryable=None,
    )
    capture(
        "ts_object_not_found",
        "search_engines",
        ts_error(404, "Could not find a document with id: sku-17"),
        accept=["not_found"],
        retryable=False,
        **ops,
    )
    capture(
        "ts_unauthorized",
        "search_engines",
        ts_error(401, "Forbidden - a valid `x-typesense-api-key` header must be sent."),
        accept=["auth"],
        retryable=False,
        **ops,
    )
    capture(
        "ts_already_exists",
        "search_engines",
        ts_error(
            409,
            "A collection with name `products` already exists.",
            lambda: ts.collections.create({"name": "products", "fields": [{"name": "title", "type": "string"}]}),
        ),
        service="product-search",
        operation="create_collection",
        accept=["conflict"],
        retryable=False,
    )
    capture(
        "ts_malformed",
        "search_engines",
        ts_error(
            400,
            "Could not find a field named `colour` in the schema for sorting.",
            lambda: ts.collections["products"].documents.search(
                {"q": "mug", "query_by": "title", "sort_by": "colour:desc"}
            ),
        ),
        service="product-search",
        operation="search",
        accept=["validation"],
        retryable=False,
    )
    capture(
        "ts_unavailable",
        "search_engines",
        ts_error(503, "Not Ready or Lagging"),
        accept=["unavailable"],
        retryable=True,
        **ops,
    )


@family
def opensearch_cases() -> None:
    from opensearchpy import OpenSearch

    client = OpenSearch(
        hosts=[{"host": "127.0.0.1", "port": FAKE.port}],
        use_ssl=False,
        max_retries=0,
        retry_on_timeout=False,
        timeout=3,
    )

    def os_error(status: int, kind: str, reason: str, call: Callable[[], Any] | None = None, **extra: Any) -> Any:
        body = {
            "error": {
                "root_cause": [{"type": kind, "reason": reason, **extra}],
                "type": kind,
                "reason": reason,
                **extra,
            },
            "status": status,
        }
        return answering(status, body, call=call or (lambda: client.get(index="orders-2026.12", id="17")))

    def index_doc() -> Any:
        return client.index(index="orders-2026.12", id="17", body={"status": "shipped"}, if_seq_no=4, if_primary_term=1)

    ops = {"service": "order-search", "operation": "get_order"}
    capture(
        "index_not_found",
        "opensearch",
        os_error(404, "index_not_found_exception", "no such index [orders-2026.12]", index="orders-2026.12"),
        accept=["not_found", "configuration"],
        retryable=False,
        **ops,
    )
    capture(
        "version_conflict_wrapped",
        "opensearch",
        os_error(
            409,
            "version_conflict_engine_exception",
            "[17]: version conflict, required seqNo [4], primary term [1]. current document has seqNo [5] "
            "and primary term [1]",
            index_doc,
        ),
        wrap=(OrderNotPlaced, "order status not updated"),
        service="orders",
        operation="mark_shipped",
        accept=["conflict"],
        retryable=True,
    )
    capture(
        "security_exception",
        "opensearch",
        os_error(
            403,
            "security_exception",
            "no permissions for [indices:data/read/get] and User [name=shop-app, "
            "backend_roles=[], requestedTenant=null]",
        ),
        accept=["auth"],
        retryable=False,
        **ops,
    )
    capture(
        "unauthorized",
        "opensearch",
        answering(
            401,
            "Unauthorized",
            {"WWW-Authenticate": 'Basic realm="OpenSearch Security"'},
            call=lambda: client.get(index="orders-2026.12", id="17"),
        ),
        accept=["auth"],
        retryable=False,
        **ops,
    )
    capture(
        "circuit_breaking",
        "opensearch",
        os_error(
            429,
            "circuit_breaking_exception",
            "[parent] Data too large, data for [<http_request>] would be "
            "[1031243776/983.4mb], which is larger than the limit of [1020054732/972.7mb]",
            bytes_wanted=1031243776,
            bytes_limit=1020054732,
            durability="TRANSIENT",
        ),
        accept=["resource", "rate_limit", "unavailable"],
        retryable=True,
        **ops,
    )
    capture(
        "mapper_parsing_wrapped",
        "opensearch",
        os_error(
            400,
            "mapper_parsing_exception",
            "failed to parse field [total] of type [float] in document with id "
            "'17'. Preview of field's value: 'twelve'",
            index_doc,
        ),
        wrap=(SearchIndexFailed, "order 17 not indexed"),
        service="order-indexer",
        operation="index_order",
        accept=["validation", "data"],
        retryable=False,
    )
    capture(
        "read_only_block",
        "opensearch",
        os_error(
            429,
            "cluster_block_exception",
            "index [orders-2026.12] blocked by: [TOO_MANY_REQUESTS/12/disk "
            "usage exceeded flood-stage watermark, index has read-only-allow-delete block];",
            index_doc,
        ),
        service="order-search",
        operation="update_order",
        accept=["resource", "unavailable", "rate_limit"],
        retryable=None,
    )
    capture(
        "no_shard_available",
        "opensearch",
        os_error(
            503,
            "no_shard_available_action_exception",
            "No shard available for [get [orders-2026.12][17]: routing [null]]",
        ),
        accept=["unavailable"],
        retryable=True,
        **ops,
    )


@family
def influxdb_cases() -> None:
    from influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    client = InfluxDBClient(url=FAKE.url, token=FAKE_CREDENTIAL, org="shop", timeout=3000, retries=0)
    write = client.write_api(write_options=SYNCHRONOUS)

    def influx(
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        call: Callable[[], Any] | None = None,
    ) -> Any:
        return answering(
            status,
            {"code": code, "message": message},
            headers,
            call=call or (lambda: write.write(bucket="checkout-metrics", record="latency,route=/checkout value=0.42")),
        )

    ops = {"service": "metrics", "operation": "write_latency"}
    capture(
        "unauthorized",
        "influxdb",
        influx(401, "unauthorized", "unauthorized access"),
        accept=["auth"],
        retryable=False,
        **ops,
    )
    capture(
        "bucket_not_found",
        "influxdb",
        influx(404, "not found", 'bucket "checkout-metrics" not found'),
        accept=["not_found", "configuration"],
        retryable=False,
        **ops,
    )
    capture(
        "field_type_conflict",
        "influxdb",
        influx(
            422,
            "unprocessable entity",
            "failure writing points to database: partial write: field type "
            'conflict: input field "value" on measurement "latency" is type float, already exists as type '
            "string dropped=1",
        ),
        accept=["data", "validation", "conflict"],
        retryable=False,
        **ops,
    )
    capture(
        "too_many_requests_wrapped",
        "influxdb",
        influx(429, "too many requests", "org 0a1b2c3d has exceeded limited_write plan limit", {"Retry-After": "30"}),
        wrap=(ReportFailed, "checkout metrics not stored"),
        service="reports",
        operation="flush_metrics",
        accept=["rate_limit", "resource"],
        retryable=True,
    )
    capture(
        "query_syntax",
        "influxdb",
        influx(
            400,
            "invalid",
            "compilation failed: error at @1:1-1:5: undefined identifier frum",
            call=lambda: client.query_api().query('frum(bucket: "checkout-metrics") |> range(start: -1h)'),
        ),
        service="metrics",
        operation="latency_report",
        accept=["validation", "internal"],
        retryable=False,
    )
    capture(
        "unavailable",
        "influxdb",
        influx(503, "unavailable", "service unavailable"),
        accept=["unavailable"],
        retryable=True,
        **ops,
    )


WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
  xmlns:tns="urn:h4:carrier" xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:h4:carrier"
  name="CarrierService">
  <types>
    <xsd:schema targetNamespace="urn:h4:carrier" elementFormDefault="qualified">
      <xsd:element name="BookShipment">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="orderId" type="xsd:int"/>
          <xsd:element name="weightKg" type="xsd:decimal"/>
          <xsd:element name="postcode" type="xsd:string"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="BookShipmentResponse">
        <xsd:complexType><xsd:sequence><xsd:element name="trackingId" type="xsd:string"/></xsd:sequence>
        </xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </types>
  <message name="BookShipmentIn"><part name="parameters" element="tns:BookShipment"/></message>
  <message name="BookShipmentOut"><part name="parameters" element="tns:BookShipmentResponse"/></message>
  <portType name="CarrierPort">
    <operation name="BookShipment"><input message="tns:BookShipmentIn"/><output message="tns:BookShipmentOut"/>
    </operation>
  </portType>
  <binding name="CarrierBinding" type="tns:CarrierPort">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="BookShipment">
      <soap:operation soapAction="urn:h4:carrier#BookShipment"/>
      <input><soap:body use="literal"/></input><output><soap:body use="literal"/></output>
    </operation>
  </binding>
  <service name="CarrierService">
    <port name="CarrierPort" binding="tns:CarrierBinding"><soap:address location="{url}/carrier"/></port>
  </service>
</definitions>
"""


@family
def zeep_soap_cases() -> None:
    import zeep
    from zeep.transports import Transport

    wsdl = TMP / "carrier.wsdl"
    wsdl.write_text(WSDL.replace("{url}", FAKE.url))
    client = zeep.Client(str(wsdl), transport=Transport(timeout=3, operation_timeout=3))

    def fault(code: str, text: str, detail: str = "") -> str:
        return (
            '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            f"<soap:Body><soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{text}</faultstring>"
            f"{detail}</soap:Fault></soap:Body></soap:Envelope>"
        )

    def book(**kw: Any) -> Callable[[], Any]:
        args = {"orderId": 17, "weightKg": "2.5", "postcode": "10115", **kw}
        return lambda: client.service.BookShipment(**args)

    xml = {"Content-Type": "text/xml; charset=utf-8"}
    ops = {"service": "carrier-gateway", "operation": "book_shipment"}
    capture(
        "client_fault",
        "zeep_soap",
        answering(500, fault("Client", "Invalid postcode 10115 for country AT"), xml, call=book()),
        accept=["validation"],
        retryable=False,
        **ops,
    )
    capture(
        "server_fault",
        "zeep_soap",
        answering(500, fault("Server", "Booking backend unavailable, try again later"), xml, call=book()),
        accept=["unavailable"],
        retryable=True,
        **ops,
    )
    capture(
        "auth_fault_wrapped",
        "zeep_soap",
        answering(500, fault("Client", "Authentication failed: invalid account number or API key"), xml, call=book()),
        wrap=(ShipmentNotBooked, "carrier rejected the booking"),
        service="shipping",
        operation="book_parcel",
        accept=["auth"],
        retryable=False,
    )
    capture(
        "html_error_page",
        "zeep_soap",
        answering(
            502,
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            {"Content-Type": "text/html"},
            call=book(),
        ),
        accept=["unavailable", "unknown"],
        retryable=True,
        **ops,
    )
    capture(
        "missing_wsdl",
        "zeep_soap",
        lambda: zeep.Client(str(TMP / "carrier-v2.wsdl")),
        operation="load_wsdl",
        accept=["configuration", "not_found"],
        retryable=False,
        service="carrier-gateway",
    )
    capture("bad_argument", "zeep_soap", book(weight="2.5"), accept=["internal", "validation"], retryable=False, **ops)
    capture(
        "garbage_response",
        "zeep_soap",
        answering(200, b"\x00\x01not xml at all", xml, call=book()),
        accept=["data", "unavailable", "unknown"],
        retryable=None,
        **ops,
    )


@family
def gql_cases() -> None:
    from gql import Client
    from gql import gql as parse
    from gql.transport.requests import RequestsHTTPTransport

    schema_sdl = """
        type Product { id: ID! title: String! stock: Int! }
        type Query { product(id: ID!): Product }
        type Mutation { setStock(id: ID!, stock: Int!): Product }
    """

    def client(schema: str | None = None) -> Any:
        transport = RequestsHTTPTransport(
            url=FAKE.url + "/graphql", timeout=3, retries=0, headers={"Authorization": "Bearer " + FAKE_CREDENTIAL}
        )
        return Client(transport=transport, schema=schema)

    query = 'query { product(id: "17") { id title stock } }'

    def run(c: Any = None, q: str = query) -> Callable[[], Any]:
        return lambda: (c or client()).execute(parse(q))

    ops = {"service": "storefront-api", "operation": "load_product"}
    capture(
        "graphql_not_found",
        "gql",
        answering(
            200,
            {
                "data": {"product": None},
                "errors": [
                    {"message": "Product 17 not found", "path": ["product"], "extensions": {"code": "NOT_FOUND"}}
                ],
            },
            call=run(),
        ),
        accept=["not_found"],
        retryable=False,
        **ops,
    )
    capture(
        "graphql_forbidden",
        "gql",
        answering(
            200,
            {
                "data": None,
                "errors": [
                    {"message": "You are not authorized to perform this action.", "extensions": {"code": "FORBIDDEN"}}
                ],
            },
            call=run(),
        ),
        accept=["auth"],
        retryable=False,
        **ops,
    )
    capture(
        "graphql_throttled_wrapped",
        "gql",
        answering(
            200,
            {
                "errors": [
                    {"message": "Throttled", "extensions": {"code": "THROTTLED", "cost": {"requestedQueryCost": 1002}}}
                ]
            },
            call=run(),
        ),
        wrap=(InventorySyncFailed, "stock levels not refreshed"),
        service="inventory",
        operation="refresh_stock",
        accept=["rate_limit"],
        retryable=True,
    )
    capture(
        "http_401",
        "gql",
        answering(401, {"message": "Invalid access token"}, call=run()),
        accept=["auth"],
        retryable=False,
        **ops,
    )
    capture(
        "http_503",
        "gql",
        answering(
            503, "upstream connect error or disconnect/reset before headers", {"Content-Type": "text/plain"}, call=run()
        ),
        accept=["unavailable"],
        retryable=True,
        **ops,
    )
    capture(
        "local_schema_validation",
        "gql",
        run(client(schema_sdl), 'query { product(id: "17") { id price } }'),
        accept=["validation", "internal"],
        retryable=False,
        **ops,
    )
    capture(
        "not_json",
        "gql",
        answering(200, "<html>maintenance</html>", {"Content-Type": "text/html"}, call=run()),
        accept=["unavailable", "data", "unknown"],
        retryable=None,
        **ops,
    )
    capture(
        "query_syntax",
        "gql",
        lambda: parse("query { product(id: 17 { id } }"),
        operation="build_query",
        accept=["internal", "validation"],
        retryable=False,
        service="storefront-api",
    )


@family
def http_clients_cases() -> None:
    import urllib3
    from tornado.httpclient import HTTPClient

    tornado_client = HTTPClient()
    CLEANUPS.append(tornado_client.close)
    pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2, read=1))

    def fetch(path: str = "/v1/rates", **kw: Any) -> Callable[[], Any]:
        return lambda: tornado_client.fetch(FAKE.url + path, request_timeout=kw.pop("request_timeout", 3), **kw)

    def retry_exhausted() -> Any:
        retry = urllib3.Retry(total=2, status_forcelist=[503], backoff_factor=0, raise_on_status=True)
        return pool.request("GET", FAKE.url + "/v1/rates", retries=retry)

    ops = {"service": "fx-rates", "operation": "fetch_rates"}
    capture(
        "tornado_404",
        "http_clients",
        answering(404, {"error": "currency pair not supported"}, call=fetch("/v1/rates/EURXAU")),
        accept=["not_found", "validation"],
        retryable=False,
        **ops,
    )
    capture(
        "tornado_403",
        "http_clients",
        answering(403, {"error": "plan does not include historical rates"}, call=fetch()),
        accept=["auth", "configuration"],
        retryable=False,
        **ops,
    )
    capture(
        "tornado_timeout",
        "http_clients",
        answering(200, {"rate": 1.08}, delay_s=1.5, call=fetch(request_timeout=0.5)),
        accept=["timeout"],
        retryable=True,
        **ops,
    )
    capture(
        "tornado_503_wrapped",
        "http_clients",
        answering(503, "Service Temporarily Unavailable", call=fetch()),
        wrap=(CheckoutError, "could not price the basket in USD"),
        service="checkout",
        operation="convert_currency",
        accept=["unavailable"],
        retryable=True,
    )
    capture(
        "tornado_hangup",
        "http_clients",
        answering(mode="hangup", call=fetch()),
        accept=["network", "unavailable"],
        retryable=True,
        **ops,
    )
    capture(
        "urllib3_retry_exhausted_wrapped",
        "http_clients",
        answering(503, "busy", call=retry_exhausted),
        wrap=(PaymentFailed, "exchange rate unavailable"),
        service="payments",
        operation="quote_fx",
        accept=["unavailable"],
        retryable=True,
    )
    capture(
        "urllib3_redirect_loop",
        "http_clients",
        answering(
            302,
            b"",
            {"Location": "/v1/rates"},
            call=lambda: pool.request("GET", FAKE.url + "/v1/rates", retries=urllib3.Retry(redirect=3)),
        ),
        accept=["configuration", "unavailable", "internal"],
        retryable=False,
        **ops,
    )
    capture(
        "urllib3_protocol_error",
        "http_clients",
        answering(
            body=b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"rate": 1.0',
            mode="raw",
            call=lambda: pool.request("GET", FAKE.url + "/v1/rates", retries=False),
        ),
        accept=["network", "data"],
        retryable=True,
        **ops,
    )
    capture(
        "urllib3_bad_url",
        "http_clients",
        lambda: pool.request("GET", "http://fx-rates.internal:80a/v1/rates"),
        accept=["configuration", "validation"],
        retryable=False,
        **ops,
    )


@family
def pandas_excel_cases() -> None:
    import openpyxl
    import pandas as pd

    ragged = TMP / "supplier-prices.csv"
    ragged.write_text("sku,price\nA-1,9.50\nB-2,4.20,EUR,extra\n")
    empty = TMP / "returns.csv"
    empty.write_text("")
    not_xlsx = TMP / "stocktake.xlsx"
    not_xlsx.write_bytes(b"sku;qty\nA-1;5\n")
    wb = openpyxl.Workbook()
    wb.active.title = "Summary"
    wb.save(TMP / "q4-report.xlsx")
    left = pd.DataFrame({"sku": ["A-1", "A-1"], "qty": [1, 2]})
    right = pd.DataFrame({"sku": ["A-1"], "price": [9.5]})

    feed = {"service": "catalog-import"}
    capture(
        "csv_tokenizing_wrapped",
        "pandas_excel",
        lambda: pd.read_csv(ragged),
        wrap=(CatalogImportFailed, "supplier price list rejected"),
        service="catalog",
        operation="import_supplier_prices",
        accept=["validation", "data"],
        retryable=False,
    )
    capture(
        "csv_empty",
        "pandas_excel",
        lambda: pd.read_csv(empty),
        operation="import_returns",
        accept=["data", "validation"],
        retryable=False,
        **feed,
    )
    capture(
        "json_trailing",
        "pandas_excel",
        lambda: pd.read_json(__import__("io").StringIO('[{"sku": "A-1"}] garbage')),
        operation="import_feed",
        accept=["validation", "data"],
        retryable=False,
        **feed,
    )
    capture(
        "missing_sheet",
        "pandas_excel",
        lambda: pd.read_excel(TMP / "q4-report.xlsx", sheet_name="Stock"),
        operation="load_report",
        accept=["validation", "not_found", "configuration"],
        retryable=False,
        **feed,
    )
    capture(
        "not_a_workbook_wrapped",
        "pandas_excel",
        lambda: openpyxl.load_workbook(not_xlsx),
        wrap=(CatalogImportFailed, "stocktake upload rejected"),
        service="catalog",
        operation="upload_stocktake",
        accept=["validation", "data"],
        retryable=False,
    )
    capture(
        "wrong_extension",
        "pandas_excel",
        lambda: openpyxl.load_workbook(ragged),
        operation="upload_stocktake",
        accept=["validation"],
        retryable=False,
        **feed,
    )
    capture(
        "merge_validate",
        "pandas_excel",
        lambda: right.merge(left, on="sku", validate="one_to_one"),
        operation="join_prices",
        accept=["data", "validation"],
        retryable=False,
        **feed,
    )
    capture(
        "to_numeric",
        "pandas_excel",
        lambda: pd.to_numeric(pd.Series(["9.50", "4,20"])),
        operation="parse_prices",
        accept=["validation", "data"],
        retryable=False,
        **feed,
    )
    capture(
        "impossible_date",
        "pandas_excel",
        lambda: pd.to_datetime(pd.Series(["2026-12-07", "2026-02-31"]), format="%Y-%m-%d"),
        operation="parse_dates",
        accept=["validation", "data"],
        retryable=False,
        **feed,
    )
    capture(
        "missing_column",
        "pandas_excel",
        lambda: right[["sku", "currency"]],
        operation="select_columns",
        accept=["validation", "data", "internal"],
        retryable=False,
        **feed,
    )


@family
def config_formats_cases() -> None:
    import configobj
    import json5
    from dotenv import dotenv_values
    from ruamel.yaml import YAML

    settings = {"service": "shop-api", "operation": "load_settings"}
    dup = TMP / "settings.yaml"
    dup.write_text("payment:\n  provider: stripe\n  provider: adyen\n")
    bad_indent = TMP / "shipping.yaml"
    bad_indent.write_text("carriers:\n  - name: dhl\n   zones: [eu]\n")
    ini = TMP / "legacy.ini"
    ini.write_text("[payment]\nprovider = stripe\nprovider = adyen\n")
    ini2 = TMP / "legacy2.ini"
    ini2.write_text("[payment\nprovider = stripe\n")

    def dotenv_port() -> Any:
        env_file = TMP / ".env"
        env_file.write_text("SHOP_DB_PORT=five-four-three-two\n")
        return int(dotenv_values(env_file)["SHOP_DB_PORT"] or "")

    def dotenv_missing() -> Any:
        return dotenv_values(TMP / ".env.production")["SHOP_SECRET_KEY"]

    capture(
        "yaml_duplicate_key",
        "config_formats",
        lambda: YAML(typ="rt").load(dup),
        accept=["configuration"],
        retryable=False,
        **settings,
    )
    capture(
        "yaml_bad_indent",
        "config_formats",
        lambda: YAML(typ="safe").load(bad_indent),
        accept=["configuration"],
        retryable=False,
        **settings,
    )
    capture(
        "json5_trailing",
        "config_formats",
        lambda: json5.loads("{feature_flags: {new_checkout: tru}}"),
        accept=["configuration", "validation"],
        retryable=False,
        **settings,
    )
    capture(
        "configobj_duplicate",
        "config_formats",
        lambda: configobj.ConfigObj(str(ini)),
        accept=["configuration"],
        retryable=False,
        **settings,
    )
    capture(
        "configobj_parse_wrapped",
        "config_formats",
        lambda: configobj.ConfigObj(str(ini2)),
        wrap=(PaymentFailed, "payment provider not configured"),
        service="payments",
        operation="start",
        accept=["configuration"],
        retryable=False,
    )
    capture("dotenv_bad_int", "config_formats", dotenv_port, accept=["configuration"], retryable=False, **settings)
    capture(
        "dotenv_missing_key", "config_formats", dotenv_missing, accept=["configuration"], retryable=False, **settings
    )
    capture(
        "configobj_missing_file",
        "config_formats",
        lambda: configobj.ConfigObj(str(TMP / "missing.ini"), file_error=True),
        accept=["configuration", "not_found"],
        retryable=False,
        **settings,
    )


@family
def archives_cases() -> None:
    import io
    import tarfile

    import py7zr

    good = TMP / "images.tar.gz"
    with tarfile.open(good, "w:gz") as tar:
        data = b"\x89PNG fake"
        info = tarfile.TarInfo("../../etc/cron.d/h4-evil")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    truncated = TMP / "backup.tar.gz"
    with tarfile.open(truncated, "w:gz") as tar:
        payload = os.urandom(200_000)
        info = tarfile.TarInfo("orders.csv")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    truncated.write_bytes(truncated.read_bytes()[:50_000])
    not_tar = TMP / "catalog.tar"
    not_tar.write_text("sku,price\n")
    seven = TMP / "invoices.7z"
    with py7zr.SevenZipFile(seven, "w", password="archive-pass-0000") as z:
        z.writestr(b"INV-17", "INV-17.txt")
    seven_plain = TMP / "plain.7z"
    with py7zr.SevenZipFile(seven_plain, "w") as z:
        z.writestr(b"INV-17", "INV-17.txt")
    (TMP / "broken.7z").write_bytes(seven_plain.read_bytes()[:40])

    def extract(path: Path, **kw: Any) -> Callable[[], Any]:
        def run() -> Any:
            with tarfile.open(path) as tar:
                tar.extractall(TMP / "out", **kw)

        return run

    def seven_wrong_password() -> Any:
        with py7zr.SevenZipFile(seven, "r", password="not-the-password") as z:
            z.extractall(TMP / "out7")

    imp = {"service": "asset-import"}
    capture(
        "tar_outside_destination",
        "archives",
        extract(good, filter="data"),
        operation="unpack_images",
        accept=["validation", "auth", "data"],
        retryable=False,
        **imp,
    )
    capture(
        "tar_truncated",
        "archives",
        extract(truncated),
        operation="restore_backup",
        accept=["data"],
        retryable=False,
        **imp,
    )
    capture(
        "not_a_tar",
        "archives",
        extract(not_tar),
        operation="unpack_catalog",
        accept=["validation", "data"],
        retryable=False,
        **imp,
    )
    capture(
        "7z_wrong_password_wrapped",
        "archives",
        seven_wrong_password,
        wrap=(ReportFailed, "invoice archive could not be opened"),
        service="reports",
        operation="open_archive",
        accept=["data", "auth", "configuration"],
        retryable=False,
    )
    capture(
        "7z_password_required",
        "archives",
        lambda: py7zr.SevenZipFile(seven, "r").extractall(TMP / "out7b"),
        operation="open_archive",
        accept=["auth", "configuration", "validation"],
        retryable=False,
        **imp,
    )
    capture(
        "7z_bad_file",
        "archives",
        lambda: py7zr.SevenZipFile(TMP / "broken.7z", "r"),
        operation="open_archive",
        accept=["data", "validation"],
        retryable=False,
        **imp,
    )


@family
def tokens_cases() -> None:
    from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer
    from jose import jwt as jose_jwt
    from jwcrypto import jwk, jws
    from jwcrypto import jwt as jw_jwt

    secret = "not-a-real-key-0000"
    timed = URLSafeTimedSerializer(secret, salt="password-reset")
    reset_token = timed.dumps({"user": 17})
    plain = URLSafeSerializer(secret, salt="unsubscribe")
    unsub = plain.dumps({"user": 17})

    def expired_reset() -> Any:
        time.sleep(1.1)
        return timed.loads(reset_token, max_age=0)

    now = int(time.time())
    jose_expired = jose_jwt.encode({"sub": "17", "exp": now - 60}, secret, algorithm="HS256")
    jose_aud = jose_jwt.encode({"sub": "17", "aud": "partner-portal", "exp": now + 600}, secret, algorithm="HS256")
    jose_other = jose_jwt.encode({"sub": "17", "exp": now + 600}, "another-key-0000", algorithm="HS256")

    key = jwk.JWK.generate(kty="oct", size=256)
    other_key = jwk.JWK.generate(kty="oct", size=256)
    signed = jws.JWS(b'{"order": 17, "amount": "49.90"}')
    signed.add_signature(key, alg="HS256", protected='{"alg":"HS256"}')
    compact = signed.serialize(compact=True)
    jw_expired = jw_jwt.JWT(header={"alg": "HS256"}, claims={"sub": "17", "exp": now - 120})
    jw_expired.make_signed_token(key)
    jw_expired_token = jw_expired.serialize()

    def jws_verify(token: str, k: Any) -> Any:
        obj = jws.JWS()
        obj.deserialize(token)
        return obj.verify(k)

    web = {"service": "shop-accounts"}
    capture(
        "itsdangerous_bad_signature",
        "tokens",
        lambda: plain.loads(unsub[:-2] + "xx"),
        operation="unsubscribe",
        accept=["auth", "validation", "data"],
        retryable=False,
        **web,
    )
    capture(
        "itsdangerous_expired",
        "tokens",
        expired_reset,
        operation="reset_password",
        accept=["auth"],
        retryable=False,
        **web,
    )
    capture(
        "itsdangerous_wrong_salt_wrapped",
        "tokens",
        lambda: URLSafeSerializer(secret, salt="email-confirm").loads(unsub),
        wrap=(SessionRejected, "confirmation link rejected"),
        service="accounts",
        operation="confirm_email",
        accept=["auth", "validation"],
        retryable=False,
    )
    capture(
        "jose_expired_wrapped",
        "tokens",
        lambda: jose_jwt.decode(jose_expired, secret, algorithms=["HS256"]),
        wrap=(SessionRejected, "partner session refused"),
        service="partner-portal",
        operation="authenticate",
        accept=["auth"],
        retryable=False,
    )
    capture(
        "jose_audience",
        "tokens",
        lambda: jose_jwt.decode(jose_aud, secret, algorithms=["HS256"], audience="shop-api"),
        operation="authenticate",
        accept=["auth"],
        retryable=False,
        **web,
    )
    capture(
        "jose_bad_signature",
        "tokens",
        lambda: jose_jwt.decode(jose_other, secret, algorithms=["HS256"]),
        operation="authenticate",
        accept=["auth"],
        retryable=False,
        **web,
    )
    capture(
        "jose_malformed",
        "tokens",
        lambda: jose_jwt.decode("Bearer abc.def", secret, algorithms=["HS256"]),
        operation="authenticate",
        accept=["auth", "validation"],
        retryable=False,
        **web,
    )
    capture(
        "jwcrypto_invalid_signature",
        "tokens",
        lambda: jws_verify(compact, other_key),
        operation="verify_webhook",
        accept=["auth", "data"],
        retryable=False,
        **web,
    )
    capture(
        "jwcrypto_expired",
        "tokens",
        lambda: jw_jwt.JWT(jwt=jw_expired_token, key=key),
        operation="authenticate",
        accept=["auth"],
        retryable=False,
        **web,
    )


@family
def nacl_passlib_cases() -> None:
    import nacl.secret
    import nacl.signing
    import nacl.utils
    from passlib.context import CryptContext
    from passlib.hash import pbkdf2_sha256

    box = nacl.secret.SecretBox(nacl.utils.random(32))
    other = nacl.secret.SecretBox(nacl.utils.random(32))
    sealed = box.encrypt(b"card-token-4242")
    signer = nacl.signing.SigningKey.generate()
    signed = signer.sign(b'{"refund": 17}')
    forged = signed[:-1] + bytes([signed[-1] ^ 1])
    ctx = CryptContext(schemes=["pbkdf2_sha256"])

    sec = {"service": "vault-lite"}
    capture(
        "secretbox_wrong_key",
        "nacl_passlib",
        lambda: other.decrypt(sealed),
        operation="decrypt_card_token",
        accept=["data", "auth", "configuration"],
        retryable=False,
        **sec,
    )
    capture(
        "signature_forged_wrapped",
        "nacl_passlib",
        lambda: signer.verify_key.verify(forged),
        wrap=(PaymentFailed, "refund instruction rejected"),
        service="payments",
        operation="verify_refund",
        accept=["auth", "data"],
        retryable=False,
    )
    capture(
        "secretbox_bad_key_size",
        "nacl_passlib",
        lambda: nacl.secret.SecretBox(b"short-key"),
        operation="load_key",
        accept=["configuration", "validation"],
        retryable=False,
        **sec,
    )
    capture(
        "passlib_unknown_hash",
        "nacl_passlib",
        lambda: ctx.verify("hunter2", "$2y$05$notreallyabcryptdigest"),
        operation="check_password",
        accept=["data", "configuration", "validation"],
        retryable=False,
        **sec,
    )
    capture(
        "passlib_malformed_hash",
        "nacl_passlib",
        lambda: pbkdf2_sha256.verify("hunter2", "$pbkdf2-sha256$29000$N2bM$trunc"),
        operation="check_password",
        accept=["data", "validation"],
        retryable=False,
        **sec,
    )
    capture(
        "passlib_unknown_scheme",
        "nacl_passlib",
        lambda: CryptContext(schemes=["sha999_crypt"]),
        operation="start",
        accept=["configuration"],
        retryable=False,
        **sec,
    )


@family
def validators_cases() -> None:
    import zoneinfo

    import attrs
    import cattrs
    import cerberus
    import pytz
    import voluptuous as vol
    from dateutil import parser as date_parser

    @attrs.define
    class Address:
        street: str
        postcode: str = attrs.field(validator=attrs.validators.matches_re(r"^\d{5}$"))

    @attrs.define
    class OrderIn:
        sku: str
        qty: int
        address: Address

    attrs.resolve_types(Address, globals(), {"Address": Address, "OrderIn": OrderIn})
    attrs.resolve_types(OrderIn, globals(), {"Address": Address, "OrderIn": OrderIn})
    schema = vol.Schema({vol.Required("sku"): str, vol.Required("qty"): vol.All(int, vol.Range(min=1, max=99))})
    api = {"service": "order-api", "operation": "parse_order"}
    capture(
        "voluptuous_range",
        "validators",
        lambda: schema({"sku": "A-1", "qty": 500}),
        accept=["validation"],
        retryable=False,
        **api,
    )
    capture(
        "voluptuous_missing", "validators", lambda: schema({"qty": 2}), accept=["validation"], retryable=False, **api
    )
    capture(
        "cattrs_structure",
        "validators",
        lambda: cattrs.structure({"sku": "A-1", "qty": "two", "address": {"street": "Main St 1"}}, OrderIn),
        accept=["validation"],
        retryable=False,
        **api,
    )
    capture(
        "attrs_validator_wrapped",
        "validators",
        lambda: Address("Main St 1", "1011"),
        wrap=(OrderNotPlaced, "shipping address rejected"),
        service="checkout",
        operation="set_address",
        accept=["validation"],
        retryable=False,
    )
    capture(
        "cerberus_bad_schema",
        "validators",
        lambda: cerberus.Validator({"qty": {"type": "integr"}}),
        service="order-api",
        operation="start",
        accept=["configuration", "internal"],
        retryable=False,
    )
    capture(
        "cerberus_not_a_document",
        "validators",
        lambda: cerberus.Validator({"qty": {"type": "integer"}}).validate(["qty", 2]),
        accept=["validation", "internal"],
        retryable=False,
        **api,
    )
    capture(
        "dateutil_unparseable_wrapped",
        "validators",
        lambda: date_parser.parse("next tuesday-ish"),
        wrap=(ShipmentNotBooked, "delivery date not understood"),
        service="shipping",
        operation="book_delivery",
        accept=["validation"],
        retryable=False,
    )
    capture(
        "zoneinfo_unknown",
        "validators",
        lambda: zoneinfo.ZoneInfo("Europe/Atlantis"),
        service="order-api",
        operation="localise_slot",
        accept=["validation", "configuration", "not_found"],
        retryable=False,
    )
    capture(
        "pytz_unknown",
        "validators",
        lambda: pytz.timezone("US/Pacific-New-h4"),
        service="order-api",
        operation="localise_slot",
        accept=["validation", "configuration", "not_found"],
        retryable=False,
    )
    capture(
        "pytz_nonexistent_time",
        "validators",
        lambda: pytz.timezone("Europe/Berlin").localize(
            __import__("datetime").datetime(2026, 3, 29, 2, 30), is_dst=None
        ),
        service="order-api",
        operation="book_delivery_slot",
        accept=["validation", "data"],
        retryable=False,
    )


@family
def resilience_cases() -> None:
    import pybreaker
    import requests
    import tenacity
    from limits import parse as parse_limit

    @tenacity.retry(stop=tenacity.stop_after_attempt(2), wait=tenacity.wait_none())
    def fetch_stock() -> Any:
        return requests.get(FAKE.url + "/stock/A-1", timeout=3).raise_for_status()

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_none(), retry=tenacity.retry_if_exception_type(OSError)
    )
    def connect_erp() -> Any:
        with socket.create_connection(("127.0.0.1", closed_port()), timeout=1):
            return None

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(2),
        wait=tenacity.wait_none(),
        retry=tenacity.retry_if_result(lambda r: r.status_code == 202),
    )
    def poll_export() -> Any:
        return requests.get(FAKE.url + "/exports/17", timeout=3)

    breaker = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60, name="payments-gateway")

    @breaker
    def charge() -> Any:
        return requests.post(FAKE.url + "/charges", json={"amount": 4990}, timeout=3).raise_for_status()

    def open_breaker() -> Any:
        FAKE.set(502, "<html>502 Bad Gateway</html>", {"Content-Type": "text/html"})
        for _ in range(2):
            with contextlib.suppress(Exception):
                charge()
        return charge()

    ops = {"service": "inventory-sync"}
    capture(
        "tenacity_http_503",
        "resilience",
        answering(503, {"error": "maintenance"}, call=fetch_stock),
        operation="fetch_stock",
        accept=["unavailable"],
        retryable=True,
        **ops,
    )
    capture(
        "tenacity_refused_wrapped",
        "resilience",
        connect_erp,
        wrap=(InventorySyncFailed, "ERP not reachable"),
        service="inventory",
        operation="sync_erp",
        accept=["network", "unavailable"],
        retryable=True,
    )
    capture(
        "tenacity_result_pending",
        "resilience",
        answering(202, {"status": "running"}, call=poll_export),
        operation="await_export",
        accept=["timeout", "unavailable", "unknown"],
        retryable=True,
        **ops,
    )
    capture(
        "circuit_open",
        "resilience",
        open_breaker,
        service="payments",
        operation="charge_card",
        accept=["unavailable"],
        retryable=True,
    )
    capture(
        "limits_bad_string",
        "resilience",
        lambda: parse_limit("100 per fortnight"),
        service="shop-api",
        operation="start",
        accept=["configuration"],
        retryable=False,
    )
    capture(
        "tenacity_http_404",
        "resilience",
        answering(404, {"error": "unknown sku"}, call=fetch_stock),
        operation="fetch_stock",
        accept=["not_found"],
        retryable=False,
        **ops,
    )


@family
def capacity_cases() -> None:
    import resource as rlimit

    import aiosqlite
    import duckdb
    import peewee as pw

    psql("DROP ROLE IF EXISTS h4_reporter", "CREATE ROLE h4_reporter LOGIN CONNECTION LIMIT 1")
    CLEANUPS.append(lambda: psql("DROP ROLE IF EXISTS h4_reporter"))
    mysql(
        "DROP USER IF EXISTS 'h4_batch'@'%'",
        "DROP USER IF EXISTS 'h4_batch'@'localhost'",
        "CREATE USER 'h4_batch'@'%' IDENTIFIED BY 'batch-pass-0000' WITH MAX_USER_CONNECTIONS 1",
        "CREATE USER 'h4_batch'@'localhost' IDENTIFIED BY 'batch-pass-0000' WITH MAX_USER_CONNECTIONS 1",
        "GRANT SELECT ON test.* TO 'h4_batch'@'%'",
        "GRANT SELECT ON test.* TO 'h4_batch'@'localhost'",
    )
    CLEANUPS.append(lambda: mysql("DROP USER IF EXISTS 'h4_batch'@'%'", "DROP USER IF EXISTS 'h4_batch'@'localhost'"))

    def pg_role_limit() -> Any:
        first = pw.PostgresqlDatabase("test", host="127.0.0.1", user="h4_reporter")
        first.connect()
        try:
            second = pw.PostgresqlDatabase("test", host="127.0.0.1", user="h4_reporter")
            return second.connect()
        finally:
            first.close()

    def pg_temp_file_limit() -> Any:
        db = pw.PostgresqlDatabase("test", host="127.0.0.1", user="postgres")
        try:
            db.execute_sql("SET work_mem = '64kB'")
            db.execute_sql("SET temp_file_limit = '1MB'")
            return db.execute_sql("SELECT g, md5(g::text) FROM generate_series(1, 300000) g ORDER BY 2").fetchall()
        finally:
            db.close()

    def mysql_user_limit() -> Any:
        first = pw.MySQLDatabase("test", host="127.0.0.1", user="h4_batch", password="batch-pass-0000")
        first.connect()
        try:
            second = pw.MySQLDatabase("test", host="127.0.0.1", user="h4_batch", password="batch-pass-0000")
            return second.connect()
        finally:
            first.close()

    def duckdb_memory() -> Any:
        con = duckdb.connect()
        con.execute("SET memory_limit = '20MB'")
        con.execute("SET threads = 1")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET temp_directory = ''")
        return con.execute("SELECT list(repeat('x', 100) || i::VARCHAR) FROM range(2000000) t(i)").fetchall()

    async def sqlite_full() -> None:
        async with aiosqlite.connect(TMP / "outbox.db") as db:
            await db.execute("PRAGMA max_page_count = 8")
            await db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, payload TEXT)")
            for _i in range(200):
                await db.execute("INSERT INTO outbox (payload) VALUES (?)", ("x" * 2000,))
            await db.commit()

    def too_many_files() -> Any:
        soft, hard = rlimit.getrlimit(rlimit.RLIMIT_NOFILE)
        opened: list[Any] = []
        rlimit.setrlimit(rlimit.RLIMIT_NOFILE, (64, hard))
        try:
            for i in range(100):
                opened.append(open(TMP / f"label-{i}.pdf", "wb"))  # noqa: SIM115
        finally:
            for f in opened:
                f.close()
            rlimit.setrlimit(rlimit.RLIMIT_NOFILE, (soft, hard))

    capture(
        "pg_role_connection_limit",
        "capacity",
        pg_role_limit,
        service="reports-db",
        operation="connect",
        accept=["resource", "unavailable", "configuration"],
        retryable=None,
    )
    capture(
        "pg_temp_file_limit_wrapped",
        "capacity",
        pg_temp_file_limit,
        wrap=(ReportFailed, "customer export failed"),
        service="reports",
        operation="export_customers",
        accept=["resource", "configuration"],
        retryable=False,
    )
    capture(
        "mysql_max_user_connections",
        "capacity",
        mysql_user_limit,
        service="batch-db",
        operation="connect",
        accept=["resource", "unavailable", "configuration"],
        retryable=None,
    )
    capture(
        "duckdb_out_of_memory",
        "capacity",
        duckdb_memory,
        service="analytics",
        operation="basket_analysis",
        accept=["resource"],
        retryable=False,
    )
    capture(
        "sqlite_full",
        "capacity",
        sqlite_full,
        service="pos-offline",
        operation="queue_outbox",
        accept=["resource"],
        retryable=False,
    )
    capture(
        "too_many_open_files",
        "capacity",
        too_many_files,
        service="label-printer",
        operation="render_labels",
        accept=["resource"],
        retryable=None,
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
