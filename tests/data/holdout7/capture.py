"""Build tests/data/holdout7/cases.jsonl: a seventh held-out set of real errors, labelled by the taxonomy only.

Written without reading medic's rules (config/rules/), its classifier, its classification tests or the
cases of the earlier sets, so it measures how the rules generalise. Each error is raised for real: against
the machine's MariaDB, PostgreSQL, Redis (db 9) and RabbitMQ, against servers this script starts on free
127.0.0.1 ports (a scriptable HTTP server that answers like the real APIs, a silent TCP listener, a silent
UDP socket), or by feeding a library real bad input. Events are built by `medic_client.event_from_exception`;
about one case in six is wrapped in an application's own exception (a warehouse and shipping application).

Run: /tmp/holdout7-venv/bin/python tests/data/holdout7/capture.py [family ...]   (README.md: the venv)
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
SOURCE = "holdout7-app"
CASES: list[dict[str, Any]] = []
MISSED: list[str] = []
COUNTERS: collections.Counter[str] = collections.Counter()
CLEANUPS: list[Callable[[], Any]] = []
TMP = Path(tempfile.mkdtemp(prefix="holdout7-"))
FAKE_CREDENTIAL = "not-a-real-key-0000"
REDIS_DB = 9
PREFIX = "h7:"


def app_error(name: str) -> type[Exception]:
    cls = type(name, (Exception,), {})
    cls.__module__ = "depot.errors"
    return cls


ShipmentFailed = app_error("ShipmentFailed")
LabelNotPrinted = app_error("LabelNotPrinted")
StockSyncFailed = app_error("StockSyncFailed")
InvoiceFailed = app_error("InvoiceFailed")
ImportFailed = app_error("ImportFailed")
ReportFailed = app_error("ReportFailed")
NotifyFailed = app_error("NotifyFailed")
RouteFailed = app_error("RouteFailed")
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


@family
def urllib_cases() -> None:
    import urllib.request

    def fetch(
        path: str = "/v1/carriers/dhl/rates", timeout: float = 3.0, data: bytes | None = None
    ) -> Callable[[], Any]:
        def call() -> Any:
            request = urllib.request.Request(FAKE.url + path, data=data, headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())

        return call

    c = recorder("urllib", "carrier-rates")
    c(
        "forbidden_403",
        answering(403, {"error": "forbidden", "message": "API key lacks scope rates:read"}, call=fetch()),
        "fetch_rates",
        ["auth"],
        False,
    )
    c(
        "gone_410",
        answering(410, {"error": "gone", "message": "API v1 was retired on 2026-06-30"}, call=fetch()),
        "fetch_rates",
        ["not_found", "configuration"],
        False,
    )
    c(
        "too_many_429",
        answering(429, {"error": "too_many_requests"}, {"Retry-After": "30"}, call=fetch()),
        "fetch_rates",
        ["rate_limit"],
        True,
    )
    c(
        "gateway_timeout_504_wrapped",
        answering(
            504, "<html><body><h1>504 Gateway Time-out</h1></body></html>", {"Content-Type": "text/html"}, call=fetch()
        ),
        "fetch_rates",
        ["timeout", "unavailable"],
        True,
        wrap=(RouteFailed, "no rate quote for shipment S-20931"),
        service="shipping-planner",
    )
    c(
        "read_timeout",
        answering(200, {"rates": []}, delay_s=1.5, call=fetch(timeout=0.4)),
        "fetch_rates",
        ["timeout"],
        True,
    )
    c(
        "payload_too_large_413",
        answering(413, {"error": "payload_too_large", "max_bytes": 1048576}, call=fetch(data=b"x" * 2048)),
        "upload_manifest",
        ["validation", "resource"],
        False,
    )
    c("empty_reply", answering(mode="hangup", call=fetch()), "fetch_rates", ["network", "unavailable"], True)
    c(
        "truncated_json",
        answering(
            200, b'{"rates": [{"carrier": "dhl", "amount": 12.', {"Content-Type": "application/json"}, call=fetch()
        ),
        "fetch_rates",
        ["data", "validation"],
        None,
    )
    c(
        "unknown_scheme",
        lambda: urllib.request.urlopen("htps://rates.example.invalid/v1", timeout=2),
        "fetch_rates",
        ["configuration"],
        False,
    )


@family
def threading_cases() -> None:
    import queue as queue_mod
    import threading as th

    c = recorder("threading", "picking-workers")

    def barrier_timeout() -> None:
        th.Barrier(3, timeout=0.2).wait()

    def barrier_broken() -> None:
        barrier = th.Barrier(2)
        barrier.abort()
        barrier.wait()

    def release_unlocked() -> None:
        th.Lock().release()

    def rlock_other_thread() -> None:
        lock = th.RLock()
        t = th.Thread(target=lock.acquire)
        t.start()
        t.join()
        lock.release()

    def bounded_over_release() -> None:
        sem = th.BoundedSemaphore(2)
        sem.release()

    def start_twice() -> None:
        t = th.Thread(target=lambda: None)
        t.start()
        t.join()
        t.start()

    def queue_full() -> None:
        q: queue_mod.Queue[int] = queue_mod.Queue(maxsize=2)
        for item in range(3):
            q.put(item, timeout=0.2)

    def lock_wait() -> None:
        lock = th.Lock()
        lock.acquire()
        if not lock.acquire(timeout=0.2):
            raise TimeoutError("could not acquire the pick-list lock for aisle 14 within 0.2 s")

    c("barrier_timeout", barrier_timeout, "sync_pickers", ["timeout"], True)
    c("barrier_aborted", barrier_broken, "sync_pickers", ["internal", "unknown"], None)
    c("release_unlocked", release_unlocked, "assign_picker", ["internal"], False)
    c("rlock_other_thread", rlock_other_thread, "assign_picker", ["internal"], False)
    c("bounded_over_release", bounded_over_release, "assign_picker", ["internal"], False)
    c("start_twice", start_twice, "start_wave", ["internal"], False)
    c("queue_full", queue_full, "enqueue_pick", ["resource", "unavailable", "timeout"], True)
    c(
        "lock_wait_wrapped",
        lock_wait,
        "assign_picker",
        ["timeout", "conflict"],
        True,
        wrap=(ShipmentFailed, "wave 7 not released"),
        service="wave-planner",
    )


def _mp_boom(order: int) -> float:
    return 100 / (order - order)


def _mp_slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@family
def multiprocessing_cases() -> None:
    import multiprocessing as mp
    from multiprocessing.managers import BaseManager

    ctx = mp.get_context("fork")
    c = recorder("multiprocessing", "label-render")

    def pool_error() -> None:
        with ctx.Pool(1) as pool:
            pool.map(_mp_boom, [1])

    def pool_timeout() -> None:
        with ctx.Pool(1) as pool:
            pool.apply_async(_mp_slow, (2.0,)).get(timeout=0.2)

    def queue_empty() -> None:
        q = ctx.Queue()
        try:
            q.get(timeout=0.2)
        finally:
            q.close()

    def manager_refused() -> None:
        manager = BaseManager(address=("127.0.0.1", closed_port()), authkey=b"not-the-authkey")
        manager.connect()

    def manager_authkey() -> None:
        class Mgr(BaseManager):
            pass

        server_mgr = Mgr(address=("127.0.0.1", 0), authkey=b"depot-authkey-0000")
        server = server_mgr.get_server()
        in_thread(server.serve_forever)
        client = Mgr(address=server.address, authkey=b"not-the-authkey")
        client.connect()

    def pickle_local() -> None:
        with ctx.Pool(1) as pool:
            pool.map(lambda n: n, [1])

    def pool_closed() -> None:
        pool = ctx.Pool(1)
        pool.close()
        try:
            pool.apply_async(_mp_slow, (0.0,))
        finally:
            pool.join()

    c("pool_zero_division", pool_error, "render_labels", ["internal", "data"], False)
    c("pool_get_timeout", pool_timeout, "render_labels", ["timeout"], True)
    c("queue_empty", queue_empty, "collect_labels", ["timeout", "not_found"], True)
    c("manager_refused", manager_refused, "connect_render_farm", ["network", "unavailable"], True)
    c(
        "manager_authkey_wrapped",
        manager_authkey,
        "connect_render_farm",
        ["auth", "configuration"],
        False,
        wrap=(LabelNotPrinted, "labels for wave 7 not rendered"),
        service="print-station",
    )
    c("pickle_lambda", pickle_local, "render_labels", ["internal"], False)
    c("pool_closed", pool_closed, "render_labels", ["internal"], False)


@family
def config_files_cases() -> None:
    c = recorder("config_files", "depot-config")

    def strict_schema() -> None:
        import strictyaml as sy

        schema = sy.Map({"warehouse": sy.Str(), "docks": sy.Int()})
        sy.load("warehouse: LYS-2\ndocks: eight\n", schema)

    def strict_flow() -> None:
        import strictyaml as sy

        sy.load("carriers: [dhl, ups]\n")

    def strict_duplicate() -> None:
        import strictyaml as sy

        sy.load("warehouse: LYS-2\nwarehouse: LYS-3\n")

    def hjson_bad() -> None:
        import hjson

        hjson.loads("{\n  docks: 8\n  zones: [A, B\n}")

    def toml_bad() -> None:
        import toml

        toml.loads('[printer]\nhost = "10.0.4.12"\nport = 91OO\n')

    def toml_missing() -> None:
        import toml

        toml.load(str(TMP / "depot" / "printers.toml"))

    def configupdater_dup() -> None:
        from configupdater import ConfigUpdater

        ConfigUpdater().read_string("[carrier]\nname = dhl\n[carrier]\nname = ups\n")

    def configupdater_missing_section() -> None:
        from configupdater import ConfigUpdater

        updater = ConfigUpdater()
        updater.read_string("[carrier]\nname = dhl\n")
        updater["scanner"]["timeout"].value = "5"

    c("strictyaml_schema", strict_schema, "load_settings", ["configuration", "validation"], False)
    c("strictyaml_flow_style", strict_flow, "load_settings", ["configuration", "validation"], False)
    c(
        "strictyaml_duplicate_key_wrapped",
        strict_duplicate,
        "load_settings",
        ["configuration", "validation"],
        False,
        wrap=(ImportFailed, "depot settings not loaded"),
        service="depot-bootstrap",
    )
    c("hjson_syntax", hjson_bad, "load_zones", ["configuration", "validation"], False)
    c("toml_bad_number", toml_bad, "load_printers", ["configuration", "validation"], False)
    c("toml_missing_file", toml_missing, "load_printers", ["configuration", "not_found"], False)
    c("configupdater_duplicate_section", configupdater_dup, "update_settings", ["configuration", "validation"], False)
    c(
        "configupdater_missing_section",
        configupdater_missing_section,
        "update_settings",
        ["configuration", "internal", "not_found"],
        False,
    )


@family
def env_settings_cases() -> None:
    c = recorder("env_settings", "depot-api")
    saved = dict(os.environ)

    def environs_missing() -> None:
        from environs import Env

        os.environ.pop("DEPOT_DB_URL", None)
        Env().str("DEPOT_DB_URL")

    def environs_bad_int() -> None:
        from environs import Env

        os.environ["DEPOT_WORKERS"] = "four"
        Env().int("DEPOT_WORKERS")

    def environs_bad_url() -> None:
        from environs import Env

        os.environ["DEPOT_CARRIER_URL"] = "not a url"
        Env().url("DEPOT_CARRIER_URL")

    def decouple_missing() -> None:
        from decouple import config

        os.environ.pop("DEPOT_SECRET_KEY", None)
        config("DEPOT_SECRET_KEY")

    def decouple_bool() -> None:
        from decouple import config

        os.environ["DEPOT_DEBUG"] = "perhaps"
        config("DEPOT_DEBUG", cast=bool)

    def dynaconf_validator() -> None:
        from dynaconf import Dynaconf, Validator

        os.environ["DEPOT_MAX_PALLETS"] = "5000"
        settings = Dynaconf(envvar_prefix="DEPOT", validators=[Validator("MAX_PALLETS", lte=1000)])
        settings.validators.validate()

    def dynaconf_must_exist() -> None:
        from dynaconf import Dynaconf, Validator

        settings = Dynaconf(envvar_prefix="DEPOT", validators=[Validator("LABEL_PRINTER", must_exist=True)])
        settings.validators.validate()

    def dynaconf_attr() -> None:
        from dynaconf import Dynaconf

        settings = Dynaconf(envvar_prefix="DEPOT")
        return settings.SCANNER_TIMEOUT

    try:
        c("environs_missing", environs_missing, "startup", ["configuration"], False)
        c("environs_bad_int", environs_bad_int, "startup", ["configuration", "validation"], False)
        c(
            "environs_bad_url_wrapped",
            environs_bad_url,
            "startup",
            ["configuration", "validation"],
            False,
            wrap=(RouteFailed, "carrier client not configured"),
            service="shipping-planner",
        )
        c("decouple_missing", decouple_missing, "startup", ["configuration"], False)
        c("decouple_bad_bool", decouple_bool, "startup", ["configuration", "validation"], False)
        c("dynaconf_validator_lte", dynaconf_validator, "startup", ["configuration", "validation"], False)
        c("dynaconf_must_exist", dynaconf_must_exist, "startup", ["configuration"], False)
        c("dynaconf_missing_attribute", dynaconf_attr, "scan_parcel", ["configuration", "internal"], False)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@family
def cli_args_cases() -> None:
    import argparse

    import click

    c = recorder("cli_args", "depot-cli")

    @click.command()
    @click.option("--dock", type=click.IntRange(1, 12), required=True)
    @click.option("--carrier", type=click.Choice(["dhl", "ups", "gls"]))
    @click.argument("manifest", type=click.Path(exists=True))
    def load_truck(dock: int, carrier: str, manifest: str) -> None:
        pass

    def click_run(*args: str) -> Callable[[], Any]:
        return lambda: load_truck.main(list(args), standalone_mode=False)

    manifest = TMP / "manifest.csv"
    TMP.mkdir(exist_ok=True)
    manifest.write_text("sku,qty\n")

    class NoExit(argparse.ArgumentParser):
        def error(self, message: str) -> Any:  # raise instead of exiting, as an embedding application does
            raise argparse.ArgumentError(None, message)

    parser = NoExit(prog="depot-export", exit_on_error=False)
    parser.add_argument("--since", type=int, required=True)
    parser.add_argument("--format", choices=["csv", "xlsx"])

    c("click_range", click_run("--dock", "14", str(manifest)), "load_truck", ["validation"], False)
    c(
        "click_choice",
        click_run("--dock", "3", "--carrier", "fedex", str(manifest)),
        "load_truck",
        ["validation"],
        False,
    )
    c("click_missing_option", click_run(str(manifest)), "load_truck", ["validation"], False)
    c(
        "click_path_missing",
        click_run("--dock", "3", str(TMP / "nope.csv")),
        "load_truck",
        ["not_found", "validation"],
        False,
    )
    c(
        "click_no_such_option_wrapped",
        click_run("--bay", "3", str(manifest)),
        "load_truck",
        ["validation"],
        False,
        wrap=(ShipmentFailed, "truck T-88 not loaded"),
        service="dock-scheduler",
    )
    c("argparse_type", lambda: parser.parse_args(["--since", "yesterday"]), "export_orders", ["validation"], False)
    c("argparse_required", lambda: parser.parse_args(["--format", "csv"]), "export_orders", ["validation"], False)


@family
def parsers_cases() -> None:
    c = recorder("parsers", "order-query")

    def lark_unexpected() -> None:
        from lark import Lark

        grammar = 'start: "SKU" NUMBER ("," NUMBER)*\n%import common.NUMBER\n%ignore " "'
        Lark(grammar).parse("SKU 12, 14,, 15")

    def lark_bad_grammar() -> None:
        from lark import Lark

        Lark("start: item+\nitem: WORD")

    def pyparsing_fail() -> None:
        import pyparsing as pp

        bin_code = pp.Combine(pp.Word(pp.alphas, exact=1) + "-" + pp.Word(pp.nums, exact=3))
        bin_code.parse_string("A-12X", parse_all=True)

    def parsimonious_fail() -> None:
        from parsimonious.grammar import Grammar

        Grammar('route = stop ("->" stop)*\nstop = ~"[A-Z]{3}"').parse("LYS->CDG->")

    def parsimonious_grammar() -> None:
        from parsimonious.grammar import Grammar

        Grammar('route = stop ("->" stop\nstop = ~"[A-Z]{3}"')

    def sqlglot_error() -> None:
        import sqlglot

        sqlglot.transpile("SELECT sku, SUM(qty FROM stock GROUP BY sku", read="mysql", write="postgres")

    def sqlglot_unsupported() -> None:
        import sqlglot
        from sqlglot.errors import ErrorLevel

        sqlglot.transpile(
            "SELECT sku FROM stock TABLESAMPLE (10 PERCENT)",
            read="postgres",
            write="mysql",
            unsupported_level=ErrorLevel.RAISE,
        )

    def sqlparse_none() -> None:
        import sqlparse

        statement = sqlparse.parse("")[0]
        return statement.get_type()

    c("lark_unexpected_token", lark_unexpected, "parse_filter", ["validation"], False)
    c("lark_grammar_error", lark_bad_grammar, "compile_filter", ["internal", "configuration"], False)
    c("pyparsing_bin_code", pyparsing_fail, "parse_bin", ["validation"], False)
    c(
        "parsimonious_incomplete_wrapped",
        parsimonious_fail,
        "parse_route",
        ["validation"],
        False,
        wrap=(RouteFailed, "route for truck T-88 not parsed"),
        service="shipping-planner",
    )
    c("parsimonious_bad_grammar", parsimonious_grammar, "compile_route_grammar", ["internal"], False)
    c("sqlglot_parse_error", sqlglot_error, "translate_report", ["validation", "internal"], False)
    c(
        "sqlglot_unsupported",
        sqlglot_unsupported,
        "translate_report",
        ["validation", "internal", "configuration"],
        False,
    )
    c("sqlparse_empty", sqlparse_none, "classify_report", ["internal", "validation"], False)


@family
def validators_cases() -> None:
    c = recorder("validators", "inbound-orders")

    def attrs_cases() -> tuple[Any, Any]:
        import attrs

        @attrs.define
        class Pallet:
            sku: str = attrs.field(validator=attrs.validators.matches_re(r"[A-Z]{3}-\d{4}"))
            qty: int = attrs.field(validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)])
            zone: str = attrs.field(default="A", validator=attrs.validators.in_(["A", "B", "C"]))

        @attrs.frozen
        class Dock:
            number: int

        return Pallet, Dock

    Pallet, Dock = attrs_cases()

    def frozen() -> None:
        dock = Dock(3)
        dock.number = 4

    def apischema_bad() -> None:
        from dataclasses import dataclass

        import apischema

        @dataclass
        class Line:
            sku: str
            qty: int

        apischema.deserialize(list[Line], [{"sku": "ABC-0001", "qty": "two"}, {"qty": 1}])

    def apischema_extra() -> None:
        from dataclasses import dataclass

        import apischema

        @dataclass
        class Carrier:
            code: str

        apischema.deserialize(Carrier, {"code": "dhl", "account": "x"}, additional_properties=False)

    c("attrs_regex", lambda: Pallet("abc-1", 3), "receive_pallet", ["validation"], False)
    c("attrs_type", lambda: Pallet("ABC-0001", "3"), "receive_pallet", ["validation", "internal"], False)
    c(
        "attrs_gt_wrapped",
        lambda: Pallet("ABC-0001", 0),
        "receive_pallet",
        ["validation"],
        False,
        wrap=(StockSyncFailed, "pallet ABC-0001 not received"),
        service="stock-sync",
    )
    c("attrs_in", lambda: Pallet("ABC-0001", 2, "Z"), "receive_pallet", ["validation"], False)
    c("attrs_frozen", frozen, "reassign_dock", ["internal"], False)
    c("attrs_missing_argument", lambda: Pallet("ABC-0001"), "receive_pallet", ["internal"], False)
    c("apischema_types", apischema_bad, "import_order_lines", ["validation"], False)
    c("apischema_additional", apischema_extra, "import_carrier", ["validation"], False)


@family
def calendars_cases() -> None:
    c = recorder("calendars", "dock-calendar")

    def ics_bad() -> None:
        import ics

        ics.Calendar(
            "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//depot//docks//EN\nBEGIN:VEVENT\nDTSTART:20261340T250000Z\nEND:VEVENT\nEND:VCALENDAR"
        )

    def icalendar_bad() -> None:
        import icalendar

        icalendar.vDatetime.from_ical("20261340T250000")

    def icalendar_empty() -> None:
        import icalendar

        icalendar.Calendar.from_ical("")

    def crontab_bad() -> None:
        from crontab import CronTab

        cron = CronTab(tab="")
        job = cron.new(command="/usr/local/bin/close-docks")
        job.setall("0 25 * * *")

    def country() -> None:
        import pycountry

        pycountry.countries.lookup("Westeros")

    def language() -> None:
        import langcodes

        langcodes.Language.get("xx-99-!!")

    def language_find() -> None:
        import langcodes

        langcodes.find("Klingonese")

    def price() -> None:
        from price_parser import Price

        parsed = Price.fromstring("call for price")
        if parsed.amount is None:
            raise ValueError(f"no amount in carrier quote {parsed!r}")

    c("ics_bad_dtstart", ics_bad, "import_dock_slots", ["validation", "data"], False)
    c("icalendar_bad_date", icalendar_bad, "import_dock_slots", ["validation", "data"], False)
    c("icalendar_empty", icalendar_empty, "import_dock_slots", ["validation", "data"], False)
    c("crontab_hour_25", crontab_bad, "schedule_closing", ["configuration", "validation"], False)
    c(
        "pycountry_lookup_wrapped",
        country,
        "resolve_destination",
        ["validation", "not_found"],
        False,
        wrap=(RouteFailed, "destination country not resolved"),
        service="shipping-planner",
    )
    c("langcodes_tag", language, "label_language", ["validation"], False)
    c("langcodes_find_no_data", language_find, "label_language", ["configuration"], False)
    c("price_parser_no_amount", price, "parse_quote", ["validation", "data"], False)


@family
def office_cases() -> None:
    c = recorder("office", "report-import")
    TMP.mkdir(exist_ok=True)
    text = TMP / "stock.xls"
    text.write_text("sku;qty\nABC-0001;3\n")
    truncated = TMP / "truncated.pdf"
    truncated.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
    not_pptx = TMP / "deck.pptx"
    not_pptx.write_bytes(b"PK\x03\x04 this is not really a zip")

    def xlrd_text() -> None:
        import xlrd

        xlrd.open_workbook(str(text))

    def xlrd_missing() -> None:
        import xlrd

        xlrd.open_workbook(str(TMP / "inventory-2026-12.xls"))

    def xlrd_xlsx() -> None:
        import xlrd

        path = TMP / "stock.xlsx"
        import zipfile as zf  # only to make a real xlsx-like zip for xlrd 2, which refuses it

        with zf.ZipFile(path, "w") as archive:
            archive.writestr("[Content_Types].xml", "<Types/>")
        xlrd.open_workbook(str(path))

    def pptx_bad() -> None:
        from pptx import Presentation

        Presentation(str(not_pptx))

    def pptx_layout() -> None:
        from pptx import Presentation

        deck = Presentation()
        deck.slides.add_slide(deck.slide_layouts[11])

    def pdfminer_truncated() -> None:
        from pdfminer.high_level import extract_text

        extract_text(str(truncated))

    def odf_bad() -> None:
        from odf.opendocument import load

        load(str(text))

    c("xlrd_text_file", xlrd_text, "import_stock", ["data", "validation"], False)
    c("xlrd_missing_file", xlrd_missing, "import_stock", ["not_found"], False)
    c("xlrd_xlsx_unsupported", xlrd_xlsx, "import_stock", ["validation", "configuration", "data"], False)
    c(
        "pptx_not_zip_wrapped",
        pptx_bad,
        "render_review",
        ["data", "validation"],
        False,
        wrap=(ReportFailed, "quarterly review deck not built"),
        service="reporting",
    )
    c("pptx_layout_index", pptx_layout, "render_review", ["internal"], False)
    c("pdfminer_truncated", pdfminer_truncated, "extract_invoice", ["data", "validation"], False)
    c("odf_not_zip", odf_bad, "import_stock", ["data", "validation"], False)


@family
def media_geo_cases() -> None:
    c = recorder("media_geo", "proof-of-delivery")
    TMP.mkdir(exist_ok=True)
    fake_mp3 = TMP / "voice-note.mp3"
    fake_mp3.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x20" + b"\x00" * 8)
    h5 = TMP / "telemetry.h5"

    def mutagen_bad() -> None:
        from mutagen.mp3 import MP3

        MP3(str(fake_mp3))

    def mutagen_missing() -> None:
        import mutagen

        mutagen.File(str(TMP / "note-881.ogg"))

    def h5_missing_key() -> None:
        import h5py

        with h5py.File(h5, "w") as f:
            f.create_dataset("temps", data=[1, 2, 3])
        with h5py.File(h5, "r") as f:
            return f["humidity"][()]

    def h5_not_hdf5() -> None:
        import h5py

        fake_mp3.with_suffix(".h5").write_text("not hdf5")
        h5py.File(fake_mp3.with_suffix(".h5"), "r")

    def h5_exists() -> None:
        import h5py

        with h5py.File(h5, "a") as f:
            f.create_dataset("temps", data=[4, 5])

    def shapely_wkt() -> None:
        from shapely import wkt

        wkt.loads("POLYGON ((4.8 45.7, 4.9 45.7, 4.9))")

    def shapely_topology() -> None:
        from shapely.geometry import Polygon

        bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
        other = Polygon([(0, 0), (0.5, 0), (0.5, 0.5)])
        return bowtie.intersection(other)

    def geojson_invalid() -> None:
        import geojson

        point = geojson.Point((4.85, 45.75, 170, 3))
        if not point.is_valid:
            raise ValueError(f"invalid delivery point: {point.errors()}")

    c("mutagen_bad_mp3", mutagen_bad, "attach_voice_note", ["data", "validation"], False)
    c("mutagen_missing_file", mutagen_missing, "attach_voice_note", ["not_found"], False)
    c("h5py_missing_dataset", h5_missing_key, "read_telemetry", ["not_found", "internal"], False)
    c("h5py_not_hdf5", h5_not_hdf5, "read_telemetry", ["data", "validation"], False)
    c(
        "h5py_name_exists_wrapped",
        h5_exists,
        "write_telemetry",
        ["conflict", "internal", "data"],
        False,
        wrap=(ExportFailed, "truck telemetry not archived"),
        service="fleet-telemetry",
    )
    c("shapely_wkt", shapely_wkt, "load_delivery_zone", ["validation", "data"], False)
    c("shapely_topology", shapely_topology, "match_delivery_zone", ["data", "validation", "internal"], False)
    c("geojson_invalid_point", geojson_invalid, "record_drop_point", ["validation"], False)


PG_DSN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "test"}


@family
def piccolo_cases() -> None:
    from piccolo.columns import ForeignKey, Integer, Varchar
    from piccolo.engine.postgres import PostgresEngine
    from piccolo.table import Table

    engine = PostgresEngine(config=dict(PG_DSN))

    class H7Warehouse(Table, tablename="h7_warehouses", db=engine):
        code = Varchar(length=8, unique=True)
        docks = Integer()

    class H7Pallet(Table, tablename="h7_pallets", db=engine):
        warehouse = ForeignKey(H7Warehouse)
        sku = Varchar(length=12)

    class H7Missing(Table, tablename="h7_never_created", db=engine):
        name = Varchar()

    async def setup() -> None:
        await H7Pallet.raw("DROP TABLE IF EXISTS h7_pallets, h7_warehouses")
        await H7Warehouse.create_table()
        await H7Pallet.create_table()
        await H7Warehouse.insert(H7Warehouse(code="LYS-2", docks=8))

    async def teardown() -> None:
        await H7Pallet.raw("DROP TABLE IF EXISTS h7_pallets, h7_warehouses")

    asyncio.run(setup())
    CLEANUPS.append(lambda: asyncio.run(teardown()))
    c = recorder("piccolo", "warehouse-db")

    async def duplicate() -> None:
        await H7Warehouse.insert(H7Warehouse(code="LYS-2", docks=6))

    async def foreign_key() -> None:
        await H7Pallet.insert(H7Pallet(warehouse=9999, sku="ABC-0001"))

    async def too_long() -> None:
        await H7Warehouse.insert(H7Warehouse(code="LYS-WAREHOUSE-2", docks=6))

    async def missing_table() -> None:
        await H7Missing.select()

    async def statement_timeout() -> None:
        async with engine.transaction():
            await H7Warehouse.raw("SET LOCAL statement_timeout = 200")
            await H7Warehouse.raw("SELECT pg_sleep(2)")

    async def syntax() -> None:
        await H7Warehouse.raw("SELEC code FROM h7_warehouses")

    async def missing_database() -> None:
        other = PostgresEngine(config={**PG_DSN, "database": "h7_no_such_db"})
        await other.run_ddl("SELECT 1")

    async def missing_role() -> None:
        other = PostgresEngine(config={**PG_DSN, "user": "h7_no_such_role"})
        await other.run_ddl("SELECT 1")

    async def bad_integer() -> None:
        await H7Warehouse.insert(H7Warehouse(code="LYS-9", docks="eight"))

    c("unique_violation", duplicate, "create_warehouse", ["data", "conflict", "validation"], False)
    c("foreign_key", foreign_key, "receive_pallet", ["data", "not_found", "validation"], False)
    c("varchar_too_long", too_long, "create_warehouse", ["validation", "data"], False)
    c(
        "missing_table_wrapped",
        missing_table,
        "list_carriers",
        ["configuration", "not_found"],
        False,
        wrap=(StockSyncFailed, "stock levels not synchronised"),
        service="stock-sync",
    )
    c(
        "statement_timeout_wrapped",
        statement_timeout,
        "stock_report",
        ["timeout"],
        True,
        wrap=(ReportFailed, "nightly stock report not produced"),
        service="reporting",
    )
    c("syntax_error", syntax, "stock_report", ["internal"], False)
    c("missing_database", missing_database, "connect", ["configuration", "not_found"], False)
    c("missing_role", missing_role, "connect", ["configuration", "auth"], False)
    c("wrong_type", bad_integer, "create_warehouse", ["internal", "validation"], False)


MARIA_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


@family
def dataset_cases() -> None:
    import dataset

    db = dataset.connect(MARIA_URL)
    db.query("DROP TABLE IF EXISTS h7_shipments")
    db.query(
        "CREATE TABLE h7_shipments (id INT PRIMARY KEY, tracking VARCHAR(12) NOT NULL UNIQUE, weight_kg INT) "
        "ENGINE=InnoDB"
    )
    db.query("INSERT INTO h7_shipments VALUES (1, 'TRK-0001', 12)")
    db.query("DROP USER IF EXISTS 'h7_reader'@'%'")
    db.query("CREATE USER 'h7_reader'@'%' IDENTIFIED BY 'reader-pass-0000'")
    db.query("GRANT SELECT ON test.h7_shipments TO 'h7_reader'@'%'")

    def cleanup() -> None:
        db.query("DROP TABLE IF EXISTS h7_shipments")
        db.query("DROP USER IF EXISTS 'h7_reader'@'%'")
        db.close()

    CLEANUPS.append(cleanup)
    c = recorder("dataset", "shipments-db")
    table = db["h7_shipments"]

    def lock_wait() -> None:
        holder = dataset.connect(MARIA_URL)
        holder.begin()
        holder.query("SELECT * FROM h7_shipments WHERE id = 1 FOR UPDATE")
        try:
            waiter = dataset.connect(MARIA_URL)
            waiter.query("SET SESSION innodb_lock_wait_timeout = 1")
            try:
                waiter.query("UPDATE h7_shipments SET weight_kg = 13 WHERE id = 1")
            finally:
                waiter.close()
        finally:
            holder.rollback()
            holder.close()

    def denied() -> None:
        reader = dataset.connect("mysql+pymysql://h7_reader:reader-pass-0000@127.0.0.1:3306/test")
        try:
            reader["h7_shipments"].update({"id": 1, "weight_kg": 14}, ["id"])
        finally:
            reader.close()

    def bad_password() -> None:
        dataset.connect("mysql+pymysql://h7_reader:not-the-password@127.0.0.1:3306/test").query("SELECT 1")

    def unknown_db() -> None:
        dataset.connect("mysql+pymysql://root@127.0.0.1:3306/h7_no_such_db").query("SELECT 1")

    def no_driver() -> None:
        dataset.connect("mysql+mysqlconnector://root@127.0.0.1:3306/test")

    c(
        "duplicate_tracking",
        lambda: table.insert({"id": 2, "tracking": "TRK-0001", "weight_kg": 3}),
        "create_shipment",
        ["data", "conflict", "validation"],
        False,
    )
    c(
        "data_too_long",
        lambda: table.insert({"id": 3, "tracking": "TRK-000000000003", "weight_kg": 3}),
        "create_shipment",
        ["validation", "data"],
        False,
    )
    c(
        "not_null",
        lambda: table.insert({"id": 4, "weight_kg": 3}),
        "create_shipment",
        ["validation", "data", "internal"],
        False,
    )
    c(
        "lock_wait_timeout_wrapped",
        lock_wait,
        "reweigh_shipment",
        ["conflict", "timeout"],
        True,
        wrap=(ShipmentFailed, "shipment 1 not re-weighed"),
        service="weighing-station",
    )
    c(
        "update_denied_wrapped",
        denied,
        "reweigh_shipment",
        ["auth", "configuration"],
        False,
        wrap=(ShipmentFailed, "shipment 1 not re-weighed"),
        service="dock-scheduler",
    )
    c("bad_password", bad_password, "connect", ["auth", "configuration"], False)
    c("unknown_database", unknown_db, "connect", ["configuration", "not_found"], False)
    c("missing_driver", no_driver, "connect", ["configuration"], False)
    c("raw_syntax", lambda: list(db.query("SELECT * FORM h7_shipments")), "shipment_report", ["internal"], False)


@family
def walrus_cases() -> None:
    from walrus import Database

    db = Database(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=2)

    def cleanup() -> None:
        keys = db.keys(PREFIX + "*")
        if keys:
            db.delete(*keys)

    CLEANUPS.append(cleanup)
    db.set(PREFIX + "dock:3", "open")
    db.hset(PREFIX + "stock:ABC-0001", "qty", "three")
    c = recorder("walrus", "depot-cache")

    def wrongtype() -> None:
        return db.Hash(PREFIX + "dock:3")["status"]

    def incr_text() -> None:
        db.Hash(PREFIX + "stock:ABC-0001").incr("qty", 1)

    def rate_limited() -> None:
        limiter = db.rate_limit(PREFIX + "label-api", limit=2, per=60)

        @limiter.rate_limited(key_function=lambda carrier: carrier)
        def call_carrier(carrier: str) -> str:
            return carrier

        for _ in range(3):
            call_carrier("dhl")

    def lock_held() -> None:
        first = db.lock(PREFIX + "wave-7", ttl=5000)
        first.acquire()
        try:
            second = db.lock(PREFIX + "wave-7", ttl=5000)
            if not second.acquire(block=False):
                raise RuntimeError("wave 7 is locked by another planner")
        finally:
            first.release()

    def wrongpass() -> None:
        Database(host="127.0.0.1", port=6379, db=REDIS_DB, username="h7_nobody", password="not-the-password").ping()

    def silent() -> None:
        listener = Silent()
        Database(host="127.0.0.1", port=listener.port, db=REDIS_DB, socket_timeout=0.5, socket_connect_timeout=0.5).get(
            PREFIX + "dock:3"
        )

    def nogroup() -> None:
        stream = db.Stream(PREFIX + "scans")
        stream.add({"sku": "ABC-0001"})
        db.xreadgroup("h7-pickers", "picker-1", {PREFIX + "scans": ">"}, count=1)

    def lua_error() -> None:
        script = db.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        script(keys=[PREFIX + "dock:3"], args=[1])

    c("wrongtype_hash", wrongtype, "dock_status", ["internal", "data"], False)
    c("hincrby_not_integer", incr_text, "reserve_stock", ["data", "validation", "internal"], False)
    c("rate_limited", rate_limited, "request_label", ["rate_limit"], True)
    c(
        "lock_held_wrapped",
        lock_held,
        "release_wave",
        ["conflict"],
        True,
        wrap=(ShipmentFailed, "wave 7 not released"),
        service="wave-planner",
    )
    c("wrongpass", wrongpass, "connect", ["auth", "configuration"], False)
    c("silent_server", silent, "dock_status", ["timeout", "network", "unavailable"], True)
    c("nogroup", nogroup, "consume_scans", ["not_found", "configuration"], False)
    c("lua_incrby_string", lua_error, "open_dock", ["internal", "data"], False)


RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"


@family
def faststream_cases() -> None:
    from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue

    c = recorder("faststream", "label-queue")

    def with_broker(action: Callable[[Any], Any], url: str = RABBIT_URL, **kw: Any) -> Callable[[], Any]:
        async def run() -> Any:
            broker = RabbitBroker(url, **kw)
            try:
                await broker.start()
                return await action(broker)
            finally:
                await broker.stop()

        return run

    async def nothing(broker: Any) -> None:
        return None

    async def passive_missing(broker: Any) -> None:
        await broker.declare_queue(RabbitQueue("h7.labels.missing", declare=False, robust=False))

    async def redeclare(broker: Any) -> None:
        try:
            await broker.declare_queue(RabbitQueue("h7.labels", durable=False, auto_delete=True, robust=False))
            await broker.declare_queue(RabbitQueue("h7.labels", durable=True, robust=False))
        finally:
            with contextlib.suppress(Exception):
                channel_broker = RabbitBroker(RABBIT_URL)
                await channel_broker.start()
                queue = await channel_broker.declare_queue(RabbitQueue("h7.labels", declare=False, robust=False))
                await queue.delete()
                await channel_broker.stop()

    async def missing_exchange(broker: Any) -> None:
        await broker.publish(
            {"sku": "ABC-0001"}, exchange=RabbitExchange("h7.no-such-exchange", declare=False), routing_key="labels"
        )

    async def request_timeout(broker: Any) -> None:
        queue = await broker.declare_queue(RabbitQueue("h7.rpc.rates", auto_delete=True, robust=False))
        try:
            await broker.request({"carrier": "dhl"}, queue="h7.rpc.rates", timeout=0.5)
        finally:
            await queue.delete(if_unused=False, if_empty=False)

    silent = Silent()
    c(
        "bad_password",
        with_broker(nothing, "amqp://guest:not-the-password@127.0.0.1:5672/"),
        "connect",
        ["auth", "configuration"],
        False,
    )
    c(
        "missing_vhost",
        with_broker(nothing, "amqp://guest:guest@127.0.0.1:5672/h7-no-such-vhost"),
        "connect",
        ["configuration", "auth", "not_found"],
        False,
    )
    c("passive_missing_queue", with_broker(passive_missing), "bind_labels", ["not_found", "configuration"], False)
    c(
        "redeclare_different_wrapped",
        with_broker(redeclare),
        "bind_labels",
        ["configuration", "conflict"],
        False,
        wrap=(LabelNotPrinted, "label queue not bound"),
        service="print-station",
    )
    c("missing_exchange", with_broker(missing_exchange), "publish_label", ["not_found", "configuration"], False)
    c("rpc_timeout", with_broker(request_timeout), "quote_rates", ["timeout"], True)
    c(
        "silent_broker",
        with_broker(nothing, f"amqp://guest:guest@127.0.0.1:{silent.port}/", timeout=1),
        "connect",
        ["timeout", "network", "unavailable"],
        True,
    )


@family
def groq_cases() -> None:
    from groq import Groq

    def complete(timeout: float = 3.0, model: str = "llama-3.1-8b-instant") -> Callable[[], Any]:
        def call() -> Any:
            client = Groq(api_key=FAKE_CREDENTIAL, base_url=FAKE.url, max_retries=0, timeout=timeout)
            return client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Write the delivery note for shipment S-20931."}]
            )

        return call

    def err(message: str, type_: str, code: str | None) -> dict[str, Any]:
        return {"error": {"message": message, "type": type_, "code": code}}

    c = recorder("groq", "delivery-notes")
    c(
        "invalid_api_key",
        answering(401, err("Invalid API Key", "invalid_request_error", "invalid_api_key"), call=complete()),
        "write_delivery_note",
        ["auth"],
        False,
    )
    c(
        "model_not_found",
        answering(
            404,
            err(
                "The model `llama-9-70b` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            ),
            call=complete(model="llama-9-70b"),
        ),
        "write_delivery_note",
        ["not_found", "configuration"],
        False,
    )
    c(
        "tpm_rate_limit_wrapped",
        answering(
            429,
            err(
                "Rate limit reached for model `llama-3.1-8b-instant` in organization `org_0000` service tier "
                "`on_demand` on tokens per minute (TPM): Limit 6000, Used 5870, Requested 412. "
                "Please try again in 2.82s.",
                "tokens",
                "rate_limit_exceeded",
            ),
            {"retry-after": "3"},
            call=complete(),
        ),
        "write_delivery_note",
        ["rate_limit"],
        True,
        wrap=(NotifyFailed, "delivery note for S-20931 not written"),
        service="customer-notify",
    )
    c(
        "request_too_large_wrapped",
        answering(
            413,
            err(
                "Request too large for model `llama-3.1-8b-instant` in organization `org_0000` on tokens per minute "
                "(TPM): Limit 6000, Requested 14210, please reduce your message size and try again.",
                "tokens",
                "rate_limit_exceeded",
            ),
            call=complete(),
        ),
        "write_delivery_note",
        ["validation", "rate_limit", "resource"],
        False,
        wrap=(NotifyFailed, "delivery note for S-20931 not written"),
        service="customer-notify",
    )
    c(
        "context_length",
        answering(
            400,
            err(
                "Please reduce the length of the messages or completion.",
                "invalid_request_error",
                "context_length_exceeded",
            ),
            call=complete(),
        ),
        "write_delivery_note",
        ["validation"],
        False,
    )
    c(
        "capacity_498",
        answering(
            498,
            err("Flex tier capacity exceeded. This is a known issue. Please try again later.", "", "capacity_exceeded"),
            call=complete(),
        ),
        "write_delivery_note",
        ["unavailable", "rate_limit"],
        True,
    )
    c(
        "over_capacity_503",
        answering(503, err("Service Unavailable", "internal_server_error", "service_unavailable"), call=complete()),
        "write_delivery_note",
        ["unavailable"],
        True,
    )
    c(
        "read_timeout",
        answering(200, {}, delay_s=1.5, call=complete(timeout=0.4)),
        "write_delivery_note",
        ["timeout"],
        True,
    )


@family
def replicate_cases() -> None:
    import replicate

    def client() -> Any:
        return replicate.Client(api_token=FAKE_CREDENTIAL, base_url=FAKE.url)

    def predict() -> Any:
        return client().predictions.create(
            version="5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
            input={"image": "https://depot.example.invalid/pod/881.jpg"},
        )

    def get_model() -> Any:
        return client().models.get("depot-ai/parcel-damage")

    def problem(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": "https://replicate.com/docs/reference/http#" + str(status),
            "title": title,
            "detail": detail,
            "status": status,
            **extra,
        }

    ptype = {"Content-Type": "application/problem+json"}
    c = recorder("replicate", "damage-check")
    c(
        "unauthenticated",
        answering(
            401, problem(401, "Unauthenticated", "You did not pass a valid authentication token"), ptype, call=predict
        ),
        "check_parcel_photo",
        ["auth"],
        False,
    )
    c(
        "model_not_found",
        answering(404, problem(404, "Not found", "The requested resource could not be found."), ptype, call=get_model),
        "check_parcel_photo",
        ["not_found", "configuration"],
        False,
    )
    c(
        "insufficient_credit",
        answering(
            402,
            problem(
                402,
                "Insufficient credit",
                "You have insufficient credit to run this model. Go to https://replicate.com/account/billing#billing "
                "to purchase credit. Once you purchase credit, please wait a few minutes before trying again.",
            ),
            ptype,
            call=predict,
        ),
        "check_parcel_photo",
        ["resource", "auth"],
        False,
    )
    c(
        "input_validation",
        answering(
            422,
            problem(
                422,
                "Input validation failed",
                "- input.image: Does not match format 'uri'",
                invalid_fields=[
                    {"type": "format", "field": "input.image", "description": "Does not match format 'uri'"}
                ],
            ),
            ptype,
            call=predict,
        ),
        "check_parcel_photo",
        ["validation"],
        False,
    )
    c(
        "throttled_wrapped",
        answering(
            429,
            problem(429, "Request was throttled", "Request was throttled. Your rate limit resets in ~9s."),
            ptype,
            call=predict,
        ),
        "check_parcel_photo",
        ["rate_limit"],
        True,
        wrap=(ShipmentFailed, "damage check for parcel 881 not run"),
        service="returns-desk",
    )
    c(
        "version_conflict",
        answering(
            409,
            problem(409, "Conflict", "A deployment with the name parcel-damage already exists."),
            ptype,
            call=lambda: client().deployments.create(
                name="parcel-damage",
                model="depot-ai/parcel-damage",
                version="5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
                hardware="gpu-t4",
                min_instances=0,
                max_instances=1,
            ),
        ),
        "deploy_model",
        ["conflict", "validation"],
        False,
    )
    c(
        "bad_gateway_html",
        answering(502, "<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}, call=predict),
        "check_parcel_photo",
        ["unavailable"],
        True,
    )


@family
def airtable_cases() -> None:
    from pyairtable import Api

    def table() -> Any:
        return Api(FAKE_CREDENTIAL, timeout=(2, 1), retry_strategy=None, endpoint_url=FAKE.url).table(
            "appDepot000000000", "Suppliers"
        )

    def create() -> Any:
        return table().create({"Name": "Lyon Pallets", "Weight": 12})

    c = recorder("airtable", "supplier-sync")
    c(
        "authentication_required",
        answering(
            401, {"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}}, call=create
        ),
        "sync_supplier",
        ["auth"],
        False,
    )
    c(
        "invalid_permissions",
        answering(
            403,
            {
                "error": {
                    "type": "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
                    "message": "Invalid permissions, or the requested model was not found. Check that both your user "
                    "and your token have the required permissions, and that the model names and/or ids are correct.",
                }
            },
            call=create,
        ),
        "sync_supplier",
        ["auth", "not_found", "configuration"],
        False,
    )
    c(
        "record_not_found",
        answering(
            404,
            {"error": {"type": "MODEL_ID_NOT_FOUND", "message": "Could not find a record with ID rec0."}},
            call=lambda: table().get("recXXXXXXXXXXXXXX"),
        ),
        "fetch_supplier",
        ["not_found"],
        False,
    )
    c(
        "unknown_field",
        answering(
            422, {"error": {"type": "UNKNOWN_FIELD_NAME", "message": 'Unknown field name: "Weight"'}}, call=create
        ),
        "sync_supplier",
        ["validation", "configuration"],
        False,
    )
    c(
        "invalid_value_wrapped",
        answering(
            422,
            {
                "error": {
                    "type": "INVALID_VALUE_FOR_COLUMN",
                    "message": 'Field "Weight" cannot accept the provided value',
                }
            },
            call=create,
        ),
        "sync_supplier",
        ["validation"],
        False,
        wrap=(StockSyncFailed, "supplier Lyon Pallets not synchronised"),
        service="stock-sync",
    )
    c(
        "rate_limited_wrapped",
        answering(
            429,
            {"errors": [{"error": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try again later"}]},
            call=create,
        ),
        "sync_supplier",
        ["rate_limit"],
        True,
        wrap=(StockSyncFailed, "supplier list not synchronised"),
        service="stock-sync",
    )
    c(
        "public_api_billing_limit",
        answering(
            429,
            {
                "errors": [
                    {
                        "error": "PUBLIC_API_BILLING_LIMIT_EXCEEDED",
                        "message": "The API request limit for this workspace's billing plan has been exceeded.",
                    }
                ]
            },
            call=create,
        ),
        "sync_supplier",
        ["resource", "rate_limit"],
        None,
    )
    c(
        "service_unavailable",
        answering(503, {"error": "SERVICE_UNAVAILABLE"}, call=create),
        "sync_supplier",
        ["unavailable"],
        True,
    )
    c("read_timeout", answering(200, {}, delay_s=2.0, call=create), "sync_supplier", ["timeout"], True)


@family
def jenkins_cases() -> None:
    import jenkins

    def server(timeout: float = 2.0) -> Any:
        return jenkins.Jenkins(FAKE.url, username="depot-ci", password=FAKE_CREDENTIAL, timeout=timeout)

    html = {"Content-Type": "text/html;charset=utf-8"}
    c = recorder("jenkins", "release-pipeline")
    c(
        "job_not_found",
        answering(
            404,
            "<html><body><h2>HTTP ERROR 404 Not Found</h2></body></html>",
            html,
            call=lambda: server().get_job_info("depot-label-service"),
        ),
        "trigger_build",
        ["not_found", "configuration"],
        False,
    )
    c(
        "unauthorized",
        answering(
            401,
            "<html><body>Invalid password/token for user: depot-ci</body></html>",
            {**html, "WWW-Authenticate": 'Basic realm="Jenkins"'},
            call=lambda: server().get_whoami(),
        ),
        "trigger_build",
        ["auth"],
        False,
    )
    c(
        "forbidden_build_wrapped",
        answering(
            403,
            "<html><body>depot-ci is missing the Job/Build permission</body></html>",
            html,
            call=lambda: server().build_job("depot-label-service"),
        ),
        "trigger_build",
        ["auth", "configuration"],
        False,
        wrap=(ExportFailed, "release 4.2 of the label service not started"),
        service="release-bot",
    )
    c(
        "shutting_down",
        answering(
            503, "<html><body>Jenkins is going to shut down</body></html>", html, call=lambda: server().get_version()
        ),
        "trigger_build",
        ["unavailable"],
        True,
    )
    c(
        "server_error",
        answering(
            500,
            "<html><body>java.lang.NullPointerException</body></html>",
            html,
            call=lambda: server().get_job_info("depot-label-service"),
        ),
        "trigger_build",
        ["unavailable", "unknown"],
        True,
    )
    c(
        "read_timeout",
        answering(200, {}, delay_s=1.5, call=lambda: server(0.4).get_version()),
        "trigger_build",
        ["timeout"],
        True,
    )
    c(
        "not_jenkins",
        answering(200, {"status": "ok"}, call=lambda: server().get_version()),
        "trigger_build",
        ["configuration", "internal"],
        False,
    )


@family
def postmark_cases() -> None:
    from postmarker.core import PostmarkClient

    def send(timeout: float = 2.0) -> Callable[[], Any]:
        def call() -> Any:
            client = PostmarkClient(server_token=FAKE_CREDENTIAL, root_api_url=FAKE.url + "/", timeout=timeout)
            return client.emails.send(
                From="dispatch@depot.example",
                To="customer@example.com",
                Subject="Your parcel is on its way",
                HtmlBody="<p>Shipment S-20931 left the depot.</p>",
            )

        return call

    def pm(status: int, code: int, message: str, **kw: Any) -> Callable[[], Any]:
        return answering(status, {"ErrorCode": code, "Message": message}, call=send(), **kw)

    c = recorder("postmark", "customer-mail")
    c(
        "no_token",
        pm(
            401,
            10,
            "No Account or Server API tokens were supplied in the HTTP headers. Please add a header "
            "for either X-Postmark-Server-Token or X-Postmark-Account-Token.",
        ),
        "send_dispatch_mail",
        ["auth", "configuration"],
        False,
    )
    c("invalid_to", pm(422, 300, "Invalid 'To' address: 'customer@'."), "send_dispatch_mail", ["validation"], False)
    c(
        "sender_signature",
        pm(
            422,
            400,
            "The 'From' address you supplied (dispatch@depot.example) is not a Sender "
            "Signature on your account. Please add and confirm this address in order to be able to "
            "use it in the 'From' field of your messages.",
        ),
        "send_dispatch_mail",
        ["configuration", "auth", "validation"],
        False,
    )
    c(
        "inactive_recipient_wrapped",
        pm(
            422,
            406,
            "You tried to send to recipient(s) that have been marked as inactive. "
            "Found inactive addresses: customer@example.com. Inactive recipients are ones "
            "that have generated a hard bounce, a spam complaint, or a manual suppression.",
        ),
        "send_dispatch_mail",
        ["validation", "not_found"],
        False,
        wrap=(NotifyFailed, "dispatch mail for S-20931 not sent"),
        service="customer-notify",
    )
    c(
        "out_of_credits_wrapped",
        pm(422, 405, "Not allowed to send: You have run out of credits."),
        "send_dispatch_mail",
        ["resource"],
        False,
        wrap=(NotifyFailed, "dispatch mail for S-20940 not sent"),
        service="customer-notify",
    )
    c(
        "pending_approval",
        pm(
            422,
            412,
            "Your account is pending approval. You can only send to recipients within the "
            "same domain as the From address.",
        ),
        "send_dispatch_mail",
        ["auth", "configuration"],
        False,
    )
    c(
        "server_error",
        answering(500, {"ErrorCode": 0, "Message": "Internal Server Error"}, call=send()),
        "send_dispatch_mail",
        ["unavailable"],
        True,
    )
    c("read_timeout", answering(200, {}, delay_s=1.5, call=send(0.4)), "send_dispatch_mail", ["timeout"], True)


@family
def keycloak_cases() -> None:
    from keycloak import KeycloakOpenID

    def oidc(timeout: int = 2) -> Any:
        return KeycloakOpenID(
            server_url=FAKE.url,
            realm_name="depot",
            client_id="depot-api",
            client_secret_key="not-a-real-secret",
            timeout=timeout,
            max_retries=0,
        )

    def login() -> Any:
        return oidc().token("picker-17", "not-the-password")

    c = recorder("keycloak", "depot-sso")
    c(
        "invalid_grant",
        answering(401, {"error": "invalid_grant", "error_description": "Invalid user credentials"}, call=login),
        "login",
        ["auth"],
        False,
    )
    c(
        "invalid_client",
        answering(
            401,
            {"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"},
            call=login,
        ),
        "login",
        ["auth", "configuration"],
        False,
    )
    c(
        "direct_grant_disabled",
        answering(
            400,
            {"error": "unauthorized_client", "error_description": "Client not allowed for direct access grants"},
            call=login,
        ),
        "login",
        ["configuration", "auth"],
        False,
    )
    c(
        "account_disabled_wrapped",
        answering(400, {"error": "invalid_grant", "error_description": "Account disabled"}, call=login),
        "login",
        ["auth"],
        False,
        wrap=(LoginRejected, "picker-17 could not sign in"),
        service="handheld-gateway",
    )
    c(
        "token_inactive",
        answering(
            401,
            {"error": "invalid_token", "error_description": "Token verification failed"},
            call=lambda: oidc().userinfo("eyJhbGciOiJSUzI1NiJ9.not-a-token.sig"),
        ),
        "who_am_i",
        ["auth"],
        False,
    )
    c(
        "realm_not_found_wrapped",
        answering(404, {"error": "Realm does not exist"}, call=login),
        "login",
        ["configuration", "not_found"],
        False,
        wrap=(LoginRejected, "handheld login unavailable"),
        service="handheld-gateway",
    )
    c(
        "unavailable",
        answering(503, "<html><body>Service Unavailable</body></html>", {"Content-Type": "text/html"}, call=login),
        "login",
        ["unavailable"],
        True,
    )
    c(
        "read_timeout",
        answering(200, {}, delay_s=2.0, call=lambda: oidc(1).token("picker-17", "not-the-password")),
        "login",
        ["timeout"],
        True,
    )


@family
def telegram_cases() -> None:
    from telegram import Bot
    from telegram.request import HTTPXRequest

    def send(text: str = "Truck T-88 left dock 3.", read_timeout: float = 2.0) -> Callable[[], Any]:
        async def call() -> Any:
            request = HTTPXRequest(read_timeout=read_timeout, connect_timeout=1.0)
            bot = Bot("123456:not-a-real-token", base_url=FAKE.url + "/bot", request=request)
            return await bot.send_message(chat_id=-100123, text=text)

        return call

    def poll() -> Any:
        async def call() -> Any:
            bot = Bot("123456:not-a-real-token", base_url=FAKE.url + "/bot")
            return await bot.get_updates(timeout=0)

        return call()

    def tg(status: int, description: str, **params: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if params:
            body["parameters"] = params
        return body

    c = recorder("telegram", "dock-alerts")
    c(
        "unauthorized",
        answering(401, tg(401, "Unauthorized"), call=send()),
        "post_dock_alert",
        ["auth", "configuration"],
        False,
    )
    c(
        "bot_blocked",
        answering(403, tg(403, "Forbidden: bot was kicked from the supergroup chat"), call=send()),
        "post_dock_alert",
        ["auth"],
        False,
    )
    c(
        "chat_not_found",
        answering(400, tg(400, "Bad Request: chat not found"), call=send()),
        "post_dock_alert",
        ["not_found", "configuration"],
        False,
    )
    c(
        "message_too_long",
        answering(400, tg(400, "Bad Request: message is too long"), call=send("x" * 5000)),
        "post_dock_alert",
        ["validation"],
        False,
    )
    c(
        "flood_wait_wrapped",
        answering(429, tg(429, "Too Many Requests: retry after 7", retry_after=7), call=send()),
        "post_dock_alert",
        ["rate_limit"],
        True,
        wrap=(NotifyFailed, "dock 3 alert not posted"),
        service="dock-scheduler",
    )
    c(
        "getupdates_conflict",
        answering(
            409,
            tg(
                409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
            ),
            call=poll,
        ),
        "poll_commands",
        ["conflict", "configuration"],
        None,
    )
    c(
        "bad_gateway",
        answering(502, "<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}, call=send()),
        "post_dock_alert",
        ["unavailable", "network"],
        True,
    )
    c(
        "read_timeout",
        answering(200, {"ok": True, "result": {}}, delay_s=1.5, call=send(read_timeout=0.4)),
        "post_dock_alert",
        ["timeout"],
        True,
    )


@family
def caches_cases() -> None:
    from cachelib import RedisCache
    from dogpile.cache import make_region

    c = recorder("caches", "rate-cache")

    def dogpile_unconfigured() -> None:
        make_region().get(PREFIX + "rates:dhl")

    def dogpile_twice() -> None:
        region = make_region().configure("dogpile.cache.memory")
        region.configure("dogpile.cache.memory")

    def dogpile_unknown_backend() -> None:
        make_region().configure("dogpile.cache.memcachd", arguments={"url": "127.0.0.1:11211"})

    def dogpile_wrongpass() -> None:
        region = make_region().configure(
            "dogpile.cache.redis",
            arguments={
                "host": "127.0.0.1",
                "port": 6379,
                "db": REDIS_DB,
                "username": "h7_nobody",
                "password": "not-the-password",
            },
        )
        region.get(PREFIX + "rates:dhl")

    def dogpile_pickle() -> None:
        region = make_region().configure(
            "dogpile.cache.redis", arguments={"host": "127.0.0.1", "port": 6379, "db": REDIS_DB}
        )
        region.set(PREFIX + "rates:formatter", lambda amount: f"{amount:.2f} EUR")

    def cachelib_inc() -> None:
        cache = RedisCache(host="127.0.0.1", port=6379, db=REDIS_DB, key_prefix=PREFIX)
        cache.set("labels-printed", "many")
        cache.inc("labels-printed")

    def cachelib_wrongtype() -> None:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).hset(PREFIX + "dock:4", "status", "open")
        RedisCache(host="127.0.0.1", port=6379, db=REDIS_DB, key_prefix=PREFIX).get("dock:4")

    def cachelib_silent() -> None:
        listener = Silent()
        RedisCache(host="127.0.0.1", port=listener.port, db=REDIS_DB, key_prefix=PREFIX, socket_timeout=0.5).get("x")

    c("dogpile_not_configured", dogpile_unconfigured, "quote_rates", ["configuration", "internal"], False)
    c("dogpile_configured_twice", dogpile_twice, "startup", ["internal", "configuration"], False)
    c("dogpile_unknown_backend", dogpile_unknown_backend, "startup", ["configuration"], False)
    c(
        "dogpile_redis_wrongpass_wrapped",
        dogpile_wrongpass,
        "quote_rates",
        ["auth", "configuration"],
        False,
        wrap=(RouteFailed, "rate cache unavailable"),
        service="shipping-planner",
    )
    c("dogpile_unpicklable", dogpile_pickle, "cache_formatter", ["internal"], False)
    c("cachelib_inc_text", cachelib_inc, "count_labels", ["data", "internal"], False)
    c("cachelib_wrongtype", cachelib_wrongtype, "dock_status", ["internal", "data"], False)
    c("cachelib_silent_server", cachelib_silent, "dock_status", ["timeout", "network", "unavailable"], True)


@family
def templates_cases() -> None:
    import string

    c = recorder("templates", "label-render")
    TMP.mkdir(exist_ok=True)
    (TMP / "genshi").mkdir(exist_ok=True)

    def pystache_unclosed() -> None:
        import pystache

        pystache.render("{{#items}}<li>{{sku}}</li>{{/item}}", {"items": [{"sku": "ABC-0001"}]})

    def pystache_strict() -> None:
        from pystache import Renderer

        Renderer(missing_tags="strict").render("Ship to {{address.city}}", {"address": {}})

    def pystache_partial() -> None:
        from pystache import Renderer

        Renderer(missing_tags="strict", search_dirs=[str(TMP)]).render("{{> footer}}", {})

    def genshi_syntax() -> None:
        from genshi.template import MarkupTemplate

        MarkupTemplate('<ul xmlns:py="http://genshi.edgewall.org/"><li py:for="sku in skus">${sku}</ul>')

    def genshi_undefined() -> None:
        from genshi.template import MarkupTemplate

        tmpl = MarkupTemplate('<p xmlns:py="http://genshi.edgewall.org/">${shipment.carrier}</p>', lookup="strict")
        tmpl.generate().render("xhtml")

    def genshi_missing() -> None:
        from genshi.template import TemplateLoader

        TemplateLoader([str(TMP / "genshi")]).load("packing_slip.html")

    def template_key() -> None:
        string.Template("Deliver $shipment to $address").substitute(shipment="S-20931")

    def template_placeholder() -> None:
        string.Template("Total: $12.50 for $shipment").substitute(shipment="S-20931")

    c("pystache_unclosed_section", pystache_unclosed, "render_packing_slip", ["internal"], False)
    c("pystache_strict_missing", pystache_strict, "render_label", ["internal", "data"], False)
    c("pystache_missing_partial", pystache_partial, "render_label", ["configuration", "not_found", "internal"], False)
    c(
        "genshi_syntax_wrapped",
        genshi_syntax,
        "render_packing_slip",
        ["internal"],
        False,
        wrap=(LabelNotPrinted, "packing slip for S-20931 not rendered"),
        service="print-station",
    )
    c("genshi_undefined", genshi_undefined, "render_packing_slip", ["internal"], False)
    c("genshi_not_found", genshi_missing, "render_packing_slip", ["configuration", "not_found"], False)
    c("string_template_key", template_key, "render_sms", ["internal"], False)
    c("string_template_placeholder", template_placeholder, "render_sms", ["internal"], False)


class SilentUDP:
    """A UDP socket that receives and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        CLEANUPS.append(self.sock.close)


@family
def networking_cases() -> None:
    import ipaddress

    c = recorder("networking", "scanner-fleet")
    udp = SilentUDP()

    def netaddr_prefix() -> None:
        import netaddr

        netaddr.IPNetwork("10.40.0.0/33")

    def netaddr_mac() -> None:
        import netaddr

        netaddr.EUI("00:1b:zz:4e:11:02")

    def dns_timeout() -> None:
        from dnslib import DNSRecord

        DNSRecord.question("printers.depot.internal").send("127.0.0.1", port=udp.port, timeout=0.5)

    def dns_garbage() -> None:
        from dnslib import DNSRecord

        DNSRecord.parse(b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07pri")

    def ntp_silent() -> None:
        import ntplib

        ntplib.NTPClient().request("127.0.0.1", port=udp.port, timeout=0.5)

    def serial_missing() -> None:
        import serial

        serial.Serial("/dev/ttyUSB7", 9600, timeout=1)

    def socketio_rejected() -> None:
        import socketio

        FAKE.set(401, {"message": "Invalid token"})
        client = socketio.Client(reconnection=False)
        try:
            client.connect(FAKE.url, transports=["polling"], wait_timeout=2)
        finally:
            client.disconnect()

    c("netaddr_prefix_33", netaddr_prefix, "register_subnet", ["validation", "configuration"], False)
    c("netaddr_bad_mac", netaddr_mac, "register_scanner", ["validation"], False)
    c(
        "ipaddress_host_bits",
        lambda: ipaddress.ip_network("10.40.3.17/24"),
        "register_subnet",
        ["validation", "configuration"],
        False,
    )
    c("ipaddress_octet", lambda: ipaddress.ip_address("10.40.300.17"), "register_scanner", ["validation"], False)
    c(
        "dns_no_answer_wrapped",
        dns_timeout,
        "resolve_printer",
        ["timeout", "network", "unavailable"],
        True,
        wrap=(LabelNotPrinted, "printer for dock 3 not resolved"),
        service="print-station",
    )
    c("dns_truncated_packet", dns_garbage, "resolve_printer", ["data", "validation"], False)
    c(
        "ntp_no_response_wrapped",
        ntp_silent,
        "sync_clock",
        ["timeout", "network", "unavailable"],
        True,
        wrap=(RouteFailed, "scanner clocks not synchronised"),
        service="scanner-fleet",
    )
    c("serial_missing_device", serial_missing, "open_scale", ["configuration", "not_found"], False)
    c("socketio_rejected", socketio_rejected, "subscribe_scans", ["auth", "network"], False)


@family
def crypto_cases() -> None:
    c = recorder("crypto", "partner-edi")

    def josepy_bad_jws() -> None:
        import josepy

        josepy.JWS.json_loads('{"payload": "eyJvcmRlciI6IDF9", "signature": "!!"}')

    def pgp_key() -> Any:
        from pgpy import PGPUID, PGPKey
        from pgpy.constants import EllipticCurveOID, HashAlgorithm, KeyFlags, PubKeyAlgorithm

        key = PGPKey.new(PubKeyAlgorithm.EdDSA, EllipticCurveOID.Ed25519)
        key.add_uid(
            PGPUID.new("Depot EDI", email="edi@depot.example"), usage={KeyFlags.Sign}, hashes=[HashAlgorithm.SHA256]
        )
        return key

    def pgp_verify_other_key() -> None:
        from pgpy import PGPMessage

        signer, other = pgp_key(), pgp_key()
        message = PGPMessage.new("ORDERS 2026-12-08: 14 pallets")
        signature = signer.sign(message)
        if not other.pubkey.verify(message, signature):
            raise ValueError("partner signature does not verify")

    def pgp_verify_tampered() -> None:
        signer = pgp_key()
        signature = signer.sign("ORDERS 2026-12-08: 14 pallets")
        verification = signer.pubkey.verify("ORDERS 2026-12-08: 41 pallets", signature)
        if not verification:
            raise ValueError(f"EDI signature verification failed: {list(verification.bad_signatures)}")

    def pgp_locked() -> None:
        from pgpy.constants import CompressionAlgorithm, HashAlgorithm, SymmetricKeyAlgorithm

        key = pgp_key()
        key.protect("depot-passphrase-0000", SymmetricKeyAlgorithm.AES256, HashAlgorithm.SHA256)
        with key.unlock("not-the-passphrase"):
            pass
        del CompressionAlgorithm

    def pgp_garbage() -> None:
        from pgpy import PGPKey

        PGPKey.from_blob("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----\n")

    def keyring_none() -> None:
        import keyring
        from keyring.backends import fail

        keyring.set_keyring(fail.Keyring())
        keyring.get_password("depot-edi", "partner-sftp")

    c("josepy_bad_jws", josepy_bad_jws, "verify_order", ["validation", "data"], False)
    c("pgp_wrong_key", pgp_verify_other_key, "verify_order", ["auth", "configuration"], False)
    c(
        "pgp_tampered_wrapped",
        pgp_verify_tampered,
        "verify_order",
        ["auth", "data"],
        False,
        wrap=(ImportFailed, "partner order file rejected"),
        service="order-import",
    )
    c("pgp_wrong_passphrase", pgp_locked, "sign_invoice", ["auth", "configuration"], False)
    c("pgp_garbage_key", pgp_garbage, "load_partner_key", ["configuration", "data"], False)
    c("keyring_no_backend", keyring_none, "load_sftp_password", ["configuration"], False)


def _jl_divide(total: int, pallets: int) -> float:
    return total / pallets


def _jl_sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _jl_die(code: int) -> None:
    os._exit(code)


@family
def joblib_cases() -> None:
    import joblib

    c = recorder("joblib", "forecast")
    TMP.mkdir(exist_ok=True)
    garbage = TMP / "model.joblib"
    garbage.write_bytes(b"\x80\x04\x95 this is not a pickle")

    c(
        "worker_zero_division",
        lambda: joblib.Parallel(n_jobs=2)(joblib.delayed(_jl_divide)(10, n) for n in (2, 0)),
        "forecast_demand",
        ["internal", "data"],
        False,
    )
    c(
        "parallel_timeout",
        lambda: joblib.Parallel(n_jobs=2, timeout=0.5)(joblib.delayed(_jl_sleep)(2) for _ in "ab"),
        "forecast_demand",
        ["timeout"],
        True,
    )
    c(
        "worker_killed_wrapped",
        lambda: joblib.Parallel(n_jobs=2)(joblib.delayed(_jl_die)(9) for _ in "ab"),
        "forecast_demand",
        ["unknown", "resource", "internal"],
        None,
        wrap=(ReportFailed, "weekly demand forecast not produced"),
        service="reporting",
    )
    c(
        "load_missing",
        lambda: joblib.load(TMP / "model-2026-12.joblib"),
        "load_model",
        ["not_found", "configuration"],
        False,
    )
    c("load_garbage", lambda: joblib.load(garbage), "load_model", ["data", "resource"], False)
    c(
        "unknown_backend",
        lambda: joblib.Parallel(n_jobs=2, backend="dask-cluster")(joblib.delayed(abs)(-1) for _ in "a"),
        "forecast_demand",
        ["configuration"],
        False,
    )
    c("dump_lambda", lambda: joblib.dump(lambda x: x, TMP / "scorer.joblib"), "save_model", ["internal"], False)


@family
def twisted_cases() -> None:
    from twisted.internet import asyncioreactor

    loop = asyncio.new_event_loop()
    asyncioreactor.install(loop)
    import treq
    from twisted.internet import defer, reactor

    reactor.startRunning(installSignalHandlers=False)  # type: ignore[attr-defined]
    CLEANUPS.append(reactor.getThreadPool().stop)  # type: ignore[attr-defined]  # its threads would block the exit

    def run(make: Callable[[], Any]) -> Callable[[], Any]:
        def trigger() -> Any:
            return loop.run_until_complete(defer.Deferred.fromCoroutine(make()).asFuture(loop))

        return trigger

    def get_json(url: str | None = None, timeout: float = 2.0) -> Callable[[], Any]:
        async def call() -> Any:
            response = await treq.get(url or FAKE.url + "/v2/trucks/T-88/position", timeout=timeout)
            return await response.json()

        return call

    def body_of(url: str | None = None) -> Callable[[], Any]:
        async def call() -> Any:
            response = await treq.get(url or FAKE.url + "/v2/trucks/T-88/position", timeout=2)
            return await response.content()

        return call

    def answer(
        status: int = 200, body: Any = b"", headers: dict[str, str] | None = None, call: Any = None, **kw: Any
    ) -> Callable[[], Any]:
        inner = run(call)

        def trigger() -> Any:
            FAKE.set(status, body, headers, **kw)
            return inner()

        return trigger

    c = recorder("twisted", "fleet-tracker")
    c(
        "read_timeout",
        answer(200, {"lat": 45.7}, delay_s=1.5, call=get_json(timeout=0.4)),
        "track_truck",
        ["timeout"],
        True,
    )
    c("hangup", answer(mode="hangup", call=get_json()), "track_truck", ["network", "unavailable"], True)
    c(
        "short_body",
        answer(mode="raw", body=b'HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n{"lat": 45.7', call=body_of()),
        "track_truck",
        ["network", "data", "unavailable"],
        True,
    )
    c(
        "html_instead_of_json_wrapped",
        answer(
            200, "<html><body>Maintenance until 04:00</body></html>", {"Content-Type": "text/html"}, call=get_json()
        ),
        "track_truck",
        ["unavailable", "data", "unknown"],
        None,
        wrap=(RouteFailed, "position of truck T-88 unknown"),
        service="shipping-planner",
    )
    c("unsupported_scheme", run(get_json("ftp://127.0.0.1/trucks.json")), "track_truck", ["configuration"], False)
    c(
        "tls_to_plain_port",
        run(get_json(FAKE.url.replace("http://", "https://") + "/v2/trucks")),
        "track_truck",
        ["configuration", "network"],
        False,
    )
    c(
        "refused",
        run(get_json(f"http://127.0.0.1:{closed_port()}/v2/trucks")),
        "track_truck",
        ["network", "unavailable"],
        True,
    )
    CLEANUPS.append(loop.close)


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
