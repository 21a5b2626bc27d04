"""Build tests/data/holdout/cases.jsonl: a held-out set of real errors, labelled by the taxonomy only.

Written without reading medic's rules (config/rules/), its classifier or the first corpus's cases,
so it measures how the rules generalise. Each error is triggered for real: against the machine's
PostgreSQL, MariaDB and RabbitMQ, against servers this script starts on 127.0.0.1 (plain and TLS
HTTP, an aiohttp app, an OAuth token endpoint, a silent TCP listener), against closed ports, or
by feeding a library real bad input. Events are built by `medic_client.event_from_exception`.

Run: /tmp/holdout-venv/bin/python tests/data/holdout/capture.py   (README.md says how to build the venv)
"""

from __future__ import annotations

import asyncio
import collections
import decimal
import io
import json
import os
import resource
import socket
import sqlite3
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
import zipfile
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from medic_client import event_from_exception

HERE = Path(__file__).resolve().parent
OUT = HERE / "cases.jsonl"
SOURCE = "holdout-app"
CASES: list[dict[str, Any]] = []
MISSED: list[str] = []


def app_error(name: str) -> type[Exception]:
    cls = type(name, (Exception,), {})
    cls.__module__ = "billing.errors"
    return cls


ChargeFailed = app_error("ChargeFailed")
ReportBuildFailed = app_error("ReportBuildFailed")
IngestFailed = app_error("IngestFailed")
NotifyFailed = app_error("NotifyFailed")
StorageError = app_error("StorageError")
LoginFailed = app_error("LoginFailed")


def capture(case_id: str, family: str, trigger: Callable[[], Any], *, service: str, operation: str | None,
            accept: list[str], retryable: bool | None, wrap: tuple[type[Exception], str] | None = None) -> None:
    try:
        try:
            result = trigger()
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        except Exception as exc:
            if wrap is None:
                raise
            raise wrap[0](wrap[1]) from exc
    except Exception as exc:  # noqa: BLE001 -- every exception is a case
        event = event_from_exception(exc, service=service, operation=operation, source=SOURCE,
                                     include_traceback=False)
        event.pop("occurred_at", None)
        CASES.append({"id": case_id, "family": family, "event": event, "accept": accept, "retryable": retryable})
        print(f"  {case_id:36} {event['error_type'][:55]:55} {event['message'][:70]!r}")
        return
    MISSED.append(f"{family}/{case_id}: did not raise")
    print(f"  {case_id:36} DID NOT RAISE")


def family(fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        print(f"[{fn.__name__}]")
        try:
            fn()
        except Exception:  # noqa: BLE001
            MISSED.append(f"{fn.__name__}: setup failed: {traceback.format_exc(limit=3)}")
            print(traceback.format_exc())
    run.__name__ = fn.__name__
    return run


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Silent:
    """Accepts TCP connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return


# --------------------------------------------------------------------------- a local HTTP server

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        if self.path == "/token":
            if "wrong-secret" in body:
                self._send(401, b'{"error": "invalid_client", "error_description": "client authentication failed"}',
                           {"Content-Type": "application/json"})
            elif "expired-code" in body:
                self._send(400, b'{"error": "invalid_grant", "error_description": "authorization code expired"}',
                           {"Content-Type": "application/json"})
            else:
                self._send(429, b'{"error": "slow_down"}', {"Content-Type": "application/json", "Retry-After": "7"})
            return
        self.do_GET()

    def do_PUT(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        simple = {"/401": 401, "/403": 403, "/404": 404, "/409": 409, "/410": 410, "/413": 413, "/422": 422,
                  "/429": 429, "/500": 500, "/502": 502, "/503": 503, "/504": 504, "/507": 507, "/400": 400}
        if path in simple:
            status = simple[path]
            headers = {"Content-Type": "application/json"}
            if status in (429, 503):
                headers["Retry-After"] = "5"
            self._send(status, json.dumps({"error": f"status {status}"}).encode(), headers)
        elif path == "/slow":
            time.sleep(3)
            self._send(200, b"late")
        elif path == "/cut":  # promises 1000 bytes, sends 10, closes
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif path == "/chunk-cut":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nhello\r\n")
            self.wfile.write(b"zz\r\nnot hex\r\n")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/hangup":  # reads the request and closes without a word
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif path == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        elif path == "/badgzip":
            self._send(200, b"this is not gzip at all", {"Content-Encoding": "gzip"})
        elif path == "/html":
            self._send(200, b"<html><body>Service temporarily down</body></html>", {"Content-Type": "text/html"})
        elif path == "/badjson":
            self._send(200, b'{"orders": [1, 2,', {"Content-Type": "application/json"})
        elif path == "/garbage":
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n")
            self.close_connection = True
        else:
            self._send(200, b'{"ok": true}', {"Content-Type": "application/json"})


def start_http(tls_context: ssl.SSLContext | None = None) -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


HTTP_PORT = 0
TLS_PORT = 0
TMP = Path(tempfile.mkdtemp(prefix="holdout-"))


def setup_servers() -> None:
    global HTTP_PORT, TLS_PORT
    HTTP_PORT = start_http()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=payments.internal", "-keyout", str(TMP / "key.pem"), "-out", str(TMP / "cert.pem")],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(TMP / "cert.pem", TMP / "key.pem")
    TLS_PORT = start_http(ctx)


def url(path: str) -> str:
    return f"http://127.0.0.1:{HTTP_PORT}{path}"


# =========================================================================== families

@family
def asyncpg_cases() -> None:
    import asyncpg

    dsn = "postgresql://postgres@127.0.0.1:5432/test"
    db = {"service": "ledger-db"}

    async def run_sql(*statements: str, timeout_s: float | None = None, settings: dict | None = None) -> None:
        conn = await asyncpg.connect(dsn, timeout=3, server_settings=settings or {})
        try:
            for sql in statements:
                await conn.execute(sql, timeout=timeout_s)
        finally:
            await conn.close()

    asyncio.run(run_sql("DROP TABLE IF EXISTS holdout_accounts",
                        "CREATE TABLE holdout_accounts (id int PRIMARY KEY, owner text NOT NULL,"
                        " balance numeric CHECK (balance >= 0))",
                        "INSERT INTO holdout_accounts VALUES (1, 'ann', 10), (2, 'bob', 10)"))

    capture("asyncpg_refused", "asyncpg", lambda: asyncpg.connect(f"postgresql://postgres@127.0.0.1:{closed_port()}/test",
                                                                   timeout=2),
            operation="connect", accept=["network"], retryable=True, **db)
    capture("asyncpg_missing_database", "asyncpg",
            lambda: asyncpg.connect("postgresql://postgres@127.0.0.1:5432/ledger_prod", timeout=3),
            operation="connect", accept=["configuration"], retryable=False, **db)
    capture("asyncpg_missing_role", "asyncpg",
            lambda: asyncpg.connect("postgresql://ledger_svc@127.0.0.1:5432/test", timeout=3),
            operation="connect", accept=["configuration", "auth"], retryable=False, **db)
    capture("asyncpg_unique", "asyncpg", lambda: run_sql("INSERT INTO holdout_accounts VALUES (1, 'carl', 0)"),
            operation="open_account", accept=["data", "conflict"], retryable=False, **db)
    capture("asyncpg_not_null", "asyncpg", lambda: run_sql("INSERT INTO holdout_accounts VALUES (3, NULL, 0)"),
            operation="open_account", accept=["data", "validation"], retryable=False, **db)
    capture("asyncpg_check", "asyncpg", lambda: run_sql("UPDATE holdout_accounts SET balance = -5 WHERE id = 1"),
            operation="debit", accept=["data", "validation"], retryable=False, **db)
    capture("asyncpg_syntax", "asyncpg", lambda: run_sql("SELEC owner FROM holdout_accounts"),
            operation="list_accounts", accept=["internal"], retryable=False, **db)
    capture("asyncpg_undefined_column", "asyncpg", lambda: run_sql("SELECT ownr FROM holdout_accounts"),
            operation="list_accounts", accept=["internal"], retryable=False, **db)
    capture("asyncpg_statement_timeout", "asyncpg", lambda: run_sql("SELECT pg_sleep(2)",
                                                                   settings={"statement_timeout": "200"}),
            operation="monthly_report", accept=["timeout"], retryable=True, **db)
    capture("asyncpg_client_timeout", "asyncpg", lambda: run_sql("SELECT pg_sleep(2)", timeout_s=0.3),
            operation="monthly_report", accept=["timeout"], retryable=True, **db)
    capture("asyncpg_statement_timeout_wrapped", "asyncpg",
            lambda: run_sql("SELECT pg_sleep(2)", settings={"statement_timeout": "200"}),
            wrap=(ReportBuildFailed, "monthly ledger report not built"), operation="monthly_report",
            accept=["timeout"], retryable=True, **db)
    capture("asyncpg_unique_wrapped", "asyncpg", lambda: run_sql("INSERT INTO holdout_accounts VALUES (2, 'dan', 0)"),
            wrap=(ChargeFailed, "account could not be opened"), operation="open_account",
            accept=["data", "conflict"], retryable=False, **db)
    capture("asyncpg_division_by_zero", "asyncpg", lambda: run_sql("SELECT balance / 0 FROM holdout_accounts"),
            operation="ratio_report", accept=["internal", "data"], retryable=False, **db)

    async def bad_param() -> None:
        conn = await asyncpg.connect(dsn, timeout=3)
        try:
            await conn.fetch("SELECT * FROM holdout_accounts WHERE id = $1", "one")
        finally:
            await conn.close()

    capture("asyncpg_param_type", "asyncpg", bad_param, operation="get_account",
            accept=["internal", "validation"], retryable=False, **db)

    async def nowait() -> None:
        holder = await asyncpg.connect(dsn, timeout=3)
        other = await asyncpg.connect(dsn, timeout=3)
        try:
            async with holder.transaction():
                await holder.execute("SELECT * FROM holdout_accounts WHERE id = 1 FOR UPDATE")
                async with other.transaction():
                    await other.execute("SELECT * FROM holdout_accounts WHERE id = 1 FOR UPDATE NOWAIT")
        finally:
            await holder.close()
            await other.close()

    capture("asyncpg_lock_nowait", "asyncpg", nowait, operation="debit", accept=["conflict"], retryable=True, **db)

    async def deadlock() -> None:
        a = await asyncpg.connect(dsn, timeout=3)
        b = await asyncpg.connect(dsn, timeout=3)
        try:
            ta, tb = a.transaction(), b.transaction()
            await ta.start()
            await tb.start()
            await a.execute("UPDATE holdout_accounts SET balance = balance - 1 WHERE id = 1")
            await b.execute("UPDATE holdout_accounts SET balance = balance - 1 WHERE id = 2")
            results = await asyncio.gather(
                a.execute("UPDATE holdout_accounts SET balance = balance + 1 WHERE id = 2"),
                b.execute("UPDATE holdout_accounts SET balance = balance + 1 WHERE id = 1"),
                return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        finally:
            a.terminate()
            b.terminate()

    capture("asyncpg_deadlock_wrapped", "asyncpg", deadlock, wrap=(ChargeFailed, "transfer 1->2 not booked"),
            operation="transfer", accept=["conflict"], retryable=True, **db)

    async def serialization() -> None:
        a = await asyncpg.connect(dsn, timeout=3)
        b = await asyncpg.connect(dsn, timeout=3)
        try:
            ta = a.transaction(isolation="serializable")
            tb = b.transaction(isolation="serializable")
            await ta.start()
            await tb.start()
            await a.fetch("SELECT sum(balance) FROM holdout_accounts")
            await b.fetch("SELECT sum(balance) FROM holdout_accounts")
            await a.execute("UPDATE holdout_accounts SET balance = balance + 1 WHERE id = 1")
            await b.execute("UPDATE holdout_accounts SET balance = balance + 1 WHERE id = 2")
            await ta.commit()
            await tb.commit()
        finally:
            a.terminate()
            b.terminate()

    capture("asyncpg_serialization", "asyncpg", serialization, operation="interest_run",
            accept=["conflict"], retryable=True, **db)

    async def pool_wait() -> None:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        try:
            async with pool.acquire():
                async with pool.acquire(timeout=0.3):
                    pass
        finally:
            pool.terminate()

    capture("asyncpg_pool_acquire_timeout", "asyncpg", pool_wait, operation="get_account",
            accept=["timeout", "resource"], retryable=True, **db)

    async def terminated() -> None:
        conn = await asyncpg.connect(dsn, timeout=3)
        killer = await asyncpg.connect(dsn, timeout=3)
        try:
            await killer.execute(f"SELECT pg_terminate_backend({conn.get_server_pid()})")
            await asyncio.sleep(0.2)
            await conn.fetch("SELECT 1")
        finally:
            await killer.close()
            conn.terminate()

    capture("asyncpg_admin_shutdown", "asyncpg", terminated, operation="get_account",
            accept=["network", "unavailable"], retryable=True, **db)


@family
def aiomysql_cases() -> None:
    import aiomysql

    db = {"service": "catalog-mysql"}

    async def run_sql(*statements: str, **kw: Any) -> None:
        params = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "db": "test",
                  "connect_timeout": 3, **kw}
        conn = await aiomysql.connect(**params)
        try:
            async with conn.cursor() as cur:
                for sql in statements:
                    await cur.execute(sql)
            await conn.commit()
        finally:
            conn.close()

    asyncio.run(run_sql("DROP TABLE IF EXISTS holdout_items",
                        "CREATE TABLE holdout_items (sku VARCHAR(20) PRIMARY KEY, qty INT NOT NULL) ENGINE=InnoDB",
                        "INSERT INTO holdout_items VALUES ('A-1', 3)"))
    capture("aiomysql_refused", "aiomysql", lambda: run_sql("SELECT 1", port=closed_port()),
            operation="connect", accept=["network"], retryable=True, **db)
    capture("aiomysql_bad_password", "aiomysql", lambda: run_sql("SELECT 1", user="catalog", password="nope"),
            operation="connect", accept=["auth"], retryable=False, **db)
    capture("aiomysql_bad_password_wrapped", "aiomysql", lambda: run_sql("SELECT 1", user="catalog", password="x"),
            wrap=(IngestFailed, "catalog sync aborted"), operation="sync_catalog", accept=["auth"], retryable=False,
            **db)
    capture("aiomysql_unknown_db", "aiomysql", lambda: run_sql("SELECT 1", db="catalog_prod"),
            operation="connect", accept=["configuration"], retryable=False, **db)
    capture("aiomysql_duplicate", "aiomysql", lambda: run_sql("INSERT INTO holdout_items VALUES ('A-1', 9)"),
            operation="add_item", accept=["data", "conflict"], retryable=False, **db)
    capture("aiomysql_missing_table", "aiomysql", lambda: run_sql("SELECT * FROM holdout_itemz"),
            operation="list_items", accept=["internal", "configuration", "not_found"], retryable=False, **db)
    capture("aiomysql_syntax", "aiomysql", lambda: run_sql("SELECT * FROM holdout_items WHERE"),
            operation="list_items", accept=["internal"], retryable=False, **db)
    capture("aiomysql_data_too_long", "aiomysql",
            lambda: run_sql("SET SESSION sql_mode='STRICT_ALL_TABLES'",
                            "INSERT INTO holdout_items VALUES ('" + "X" * 40 + "', 1)"),
            operation="add_item", accept=["validation", "data"], retryable=False, **db)

    async def lock_wait() -> None:
        params = {"host": "127.0.0.1", "user": "root", "password": "", "db": "test", "autocommit": False}
        a = await aiomysql.connect(**params)
        b = await aiomysql.connect(**params)
        try:
            async with a.cursor() as ca, b.cursor() as cb:
                await ca.execute("UPDATE holdout_items SET qty = qty - 1 WHERE sku = 'A-1'")
                await cb.execute("SET SESSION innodb_lock_wait_timeout = 1")
                await cb.execute("UPDATE holdout_items SET qty = qty - 1 WHERE sku = 'A-1'")
        finally:
            a.close()
            b.close()

    capture("aiomysql_lock_wait_timeout", "aiomysql", lock_wait, operation="reserve",
            accept=["conflict", "timeout"], retryable=True, **db)

    capture("aiomysql_duplicate_wrapped", "aiomysql", lambda: run_sql("INSERT INTO holdout_items VALUES ('A-1', 1)"),
            wrap=(ReportBuildFailed, "catalog import row 3 failed"), operation="import_catalog",
            accept=["data", "conflict"], retryable=False, **db)


@family
def aio_pika_cases() -> None:
    import aio_pika

    mq = {"service": "events-broker"}

    async def connect(url_: str, **kw: Any) -> Any:
        return await aio_pika.connect(url_, timeout=3, **kw)

    async def use(fn: Callable[[Any], Any]) -> None:
        conn = await connect("amqp://guest:guest@127.0.0.1:5672/")
        try:
            channel = await conn.channel()
            await fn(channel)
        finally:
            await conn.close()

    capture("aio_pika_refused", "aio_pika", lambda: connect(f"amqp://guest:guest@127.0.0.1:{closed_port()}/"),
            operation="connect", accept=["network"], retryable=True, **mq)
    capture("aio_pika_bad_login", "aio_pika", lambda: connect("amqp://billing:wrong@127.0.0.1:5672/"),
            operation="connect", accept=["auth"], retryable=False, **mq)
    capture("aio_pika_missing_vhost", "aio_pika", lambda: connect("amqp://guest:guest@127.0.0.1:5672/billing"),
            operation="connect", accept=["configuration", "auth", "not_found"], retryable=False, **mq)
    capture("aio_pika_passive_missing_queue", "aio_pika",
            lambda: use(lambda ch: ch.declare_queue("invoices.outbox", passive=True)),
            operation="consume_invoices", accept=["not_found", "configuration"], retryable=False, **mq)

    async def redeclare(ch: Any) -> None:
        await ch.declare_exchange("holdout.events", aio_pika.ExchangeType.TOPIC, auto_delete=True)
        await ch.declare_exchange("holdout.events", aio_pika.ExchangeType.FANOUT, auto_delete=True)

    capture("aio_pika_exchange_mismatch", "aio_pika", lambda: use(redeclare), operation="declare_topology",
            accept=["configuration", "conflict", "validation"], retryable=False, **mq)

    async def silent() -> None:
        listener = Silent()
        await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{listener.port}/", timeout=0.5)

    capture("aio_pika_connect_timeout_wrapped", "aio_pika", silent, wrap=(NotifyFailed, "order event not published"),
            operation="publish_order_event", accept=["timeout", "network"], retryable=True, **mq)


@family
def aiohttp_client_cases() -> None:
    import aiohttp

    api = {"service": "partner-api"}

    async def get(target: str, *, raise_for_status: bool = True, timeout_s: float = 2.0, as_json: bool = False,
                  method: str = "GET", ssl_ctx: Any = None) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
            async with session.request(method, target, raise_for_status=raise_for_status, ssl=ssl_ctx) as resp:
                if as_json:
                    await resp.json()
                else:
                    await resp.read()

    labels = {"/404": (["not_found"], False), "/503": (["unavailable"], True), "/429": (["rate_limit"], True),
              "/401": (["auth"], False), "/422": (["validation"], False), "/502": (["unavailable"], True)}
    for path, (accept, retry) in labels.items():
        capture(f"aiohttp_status_{path[1:]}", "aiohttp", lambda p=path: get(url(p)), operation="sync_partner",
                accept=accept, retryable=retry, **api)
    capture("aiohttp_refused", "aiohttp", lambda: get(f"http://127.0.0.1:{closed_port()}/"),
            operation="sync_partner", accept=["network"], retryable=True, **api)
    capture("aiohttp_timeout", "aiohttp", lambda: get(url("/slow"), timeout_s=0.4), operation="sync_partner",
            accept=["timeout"], retryable=True, **api)
    capture("aiohttp_disconnected", "aiohttp", lambda: get(url("/hangup")), operation="sync_partner",
            accept=["network"], retryable=True, **api)
    capture("aiohttp_payload_cut", "aiohttp", lambda: get(url("/cut")), operation="download_statement",
            accept=["network", "data"], retryable=True, **api)
    capture("aiohttp_content_type", "aiohttp", lambda: get(url("/html"), as_json=True), operation="sync_partner",
            accept=["data", "validation", "unavailable"], retryable=None, **api)
    capture("aiohttp_dns", "aiohttp", lambda: get("http://partner-api.invalid/"), operation="sync_partner",
            accept=["network", "configuration"], retryable=None, **api)
    capture("aiohttp_bad_url", "aiohttp", lambda: get("htp//partner-api/v1"), operation="sync_partner",
            accept=["configuration", "validation"], retryable=False, **api)
    capture("aiohttp_self_signed", "aiohttp", lambda: get(f"https://127.0.0.1:{TLS_PORT}/"),
            operation="sync_partner", accept=["configuration", "network", "auth"], retryable=False, **api)
    capture("aiohttp_429_wrapped", "aiohttp", lambda: get(url("/429")), wrap=(IngestFailed, "partner feed not pulled"),
            operation="pull_feed", accept=["rate_limit"], retryable=True, **api)
    capture("aiohttp_404_wrapped", "aiohttp", lambda: get(url("/404")), wrap=(IngestFailed, "partner 881 not synced"),
            operation="sync_partner", accept=["not_found"], retryable=False, **api)


@family
def aiohttp_server_cases() -> None:
    """Errors raised inside an aiohttp web app's handlers, as the app would report them."""
    import aiohttp
    from aiohttp import web

    raised: list[BaseException] = []

    async def upload(request: web.Request) -> web.Response:
        try:
            await request.read()
        except Exception as exc:
            raised.append(exc)
            raise
        return web.Response(text="ok")

    async def body_json(request: web.Request) -> web.Response:
        try:
            await request.json()
        except Exception as exc:
            raised.append(exc)
            raise
        return web.Response(text="ok")

    async def form(request: web.Request) -> web.Response:
        try:
            data = await request.post()
            int(data["quantity"])
        except Exception as exc:
            raised.append(exc)
            raise
        return web.Response(text="ok")

    async def main() -> list[BaseException]:
        app = web.Application(client_max_size=1024)
        app.router.add_post("/upload", upload)
        app.router.add_post("/json", body_json)
        app.router.add_post("/form", form)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as session:
            await (await session.post(f"http://127.0.0.1:{port}/upload", data=b"x" * 5000)).read()
            await (await session.post(f"http://127.0.0.1:{port}/json", data=b"{'sku': 1}",
                                      headers={"Content-Type": "application/json"})).read()
            await (await session.post(f"http://127.0.0.1:{port}/form", data={"sku": "A-1"})).read()
            await (await session.post(f"http://127.0.0.1:{port}/form", data={"quantity": "three"})).read()
        await runner.cleanup()
        return raised

    errors = asyncio.run(main())
    web_ = {"service": "storefront-web"}
    labels = [("aiohttp_server_too_large", "upload_receipt", ["validation", "resource"], False),
              ("aiohttp_server_bad_json", "create_order", ["validation"], False),
              ("aiohttp_server_missing_field", "add_to_cart", ["validation", "internal"], False),
              ("aiohttp_server_bad_int", "add_to_cart", ["validation", "internal"], False)]
    for (case_id, operation, accept, retry), exc in zip(labels, errors, strict=True):
        def reraise(e: BaseException = exc) -> None:
            raise e
        capture(case_id, "aiohttp_server", reraise, operation=operation, accept=accept, retryable=retry, **web_)


@family
def requests_cases() -> None:
    import requests

    api = {"service": "shipping-api"}

    def get(path: str, timeout_s: float = 2.0, raise_status: bool = True, method: str = "GET", **kw: Any) -> Any:
        resp = requests.request(method, path if "://" in path else url(path), timeout=timeout_s, **kw)
        if raise_status:
            resp.raise_for_status()
        return resp

    for path, accept, retry in [("/403", ["auth"], False), ("/410", ["not_found"], False),
                                ("/500", ["unavailable"], True), ("/504", ["timeout", "unavailable"], True),
                                ("/409", ["conflict"], None), ("/400", ["validation"], False),
                                ("/507", ["resource"], None), ("/413", ["validation", "resource"], False)]:
        capture(f"requests_status_{path[1:]}", "requests", lambda p=path: get(p, method="PUT", data=b"{}"),
                operation="book_shipment", accept=accept, retryable=retry, **api)
    capture("requests_read_timeout", "requests", lambda: get("/slow", timeout_s=0.4), operation="track_parcel",
            accept=["timeout"], retryable=True, **api)
    capture("requests_refused", "requests", lambda: get(f"http://127.0.0.1:{closed_port()}/v2/track"),
            operation="track_parcel", accept=["network"], retryable=True, **api)
    capture("requests_chunk_cut", "requests", lambda: get("/chunk-cut"), operation="download_labels",
            accept=["network", "data"], retryable=None, **api)
    capture("requests_incomplete", "requests", lambda: get("/cut").content, operation="download_labels",
            accept=["network", "data"], retryable=True, **api)
    capture("requests_redirect_loop", "requests", lambda: get("/loop"), operation="track_parcel",
            accept=["configuration", "unavailable"], retryable=None, **api)
    capture("requests_bad_gzip", "requests", lambda: get("/badgzip"), operation="track_parcel",
            accept=["data"], retryable=None, **api)
    capture("requests_missing_schema", "requests", lambda: requests.get("shipping.internal/v2/track", timeout=2),
            operation="track_parcel", accept=["configuration", "validation"], retryable=False, **api)
    capture("requests_bad_json", "requests", lambda: get("/badjson").json(), operation="list_shipments",
            accept=["data", "validation"], retryable=None, **api)
    capture("requests_not_http", "requests", lambda: get("/garbage"), operation="track_parcel",
            accept=["network", "configuration", "data"], retryable=None, **api)
    capture("requests_self_signed_wrapped", "requests", lambda: get(f"https://127.0.0.1:{TLS_PORT}/"),
            wrap=(ChargeFailed, "carrier quote unavailable"), operation="quote_shipping",
            accept=["configuration", "network", "auth"], retryable=False, **api)

    capture("requests_500_wrapped", "requests", lambda: get("/500", method="POST", json={"parcel": 1}),
            wrap=(NotifyFailed, "shipment confirmation not sent"), operation="confirm_shipment",
            accept=["unavailable"], retryable=True, **api)

@family
def httpx_cases() -> None:
    import httpx

    api = {"service": "tax-api"}

    def get(path: str, timeout_s: float = 2.0) -> None:
        with httpx.Client(timeout=timeout_s) as client:
            client.get(path if "://" in path else url(path)).raise_for_status()

    async def aget(path: str, timeout_s: float = 2.0) -> None:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            (await client.get(path if "://" in path else url(path))).raise_for_status()

    capture("httpx_remote_protocol", "httpx", lambda: get("/hangup"), operation="compute_tax",
            accept=["network"], retryable=True, **api)
    capture("httpx_incomplete_body", "httpx", lambda: get("/cut"), operation="compute_tax",
            accept=["network", "data"], retryable=True, **api)
    capture("httpx_async_read_timeout", "httpx", lambda: aget("/slow", timeout_s=0.4), operation="compute_tax",
            accept=["timeout"], retryable=True, **api)
    capture("httpx_async_409", "httpx", lambda: aget("/409"), operation="file_return",
            accept=["conflict"], retryable=None, **api)
    capture("httpx_507", "httpx", lambda: get("/507"), operation="file_return", accept=["resource"], retryable=None,
            **api)
    capture("httpx_unsupported_scheme", "httpx", lambda: get("ftp://tax.internal/rates"), operation="compute_tax",
            accept=["configuration", "validation"], retryable=False, **api)
    capture("httpx_self_signed", "httpx", lambda: get(f"https://127.0.0.1:{TLS_PORT}/"), operation="compute_tax",
            accept=["configuration", "network", "auth"], retryable=False, **api)
    capture("httpx_tls_to_plain", "httpx", lambda: get(f"https://127.0.0.1:{HTTP_PORT}/"), operation="compute_tax",
            accept=["configuration", "network"], retryable=False, **api)
    capture("httpx_503_wrapped", "httpx", lambda: aget("/503"), wrap=(ChargeFailed, "tax not computed"),
            operation="checkout", accept=["unavailable"], retryable=True, **api)
    capture("httpx_disconnect_wrapped", "httpx", lambda: aget("/hangup"), wrap=(ChargeFailed, "tax not computed"),
            operation="checkout", accept=["network"], retryable=True, **api)


@family
def closed_port_clients() -> None:
    """Clients of servers this machine does not run (MongoDB, ZooKeeper, Elasticsearch, LDAP)."""
    import elasticsearch
    import ldap3
    import pymongo
    from kazoo.client import KazooClient

    def mongo() -> None:
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{closed_port()}/", serverSelectionTimeoutMS=500)
        client.shop.orders.find_one({"_id": 1})

    capture("pymongo_refused", "pymongo", mongo, service="orders-mongo", operation="get_order",
            accept=["network", "timeout", "unavailable"], retryable=True)
    capture("pymongo_refused_wrapped", "pymongo", mongo, wrap=(StorageError, "order store unreachable"),
            service="orders-mongo", operation="get_order", accept=["network", "timeout", "unavailable"],
            retryable=True)

    def mongo_silent() -> None:
        listener = Silent()
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{listener.port}/", serverSelectionTimeoutMS=500,
                                     connectTimeoutMS=300, socketTimeoutMS=300)
        client.shop.orders.insert_one({"sku": "A-1"})

    capture("pymongo_silent", "pymongo", mongo_silent, service="orders-mongo", operation="save_order",
            accept=["timeout", "network", "unavailable"], retryable=True)

    def zk() -> None:
        client = KazooClient(hosts=f"127.0.0.1:{closed_port()}", timeout=1, connection_retry={"max_tries": 0})
        try:
            client.start(timeout=1)
        finally:
            client.stop()
            client.close()

    capture("kazoo_start_timeout", "kazoo", zk, service="coordination-zk", operation="acquire_leader_lock",
            accept=["timeout", "network"], retryable=True)

    def es_refused() -> None:
        es = elasticsearch.Elasticsearch(f"http://127.0.0.1:{closed_port()}", request_timeout=1, max_retries=0)
        es.search(index="products", query={"match": {"name": "lamp"}})

    capture("elasticsearch_refused", "elasticsearch", es_refused, service="search-es", operation="search_products",
            accept=["network"], retryable=True)

    def es_timeout() -> None:
        listener = Silent()
        es = elasticsearch.Elasticsearch(f"http://127.0.0.1:{listener.port}", request_timeout=0.4, max_retries=0)
        es.index(index="products", id="1", document={"name": "lamp"})

    capture("elasticsearch_timeout_wrapped", "elasticsearch", es_timeout, wrap=(IngestFailed, "product not indexed"),
            service="search-es", operation="index_product", accept=["timeout"], retryable=True)

    def es_not_es() -> None:
        es = elasticsearch.Elasticsearch(f"http://127.0.0.1:{HTTP_PORT}", request_timeout=1, max_retries=0)
        es.info()

    capture("elasticsearch_not_elasticsearch", "elasticsearch", es_not_es, service="search-es",
            operation="search_products", accept=["configuration"], retryable=False)

    def ldap() -> None:
        server = ldap3.Server("127.0.0.1", port=closed_port(), connect_timeout=1)
        ldap3.Connection(server, user="cn=svc,dc=corp", password="x", auto_bind=True)  # noqa: S106

    capture("ldap3_refused", "ldap3", ldap, service="directory-ldap", operation="bind",
            accept=["network"], retryable=True)

    def ldap_wrapped() -> None:
        try:
            ldap()
        except Exception as exc:
            raise LoginFailed("could not verify user credentials") from exc

    capture("ldap3_refused_wrapped", "ldap3", ldap_wrapped, service="directory-ldap", operation="login",
            accept=["network"], retryable=True)


@family
def documents_cases() -> None:
    """Uploaded documents that do not parse or do not validate."""
    import jsonschema
    import xmlschema
    from lxml import etree

    doc = {"service": "invoice-intake"}
    capture("lxml_syntax", "documents", lambda: etree.fromstring(b"<invoice><total>12</invoice>"),
            operation="parse_invoice", accept=["validation", "data"], retryable=False, **doc)
    capture("lxml_empty", "documents", lambda: etree.fromstring(b""), operation="parse_invoice",
            accept=["validation", "data"], retryable=False, **doc)
    schema = xmlschema.XMLSchema(b"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
      <xs:element name="invoice"><xs:complexType><xs:sequence>
        <xs:element name="total" type="xs:decimal"/></xs:sequence></xs:complexType></xs:element></xs:schema>""")
    capture("xmlschema_invalid", "documents", lambda: schema.validate(b"<invoice><total>twelve</total></invoice>"),
            operation="validate_invoice", accept=["validation"], retryable=False, **doc)
    order_schema = {"type": "object", "required": ["sku", "qty"],
                    "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}}
    capture("jsonschema_invalid", "documents", lambda: jsonschema.validate({"sku": "A-1", "qty": 0}, order_schema),
            operation="validate_order", accept=["validation"], retryable=False, **doc)
    capture("jsonschema_invalid_wrapped", "documents",
            lambda: jsonschema.validate({"sku": 7}, order_schema), wrap=(IngestFailed, "order 5512 rejected"),
            operation="import_orders", accept=["validation"], retryable=False, **doc)
    capture("jsonschema_bad_schema", "documents", lambda: jsonschema.validate({}, {"type": "objekt"}),
            operation="validate_order", accept=["internal", "configuration"], retryable=False, **doc)
    capture("json_decode_wrapped", "documents", lambda: json.loads('{"sku": "A-1", qty: 2}'),
            wrap=(IngestFailed, "order file rejected"), operation="import_orders",
            accept=["validation", "data"], retryable=False, **doc)


@family
def serialization_cases() -> None:
    import cbor2
    import msgpack
    from google.protobuf import struct_pb2

    wire = {"service": "telemetry-ingest"}
    capture("msgpack_extra_data", "serialization", lambda: msgpack.unpackb(msgpack.packb({"a": 1}) + b"\x01"),
            operation="decode_frame", accept=["data", "validation"], retryable=False, **wire)
    capture("msgpack_truncated", "serialization", lambda: msgpack.unpackb(msgpack.packb({"temp": 21.5})[:-3]),
            operation="decode_frame", accept=["data", "validation"], retryable=False, **wire)
    capture("protobuf_decode", "serialization", lambda: struct_pb2.Struct.FromString(b"\x0a\xff\xff\xff\x0f\x01"),
            operation="decode_frame", accept=["data", "validation"], retryable=False, **wire)
    capture("cbor2_decode", "serialization", lambda: cbor2.loads(b"\x9f\x01\x02"), operation="decode_frame",
            accept=["data", "validation"], retryable=False, **wire)
    capture("utf16_decode", "serialization", lambda: b"\x00\xd8abc".decode("utf-16-le"), operation="decode_frame",
            accept=["data", "validation"], retryable=False, **wire)


@family
def archive_cases() -> None:
    arc = {"service": "backup-restore"}
    good = io.BytesIO()
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("ledger.csv", "id,amount\n" + "1,10\n" * 200)
    raw = bytearray(good.getvalue())
    payload_at = raw.index(b"1,10")
    raw[payload_at] = ord("7")

    def bad_crc() -> None:
        with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
            zf.read("ledger.csv")

    capture("zipfile_bad_crc", "archives", bad_crc, operation="restore_ledger", accept=["data"], retryable=False, **arc)
    capture("zipfile_not_zip", "archives", lambda: zipfile.ZipFile(io.BytesIO(b"PK\x03\x04 truncated")),
            operation="restore_ledger", accept=["data", "validation"], retryable=False, **arc)

    def missing_member() -> None:
        with zipfile.ZipFile(io.BytesIO(good.getvalue())) as zf:
            zf.read("ledger-2025.csv")

    capture("zipfile_missing_member", "archives", missing_member, operation="restore_ledger",
            accept=["not_found"], retryable=False, **arc)
    capture("tarfile_corrupt", "archives", lambda: tarfile.open(fileobj=io.BytesIO(b"\x1f\x8b" + b"\x00" * 100)),
            operation="restore_uploads", accept=["data", "validation"], retryable=False, **arc)
    capture("zlib_corrupt_wrapped", "archives", lambda: zlib.decompress(b"x\x9c not deflate"),
            wrap=(StorageError, "snapshot 2026-12-01 unreadable"), operation="restore_snapshot",
            accept=["data"], retryable=False, **arc)


@family
def sqlite_cases() -> None:
    db = {"service": "local-cache"}
    path = TMP / "cache.db"
    setup = sqlite3.connect(path)
    setup.execute("CREATE TABLE entries (k TEXT PRIMARY KEY, v TEXT)")
    setup.execute("INSERT INTO entries VALUES ('a', '1')")
    setup.commit()
    setup.close()

    def locked() -> None:
        holder = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            other = sqlite3.connect(path, timeout=0.2)
            other.execute("INSERT INTO entries VALUES ('b', '2')")
        finally:
            holder.execute("ROLLBACK")

    capture("sqlite_locked", "sqlite", locked, operation="put_entry", accept=["conflict", "timeout"],
            retryable=True, **db)
    capture("sqlite_locked_wrapped", "sqlite", locked, wrap=(StorageError, "cache entry not saved"),
            operation="put_entry", accept=["conflict", "timeout"], retryable=True, **db)

    def readonly() -> None:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.execute("INSERT INTO entries VALUES ('c', '3')")

    capture("sqlite_readonly", "sqlite", readonly, operation="put_entry",
            accept=["configuration", "auth", "unavailable"], retryable=False, **db)
    capture("sqlite_unique", "sqlite", lambda: sqlite3.connect(path).execute("INSERT INTO entries VALUES ('a', 'x')"),
            operation="put_entry", accept=["data", "conflict"], retryable=False, **db)
    capture("sqlite_no_table", "sqlite", lambda: sqlite3.connect(path).execute("SELECT * FROM entriez"),
            operation="get_entry", accept=["internal", "configuration", "not_found"], retryable=False, **db)
    capture("sqlite_cannot_open", "sqlite", lambda: sqlite3.connect(TMP / "no" / "such" / "dir.db"),
            operation="open_cache", accept=["configuration", "not_found"], retryable=False, **db)
    (TMP / "notadb.db").write_bytes(b"this is definitely not a database file" * 40)
    capture("sqlite_not_a_database", "sqlite",
            lambda: sqlite3.connect(TMP / "notadb.db").execute("SELECT * FROM entries"),
            operation="get_entry", accept=["data", "configuration"], retryable=False, **db)
    capture("sqlite_bad_binding", "sqlite",
            lambda: sqlite3.connect(path).execute("SELECT * FROM entries WHERE k = ?", ("a", "b")),
            operation="get_entry", accept=["internal"], retryable=False, **db)


@family
def filesystem_cases() -> None:
    fs = {"service": "export-files"}

    def dev_full() -> None:
        with open("/dev/full", "w") as fh:
            fh.write("x" * 100)
            fh.flush()

    capture("os_disk_full", "filesystem", dev_full, operation="write_export", accept=["resource"],
            retryable=None, **fs)
    capture("os_disk_full_wrapped", "filesystem", dev_full, wrap=(ReportBuildFailed, "export 2026-12 not written"),
            operation="write_export", accept=["resource"], retryable=None, **fs)
    capture("os_dir_missing", "filesystem", lambda: open(TMP / "exports" / "2026" / "dec.csv", "w"),
            operation="write_export", accept=["not_found", "configuration"], retryable=False, **fs)
    capture("os_is_directory", "filesystem", lambda: open(TMP, "rb"), operation="read_export",
            accept=["internal", "configuration", "validation"], retryable=False, **fs)
    capture("os_name_too_long", "filesystem", lambda: open(TMP / ("r" * 300 + ".csv"), "w"),
            operation="write_export", accept=["validation", "internal"], retryable=False, **fs)
    capture("os_sysfs_denied", "filesystem", lambda: open("/sys/kernel/holdout_flag", "w"),
            operation="write_export", accept=["auth", "configuration"], retryable=False, **fs)

    def too_many_files() -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        opened = []
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        try:
            for _ in range(100):
                opened.append(open(os.devnull))
        finally:
            for fh in opened:
                fh.close()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    capture("os_too_many_open_files", "filesystem", too_many_files, operation="write_export",
            accept=["resource"], retryable=None, **fs)

    def as_nobody_denied() -> None:
        target = TMP / "secret.csv"
        target.write_text("x")
        target.chmod(0o600)
        code = ("import json,sys\nfrom medic_client import event_from_exception\n"
                f"try:\n    open({str(target)!r}).read()\nexcept Exception as e:\n"
                "    ev=event_from_exception(e, service='export-files', operation='read_export',"
                f" source={SOURCE!r}, include_traceback=False); print(json.dumps(ev))\n")
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                              code], capture_output=True, text=True, timeout=20)
        event = json.loads(out.stdout)
        event.pop("occurred_at", None)
        CASES.append({"id": "os_permission_denied_nobody", "family": "filesystem", "event": event,
                      "accept": ["auth"], "retryable": False})
        print(f"  {'os_permission_denied_nobody':36} {event['error_type']:55} {event['message'][:70]!r}")

    try:
        as_nobody_denied()
    except Exception:  # noqa: BLE001
        MISSED.append(f"filesystem/os_permission_denied_nobody: {traceback.format_exc(limit=2)}")


@family
def credentials_cases() -> None:
    import argon2
    import bcrypt
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.jose import JsonWebToken

    auth = {"service": "identity"}
    hasher = argon2.PasswordHasher()
    stored = hasher.hash("correct horse")
    capture("argon2_mismatch", "credentials", lambda: hasher.verify(stored, "wrong horse"),
            operation="login", accept=["auth"], retryable=False, **auth)
    capture("argon2_invalid_hash", "credentials", lambda: hasher.verify("$argon2id$garbage", "x"),
            operation="login", accept=["data"], retryable=False, **auth)
    capture("bcrypt_invalid_salt", "credentials", lambda: bcrypt.checkpw(b"pw", b"$2b$12$tooshort"),
            operation="login", accept=["data", "validation"], retryable=False, **auth)
    capture("argon2_mismatch_wrapped", "credentials", lambda: hasher.verify(stored, "guess"),
            wrap=(LoginFailed, "login refused for user 42"), operation="login", accept=["auth"], retryable=False,
            **auth)

    jwt = JsonWebToken(["HS256"])
    token = jwt.encode({"alg": "HS256"}, {"sub": "42", "exp": int(time.time()) - 60}, b"k" * 32)
    capture("authlib_jwt_bad_signature", "credentials", lambda: jwt.decode(token, b"x" * 32),
            operation="verify_session", accept=["auth"], retryable=False, **auth)

    def expired() -> None:
        jwt.decode(token, b"k" * 32).validate()

    capture("authlib_jwt_expired", "credentials", expired, operation="verify_session",
            accept=["auth"], retryable=False, **auth)
    capture("authlib_jwt_malformed", "credentials", lambda: jwt.decode(b"not.a.jwt", b"k" * 32),
            operation="verify_session", accept=["auth", "validation"], retryable=False, **auth)

    def fetch(secret: str, code: str = "abc") -> None:
        session = OAuth2Session("billing-app", secret, token_endpoint_auth_method="client_secret_post")  # noqa: S106
        session.fetch_token(url("/token"), grant_type="authorization_code", code=code,
                            redirect_uri="https://app.example/cb", timeout=2)

    capture("authlib_invalid_client", "credentials", lambda: fetch("wrong-secret"), operation="oauth_callback",
            accept=["auth"], retryable=False, **auth)
    capture("authlib_invalid_client_wrapped", "credentials", lambda: fetch("wrong-secret"),
            wrap=(LoginFailed, "single sign-on failed"), operation="oauth_callback", accept=["auth"],
            retryable=False, **auth)
    capture("authlib_invalid_grant", "credentials", lambda: fetch("s3", code="expired-code"),
            operation="oauth_callback", accept=["auth"], retryable=False, **auth)
    capture("authlib_slow_down", "credentials", lambda: fetch("s3", code="ok"), operation="oauth_callback",
            accept=["rate_limit"], retryable=True, **auth)


@family
def templates_cases() -> None:
    import jinja2

    tpl = {"service": "mailer"}
    env = jinja2.Environment(loader=jinja2.DictLoader({"receipt.txt": "Total: {{ order.total }}"}),
                             undefined=jinja2.StrictUndefined, autoescape=True)
    capture("jinja2_undefined", "templates", lambda: env.get_template("receipt.txt").render(),
            operation="render_receipt", accept=["internal", "validation"], retryable=False, **tpl)
    capture("jinja2_not_found", "templates", lambda: env.get_template("refund.txt"), operation="render_refund",
            accept=["not_found", "configuration"], retryable=False, **tpl)
    capture("jinja2_not_found_wrapped", "templates", lambda: env.get_template("refund.txt"),
            wrap=(NotifyFailed, "refund mail not sent"), operation="send_refund_mail",
            accept=["not_found", "configuration"], retryable=False, **tpl)
    capture("jinja2_syntax", "templates", lambda: env.from_string("Hello {{ user.name }"),
            operation="render_welcome", accept=["internal", "configuration"], retryable=False, **tpl)
    capture("jinja2_filter_missing", "templates", lambda: env.from_string("{{ total | money }}"),
            operation="render_receipt", accept=["internal", "configuration"], retryable=False, **tpl)


@family
def images_cases() -> None:
    from PIL import Image

    img = {"service": "media-upload"}
    capture("pillow_unidentified", "images", lambda: Image.open(io.BytesIO(b"GIF89 this is no image")),
            operation="make_thumbnail", accept=["validation", "data"], retryable=False, **img)
    capture("pillow_unidentified_wrapped", "images", lambda: Image.open(io.BytesIO(b"\x89PNG\r\n garbage")),
            wrap=(IngestFailed, "avatar upload rejected"), operation="upload_avatar",
            accept=["validation", "data"], retryable=False, **img)
    png = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(png, "PNG")

    def truncated() -> None:
        image = Image.open(io.BytesIO(png.getvalue()[:80]))
        image.load()

    capture("pillow_truncated", "images", truncated, operation="make_thumbnail", accept=["data", "validation"],
            retryable=False, **img)

    def bomb() -> None:
        big = io.BytesIO()
        Image.new("1", (20000, 20000)).save(big, "PNG")
        old = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = 1_000_000
        try:
            Image.open(io.BytesIO(big.getvalue()))
        finally:
            Image.MAX_IMAGE_PIXELS = old

    capture("pillow_decompression_bomb", "images", bomb, operation="make_thumbnail",
            accept=["validation", "resource"], retryable=False, **img)


@family
def parsing_cases() -> None:
    import arrow
    import pendulum
    import pydantic
    from marshmallow import Schema, fields

    inp = {"service": "booking-api"}
    capture("pendulum_parse", "parsing", lambda: pendulum.parse("2026-13-45T25:00"), operation="create_booking",
            accept=["validation"], retryable=False, **inp)
    capture("arrow_parse", "parsing", lambda: arrow.get("next tuesday", "YYYY-MM-DD"), operation="create_booking",
            accept=["validation"], retryable=False, **inp)
    capture("decimal_invalid", "parsing", lambda: decimal.Decimal("12,50"), operation="create_booking",
            accept=["validation"], retryable=False, **inp)

    class Booking(pydantic.BaseModel):
        room: int
        nights: int = pydantic.Field(gt=0)

    capture("pydantic_invalid", "parsing", lambda: Booking.model_validate({"room": "suite", "nights": 0}),
            operation="create_booking", accept=["validation"], retryable=False, **inp)

    class BookingSchema(Schema):
        email = fields.Email(required=True)

    capture("marshmallow_invalid", "parsing", lambda: BookingSchema().load({"email": "not-an-email"}),
            operation="create_booking", accept=["validation"], retryable=False, **inp)
    capture("pydantic_invalid_wrapped", "parsing", lambda: Booking.model_validate_json('{"room": 1}'),
            wrap=(IngestFailed, "booking import row 17 rejected"), operation="import_bookings",
            accept=["validation"], retryable=False, **inp)


@family
def kombu_cases() -> None:
    import kombu

    mq = {"service": "task-broker"}

    def publish(broker_url: str) -> None:
        with kombu.Connection(broker_url, connect_timeout=1) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
            producer = conn.Producer()
            producer.publish({"x": 1}, routing_key="holdout", retry=False)

    capture("kombu_refused", "kombu", lambda: publish(f"amqp://guest:guest@127.0.0.1:{closed_port()}//"),
            operation="enqueue_invoice", accept=["network"], retryable=True, **mq)
    capture("kombu_refused_wrapped", "kombu", lambda: publish(f"amqp://guest:guest@127.0.0.1:{closed_port()}//"),
            wrap=(NotifyFailed, "invoice job not queued"), operation="enqueue_invoice", accept=["network"],
            retryable=True, **mq)
    capture("kombu_bad_login", "kombu", lambda: publish("amqp://billing:nope@127.0.0.1:5672//"),
            operation="enqueue_invoice", accept=["auth"], retryable=False, **mq)
    capture("kombu_redis_refused", "kombu", lambda: publish(f"redis://127.0.0.1:{closed_port()}/0"),
            operation="enqueue_invoice", accept=["network"], retryable=True, **mq)
    capture("kombu_unknown_transport", "kombu", lambda: publish("amqps2://127.0.0.1//"),
            operation="enqueue_invoice", accept=["configuration"], retryable=False, **mq)


@family
def ssl_cases() -> None:
    tls = {"service": "payments-gateway"}

    def handshake(port: int, ctx: ssl.SSLContext, name: str = "payments.internal") -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
            with ctx.wrap_socket(raw, server_hostname=name):
                pass

    capture("ssl_self_signed", "ssl", lambda: handshake(TLS_PORT, ssl.create_default_context()),
            operation="charge_card", accept=["configuration", "network", "auth"], retryable=False, **tls)
    pinned = ssl.create_default_context(cafile=str(TMP / "cert.pem"))
    capture("ssl_hostname_mismatch", "ssl", lambda: handshake(TLS_PORT, pinned, name="pay.example.com"),
            operation="charge_card", accept=["configuration", "auth", "network"], retryable=False, **tls)
    capture("ssl_plain_peer", "ssl", lambda: handshake(HTTP_PORT, ssl.create_default_context()),
            operation="charge_card", accept=["configuration", "network"], retryable=False, **tls)

    def silent() -> None:
        listener = Silent()
        with socket.create_connection(("127.0.0.1", listener.port), timeout=0.4) as raw:
            ssl.create_default_context().wrap_socket(raw, server_hostname="payments.internal")

    capture("ssl_handshake_timeout_wrapped", "ssl", silent, wrap=(ChargeFailed, "card not charged"),
            operation="charge_card", accept=["timeout"], retryable=True, **tls)


FAMILIES = [asyncpg_cases, aiomysql_cases, aio_pika_cases, aiohttp_client_cases, aiohttp_server_cases,
            requests_cases, httpx_cases, closed_port_clients, documents_cases, serialization_cases, archive_cases,
            sqlite_cases, filesystem_cases, credentials_cases, templates_cases, images_cases, parsing_cases,
            kombu_cases, ssl_cases]


def main() -> int:
    setup_servers()
    wanted = set(sys.argv[1:])
    for run in FAMILIES:
        if not wanted or run.__name__ in wanted:
            run()
    ids = collections.Counter(case["id"] for case in CASES)
    duplicates = [case_id for case_id, n in ids.items() if n > 1]
    if duplicates:
        print(f"duplicate ids: {duplicates}", file=sys.stderr)
        return 1
    with OUT.open("w") as out:
        for case in CASES:
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
    print(f"\n{len(CASES)} cases written to {OUT}")
    for name, n in sorted(collections.Counter(case["family"] for case in CASES).items()):
        print(f"  {name:16} {n}")
    if MISSED:
        print("not captured:\n  " + "\n  ".join(MISSED))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
