"""Build tests/data/holdout5/cases.jsonl: a fifth held-out set of real errors, labelled by the taxonomy only.

Written without reading medic's rules (config/rules/), its classifier, its classification tests or the
cases of the earlier sets, so it measures how the rules generalise. Each error is raised for real: against
the machine's MariaDB, Redis (db 9) and RabbitMQ, against servers this script starts on free 127.0.0.1
ports (a scriptable HTTP server that answers like the real APIs, fake IMAP/POP3/STOMP servers, a silent
TCP listener), against closed ports, or by feeding a library real bad input. Events are built by
`medic_client.event_from_exception`; about one case in six is wrapped in an application's own exception.

Run: /tmp/holdout5-venv/bin/python tests/data/holdout5/capture.py [family ...]   (README.md: the venv)
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
SOURCE = "holdout5-app"
CASES: list[dict[str, Any]] = []
MISSED: list[str] = []
COUNTERS: collections.Counter[str] = collections.Counter()
CLEANUPS: list[Callable[[], Any]] = []
TMP = Path(tempfile.mkdtemp(prefix="holdout5-"))
FAKE_CREDENTIAL = "not-a-real-key-0000"
REDIS_DB = 9
PREFIX = "h5:"


def app_error(name: str) -> type[Exception]:
    cls = type(name, (Exception,), {})
    cls.__module__ = "fleet.errors"
    return cls


DispatchFailed = app_error("DispatchFailed")
BookingFailed = app_error("BookingFailed")
ManifestImportFailed = app_error("ManifestImportFailed")
TrackingUpdateFailed = app_error("TrackingUpdateFailed")
InvoiceNotIssued = app_error("InvoiceNotIssued")
RouteNotPlanned = app_error("RouteNotPlanned")
DriverSyncFailed = app_error("DriverSyncFailed")
ReportFailed = app_error("ReportFailed")
LoginRejected = app_error("LoginRejected")
JobNotScheduled = app_error("JobNotScheduled")


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


def maria(*statements: str) -> None:
    import mysql.connector

    conn = mysql.connector.connect(
        host="127.0.0.1", port=3306, user="root", password="", database="test", connection_timeout=3, autocommit=True
    )
    try:
        cur = conn.cursor()
        for sql in statements:
            cur.execute(sql)
    finally:
        conn.close()


def redis_conn() -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=5)


def redis_cleanup(*patterns: str) -> None:
    r = redis_conn()
    for pattern in patterns:
        for key in r.scan_iter(match=pattern):
            r.delete(key)


# =========================================================================== families


@family
def mysql_connector_cases() -> None:
    import mysql.connector

    drop = ("DROP TABLE IF EXISTS test.h5_vehicles", "DROP USER IF EXISTS 'h5_viewer'@'%'")
    maria(
        *drop,
        "CREATE TABLE test.h5_vehicles (id INT PRIMARY KEY, plate VARCHAR(10) NOT NULL UNIQUE, "
        "seats TINYINT UNSIGNED NOT NULL, status VARCHAR(12) NOT NULL DEFAULT 'idle') ENGINE=InnoDB",
        "INSERT INTO test.h5_vehicles VALUES (1, 'AB-101', 4, 'idle'), (2, 'AB-102', 9, 'idle')",
        "CREATE USER 'h5_viewer'@'%' IDENTIFIED BY 'viewer-pass-0000'",
        "GRANT SELECT ON test.h5_vehicles TO 'h5_viewer'@'%'",
    )
    CLEANUPS.append(lambda: maria(*drop))

    def connect(**kw: Any) -> Any:
        args = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": "test"}
        args.update(kw)
        return mysql.connector.connect(connection_timeout=3, **args)

    def run(sql: str, params: tuple[Any, ...] = (), **kw: Any) -> Any:
        conn = connect(**kw)
        try:
            cur = conn.cursor()
            cur.execute(sql, params)
            rows = cur.fetchall() if cur.with_rows else None
            conn.commit()
            return rows
        finally:
            conn.close()

    def lock_wait() -> None:
        holder = connect()
        try:
            holder.start_transaction()
            holder.cursor().execute("UPDATE h5_vehicles SET status = 'loading' WHERE id = 1")
            waiter = connect()
            try:
                cur = waiter.cursor()
                cur.execute("SET SESSION innodb_lock_wait_timeout = 1")
                cur.execute("UPDATE h5_vehicles SET status = 'assigned' WHERE id = 1")
            finally:
                waiter.close()
        finally:
            holder.rollback()
            holder.close()

    def deadlock() -> None:
        conns = [connect(), connect()]
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def worker(i: int) -> None:
            conn = conns[i]
            try:
                conn.start_transaction()
                cur = conn.cursor()
                cur.execute("UPDATE h5_vehicles SET seats = seats + 1 WHERE id = %s", (i + 1,))
                barrier.wait()
                time.sleep(0.2 * i)
                cur.execute("UPDATE h5_vehicles SET seats = seats + 1 WHERE id = %s", (2 - i,))
                conn.commit()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                with contextlib.suppress(Exception):
                    conn.rollback()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        for conn in conns:
            conn.close()
        if errors:
            raise errors[0]

    c = recorder("mysql_connector", "fleet-db")
    c("bad_password", lambda: connect(user="h5_viewer", password="not-the-password"), "connect", ["auth"], False)
    c(
        "unknown_database",
        lambda: connect(database="h5_fleet_archive"),
        "connect",
        ["configuration", "not_found"],
        False,
    )
    c(
        "duplicate_plate",
        lambda: run("INSERT INTO h5_vehicles VALUES (3, 'AB-101', 4, 'idle')"),
        "register_vehicle",
        ["conflict", "data", "validation"],
        False,
    )
    c(
        "plate_too_long",
        lambda: run("INSERT INTO h5_vehicles VALUES (4, 'AB-1234567890', 4, 'idle')"),
        "register_vehicle",
        ["validation", "data"],
        False,
    )
    c(
        "seats_out_of_range_wrapped",
        lambda: run("UPDATE h5_vehicles SET seats = %s WHERE id = 2", (300,)),
        "update_capacity",
        ["validation", "data"],
        False,
        wrap=(DispatchFailed, "could not update the capacity of vehicle 2"),
        service="dispatch",
    )
    c(
        "sql_syntax",
        lambda: run("SELECT plate FROM h5_vehicles WHERE status = 'idle' ORDER plate"),
        "list_idle",
        ["internal", "validation"],
        False,
    )
    c(
        "missing_table",
        lambda: run("SELECT * FROM h5_drivers WHERE id = 1"),
        "load_driver",
        ["configuration", "not_found", "internal"],
        False,
    )
    c(
        "update_denied",
        lambda: run("UPDATE h5_vehicles SET status = 'x' WHERE id = 1", user="h5_viewer", password="viewer-pass-0000"),
        "mark_vehicle",
        ["auth", "configuration"],
        False,
    )
    c(
        "lock_wait_timeout_wrapped",
        lock_wait,
        "assign_vehicle",
        ["conflict", "timeout"],
        True,
        wrap=(DispatchFailed, "vehicle 1 not assigned to route 118"),
    )
    c("deadlock", deadlock, "rebalance_seats", ["conflict"], True)


@family
def pony_cases() -> None:
    import sqlite3

    from pony import orm

    path = TMP / "depots.sqlite"
    db = orm.Database()

    class Depot(db.Entity):  # type: ignore[name-defined]
        id = orm.PrimaryKey(int)
        code = orm.Required(str, unique=True)
        city = orm.Required(str)
        docks = orm.Required(int)
        status = orm.Optional(str)

    db.bind(provider="sqlite", filename=str(path), create_db=True, timeout=0.5)
    db.generate_mapping(create_tables=True)
    with orm.db_session:
        Depot(id=1, code="LYS", city="Lyon", docks=4, status="open")
        Depot(id=2, code="LYS2", city="Lyon", docks=2, status="open")
        Depot(id=3, code="NTE", city="Nantes", docks=6, status="open")

    @orm.db_session
    def missing() -> Any:
        return Depot[99].city

    @orm.db_session
    def duplicate() -> None:
        Depot(id=4, code="NTE", city="Nantes", docks=1)
        orm.commit()

    @orm.db_session
    def two_found() -> Any:
        return Depot.get(city="Lyon")

    @orm.db_session
    def required_empty() -> None:
        Depot(id=5, code="BOD", city="", docks=3)

    @orm.db_session
    def bad_int() -> None:
        Depot(id=6, code="LIL", city="Lille", docks="four")

    @orm.db_session
    def locked() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            Depot[3].docks = 7
            orm.commit()
        finally:
            other.execute("ROLLBACK")
            other.close()

    @orm.db_session(optimistic=True)
    def changed_underneath() -> None:
        depot = Depot[3]
        _ = depot.status
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("UPDATE depot SET status = 'closed' WHERE id = 3")
        other.close()
        depot.status = "full"
        orm.commit()

    def stale_mapping() -> None:
        old = orm.Database()

        class Depot(old.Entity):  # type: ignore[name-defined]
            id = orm.PrimaryKey(int)
            code = orm.Required(str)
            manager_email = orm.Required(str)

        old.bind(provider="sqlite", filename=str(path))
        old.generate_mapping(check_tables=True)

    c = recorder("pony", "depot-registry")
    c("object_not_found", missing, "load_depot", ["not_found"], False)
    c("unique_code", duplicate, "create_depot", ["conflict", "data", "validation"], False)
    c("multiple_objects_found", two_found, "find_depot_by_city", ["internal", "data"], False)
    c("required_attribute_empty", required_empty, "create_depot", ["validation"], False)
    c(
        "attribute_not_int_wrapped",
        bad_int,
        "create_depot",
        ["validation", "internal", "data"],
        False,
        wrap=(ManifestImportFailed, "depot import row 6 rejected"),
        service="manifest-import",
    )
    c("outside_db_session", lambda: Depot[2], "render_depot", ["internal"], False)
    c(
        "database_locked_wrapped",
        locked,
        "update_docks",
        ["conflict", "timeout"],
        True,
        wrap=(DriverSyncFailed, "dock count for depot NTE not saved"),
    )
    c("optimistic_check", changed_underneath, "mark_depot_full", ["conflict"], True)
    c("column_missing_in_table", stale_mapping, "startup", ["configuration", "internal"], False)


@family
def zmq_cases() -> None:
    import zmq

    ctx = zmq.Context()
    CLEANUPS.append(lambda: ctx.destroy(linger=0))

    def req_no_answer() -> Any:
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, 300)
        sock.connect(f"tcp://127.0.0.1:{silent.port}")
        try:
            sock.send_json({"op": "price", "route": "LYS-NTE"})
            return sock.recv_json()
        finally:
            sock.close()

    def push_no_peer() -> None:
        sock = ctx.socket(zmq.PUSH)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDTIMEO, 300)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.connect(f"tcp://127.0.0.1:{closed_port()}")
        try:
            sock.send(b"position 45.76 4.84")
        finally:
            sock.close()

    def bind_twice() -> None:
        first = ctx.socket(zmq.PUB)
        port = first.bind_to_random_port("tcp://127.0.0.1")
        second = ctx.socket(zmq.PUB)
        try:
            second.bind(f"tcp://127.0.0.1:{port}")
        finally:
            first.close(0)
            second.close(0)

    def bad_endpoint() -> None:
        sock = ctx.socket(zmq.SUB)
        try:
            sock.connect("tcp://tracking-hub:port")
        finally:
            sock.close(0)

    def bad_protocol() -> None:
        sock = ctx.socket(zmq.SUB)
        try:
            sock.connect("tcpx://127.0.0.1:5556")
        finally:
            sock.close(0)

    def req_twice() -> None:
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://127.0.0.1:{silent.port}")
        try:
            sock.send(b"eta 1")
            sock.send(b"eta 2")
        finally:
            sock.close()

    def closed_socket() -> None:
        sock = ctx.socket(zmq.PUSH)
        sock.close()
        sock.send(b"x")

    def not_json() -> Any:
        pull = ctx.socket(zmq.PULL)
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        push = ctx.socket(zmq.PUSH)
        push.connect(f"tcp://127.0.0.1:{port}")
        try:
            push.send(b"\x93\x01\xa4stop")
            pull.setsockopt(zmq.RCVTIMEO, 2000)
            return pull.recv_json()
        finally:
            push.close(0)
            pull.close(0)

    silent = Silent()
    c = recorder("zmq", "tracking-hub")
    c("req_reply_timeout", req_no_answer, "quote_route", ["timeout", "unavailable"], True, service="pricing-client")
    c("push_send_timeout", push_no_peer, "publish_position", ["timeout", "unavailable", "network"], True)
    c("address_in_use", bind_twice, "bind_publisher", ["configuration", "conflict", "resource"], None)
    c("invalid_endpoint", bad_endpoint, "subscribe", ["configuration"], False)
    c("protocol_not_supported", bad_protocol, "subscribe", ["configuration"], False)
    c(
        "req_state_machine_wrapped",
        req_twice,
        "request_eta",
        ["internal"],
        False,
        wrap=(RouteNotPlanned, "could not ask the ETA service"),
        service="route-planner",
    )
    c("socket_closed", closed_socket, "publish_position", ["internal"], False)
    c("message_not_json", not_json, "consume_command", ["data", "validation"], False)


@family
def kafka_cases() -> None:
    import confluent_kafka
    import kafka
    from confluent_kafka.admin import AdminClient

    silent = Silent()

    def kp_refused() -> Any:
        return kafka.KafkaProducer(bootstrap_servers=f"127.0.0.1:{closed_port()}", bootstrap_timeout_ms=1000)

    def kc_silent() -> Any:
        return kafka.KafkaConsumer(
            "positions", bootstrap_servers=f"127.0.0.1:{silent.port}", bootstrap_timeout_ms=1000, request_timeout_ms=800
        )

    def kp_bad_config() -> Any:
        return kafka.KafkaProducer(bootstrap_servers="127.0.0.1:9092", compression_type="zstd9", api_version=(2, 8))

    def kp_metadata_timeout() -> Any:
        producer = kafka.KafkaProducer(
            bootstrap_servers=f"127.0.0.1:{silent.port}", api_version=(2, 8), max_block_ms=600
        )
        try:
            return producer.send("positions", b"45.76,4.84").get(timeout=2)
        finally:
            producer.close(timeout=0)

    def ck_list_topics() -> Any:
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{silent.port}", "socket.timeout.ms": 1000})
        return admin.list_topics(timeout=1.0)

    def ck_bad_config() -> Any:
        return confluent_kafka.Producer({"bootstrap.servers": "127.0.0.1:9092", "acks": "sometimes"})

    def ck_queue_full() -> None:
        producer = confluent_kafka.Producer(
            {
                "bootstrap.servers": f"127.0.0.1:{silent.port}",
                "queue.buffering.max.messages": 5,
                "message.timeout.ms": 1000,
            }
        )
        for i in range(20):
            producer.produce("positions", value=f"ping {i}".encode())

    def ck_no_group() -> Any:
        return confluent_kafka.Consumer({"bootstrap.servers": "127.0.0.1:9092"})

    def ck_too_large() -> None:
        producer = confluent_kafka.Producer(
            {"bootstrap.servers": f"127.0.0.1:{silent.port}", "message.max.bytes": 2000}
        )
        producer.produce("manifests", value=b"x" * 50_000)

    c = recorder("kafka", "telemetry")
    c("bootstrap_refused", kp_refused, "start_producer", ["network", "unavailable", "timeout"], True)
    c(
        "bootstrap_silent_wrapped",
        kc_silent,
        "start_consumer",
        ["timeout", "unavailable", "network"],
        True,
        wrap=(TrackingUpdateFailed, "telemetry consumer for depot LYS did not start"),
    )
    c("unknown_compression_codec", kp_bad_config, "start_producer", ["configuration"], False)
    c(
        "metadata_timeout_wrapped",
        kp_metadata_timeout,
        "publish_position",
        ["timeout", "unavailable"],
        True,
        wrap=(TrackingUpdateFailed, "position for truck 12 not published"),
        service="tracking",
    )
    c("list_topics_timeout", ck_list_topics, "check_topics", ["timeout", "unavailable", "network"], True)
    c("invalid_property_value", ck_bad_config, "start_producer", ["configuration"], False)
    c("local_queue_full", ck_queue_full, "publish_batch", ["resource", "unavailable", "rate_limit"], True)
    c("group_id_missing", ck_no_group, "start_consumer", ["configuration"], False)
    c("message_too_large", ck_too_large, "publish_manifest", ["validation", "resource"], False)


@family
def rq_cases() -> None:
    import datetime as dt

    import rq
    from rq.job import Job

    conn = redis_conn()
    queue = rq.Queue("h5-invoices", connection=conn)

    def cleanup() -> None:
        queue.delete(delete_jobs=True)
        redis_cleanup("rq:*h5*", "rq:job:*")
        if not conn.scard("rq:queues"):
            conn.delete("rq:queues")

    CLEANUPS.append(cleanup)

    def corrupt_job() -> Any:
        job = queue.enqueue("builtins.len", "abc")
        conn.hset(f"rq:job:{job.id}", "data", b"\x00\x01not-a-pickle")
        return Job.fetch(job.id, connection=conn).func_name

    def requeue_queued() -> Any:
        job = queue.enqueue("builtins.len", "abc")
        return job.requeue()

    def deleted_then_refresh() -> Any:
        job = queue.enqueue("builtins.len", "abc")
        job.delete()
        return job.refresh()

    def local_function() -> Any:
        def render(invoice_id: int) -> str:
            return f"invoice {invoice_id}"

        return queue.enqueue(render, 7)

    c = recorder("rq", "billing-jobs")
    c(
        "job_not_found_wrapped",
        lambda: Job.fetch("5b0e8a61-0000-4000-8000-000000000000", connection=conn),
        "job_status",
        ["not_found"],
        False,
        wrap=(InvoiceNotIssued, "status of invoice run 2026-12 unknown"),
    )
    c("job_data_corrupt", corrupt_job, "job_status", ["data"], False)
    c("requeue_not_failed", requeue_queued, "retry_invoice", ["conflict", "validation", "internal"], False)
    c("job_deleted", deleted_then_refresh, "job_status", ["not_found"], False)
    c(
        "bad_job_timeout",
        lambda: queue.enqueue("builtins.len", "abc", job_timeout="ten minutes"),
        "schedule_invoice",
        ["validation", "internal", "configuration"],
        False,
    )
    c(
        "bad_retry_wrapped",
        lambda: queue.enqueue("builtins.len", "abc", retry=rq.Retry(max=0)),
        "schedule_invoice",
        ["internal", "validation", "configuration"],
        False,
        wrap=(JobNotScheduled, "invoice run 2026-12 not queued"),
    )
    c("local_function_not_importable", local_function, "schedule_invoice", ["internal"], False)
    del dt


@family
def redis_locks_cases() -> None:
    import pottery
    import redis_lock

    conn = redis_conn()
    CLEANUPS.append(lambda: redis_cleanup("h5:*", "lock:h5:*", "redlock:h5:*"))

    def release_unlocked() -> None:
        pottery.Redlock(key="h5:route:42", masters={conn}, auto_release_time=2).release()

    def extend_unlocked() -> None:
        pottery.Redlock(key="h5:route:43", masters={conn}, auto_release_time=2).extend()

    def too_many_extensions() -> None:
        lock = pottery.Redlock(key="h5:route:44", masters={conn}, auto_release_time=2, num_extensions=1)
        lock.acquire()
        try:
            lock.extend()
            lock.extend()
        finally:
            lock.release()

    def pottery_dict_missing() -> Any:
        rates = pottery.RedisDict(redis=conn, key="h5:rates")
        rates["LYS-NTE"] = 1.25
        return rates["LYS-PAR"]

    def rl_release_not_acquired() -> None:
        redis_lock.Lock(conn, "h5:manifest:9", expire=5).release()

    def rl_acquire_twice() -> None:
        lock = redis_lock.Lock(conn, "h5:manifest:10", expire=5)
        lock.acquire()
        try:
            lock.acquire()
        finally:
            lock.release()

    def rl_timeout_too_large() -> Any:
        return redis_lock.Lock(conn, "h5:manifest:11", expire=5).acquire(timeout=30)

    def rl_extend_expired() -> None:
        lock = redis_lock.Lock(conn, "h5:manifest:12", expire=1)
        lock.acquire()
        conn.delete("lock:h5:manifest:12")
        lock.extend(expire=5)

    c = recorder("redis_locks", "route-planner")
    c("pottery_release_unlocked", release_unlocked, "finish_route", ["internal", "conflict"], False)
    c(
        "pottery_extend_unlocked_wrapped",
        extend_unlocked,
        "optimise_route",
        ["internal", "conflict"],
        None,
        wrap=(RouteNotPlanned, "route 43 optimisation lost its lock"),
    )
    c("pottery_too_many_extensions", too_many_extensions, "optimise_route", ["conflict", "internal", "timeout"], False)
    c("pottery_dict_missing_key", pottery_dict_missing, "lookup_rate", ["not_found", "internal"], False)
    c(
        "redis_lock_not_acquired",
        rl_release_not_acquired,
        "release_manifest",
        ["internal", "conflict"],
        False,
        service="manifest-import",
    )
    c(
        "redis_lock_already_acquired",
        rl_acquire_twice,
        "lock_manifest",
        ["internal", "conflict"],
        False,
        service="manifest-import",
    )
    c(
        "redis_lock_timeout_too_large",
        rl_timeout_too_large,
        "lock_manifest",
        ["internal", "configuration", "validation"],
        False,
        service="manifest-import",
    )
    c(
        "redis_lock_extend_expired",
        rl_extend_expired,
        "lock_manifest",
        ["conflict", "timeout", "internal"],
        None,
        service="manifest-import",
    )


@family
def aioamqp_cases() -> None:
    import aioamqp

    async def connect(**kw: Any) -> Any:
        args = {"host": "127.0.0.1", "port": 5672, "login": "guest", "password": "guest", "login_method": "PLAIN"}
        args.update(kw)
        return await aioamqp.connect(**args)

    async def with_channel(action: Callable[[Any], Any], **kw: Any) -> Any:
        transport, protocol = await connect(**kw)
        try:
            channel = await protocol.channel()
            return await action(channel)
        finally:
            with contextlib.suppress(Exception):
                await protocol.close()
            transport.close()

    async def setup() -> None:
        async def declare(ch: Any) -> None:
            await ch.queue_declare("h5.pickups", durable=False, arguments={"x-max-length": 100})
            await ch.exchange_declare("h5.events", "direct", durable=False)
            await ch.basic_publish(b"pickup 1", exchange_name="", routing_key="h5.pickups")

        await with_channel(declare)

    async def teardown() -> None:
        async def delete(ch: Any) -> None:
            await ch.queue_delete("h5.pickups")
            await ch.exchange_delete("h5.events")

        await with_channel(delete)

    asyncio.run(setup())
    CLEANUPS.append(lambda: asyncio.run(teardown()))

    async def exclusive_elsewhere() -> Any:
        transport, protocol = await connect()
        try:
            owner = await protocol.channel()
            await owner.queue_declare("h5.replies.worker1", exclusive=True)
            return await with_channel(lambda ch: ch.queue_declare("h5.replies.worker1", passive=True))
        finally:
            await protocol.close()
            transport.close()

    c = recorder("aioamqp", "pickup-broker")
    c("bad_password", lambda: connect(password="not-the-password"), "connect", ["network", "auth", "unknown"], None)
    c(
        "missing_vhost",
        lambda: connect(virtualhost="h5-fleet"),
        "connect",
        ["network", "configuration", "unknown"],
        None,
    )
    c(
        "passive_missing_queue_wrapped",
        lambda: with_channel(lambda ch: ch.queue_declare("h5.dropoffs", passive=True)),
        "consume_dropoffs",
        ["not_found", "configuration"],
        False,
        wrap=(DispatchFailed, "drop-off consumer could not start"),
    )
    c(
        "queue_arguments_differ",
        lambda: with_channel(lambda ch: ch.queue_declare("h5.pickups", arguments={"x-max-length": 500})),
        "declare_queue",
        ["configuration", "conflict"],
        False,
    )
    c(
        "exchange_type_differs_wrapped",
        lambda: with_channel(lambda ch: ch.exchange_declare("h5.events", "fanout")),
        "declare_exchange",
        ["configuration", "conflict"],
        False,
        wrap=(BookingFailed, "booking events exchange could not be set up"),
        service="booking",
    )
    c("exclusive_queue_locked", exclusive_elsewhere, "reply_queue", ["conflict", "auth"], None)
    c(
        "delete_not_empty",
        lambda: with_channel(lambda ch: ch.queue_delete("h5.pickups", if_empty=True)),
        "retire_queue",
        ["conflict", "validation"],
        False,
    )
    c(
        "bind_missing_exchange",
        lambda: with_channel(lambda ch: ch.queue_bind("h5.pickups", "h5.legacy", "pickup")),
        "bind_queue",
        ["configuration", "not_found"],
        False,
    )


@family
def niquests_cases() -> None:
    import niquests

    def get(path: str = "/v2/shipments/SHP-1001", **kw: Any) -> Any:
        with niquests.Session(retries=0) as session:
            resp = session.get(FAKE.url + path, timeout=kw.pop("timeout", 3), **kw)
            resp.raise_for_status()
            return resp.json()

    problem = {"Content-Type": "application/problem+json"}
    c = recorder("niquests", "carrier-api")
    c(
        "not_found",
        answering(
            404,
            {"type": "about:blank", "title": "Not Found", "detail": "shipment SHP-1001 not found"},
            problem,
            call=get,
        ),
        "get_shipment",
        ["not_found"],
        False,
    )
    c(
        "unauthorized",
        answering(
            401,
            {"title": "Unauthorized", "detail": "API key expired"},
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            call=get,
        ),
        "get_shipment",
        ["auth"],
        False,
    )
    c(
        "too_many_requests",
        answering(
            429, {"title": "Too Many Requests", "detail": "100 requests per minute"}, {"Retry-After": "30"}, call=get
        ),
        "get_shipment",
        ["rate_limit"],
        True,
    )
    c(
        "service_unavailable_wrapped",
        answering(
            503, "<html><body><h1>503 Service Temporarily Unavailable</h1>", {"Content-Type": "text/html"}, call=get
        ),
        "get_shipment",
        ["unavailable"],
        True,
        wrap=(TrackingUpdateFailed, "carrier status for SHP-1001 not refreshed"),
        service="tracking",
    )
    c(
        "read_timeout",
        answering(200, {"ok": True}, delay_s=2.0, call=lambda: get(timeout=0.5)),
        "get_shipment",
        ["timeout"],
        True,
    )
    c("server_hangup", answering(mode="hangup", call=get), "get_shipment", ["network", "unavailable"], True)
    c(
        "redirect_loop",
        answering(302, b"", {"Location": "/v2/shipments/SHP-1001"}, call=get),
        "get_shipment",
        ["configuration", "unavailable", "internal"],
        False,
    )
    c(
        "html_instead_of_json",
        answering(200, "<!doctype html><title>Maintenance</title>", {"Content-Type": "text/html"}, call=get),
        "get_shipment",
        ["unavailable", "data", "unknown"],
        None,
    )
    c(
        "unprocessable_wrapped",
        answering(
            422,
            {"title": "Unprocessable Entity", "errors": [{"field": "weight_kg", "message": "must be greater than 0"}]},
            problem,
            call=lambda: post_json({"weight_kg": -3}),
        ),
        "create_shipment",
        ["validation"],
        False,
        wrap=(BookingFailed, "carrier refused shipment for booking BK-000123"),
    )


def post_json(payload: Any) -> Any:
    import niquests

    resp = niquests.post(FAKE.url + "/v2/shipments", json=payload, timeout=3, retries=0)
    resp.raise_for_status()
    return resp.json()


@family
def httplib2_cases() -> None:
    import httplib2

    def fetch(path: str = "/rates/LYS-NTE.json", timeout: float = 3, **kw: Any) -> Any:
        http = httplib2.Http(timeout=timeout)
        return http.request(FAKE.url + path, "GET", **kw)

    import gzip

    c = recorder("httplib2", "rate-cards")
    c(
        "redirect_limit",
        answering(301, b"", {"Location": FAKE_PLACEHOLDER}, call=lambda: fetch(redirections=3)),
        "fetch_rates",
        ["configuration", "unavailable", "internal"],
        False,
    )
    c(
        "socket_timeout",
        answering(200, b"{}", delay_s=2.0, call=lambda: fetch(timeout=0.5)),
        "fetch_rates",
        ["timeout"],
        True,
    )
    c(
        "bad_gzip",
        answering(200, b"\x1f\x8b\x08\x00not really gzip", {"Content-Encoding": "gzip"}, call=fetch),
        "fetch_rates",
        ["data", "unavailable"],
        None,
    )
    c(
        "hangup_wrapped",
        answering(mode="hangup", call=fetch),
        "fetch_rates",
        ["network", "unavailable"],
        True,
        wrap=(InvoiceNotIssued, "rate card for LYS-NTE unavailable"),
        service="billing",
    )
    c(
        "garbage_status_line",
        answering(body=b"SSH-2.0-OpenSSH_9.2\r\n", mode="raw", call=fetch),
        "fetch_rates",
        ["configuration", "network", "data"],
        False,
    )
    c(
        "truncated_body",
        answering(
            body=b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + gzip.compress(b"x")[:5], mode="raw", call=fetch
        ),
        "fetch_rates",
        ["network", "data", "unavailable"],
        True,
    )


FAKE_PLACEHOLDER = "/rates/LYS-NTE.json"


DISCOVERY = {
    "kind": "discovery#restDescription",
    "discoveryVersion": "v1",
    "id": "fleetdrive:v1",
    "name": "fleetdrive",
    "version": "v1",
    "protocol": "rest",
    "servicePath": "fleetdrive/v1/",
    "resources": {
        "files": {
            "methods": {
                "get": {
                    "id": "fleetdrive.files.get",
                    "path": "files/{fileId}",
                    "httpMethod": "GET",
                    "parameters": {"fileId": {"type": "string", "required": True, "location": "path"}},
                    "parameterOrder": ["fileId"],
                    "response": {"$ref": "File"},
                },
                "insert": {
                    "id": "fleetdrive.files.insert",
                    "path": "files",
                    "httpMethod": "POST",
                    "request": {"$ref": "File"},
                    "response": {"$ref": "File"},
                },
            }
        }
    },
    "schemas": {"File": {"id": "File", "type": "object", "properties": {"name": {"type": "string"}}}},
}


def google_error(code: int, status: str, message: str, reason: str, domain: str = "global") -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "status": status,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }


@family
def google_api_cases() -> None:
    import httplib2
    from googleapiclient.discovery import build_from_document

    doc = dict(DISCOVERY, rootUrl=FAKE.url + "/")
    service = build_from_document(doc, http=httplib2.Http(timeout=3))

    def get() -> Any:
        return service.files().get(fileId="pod-scan-7731.pdf").execute(num_retries=0)

    def insert() -> Any:
        return service.files().insert(body={"name": "pod-scan-7731.pdf"}).execute(num_retries=0)

    def ans(status: int, body: Any, call: Callable[[], Any] = get, headers: dict[str, str] | None = None) -> Any:
        return answering(status, body, headers, call=call)

    c = recorder("google_api", "proof-of-delivery")
    c(
        "file_not_found",
        ans(404, google_error(404, "NOT_FOUND", "File not found: pod-scan-7731.pdf", "notFound")),
        "fetch_scan",
        ["not_found"],
        False,
    )
    c(
        "unauthenticated",
        ans(
            401,
            google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
                "authError",
            ),
        ),
        "fetch_scan",
        ["auth"],
        False,
    )
    c(
        "insufficient_permissions",
        ans(
            403,
            google_error(
                403,
                "PERMISSION_DENIED",
                "The user does not have sufficient permissions for this file.",
                "insufficientFilePermissions",
            ),
        ),
        "fetch_scan",
        ["auth"],
        False,
    )
    c(
        "user_rate_limit",
        ans(
            403,
            google_error(403, "PERMISSION_DENIED", "User rate limit exceeded.", "userRateLimitExceeded", "usageLimits"),
        ),
        "fetch_scan",
        ["rate_limit"],
        True,
    )
    c(
        "quota_exhausted_wrapped",
        ans(
            429,
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric "
                "'Queries' and limit 'Queries per minute' of service "
                "'fleetdrive.googleapis.com'.",
                "rateLimitExceeded",
            ),
            insert,
        ),
        "store_scan",
        ["rate_limit", "resource"],
        True,
        wrap=(ManifestImportFailed, "scan for delivery 7731 not archived"),
        service="manifest-import",
    )
    c(
        "already_exists",
        ans(
            409,
            google_error(409, "ALREADY_EXISTS", "A file named pod-scan-7731.pdf already exists.", "duplicate"),
            insert,
        ),
        "store_scan",
        ["conflict"],
        False,
    )
    c(
        "backend_error_wrapped",
        ans(500, google_error(500, "INTERNAL", "Internal error encountered.", "backendError")),
        "fetch_scan",
        ["unavailable"],
        True,
        wrap=(ManifestImportFailed, "proof of delivery 7731 not fetched"),
    )
    c(
        "storage_quota",
        ans(
            403,
            google_error(
                403,
                "PERMISSION_DENIED",
                "The user's Drive storage quota has been exceeded.",
                "storageQuotaExceeded",
                "usageLimits",
            ),
            insert,
        ),
        "store_scan",
        ["resource"],
        False,
    )
    c("missing_required_parameter", lambda: service.files().get().execute(), "fetch_scan", ["internal"], False)


@family
def google_auth_cases() -> None:
    import google.auth
    import google_auth_httplib2
    import httplib2
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    info = {
        "type": "service_account",
        "project_id": "fleet-test",
        "private_key_id": "0000",
        "private_key": pem,
        "client_email": "pod-uploader@fleet-test.iam.gserviceaccount.com",
        "client_id": "1000",
        "token_uri": FAKE.url + "/token",
    }

    def refresh(timeout: float = 3, token_uri: str | None = None) -> Any:
        creds = service_account.Credentials.from_service_account_info(
            dict(info, token_uri=token_uri or info["token_uri"]), scopes=["https://www.googleapis.com/auth/drive"]
        )
        creds.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=timeout)))
        return creds.token

    def default_missing() -> Any:
        old = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = "/etc/fleet/gcp/pod-uploader.json"
        try:
            return google.auth.default()
        finally:
            if old is None:
                os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
            else:
                os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = old

    def bad_key_file() -> Any:
        path = TMP / "sa.json"
        path.write_text(
            json.dumps(dict(info, private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
        )
        return service_account.Credentials.from_service_account_file(str(path))

    silent = Silent()
    c = recorder("google_auth", "proof-of-delivery")
    c(
        "invalid_grant",
        answering(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, call=refresh),
        "refresh_token",
        ["auth"],
        False,
    )
    c(
        "invalid_client_wrapped",
        answering(
            401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}, call=refresh
        ),
        "refresh_token",
        ["auth", "configuration"],
        False,
        wrap=(LoginRejected, "service account login failed"),
    )
    c(
        "token_endpoint_503",
        answering(503, {"error": "temporarily_unavailable"}, call=refresh),
        "refresh_token",
        ["unavailable"],
        True,
    )
    c(
        "token_endpoint_silent",
        lambda: refresh(timeout=0.5, token_uri=f"http://127.0.0.1:{silent.port}/token"),
        "refresh_token",
        ["timeout", "network"],
        True,
    )
    c(
        "no_access_token",
        answering(200, {"token_type": "Bearer", "expires_in": 3599}, call=refresh),
        "refresh_token",
        ["unknown", "unavailable", "data"],
        None,
    )
    c("credentials_file_missing", default_missing, "startup", ["configuration"], False)
    c(
        "info_missing_fields",
        lambda: service_account.Credentials.from_service_account_info({"type": "service_account", "private_key": pem}),
        "startup",
        ["configuration"],
        False,
    )
    c("bad_private_key", bad_key_file, "startup", ["configuration", "data"], False)


def k8s_status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


@family
def kubernetes_cases() -> None:
    from kubernetes import client, config

    conf = client.Configuration()
    conf.host = FAKE.url
    conf.api_key = {"authorization": "Bearer " + FAKE_CREDENTIAL}
    api = client.ApiClient(conf)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    CLEANUPS.append(api.close)

    def read_pod() -> Any:
        return core.read_namespaced_pod("route-optimizer-7d9f", "fleet", _request_timeout=3)

    def create_cm() -> Any:
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="routing-weights"), data={"alpha": "0.4"})
        return core.create_namespaced_config_map("fleet", body, _request_timeout=3)

    def scale() -> Any:
        return apps.patch_namespaced_deployment_scale(
            "route-optimizer", "fleet", {"spec": {"replicas": 40}}, _request_timeout=3
        )

    def watch_list() -> Any:
        return core.list_namespaced_pod("fleet", resource_version="18734", watch=False, _request_timeout=3)

    def ans(status: int, body: Any, call: Callable[[], Any] = read_pod, **kw: Any) -> Any:
        return answering(status, body, call=call, **kw)

    c = recorder("kubernetes", "fleet-operator")
    c(
        "pod_not_found_wrapped",
        ans(
            404,
            k8s_status(
                404, "NotFound", 'pods "route-optimizer-7d9f" not found', name="route-optimizer-7d9f", kind="pods"
            ),
        ),
        "inspect_pod",
        ["not_found"],
        False,
        wrap=(DispatchFailed, "route optimizer health check failed"),
    )
    c("unauthorized", ans(401, k8s_status(401, "Unauthorized", "Unauthorized")), "inspect_pod", ["auth"], False)
    c(
        "forbidden",
        ans(
            403,
            k8s_status(
                403,
                "Forbidden",
                'pods "route-optimizer-7d9f" is forbidden: User '
                '"system:serviceaccount:fleet:operator" cannot get resource "pods" in API group'
                ' "" in the namespace "fleet"',
            ),
        ),
        "inspect_pod",
        ["auth"],
        False,
    )
    c(
        "configmap_exists",
        ans(409, k8s_status(409, "AlreadyExists", 'configmaps "routing-weights" already exists'), create_cm),
        "publish_weights",
        ["conflict"],
        False,
    )
    c(
        "scale_conflict_wrapped",
        ans(
            409,
            k8s_status(
                409,
                "Conflict",
                "Operation cannot be fulfilled on deployments."
                'apps "route-optimizer": the object has been modified; please '
                "apply your changes to the latest version and try again",
            ),
            scale,
        ),
        "scale_optimizer",
        ["conflict"],
        True,
        wrap=(DispatchFailed, "could not scale the route optimizer"),
        service="dispatch",
    )
    c(
        "quota_exceeded",
        ans(
            403,
            k8s_status(
                403,
                "Forbidden",
                'pods "route-optimizer-7d9f-x2" is forbidden: exceeded'
                " quota: fleet-quota, requested: limits.cpu=2, used: limits.cpu=16, "
                "limited: limits.cpu=16",
            ),
            scale,
        ),
        "scale_optimizer",
        ["resource", "auth"],
        False,
    )
    c(
        "invalid_object",
        ans(
            422,
            k8s_status(
                422,
                "Invalid",
                'ConfigMap "routing-weights" is invalid: metadata.name: '
                'Invalid value: "Routing_Weights": a lowercase RFC 1123 subdomain must '
                "consist of lower case alphanumeric characters",
            ),
            create_cm,
        ),
        "publish_weights",
        ["validation"],
        False,
    )
    c(
        "too_many_requests",
        ans(
            429,
            k8s_status(
                429, "TooManyRequests", "the server has received too many requests and has asked us to try again later"
            ),
            headers={"Retry-After": "1"},
        ),
        "inspect_pod",
        ["rate_limit"],
        True,
    )
    c(
        "resource_version_gone",
        ans(410, k8s_status(410, "Expired", "too old resource version: 18734 (19012)"), watch_list),
        "watch_pods",
        ["not_found", "conflict"],
        None,
    )
    c(
        "kubeconfig_missing",
        lambda: config.load_kube_config(config_file=str(TMP / "kube" / "config")),
        "startup",
        ["configuration"],
        False,
    )


@family
def geopy_cases() -> None:
    from geopy.adapters import URLLibAdapter
    from geopy.geocoders import Nominatim

    geo = Nominatim(
        user_agent="fleet-h5-test",
        domain=f"127.0.0.1:{FAKE.port}",
        scheme="http",
        timeout=1,
        adapter_factory=URLLibAdapter,
    )

    def find(query: str = "12 rue de la République, Lyon") -> Any:
        return geo.geocode(query)

    def ans(status: int, body: Any, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return answering(status, body, headers, call=find, **kw)

    c = recorder("geopy", "address-check")
    c(
        "rate_limited",
        ans(429, {"error": "Too many requests"}, {"Retry-After": "60"}),
        "geocode_stop",
        ["rate_limit"],
        True,
    )
    c("auth_failed", ans(401, {"error": "Invalid key"}), "geocode_stop", ["auth"], False)
    c("insufficient_privileges", ans(403, {"error": "Access blocked: usage policy"}), "geocode_stop", ["auth"], False)
    c("service_unavailable", ans(503, "Service Unavailable"), "geocode_stop", ["unavailable", "timeout"], True)
    c(
        "server_error_wrapped",
        ans(500, "Internal Server Error"),
        "geocode_stop",
        ["unavailable"],
        True,
        wrap=(RouteNotPlanned, "stop 4 of route 118 could not be geocoded"),
        service="route-planner",
    )
    c("timed_out", ans(200, [], delay_s=2.0), "geocode_stop", ["timeout"], True)
    c(
        "bad_query",
        ans(400, {"error": {"code": 400, "message": "Nothing to search for."}}),
        "geocode_stop",
        ["validation"],
        False,
    )
    c(
        "not_json",
        ans(200, "<html>captive portal</html>", {"Content-Type": "text/html"}),
        "geocode_stop",
        ["data", "unavailable", "unknown", "configuration"],
        None,
    )


@family
def mail_fetch_cases() -> None:
    import imaplib
    import poplib

    def imap_server(responses: dict[bytes, bytes], greeting: bytes = b"* OK [CAPABILITY IMAP4rev1] ready\r\n") -> int:
        def answer(line: bytes) -> bytes | None:
            parts = line.split(b" ", 2)
            tag, command = parts[0], parts[1].upper().strip() if len(parts) > 1 else b""
            if command == b"CAPABILITY":
                return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n"
            if command == b"LOGOUT":
                return b"* BYE\r\n" + tag + b" OK bye\r\n"
            reply = responses.get(command, b"OK done")
            if reply.startswith(b"*"):
                return reply + b"\r\n"
            return tag + b" " + reply + b"\r\n"

        return LineServer(greeting, answer).port

    def pop_server(responses: dict[bytes, bytes]) -> int:
        def answer(line: bytes) -> bytes | None:
            command = line.split(b" ", 1)[0].upper().strip()
            if command == b"QUIT":
                return None
            return responses.get(command, b"+OK") + b"\r\n"

        return LineServer(b"+OK POP3 ready\r\n", answer).port

    def imap(responses: dict[bytes, bytes], action: Callable[[Any], Any], **kw: Any) -> Callable[[], Any]:
        def run() -> Any:
            port = imap_server(responses, **kw)
            client = imaplib.IMAP4("127.0.0.1", port, timeout=2)
            try:
                client.login("pod-inbox@fleet.example", "not-the-password")
                return action(client)
            finally:
                with contextlib.suppress(Exception):
                    client.shutdown()

        return run

    def pop(responses: dict[bytes, bytes], action: Callable[[Any], Any]) -> Callable[[], Any]:
        def run() -> Any:
            client = poplib.POP3("127.0.0.1", pop_server(responses), timeout=2)
            try:
                client.user("pod-inbox@fleet.example")
                client.pass_("not-the-password")
                return action(client)
            finally:
                with contextlib.suppress(Exception):
                    client.close()

        return run

    def silent_imap() -> Any:
        return imaplib.IMAP4("127.0.0.1", Silent().port, timeout=0.5)

    def unit(_: Any) -> None:
        return None

    c = recorder("mail_fetch", "pod-inbox")
    c(
        "imap_auth_failed",
        imap({b"LOGIN": b"NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)"}, unit),
        "poll_inbox",
        ["auth"],
        False,
    )
    c(
        "imap_fetch_without_mailbox",
        imap(
            {b"SELECT": b"NO [NONEXISTENT] Unknown Mailbox: Delivered (Failure)"},
            lambda cl: (cl.select("Delivered"), cl.fetch("1:*", "(FLAGS)")),
        ),
        "poll_inbox",
        ["internal", "not_found", "configuration"],
        False,
    )
    c(
        "imap_too_many_connections_wrapped",
        imap(
            {
                b"LOGIN": b"NO [UNAVAILABLE] Maximum number of connections from "
                b"user+IP exceeded (mail_max_userip_connections=10)"
            },
            unit,
        ),
        "poll_inbox",
        ["resource", "unavailable", "rate_limit"],
        None,
        wrap=(ManifestImportFailed, "proof-of-delivery mailbox not polled"),
    )
    c(
        "imap_bye",
        imap({b"SELECT": b"* BYE [UNAVAILABLE] Server shutting down for maintenance"}, lambda cl: cl.select("INBOX")),
        "poll_inbox",
        ["unavailable", "network"],
        True,
    )
    c(
        "imap_bad_command",
        imap(
            {b"SEARCH": b"BAD [CLIENTBUG] Invalid search criteria"},
            lambda cl: (cl.select("INBOX"), cl.search(None, "SINCE 2026-12-01")),
        ),
        "poll_inbox",
        ["internal", "validation"],
        False,
    )
    c("imap_greeting_timeout", silent_imap, "poll_inbox", ["timeout"], True)
    c("pop_auth_failed", pop({b"PASS": b"-ERR [AUTH] Authentication failed."}, unit), "poll_pop", ["auth"], False)
    c(
        "pop_mailbox_in_use",
        pop({b"PASS": b"-ERR [IN-USE] Unable to lock maildrop: Mailbox is locked by POP server"}, unit),
        "poll_pop",
        ["conflict", "unavailable"],
        True,
    )
    c(
        "pop_no_such_message",
        pop({b"RETR": b"-ERR no such message, only 3 messages in maildrop"}, lambda cl: cl.retr(9)),
        "fetch_message",
        ["not_found"],
        False,
    )


@family
def msgpack_cbor_cases() -> None:
    import datetime as dt
    import decimal

    import cbor2
    import msgpack

    good = msgpack.packb({"truck": 12, "lat": 45.76, "lon": 4.84})
    c = recorder("msgpack_cbor", "telemetry")
    c("msgpack_extra_data", lambda: msgpack.unpackb(good + b"\x01"), "decode_position", ["data", "validation"], False)
    c("msgpack_truncated", lambda: msgpack.unpackb(good[:-3]), "decode_position", ["data"], False)
    c("msgpack_reserved_byte", lambda: msgpack.unpackb(b"\xc1\x00"), "decode_position", ["data"], False)
    c(
        "msgpack_unserializable",
        lambda: msgpack.packb({"at": dt.datetime(2026, 12, 8, 9, 30)}),
        "encode_position",
        ["internal"],
        False,
    )
    c(
        "msgpack_map_too_big_wrapped",
        lambda: msgpack.unpackb(b"\xdf\x7f\xff\xff\xff", max_map_len=1000),
        "decode_position",
        ["data", "validation", "resource"],
        False,
        wrap=(TrackingUpdateFailed, "position frame from truck 12 rejected"),
        service="tracking",
    )
    c("cbor_eof", lambda: cbor2.loads(cbor2.dumps({"truck": 12, "fuel": 0.62})[:-4]), "decode_sensor", ["data"], False)
    c("cbor_invalid_major", lambda: cbor2.loads(b"\xff\xff"), "decode_sensor", ["data"], False)
    c("cbor_unserializable", lambda: cbor2.dumps({"reading": decimal.Context()}), "encode_sensor", ["internal"], False)


@family
def protobuf_avro_cases() -> None:
    import io

    import fastavro
    from google.protobuf import json_format, timestamp_pb2
    from google.protobuf.descriptor_pb2 import FileDescriptorProto

    schema = {
        "type": "record",
        "name": "Stop",
        "namespace": "fleet",
        "fields": [{"name": "id", "type": "long"}, {"name": "eta", "type": "string"}],
    }
    parsed = fastavro.parse_schema(schema)

    def avro_write_bad() -> None:
        fastavro.writer(io.BytesIO(), parsed, [{"id": 1, "eta": "09:30"}, {"id": "two", "eta": None}])

    def avro_read_not_avro() -> Any:
        return list(fastavro.reader(io.BytesIO(b'{"id": 1, "eta": "09:30"}\n')))

    def avro_truncated() -> Any:
        buf = io.BytesIO()
        fastavro.writer(buf, parsed, [{"id": i, "eta": "09:30"} for i in range(200)])
        return list(fastavro.reader(io.BytesIO(buf.getvalue()[:-40])))

    c = recorder("protobuf_avro", "route-events")
    c(
        "protobuf_decode_garbage",
        lambda: FileDescriptorProto.FromString(b"\x0a\xff\xff\xff\xff\x0f"),
        "load_descriptor",
        ["data"],
        False,
    )
    c(
        "protobuf_json_unknown_field",
        lambda: json_format.Parse('{"name": "stops.proto", "syntax_version": 3}', FileDescriptorProto()),
        "parse_event",
        ["validation", "data"],
        False,
    )
    c(
        "protobuf_bad_timestamp",
        lambda: json_format.Parse('"2026-13-45T25:00:00Z"', timestamp_pb2.Timestamp()),
        "parse_event",
        ["validation", "data"],
        False,
    )
    c(
        "protobuf_wrong_type_wrapped",
        lambda: timestamp_pb2.Timestamp(seconds="soon"),
        "build_event",
        ["internal"],
        False,
        wrap=(DispatchFailed, "dispatch event could not be built"),
        service="dispatch",
    )
    c(
        "avro_unknown_type",
        lambda: fastavro.parse_schema(
            {"type": "record", "name": "Leg", "fields": [{"name": "distance", "type": "decimal64"}]}
        ),
        "load_schema",
        ["configuration", "validation"],
        False,
    )
    c("avro_record_invalid", avro_write_bad, "write_stops", ["validation", "internal", "data"], False)
    c("avro_not_avro_file", avro_read_not_avro, "read_stops", ["data", "validation"], False)
    c("avro_truncated_file", avro_truncated, "read_stops", ["data"], False)


@family
def fast_json_cases() -> None:
    import decimal

    import orjson
    import ujson

    c = recorder("fast_json", "partner-feed")
    c(
        "orjson_trailing_comma",
        lambda: orjson.loads(b'{"stops": [1, 2, 3,]}'),
        "parse_feed",
        ["validation", "data"],
        False,
    )
    c(
        "orjson_truncated",
        lambda: orjson.loads(b'{"stops": [{"id": 1, "eta": "09:3'),
        "parse_feed",
        ["data", "validation"],
        False,
    )
    c(
        "orjson_invalid_utf8",
        lambda: orjson.loads(b'{"driver": "Ren\xe9"}'),
        "parse_feed",
        ["data", "validation"],
        False,
    )
    c(
        "orjson_decimal_unsupported",
        lambda: orjson.dumps({"fare": decimal.Decimal("12.40")}),
        "encode_fare",
        ["internal"],
        False,
    )
    c(
        "orjson_int_too_big_wrapped",
        lambda: orjson.dumps({"tracking_no": 2**70}),
        "encode_fare",
        ["internal", "data", "validation"],
        False,
        wrap=(InvoiceNotIssued, "invoice payload for INV-2291 not encoded"),
        service="billing",
    )
    c("ujson_expected_value", lambda: ujson.loads("{'stops': [1, 2]}"), "parse_feed", ["validation", "data"], False)
    c(
        "ujson_recursion",
        lambda: ujson.loads("[" * 2048 + "]" * 2048),
        "parse_feed",
        ["validation", "data", "resource"],
        False,
    )
    c(
        "ujson_nan_rejected",
        lambda: ujson.dumps({"lat": float("nan")}, allow_nan=False),
        "encode_position",
        ["data", "internal", "validation"],
        False,
    )


@family
def xml_cases() -> None:
    import defusedxml.ElementTree as SafeET
    import xmltodict
    from lxml import etree

    xsd = etree.XMLSchema(
        etree.fromstring(
            b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="manifest"><xs:complexType>'
            b'<xs:sequence><xs:element name="parcel" maxOccurs="unbounded"><xs:complexType>'
            b'<xs:attribute name="id" type="xs:string" use="required"/>'
            b'<xs:attribute name="kg" type="xs:decimal" use="required"/></xs:complexType></xs:element>'
            b"</xs:sequence></xs:complexType></xs:element></xs:schema>"
        )
    )
    parser = etree.XMLParser(schema=xsd)
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b"<manifest>&b;</manifest>"
    )
    external = b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><manifest>&x;</manifest>'

    c = recorder("xml", "manifest-import")
    c(
        "lxml_syntax",
        lambda: etree.fromstring(b"<manifest><parcel id='P1' kg='2.5'></manifest>"),
        "parse_manifest",
        ["validation", "data"],
        False,
    )
    c(
        "lxml_schema_invalid",
        lambda: etree.fromstring(b'<manifest><parcel id="P1" kg="heavy"/></manifest>', parser),
        "parse_manifest",
        ["validation"],
        False,
    )
    c(
        "lxml_assert_valid",
        lambda: xsd.assertValid(etree.fromstring(b"<manifest><box/></manifest>")),
        "validate_manifest",
        ["validation"],
        False,
    )
    c(
        "lxml_xpath_bug",
        lambda: etree.fromstring(b"<manifest/>").xpath("//parcel[@kg >"),
        "sum_weights",
        ["internal"],
        False,
    )
    c(
        "defused_entities_wrapped",
        lambda: SafeET.fromstring(bomb),
        "parse_manifest",
        ["validation", "auth", "data"],
        False,
        wrap=(ManifestImportFailed, "manifest from partner ACME rejected"),
    )
    c(
        "defused_external_entity",
        lambda: SafeET.fromstring(external),
        "parse_manifest",
        ["validation", "auth", "data"],
        False,
    )
    c(
        "xmltodict_mismatched_tag",
        lambda: xmltodict.parse("<manifest><parcel>P1</parcels></manifest>"),
        "parse_manifest",
        ["validation", "data"],
        False,
    )
    c("xmltodict_empty", lambda: xmltodict.parse(""), "parse_manifest", ["validation", "data"], False)


@family
def parquet_cases() -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    not_parquet = TMP / "stops-2026-12-07.parquet"
    not_parquet.write_text("stop_id,eta\n1,09:30\n")
    truncated = TMP / "legs.parquet"
    pq.write_table(pa.table({"leg": list(range(1000)), "km": [1.5] * 1000}), truncated)
    truncated.write_bytes(truncated.read_bytes()[:600])
    csv_path = TMP / "fuel.csv"
    csv_path.write_text("truck,litres\n12,41.5\n13,38 l\n")

    def schema_mismatch() -> None:
        with pq.ParquetWriter(TMP / "out.parquet", pa.schema([("leg", pa.int64()), ("km", pa.float64())])) as w:
            w.write_table(pa.table({"leg": ["L1"], "km": [2.0]}))

    c = recorder("parquet", "analytics")
    c(
        "not_a_parquet_file_wrapped",
        lambda: pq.read_table(not_parquet),
        "load_stops",
        ["data", "validation"],
        False,
        wrap=(ReportFailed, "stops report for 2026-12-07 failed"),
    )
    c("truncated_parquet", lambda: pq.read_table(truncated), "load_legs", ["data"], False)
    c(
        "missing_file",
        lambda: pq.read_table(TMP / "stops-2026-12-06.parquet"),
        "load_stops",
        ["not_found", "configuration"],
        False,
    )
    c(
        "csv_conversion_wrapped",
        lambda: pacsv.read_csv(csv_path, convert_options=pacsv.ConvertOptions(column_types={"litres": pa.float64()})),
        "load_fuel",
        ["data", "validation"],
        False,
        wrap=(ReportFailed, "fuel report for 2026-12-07 failed"),
    )
    c("schema_mismatch", schema_mismatch, "write_legs", ["internal", "validation", "data"], False)
    c("unsafe_cast", lambda: pc.cast(pa.array([70000, 12]), pa.int16()), "compact_ids", ["data", "validation"], False)
    c(
        "divide_by_zero",
        lambda: pc.divide(pa.array([10, 20]), pa.array([2, 0])),
        "fuel_per_km",
        ["data", "internal"],
        False,
    )
    c("mixed_types", lambda: pa.array([1, "two", 3.0]), "build_table", ["data", "validation", "internal"], False)
    c(
        "column_not_found",
        lambda: pa.table({"leg": [1]}).select(["leg", "km"]),
        "build_table",
        ["internal", "not_found"],
        False,
    )


@family
def pypdf_cases() -> None:
    import io

    from pypdf import PdfReader, PdfWriter

    buf = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.write(buf)
    plain = buf.getvalue()
    enc = io.BytesIO()
    secret = PdfWriter()
    secret.add_blank_page(width=200, height=200)
    secret.encrypt(user_password="pod-0000", algorithm="RC4-128")
    secret.write(enc)

    def encrypted_no_password() -> Any:
        return PdfReader(io.BytesIO(enc.getvalue())).pages[0].extract_text()

    def wrong_password() -> Any:
        return PdfReader(io.BytesIO(enc.getvalue()), password="not-the-password").pages[0]

    c = recorder("pypdf", "proof-of-delivery")
    c(
        "not_a_pdf",
        lambda: PdfReader(io.BytesIO(b"<html><body>Session expired</body></html>"), strict=True),
        "read_scan",
        ["data", "validation"],
        False,
    )
    c("empty_file", lambda: PdfReader(io.BytesIO(b"")), "read_scan", ["data", "validation"], False)
    c(
        "truncated_strict_wrapped",
        lambda: PdfReader(io.BytesIO(plain[: len(plain) // 2]), strict=True).pages[0],
        "read_scan",
        ["data"],
        False,
        wrap=(ManifestImportFailed, "scan for delivery 7731 unreadable"),
    )
    c("encrypted_no_password", encrypted_no_password, "read_scan", ["auth", "configuration", "data"], False)
    c("wrong_password", wrong_password, "read_scan", ["auth", "configuration"], False)
    c(
        "page_out_of_range",
        lambda: PdfReader(io.BytesIO(plain)).pages[3],
        "read_scan",
        ["internal", "not_found", "validation"],
        False,
    )


@family
def authlib_cases() -> None:
    from authlib.jose import JsonWebKey, jwt

    key = "driver-app-signing-key-0000-not-real"
    other = "another-signing-key-0000-not-real"
    now = int(time.time())
    header = {"alg": "HS256"}

    def issue(claims: dict[str, Any], signing_key: str = key) -> bytes:
        return jwt.encode(header, claims, signing_key)

    def check(token: bytes, options: dict[str, Any] | None = None, verify_key: Any = key) -> Any:
        claims = jwt.decode(token, verify_key, claims_options=options or {})
        claims.validate(now=now)
        return claims

    base = {"sub": "driver-118", "iss": "https://auth.fleet.example", "aud": "driver-app", "iat": now - 60}
    c = recorder("authlib", "driver-app-gateway")
    c("expired", lambda: check(issue(dict(base, exp=now - 600))), "authenticate_driver", ["auth"], False)
    c("bad_signature", lambda: check(issue(dict(base, exp=now + 600), other)), "authenticate_driver", ["auth"], False)
    c(
        "wrong_audience",
        lambda: check(
            issue(dict(base, exp=now + 600, aud="back-office")), {"aud": {"essential": True, "value": "driver-app"}}
        ),
        "authenticate_driver",
        ["auth"],
        False,
    )
    c(
        "missing_claim_wrapped",
        lambda: check(issue({"sub": "driver-118", "iat": now}), {"exp": {"essential": True}}),
        "authenticate_driver",
        ["auth", "validation"],
        False,
        wrap=(LoginRejected, "driver session refused"),
    )
    c(
        "malformed_token",
        lambda: check(b"eyJhbGciOiJIUzI1NiJ9.not-base64!.sig"),
        "authenticate_driver",
        ["auth", "validation", "data"],
        False,
    )
    c(
        "not_yet_valid",
        lambda: check(issue(dict(base, exp=now + 7200, nbf=now + 3600))),
        "authenticate_driver",
        ["auth"],
        None,
    )
    c(
        "alg_none_rejected",
        lambda: check(b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJkcml2ZXItMTE4In0."),
        "authenticate_driver",
        ["auth", "validation"],
        False,
    )
    c(
        "wrong_verification_key",
        lambda: check(
            issue(dict(base, exp=now + 600)),
            verify_key=JsonWebKey.import_key({"kty": "oct", "k": "c2hvcnQ"}, {"kty": "oct"}).as_dict(),
        ),
        "authenticate_driver",
        ["auth", "configuration"],
        False,
    )


@family
def hashing_cases() -> None:
    import datetime as dt

    import argon2
    import bcrypt
    from Crypto.Cipher import AES
    from Crypto.PublicKey import RSA
    from Crypto.Util.Padding import unpad
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from OpenSSL import crypto

    hasher = argon2.PasswordHasher(time_cost=1, memory_cost=8192)
    stored = hasher.hash("correct horse battery staple")
    key = bytes(range(16))

    def gcm_tampered() -> Any:
        cipher = AES.new(key, AES.MODE_GCM, nonce=b"\x00" * 12)
        blob, tag = cipher.encrypt_and_digest(b'{"iban": "FR76 0000"}')
        return AES.new(key, AES.MODE_GCM, nonce=b"\x00" * 12).decrypt_and_verify(blob[:-1] + b"\x00", tag)

    def cbc_bad_padding() -> Any:
        blob = AES.new(key, AES.MODE_CBC, iv=b"\x00" * 16).encrypt(b"driver-118-iban!" * 2)
        return unpad(AES.new(b"\x01" * 16, AES.MODE_CBC, iv=b"\x00" * 16).decrypt(blob), 16)

    def expired_cert() -> None:
        pkey = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "carrier-edi.fleet.example")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(pkey.public_key())
            .serial_number(1000)
            .not_valid_before(dt.datetime(2024, 1, 1))
            .not_valid_after(dt.datetime(2025, 1, 1))
            .sign(pkey, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        store = crypto.X509Store()
        loaded = crypto.load_certificate(crypto.FILETYPE_PEM, pem)
        store.add_cert(loaded)
        crypto.X509StoreContext(store, loaded).verify_certificate()

    c = recorder("hashing", "accounts")
    c(
        "argon2_mismatch_wrapped",
        lambda: hasher.verify(stored, "correct horse battery stapler"),
        "login",
        ["auth"],
        False,
        wrap=(LoginRejected, "login refused for dispatcher ann"),
    )
    c(
        "argon2_invalid_hash",
        lambda: hasher.verify("$argon2id$v=19$m=8192,t=1$broken", "pw"),
        "login",
        ["data", "validation"],
        False,
    )
    c(
        "bcrypt_invalid_salt",
        lambda: bcrypt.checkpw(b"secret", b"$2b$12$not-a-real-bcrypt-hash"),
        "login",
        ["data", "validation"],
        False,
    )
    c(
        "bcrypt_password_too_long_wrapped",
        lambda: bcrypt.hashpw(b"x" * 100, bcrypt.gensalt(4)),
        "set_password",
        ["validation"],
        False,
        wrap=(LoginRejected, "password change refused"),
    )
    c("aes_gcm_mac_check", gcm_tampered, "decrypt_bank_details", ["data", "auth"], False, service="payouts")
    c(
        "aes_cbc_bad_padding",
        cbc_bad_padding,
        "decrypt_bank_details",
        ["data", "configuration", "auth"],
        False,
        service="payouts",
    )
    c(
        "rsa_key_unreadable",
        lambda: RSA.import_key("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"),
        "load_signing_key",
        ["configuration", "data"],
        False,
        service="payouts",
    )
    c(
        "openssl_bad_pem",
        lambda: crypto.load_certificate(crypto.FILETYPE_PEM, b"-----BEGIN CERTIFICATE-----\nabc\n"),
        "load_partner_cert",
        ["configuration", "data"],
        False,
        service="carrier-edi",
    )
    c(
        "openssl_cert_expired",
        expired_cert,
        "verify_partner_cert",
        ["auth", "configuration"],
        False,
        service="carrier-edi",
    )


@family
def processes_cases() -> None:
    import subprocess

    import pexpect
    import plumbum
    import psutil
    import sh

    def finished_pid() -> Any:
        proc = subprocess.Popen(["true"])
        proc.wait()
        return psutil.Process(proc.pid).cpu_times()

    def wait_timeout() -> Any:
        proc = subprocess.Popen(["sleep", "5"])
        try:
            return psutil.Process(proc.pid).wait(timeout=0.3)
        finally:
            proc.kill()
            proc.wait()

    def pexpect_timeout() -> Any:
        child = pexpect.spawn("cat", timeout=0.5)
        try:
            return child.expect("Password:")
        finally:
            child.close(force=True)

    def pexpect_eof() -> Any:
        child = pexpect.spawn("sh", ["-c", "echo 'modem: no carrier'; exit 1"], timeout=2)
        try:
            return child.expect("CONNECT")
        finally:
            child.close(force=True)

    gz = TMP / "telemetry-2026-12-07.csv.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00 truncated")

    c = recorder("processes", "depot-agent")
    c("psutil_no_such_process", finished_pid, "sample_worker", ["not_found"], False)
    c("psutil_wait_timeout", wait_timeout, "stop_worker", ["timeout"], True)
    c("pexpect_timeout", pexpect_timeout, "unlock_scanner", ["timeout"], True)
    c("pexpect_eof", pexpect_eof, "dial_modem", ["network", "unavailable", "unknown"], True)
    c(
        "pexpect_command_missing",
        lambda: pexpect.spawn("scanner-ctl", ["--unlock"]),
        "unlock_scanner",
        ["configuration"],
        False,
    )
    c(
        "sh_exit_code_wrapped",
        lambda: sh.tar("-xzf", str(TMP / "firmware-4.2.tgz"), "-C", str(TMP)),
        "install_firmware",
        ["not_found", "configuration"],
        False,
        wrap=(DriverSyncFailed, "firmware 4.2 not installed on handhelds"),
    )
    c("sh_command_not_found", lambda: sh.Command("lpstat-fleet")("-p"), "list_printers", ["configuration"], False)
    c("sh_timeout", lambda: sh.sleep("3", _timeout=0.5), "sync_clock", ["timeout"], True)
    c("plumbum_exit_code", lambda: plumbum.local["gzip"]["-t", str(gz)](), "check_archive", ["data"], False)
    c("plumbum_command_not_found", lambda: plumbum.local["rclone-fleet"], "upload_archive", ["configuration"], False)


@family
def schemas_cases() -> None:
    import jsonschema
    from marshmallow import Schema, fields, validate

    class StopSchema(Schema):
        stop_id = fields.Str(required=True)
        eta = fields.DateTime(required=True)
        parcels = fields.Int(validate=validate.Range(min=0, max=200))
        contact = fields.Email()

    shipment = {
        "type": "object",
        "required": ["id", "weight_kg", "destination"],
        "properties": {
            "id": {"type": "string", "pattern": "^SHP-[0-9]+$"},
            "weight_kg": {"type": "number", "exclusiveMinimum": 0},
            "destination": {"$ref": "#/$defs/address"},
        },
        "$defs": {"address": {"type": "object", "required": ["postcode"]}},
        "additionalProperties": False,
    }
    c = recorder("schemas", "booking-api")
    c(
        "marshmallow_missing",
        lambda: StopSchema().load({"eta": "2026-12-08T09:30:00"}),
        "create_stop",
        ["validation"],
        False,
    )
    c(
        "marshmallow_bad_datetime",
        lambda: StopSchema().load({"stop_id": "S1", "eta": "tomorrow morning"}),
        "create_stop",
        ["validation"],
        False,
    )
    c(
        "marshmallow_unknown_field_wrapped",
        lambda: StopSchema().load({"stop_id": "S1", "eta": "2026-12-08T09:30:00", "parcels": 3, "signature": "x"}),
        "create_stop",
        ["validation"],
        False,
        wrap=(BookingFailed, "stop S1 rejected"),
    )
    c(
        "marshmallow_range",
        lambda: StopSchema().load({"stop_id": "S1", "eta": "2026-12-08T09:30:00", "parcels": 500}),
        "create_stop",
        ["validation"],
        False,
    )
    c(
        "jsonschema_required_wrapped",
        lambda: jsonschema.validate({"id": "SHP-1", "weight_kg": 2}, shipment),
        "create_shipment",
        ["validation"],
        False,
        wrap=(BookingFailed, "shipment SHP-1 rejected"),
    )
    c(
        "jsonschema_pattern",
        lambda: jsonschema.validate({"id": "1001", "weight_kg": 2, "destination": {"postcode": "69001"}}, shipment),
        "create_shipment",
        ["validation"],
        False,
    )
    c(
        "jsonschema_bad_schema",
        lambda: jsonschema.validate({}, {"type": "objekt"}),
        "create_shipment",
        ["configuration", "internal"],
        False,
    )
    c(
        "jsonschema_unresolvable_ref",
        lambda: jsonschema.validate({"destination": {}}, {"properties": {"destination": {"$ref": "#/$defs/adress"}}}),
        "create_shipment",
        ["configuration", "internal"],
        False,
    )


@family
def pydantic_inputs_cases() -> None:
    import datetime as dt

    import phonenumbers
    from email_validator import validate_email
    from pydantic import BaseModel, ConfigDict, Field, field_validator

    class Booking(BaseModel):
        model_config = ConfigDict(extra="forbid")
        reference: str = Field(pattern=r"^BK-\d{6}$")
        pickup_at: dt.datetime
        pallets: int = Field(gt=0, le=33)

        @field_validator("pickup_at")
        @classmethod
        def in_future(cls, value: dt.datetime) -> dt.datetime:
            if value.year < 2026:
                raise ValueError("pickup must not be in the past")
            return value

    def undefined_forward_ref() -> Any:
        class Route(BaseModel):
            legs: list[Leg]  # type: ignore[name-defined]  # noqa: F821

        return Route(legs=[])

    ok = {"reference": "BK-000123", "pickup_at": "2026-12-09T08:00:00", "pallets": 4}
    c = recorder("pydantic_inputs", "booking-api")
    c(
        "missing_and_bad_int",
        lambda: Booking.model_validate({"reference": "BK-000123", "pallets": "four"}),
        "create_booking",
        ["validation"],
        False,
    )
    c(
        "pattern_mismatch",
        lambda: Booking.model_validate(dict(ok, reference="123")),
        "create_booking",
        ["validation"],
        False,
    )
    c(
        "extra_forbidden_wrapped",
        lambda: Booking.model_validate(dict(ok, priority="urgent")),
        "create_booking",
        ["validation"],
        False,
        wrap=(BookingFailed, "booking BK-000123 rejected"),
    )
    c(
        "custom_validator",
        lambda: Booking.model_validate(dict(ok, pickup_at="2019-01-01T08:00:00")),
        "create_booking",
        ["validation"],
        False,
    )
    c(
        "json_invalid",
        lambda: Booking.model_validate_json('{"reference": "BK-000123", "pallets": 4'),
        "create_booking",
        ["validation", "data"],
        False,
    )
    c("model_not_fully_defined", undefined_forward_ref, "plan_route", ["internal"], False, service="route-planner")
    c(
        "email_invalid",
        lambda: validate_email("dispatch@@fleet.example", check_deliverability=False),
        "register_contact",
        ["validation"],
        False,
    )
    c("phone_unparsable", lambda: phonenumbers.parse("call me maybe", "FR"), "register_contact", ["validation"], False)


@family
def locale_dates_cases() -> None:
    import arrow
    import babel
    import babel.numbers
    import pendulum

    c = recorder("locale_dates", "driver-portal")
    c(
        "babel_unknown_locale",
        lambda: babel.Locale.parse("fr_XX_old"),
        "render_payslip",
        ["configuration", "validation"],
        False,
    )
    c(
        "babel_parse_decimal",
        lambda: babel.numbers.parse_decimal("12,5 km", locale="fr_FR"),
        "parse_mileage",
        ["validation", "data"],
        False,
    )
    c(
        "babel_unknown_currency_wrapped",
        lambda: babel.numbers.validate_currency("EUX", locale="de_DE"),
        "render_invoice",
        ["validation", "configuration", "data"],
        False,
        wrap=(InvoiceNotIssued, "invoice INV-2291 could not be rendered"),
        service="billing",
    )
    c(
        "arrow_parser_error",
        lambda: arrow.get("08/12/2026 9h30", "YYYY-MM-DD HH:mm"),
        "parse_pickup_time",
        ["validation", "data"],
        False,
    )
    c(
        "arrow_unknown_tz",
        lambda: arrow.now("Europe/Lyon"),
        "local_time",
        ["configuration", "validation", "not_found"],
        False,
    )
    c(
        "pendulum_parse",
        lambda: pendulum.parse("2026-02-30T08:00:00"),
        "parse_pickup_time",
        ["validation", "data"],
        False,
    )
    c(
        "pendulum_invalid_timezone",
        lambda: pendulum.timezone("Mars/Olympus_Mons"),
        "local_time",
        ["configuration", "validation", "not_found"],
        False,
    )


@family
def numpy_cases() -> None:
    import numpy as np

    def divide() -> Any:
        with np.errstate(divide="raise"):
            return np.array([120.0, 80.0]) / np.array([2.0, 0.0])

    npy = TMP / "distances.npy"
    np.save(npy, np.arange(100, dtype=np.float64))
    npy.write_bytes(npy.read_bytes()[:200])
    obj = TMP / "legs.npy"
    np.save(obj, np.array([{"leg": 1}, {"leg": 2}], dtype=object), allow_pickle=True)

    c = recorder("numpy", "route-optimizer")
    c(
        "singular_matrix",
        lambda: np.linalg.inv(np.array([[1.0, 2.0], [2.0, 4.0]])),
        "solve_flows",
        ["data", "validation"],
        False,
    )
    c("divide_by_zero", divide, "cost_per_km", ["data", "internal"], False)
    c(
        "array_too_large",
        lambda: np.zeros((200_000, 200_000, 100), dtype=np.float64),
        "distance_matrix",
        ["resource", "internal"],
        False,
    )
    c(
        "broadcast_mismatch_wrapped",
        lambda: np.ones((3, 4)) + np.ones((5,)),
        "combine_costs",
        ["internal"],
        False,
        wrap=(RouteNotPlanned, "route 118 could not be optimised"),
        service="route-planner",
    )
    c(
        "astype_not_numeric",
        lambda: np.array(["12.5", "n/a"]).astype(np.float64),
        "load_distances",
        ["data", "validation"],
        False,
    )
    c("truncated_npy", lambda: np.load(npy), "load_distances", ["data"], False)
    c("pickle_not_allowed", lambda: np.load(obj), "load_legs", ["configuration", "internal", "data"], False)


@family
def asyncio_cases() -> None:
    silent = Silent()
    closer = LineServer(b"", lambda line: None)
    chatty = LineServer(b"STATUS " + b"x" * 5000 + b"\n", lambda line: b"OK\n")

    async def read_reply(port: int, timeout: float = 0.5) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"ETA 118\n")
            await writer.drain()
            return await asyncio.wait_for(reader.readexactly(16), timeout)
        finally:
            writer.close()

    async def limit_overrun() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", chatty.port, limit=1024)
        try:
            return await reader.readuntil(b"\n")
        finally:
            writer.close()

    async def queue_full() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=10)
        for stop in range(11):
            queue.put_nowait(stop)

    async def cancelled() -> None:
        task = asyncio.create_task(asyncio.sleep(10))
        await asyncio.sleep(0)
        task.cancel()
        await task

    async def set_twice() -> None:
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        fut.set_result("assigned")
        fut.set_result("assigned again")

    async def over_release() -> None:
        sem = asyncio.BoundedSemaphore(2)
        async with sem:
            pass
        sem.release()

    async def refused() -> Any:
        return await asyncio.open_connection("127.0.0.1", closed_port())

    c = recorder("asyncio", "eta-service")
    c(
        "wait_for_timeout_wrapped",
        lambda: read_reply(silent.port),
        "ask_eta",
        ["timeout"],
        True,
        wrap=(RouteNotPlanned, "ETA for route 118 not refreshed"),
    )
    c(
        "incomplete_read_wrapped",
        lambda: read_reply(closer.port),
        "ask_eta",
        ["network", "unavailable"],
        True,
        wrap=(DispatchFailed, "ETA for route 118 unknown"),
        service="dispatch",
    )
    c("limit_overrun", limit_overrun, "read_status", ["validation", "data", "resource"], False)
    c("queue_full", queue_full, "enqueue_stop", ["resource", "unavailable", "rate_limit"], True)
    c("task_cancelled", cancelled, "refresh_etas", ["unknown", "timeout", "internal"], None)
    c("future_set_twice", set_twice, "assign_driver", ["internal"], False)
    c("semaphore_over_release", over_release, "call_partner", ["internal"], False)
    c("connection_refused", refused, "ask_eta", ["network", "unavailable"], True)


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
