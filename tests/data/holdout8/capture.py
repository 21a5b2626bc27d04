"""Build tests/data/holdout8/cases.jsonl: an eighth held-out set of real errors, labelled by the taxonomy only.

Written without reading medic's rules (config/rules/), its classifier, its classification tests or the
cases of the earlier sets, so it measures how the rules generalise. Each error is raised for real: against
the machine's PostgreSQL and Redis (db 9), against servers this script starts on free 127.0.0.1 ports (a
scriptable HTTP server that answers like the real APIs, a silent TCP listener, TLS servers with generated
certificates, a fake DNS server), or by feeding a library real bad input. Events are built by
`medic_client.event_from_exception`; about one case in six is wrapped in an application's own exception
(a bookings and payments application for a chain of fitness studios).

Run: /tmp/holdout8-venv/bin/python tests/data/holdout8/capture.py [family ...]   (README.md: the venv)
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
SOURCE = "holdout8-app"
CASES: list[dict[str, Any]] = []
MISSED: list[str] = []
COUNTERS: collections.Counter[str] = collections.Counter()
CLEANUPS: list[Callable[[], Any]] = []
TMP = Path(tempfile.mkdtemp(prefix="holdout8-"))
FAKE_CREDENTIAL = "not-a-real-key-0000"
REDIS_DB = 9
PREFIX = "h8:"


def app_error(name: str) -> type[Exception]:
    cls = type(name, (Exception,), {})
    cls.__module__ = "studio.errors"
    return cls


BookingFailed = app_error("BookingFailed")
PaymentFailed = app_error("PaymentFailed")
MemberSyncFailed = app_error("MemberSyncFailed")
ImportFailed = app_error("ImportFailed")
ReportFailed = app_error("ReportFailed")
NotifyFailed = app_error("NotifyFailed")
ScheduleFailed = app_error("ScheduleFailed")
ExportFailed = app_error("ExportFailed")
LoginRejected = app_error("LoginRejected")
SearchFailed = app_error("SearchFailed")


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
def filesystem_cases() -> None:
    import resource

    c = recorder("filesystem", "class-exports")
    base = TMP / "exports"
    base.mkdir()
    (base / "2026-12").mkdir()
    (base / "2026-12" / "attendance.csv").write_text("member,class\n")
    (base / "latest").mkdir()
    loop_a, loop_b = base / "loop-a", base / "loop-b"
    os.symlink(loop_b, loop_a)
    os.symlink(loop_a, loop_b)

    def disk_full() -> None:
        with open("/dev/full", "w") as out:
            out.write("member,class,attended\n" * 200)
            out.flush()

    def too_many_files() -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        handles = []
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        try:
            for n in range(200):
                handles.append(open(base / "2026-12" / "attendance.csv"))  # noqa: SIM115
                del n
        finally:
            for handle in handles:
                handle.close()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    c("disk_full_enospc", disk_full, "write_attendance_export", ["resource"], False)
    c(
        "disk_full_wrapped",
        disk_full,
        "write_attendance_export",
        ["resource"],
        False,
        wrap=(ExportFailed, "attendance export for December not written"),
        service="reporting",
    )
    c("too_many_open_files", too_many_files, "merge_exports", ["resource"], None)
    c(
        "missing_export",
        lambda: (base / "2026-11" / "attendance.csv").read_text(),
        "read_attendance_export",
        ["not_found"],
        False,
    )
    c("dir_not_empty", lambda: os.rmdir(base / "2026-12"), "purge_month", ["internal", "conflict"], False)
    c(
        "name_too_long",
        lambda: (base / ("m" * 300 + ".csv")).write_text("x"),
        "write_member_card",
        ["internal", "validation"],
        False,
    )
    c(
        "is_a_directory",
        lambda: open(base / "latest").read(),
        "read_attendance_export",
        ["internal", "configuration"],
        False,
    )  # noqa: SIM115
    c(
        "not_a_directory",
        lambda: os.listdir(base / "2026-12" / "attendance.csv"),
        "list_exports",
        ["internal", "configuration"],
        False,
    )
    c(
        "symlink_loop",
        lambda: (loop_a / "x.csv").read_text(),
        "read_attendance_export",
        ["configuration", "internal"],
        False,
    )
    c("already_exists", lambda: os.mkdir(base / "latest"), "create_export_dir", ["conflict", "internal"], False)


@family
def tls_cases() -> None:
    import datetime as dt
    import ssl

    import trustme

    ca = trustme.CA()
    other_ca = trustme.CA()
    good = ca.issue_cert("payments.studio.test")
    expired = ca.issue_cert(
        "payments.studio.test",
        not_before=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2024, 6, 1, tzinfo=dt.UTC),
    )

    def tls_server(cert: Any, *, min_version: ssl.TLSVersion | None = None, client_ca: Any = None) -> int:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        if min_version:
            ctx.minimum_version = min_version
        if client_ca is not None:
            client_ca.configure_trust(ctx)
            ctx.verify_mode = ssl.CERT_REQUIRED
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        CLEANUPS.append(sock.close)

        def loop() -> None:
            while True:
                try:
                    conn = sock.accept()[0]
                except OSError:
                    return
                try:
                    with ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1024)
                except (OSError, ssl.SSLError):
                    conn.close()

        in_thread(loop)
        return sock.getsockname()[1]

    def connect(
        port: int,
        host: str = "payments.studio.test",
        trust: Any = ca,
        client_cert: Any = None,
        max_version: ssl.TLSVersion | None = None,
        timeout: float = 2.0,
    ) -> Callable[[], Any]:
        def call() -> None:
            ctx = ssl.create_default_context()
            if trust is not None:
                trust.configure_trust(ctx)
            if client_cert is not None:
                client_cert.configure_cert(ctx)
            if max_version:
                ctx.maximum_version = max_version
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
                with ctx.wrap_socket(raw, server_hostname=host) as tls:
                    tls.sendall(b"GET /v1/health HTTP/1.1\r\nHost: payments\r\n\r\n")
                    if not tls.recv(1024):
                        raise ConnectionResetError("payment gateway closed the TLS session without answering")

        return call

    good_port = tls_server(good)
    c = recorder("tls", "payments")
    c("unknown_ca", connect(good_port, trust=other_ca), "charge_card", ["configuration", "auth"], False)
    c("hostname_mismatch", connect(good_port, host="pay.studio.test"), "charge_card", ["configuration"], False)
    c("expired_certificate", connect(tls_server(expired)), "charge_card", ["configuration", "auth"], False)
    c(
        "expired_certificate_wrapped",
        connect(tls_server(expired)),
        "charge_card",
        ["configuration", "auth"],
        False,
        wrap=(PaymentFailed, "card charge for booking B-7781 not sent"),
        service="bookings",
    )
    c(
        "protocol_version",
        connect(tls_server(good, min_version=ssl.TLSVersion.TLSv1_3), max_version=ssl.TLSVersion.TLSv1_2),
        "charge_card",
        ["configuration"],
        False,
    )
    c(
        "client_cert_required",
        connect(tls_server(good, client_ca=ca)),
        "charge_card",
        ["auth", "configuration"],
        False,
    )
    c("tls_to_plain_http", connect(FAKE.port), "charge_card", ["configuration", "network"], False)
    c("handshake_timeout", connect(Silent().port, timeout=0.5), "charge_card", ["timeout"], True)
    c("closed_during_handshake", connect(Closer().port), "charge_card", ["network", "unavailable"], True)


@family
def kvstores_cases() -> None:
    import dbm
    import shelve

    import lmdb

    c = recorder("kvstores", "class-cache")
    small = lmdb.open(str(TMP / "small.lmdb"), map_size=64 * 1024)
    CLEANUPS.append(small.close)

    def fill() -> None:
        with small.begin(write=True) as txn:
            for n in range(2000):
                txn.put(f"class:{n:05d}".encode(), b"x" * 200)

    c("map_full", fill, "cache_timetable", ["resource"], False)
    env = lmdb.open(str(TMP / "cache.lmdb"), map_size=1 << 20, max_dbs=2)
    CLEANUPS.append(env.close)

    def long_key() -> None:
        with env.begin(write=True) as txn:
            txn.put(b"member:" + b"k" * 600, b"1")

    def read_only_write() -> None:
        with env.begin() as txn:
            txn.put(b"member:1", b"1")

    def missing_db() -> None:
        env.open_db(b"timetables", create=False)

    c("key_too_long", long_key, "cache_member", ["validation", "internal"], False)
    c("write_in_read_txn", read_only_write, "cache_member", ["internal"], False)
    c("missing_named_db", missing_db, "read_timetable_cache", ["not_found", "configuration"], False)
    c(
        "missing_env",
        lambda: lmdb.open(str(TMP / "nope" / "cache.lmdb"), create=False),
        "open_cache",
        ["configuration", "not_found"],
        False,
    )
    c(
        "map_full_wrapped",
        fill,
        "cache_timetable",
        ["resource"],
        False,
        wrap=(ScheduleFailed, "timetable for studio Leith not cached"),
        service="scheduler",
    )
    garbage = TMP / "members.db"
    garbage.write_bytes(b"\x00garbage, not a dbm file\n" * 40)
    c(
        "dbm_missing",
        lambda: dbm.open(str(TMP / "absent.db"), "r"),
        "open_member_index",
        ["not_found", "configuration"],
        False,
    )
    c("dbm_unknown_format", lambda: dbm.open(str(garbage), "r"), "open_member_index", ["data", "configuration"], False)

    def shelf_read_only() -> None:
        path = str(TMP / "prefs")
        with shelve.open(path, "c") as shelf:
            shelf["m-1"] = {"studio": "Leith"}
        with shelve.open(path, "r") as shelf:
            shelf["m-2"] = {"studio": "Portobello"}

    c("shelf_read_only", shelf_read_only, "save_member_prefs", ["internal", "configuration"], False)


@family
def archives_cases() -> None:
    import bz2
    import lzma
    import zlib

    import pyzstd
    import rarfile

    c = recorder("archives", "media-import")
    not_rar = TMP / "photos.rar"
    not_rar.write_bytes(b"PK\x03\x04 this is a zip header, not RAR" + bytes(200))
    c("not_a_rar", lambda: rarfile.RarFile(str(not_rar)), "import_class_photos", ["data", "validation"], False)
    c("missing_rar", lambda: rarfile.RarFile(str(TMP / "absent.rar")), "import_class_photos", ["not_found"], False)
    good_zst = pyzstd.compress(b'{"member": 1}\n' * 500)
    c(
        "zstd_garbage",
        lambda: pyzstd.decompress(b"\x28\xb5\x2f\xfd" + b"\x00garbage" * 8),
        "import_checkins",
        ["data"],
        False,
    )
    c("zstd_truncated", lambda: pyzstd.decompress(good_zst[: len(good_zst) // 2]), "import_checkins", ["data"], False)
    c(
        "zstd_bad_level",
        lambda: pyzstd.compress(b"x", level_or_option={pyzstd.CParameter.windowLog: 99}),
        "export_checkins",
        ["internal", "configuration", "validation"],
        False,
    )
    xz = lzma.compress(b"member,class\n" * 300)
    c("lzma_corrupt", lambda: lzma.decompress(xz[:12] + b"\xff" * 40 + xz[52:]), "import_checkins", ["data"], False)
    c(
        "bz2_truncated_wrapped",
        lambda: bz2.decompress(bz2.compress(b"member,class\n" * 300)[:60]),
        "import_checkins",
        ["data"],
        False,
        wrap=(ImportFailed, "check-in archive 2026-12-07 not imported"),
        service="reporting",
    )
    c("zlib_bad_header", lambda: zlib.decompress(b"not compressed at all"), "import_checkins", ["data"], False)


@family
def github3_cases() -> None:
    import github3

    def gist(timeout: float = 3.0) -> Callable[[], Any]:
        def call() -> Any:
            gh = github3.GitHubEnterprise(FAKE.url, token=FAKE_CREDENTIAL)
            gh.session.default_read_timeout = timeout
            return gh.create_gist("class timetable", {"timetable.md": {"content": "Mon 07:00 yoga"}})

        return call

    def gh_err(message: str, **extra: Any) -> dict[str, Any]:
        return {"message": message, "documentation_url": "https://docs.github.com/rest", **extra}

    c = recorder("github3", "release-notes")
    c("bad_credentials", answering(401, gh_err("Bad credentials"), call=gist()), "publish_timetable", ["auth"], False)
    c(
        "rate_limited_403",
        answering(
            403,
            gh_err("API rate limit exceeded for user ID 1000."),
            {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1796000000"},
            call=gist(),
        ),
        "publish_timetable",
        ["rate_limit"],
        True,
    )
    c(
        "secondary_rate_limit_wrapped",
        answering(
            403,
            gh_err("You have exceeded a secondary rate limit. Please wait a few minutes before you try again."),
            {"Retry-After": "60"},
            call=gist(),
        ),
        "publish_timetable",
        ["rate_limit"],
        True,
        wrap=(NotifyFailed, "timetable for week 50 not published"),
        service="scheduler",
    )
    c(
        "scope_missing",
        answering(403, gh_err("Resource not accessible by personal access token"), call=gist()),
        "publish_timetable",
        ["auth"],
        False,
    )
    c(
        "validation_422",
        answering(
            422,
            gh_err("Validation Failed", errors=[{"resource": "Gist", "code": "missing_field", "field": "files"}]),
            call=gist(),
        ),
        "publish_timetable",
        ["validation"],
        False,
    )
    c(
        "not_found_404",
        answering(404, gh_err("Not Found"), call=gist()),
        "publish_timetable",
        ["not_found", "auth"],
        False,
    )
    c("server_error_500", answering(500, b"", call=gist()), "publish_timetable", ["unavailable"], True)
    c(
        "unicorn_503",
        answering(
            503,
            "<html><body>Unicorn! We're having a really bad day.</body></html>",
            {"Content-Type": "text/html"},
            call=gist(),
        ),
        "publish_timetable",
        ["unavailable"],
        True,
    )
    c("read_timeout", answering(201, {}, delay_s=1.5, call=gist(timeout=0.4)), "publish_timetable", ["timeout"], True)


@family
def redmine_cases() -> None:
    import io

    from redminelib import Redmine

    def client(timeout: float = 3.0) -> Any:
        return Redmine(FAKE.url, key=FAKE_CREDENTIAL, requests={"timeout": timeout})

    def get_issue(timeout: float = 3.0) -> Callable[[], Any]:
        return lambda: client(timeout).issue.get(4711)

    def new_issue() -> Any:
        return client().issue.create(project_id="studio-ops", subject="", tracker_id=99)

    c = recorder("redmine", "facility-tickets")
    c("auth_401", answering(401, b"", call=get_issue()), "open_repair_ticket", ["auth"], False)
    c("forbidden_403", answering(403, b"", call=get_issue()), "open_repair_ticket", ["auth"], False)
    c("issue_not_found", answering(404, b"", call=get_issue()), "read_repair_ticket", ["not_found"], False)
    c(
        "validation_422",
        answering(422, {"errors": ["Subject cannot be blank", "Tracker is not included in the list"]}, call=new_issue),
        "open_repair_ticket",
        ["validation"],
        False,
    )
    c(
        "validation_422_wrapped",
        answering(422, {"errors": ["Subject cannot be blank"]}, call=new_issue),
        "open_repair_ticket",
        ["validation"],
        False,
        wrap=(BookingFailed, "repair ticket for spin bike 14 not opened"),
        service="bookings",
    )
    c("conflict_409", answering(409, b"", call=get_issue()), "update_repair_ticket", ["conflict"], True)
    c("server_error_500", answering(500, b"", call=get_issue()), "read_repair_ticket", ["unavailable"], True)
    c(
        "payload_too_large_413",
        answering(
            413, b"", call=lambda: client().upload(io.BytesIO(b"%PDF-1.7" + b"x" * 4096), filename="floorplan.pdf")
        ),
        "attach_floorplan",
        ["validation", "resource"],
        False,
    )
    c("empty_json_body", answering(200, {}, call=get_issue()), "read_repair_ticket", ["data", "internal"], None)


@family
def pagerduty_cases() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pdpyras

    def session(timeout: float = 3.0) -> Any:
        api = pdpyras.APISession(FAKE_CREDENTIAL)
        api.url = FAKE.url
        api.max_http_attempts = 1
        api.max_network_attempts = 1
        api.retry = {429: 1}
        api.sleep_timer = 0.01
        api.timeout = timeout
        return api

    def get_incident(timeout: float = 3.0) -> Callable[[], Any]:
        return lambda: session(timeout).rget("/incidents/Q1P2R3S4T5")

    def pd_err(code: int, message: str, *errors: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": message, "errors": list(errors)}}

    c = recorder("pagerduty", "on-call")
    c(
        "invalid_token",
        answering(401, pd_err(2006, "Invalid Credentials"), call=get_incident()),
        "page_duty_manager",
        ["auth"],
        False,
    )
    c(
        "forbidden",
        answering(403, pd_err(2010, "Access Denied", "Token lacks write access"), call=get_incident()),
        "page_duty_manager",
        ["auth"],
        False,
    )
    c(
        "not_found",
        answering(404, pd_err(2100, "Not Found"), call=get_incident()),
        "page_duty_manager",
        ["not_found"],
        False,
    )
    c(
        "rate_limited",
        answering(429, pd_err(2020, "Rate Limit Exceeded"), {"Retry-After": "1"}, call=get_incident()),
        "page_duty_manager",
        ["rate_limit"],
        True,
    )
    c(
        "invalid_input_wrapped",
        answering(
            400,
            pd_err(2001, "Invalid Input Provided", "Urgency must be one of high, low or suppressed."),
            call=lambda: session().rpost("/incidents", json={"incident": {"type": "incident", "urgency": "urgent"}}),
        ),
        "page_duty_manager",
        ["validation"],
        False,
        wrap=(NotifyFailed, "duty manager for studio Leith not paged"),
        service="facility-alerts",
    )
    c(
        "server_error",
        answering(500, pd_err(2000, "Internal Error"), call=get_incident()),
        "page_duty_manager",
        ["unavailable"],
        True,
    )
    c("read_timeout", answering(200, {}, delay_s=1.5, call=get_incident(0.4)), "page_duty_manager", ["timeout"], True)

    def event() -> Any:
        events = pdpyras.EventsAPISession("R0UT1NGKEY0000000000000000000000")
        events.url = FAKE.url
        events.max_http_attempts = 1
        return events.trigger("Sauna heater offline at studio Leith", "leith-sauna-1")

    c(
        "events_invalid_routing_key",
        answering(
            400,
            {"status": "invalid event", "message": "Event object is invalid", "errors": ["Invalid routing key"]},
            call=event,
        ),
        "raise_facility_alert",
        ["validation", "configuration"],
        False,
    )


@family
def mollie_cases() -> None:
    from mollie.api.client import Client

    def client(timeout: float = 3.0) -> Any:
        mollie = Client(api_endpoint=FAKE.url, timeout=timeout, retry=0)
        mollie.set_api_key("test_" + "0" * 30)
        return mollie

    def problem(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
        return {
            "status": status,
            "title": title,
            "detail": detail,
            **extra,
            "_links": {
                "documentation": {"href": "https://docs.mollie.com/overview/handling-errors", "type": "text/html"}
            },
        }

    def create(timeout: float = 3.0) -> Callable[[], Any]:
        return lambda: client(timeout).payments.create(
            {
                "amount": {"currency": "EUR", "value": "49.00"},
                "description": "Membership December",
                "redirectUrl": "https://studio.example/return",
            }
        )

    c = recorder("mollie", "payments")
    c(
        "unauthorized",
        answering(
            401,
            problem(401, "Unauthorized Request", "Missing authentication, or failed to authenticate"),
            call=create(),
        ),
        "charge_membership",
        ["auth"],
        False,
    )
    c(
        "payment_not_found",
        answering(
            404,
            problem(404, "Not Found", "No payment exists with token tr_0000000000."),
            call=lambda: client().payments.get("tr_0000000000"),
        ),
        "refund_membership",
        ["not_found"],
        False,
    )
    c(
        "amount_too_high",
        answering(
            422,
            problem(422, "Unprocessable Entity", "The amount is higher than the maximum", field="amount"),
            call=create(),
        ),
        "charge_membership",
        ["validation"],
        False,
    )
    c(
        "amount_too_high_wrapped",
        answering(
            422,
            problem(422, "Unprocessable Entity", "The amount is higher than the maximum", field="amount"),
            call=create(),
        ),
        "charge_membership",
        ["validation"],
        False,
        wrap=(PaymentFailed, "membership fee for M-1042 not charged"),
        service="bookings",
    )
    c(
        "rate_limited",
        answering(
            429,
            problem(429, "Too Many Requests", "You have sent too many requests in a given amount of time."),
            call=create(),
        ),
        "charge_membership",
        ["rate_limit"],
        True,
    )
    c(
        "service_unavailable",
        answering(503, problem(503, "Service Unavailable", "The service is temporarily unavailable."), call=create()),
        "charge_membership",
        ["unavailable"],
        True,
    )
    c(
        "malformed_key",
        lambda: Client(api_endpoint=FAKE.url).set_api_key("sk_live_0000"),
        "charge_membership",
        ["configuration", "auth"],
        False,
    )
    c("read_timeout", answering(201, {}, delay_s=2.5, call=create(timeout=1)), "charge_membership", ["timeout"], True)


@family
def ollama_cases() -> None:
    import ollama

    def chat(host: str | None = None, timeout: float = 3.0, model: str = "llama3.2") -> Callable[[], Any]:
        def call() -> Any:
            client = ollama.Client(host=host or FAKE.url, timeout=timeout)
            return client.chat(
                model=model, messages=[{"role": "user", "content": "Summarise this week's class feedback."}]
            )

        return call

    c = recorder("ollama", "feedback-digest")
    c(
        "model_not_found",
        answering(404, {"error": 'model "llama9" not found, try pulling it first'}, call=chat(model="llama9")),
        "summarise_feedback",
        ["not_found", "configuration"],
        False,
    )
    c(
        "not_enough_memory",
        answering(
            500, {"error": "model requires more system memory (12.4 GiB) than is available (3.1 GiB)"}, call=chat()
        ),
        "summarise_feedback",
        ["resource"],
        False,
    )
    c(
        "invalid_options",
        answering(
            400,
            {"error": "json: cannot unmarshal string into Go struct field ChatRequest.messages of type api.Message"},
            call=chat(),
        ),
        "summarise_feedback",
        ["validation", "internal"],
        False,
    )
    c("unauthorized", answering(401, {"error": "unauthorized"}, call=chat()), "summarise_feedback", ["auth"], False)
    c(
        "server_busy_wrapped",
        answering(503, {"error": "server busy, please try again.  maximum pending requests exceeded"}, call=chat()),
        "summarise_feedback",
        ["unavailable", "rate_limit"],
        True,
        wrap=(ReportFailed, "weekly feedback digest not written"),
        service="reporting",
    )
    c("read_timeout", answering(200, {}, delay_s=1.5, call=chat(timeout=0.4)), "summarise_feedback", ["timeout"], True)
    c(
        "silent_server",
        chat(host=f"http://127.0.0.1:{Silent().port}", timeout=0.5),
        "summarise_feedback",
        ["timeout"],
        True,
    )
    c(
        "refused",
        chat(host=f"http://127.0.0.1:{closed_port()}"),
        "summarise_feedback",
        ["network", "unavailable", "configuration"],
        True,
    )


@family
def solr_cases() -> None:
    import pysolr

    def solr(timeout: float = 3.0, url: str | None = None) -> Any:
        return pysolr.Solr((url or FAKE.url) + "/solr/classes", timeout=timeout, always_commit=False)

    def search(timeout: float = 3.0, url: str | None = None) -> Callable[[], Any]:
        return lambda: solr(timeout, url).search("instructor_name:Ana", rows=20)

    def solr_err(code: int, msg: str) -> dict[str, Any]:
        return {
            "responseHeader": {"status": code, "QTime": 1},
            "error": {"metadata": ["error-class", "org.apache.solr.common.SolrException"], "msg": msg, "code": code},
        }

    c = recorder("solr", "class-search")
    c(
        "undefined_field",
        answering(400, solr_err(400, "undefined field instructor_name"), call=search()),
        "search_classes",
        ["validation", "configuration"],
        False,
    )
    c(
        "core_not_found",
        answering(
            404,
            "<html><body><h2>HTTP ERROR 404 Not Found</h2><pre>URI: /solr/classes/select</pre></body></html>",
            {"Content-Type": "text/html"},
            call=search(),
        ),
        "search_classes",
        ["not_found", "configuration"],
        False,
    )
    c(
        "unauthorized",
        answering(401, solr_err(401, "require authentication"), call=search()),
        "search_classes",
        ["auth"],
        False,
    )
    c(
        "version_conflict",
        answering(
            409,
            solr_err(
                409, "version conflict for cls-2026-12-08-yoga expected=1717000000000000000 actual=1717000000000000001"
            ),
            call=lambda: solr().add([{"id": "cls-2026-12-08-yoga", "_version_": 1717000000000000000}]),
        ),
        "index_class",
        ["conflict"],
        True,
    )
    c(
        "no_servers_wrapped",
        answering(503, solr_err(503, "no servers hosting shard: shard2"), call=search()),
        "search_classes",
        ["unavailable"],
        True,
        wrap=(SearchFailed, "class search for 'yoga' failed"),
        service="bookings",
    )
    c("read_timeout", answering(200, {}, delay_s=1.5, call=search(timeout=0.4)), "search_classes", ["timeout"], True)
    c(
        "not_json",
        answering(
            200, "<html><body>Captive portal: please log in</body></html>", {"Content-Type": "text/html"}, call=search()
        ),
        "search_classes",
        ["data", "unavailable", "configuration"],
        None,
    )
    c("hang_up", answering(mode="hangup", call=search()), "search_classes", ["network", "unavailable"], True)


@family
def shopify_cases() -> None:
    import shopify

    def product(timeout: float = 3.0) -> Callable[[], Any]:
        def call() -> Any:
            shopify.ShopifyResource.set_site(FAKE.url + "/admin/api/2024-10")
            shopify.ShopifyResource.set_headers({"X-Shopify-Access-Token": FAKE_CREDENTIAL})
            shopify.ShopifyResource.timeout = timeout
            return shopify.Product.find(8812345678)

        return call

    c = recorder("shopify", "merch-shop")
    THROTTLED = {  # noqa: N806
        "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
    }
    c(
        "invalid_token",
        answering(
            401,
            {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
            call=product(),
        ),
        "sync_merch_stock",
        ["auth"],
        False,
    )
    c(
        "missing_scope",
        answering(
            403,
            {"errors": "[API] This action requires merchant approval for read_products scope."},
            call=product(),
        ),
        "sync_merch_stock",
        ["auth", "configuration"],
        False,
    )
    c(
        "product_not_found",
        answering(404, {"errors": "Not Found"}, call=product()),
        "sync_merch_stock",
        ["not_found"],
        False,
    )
    c(
        "throttled_429",
        answering(
            429,
            THROTTLED,
            {"Retry-After": "2.0"},
            call=product(),
        ),
        "sync_merch_stock",
        ["rate_limit"],
        True,
    )
    c(
        "throttled_wrapped",
        answering(
            429,
            THROTTLED,
            {"Retry-After": "2.0"},
            call=product(),
        ),
        "sync_merch_stock",
        ["rate_limit"],
        True,
        wrap=(MemberSyncFailed, "merch stock for studio Leith not synced"),
        service="merch-shop",
    )
    c(
        "shop_unavailable_402",
        answering(402, {"errors": "Unavailable Shop"}, call=product()),
        "sync_merch_stock",
        ["resource", "auth", "unavailable"],
        False,
    )
    c(
        "server_error",
        answering(500, {"errors": "Internal Server Error"}, call=product()),
        "sync_merch_stock",
        ["unavailable"],
        True,
    )
    c("read_timeout", answering(200, {}, delay_s=1.5, call=product(timeout=0.4)), "sync_merch_stock", ["timeout"], True)


@family
def arango_cases() -> None:
    from arango import ArangoClient

    def db(timeout: float = 3.0) -> Any:
        client = ArangoClient(hosts=FAKE.url, request_timeout=timeout)
        CLEANUPS.append(client.close)
        return client.db("studio", username="h8_app", password="not-the-password", verify=False)

    def aerr(code: int, num: int, message: str) -> dict[str, Any]:
        return {"error": True, "errorMessage": message, "code": code, "errorNum": num}

    def insert() -> Any:
        return db().collection("members").insert({"_key": "m-1042", "email": "ana@example.test"})

    def query(aql: str, timeout: float = 3.0) -> Callable[[], Any]:
        return lambda: db(timeout).aql.execute(aql)

    c = recorder("arango", "member-graph")
    c(
        "unique_constraint",
        answering(
            409,
            aerr(
                409,
                1210,
                "unique constraint violated - in index primary of type primary over '_key'; conflicting key: m-1042",
            ),
            call=insert,
        ),
        "add_member",
        ["data", "conflict", "validation"],
        False,
    )
    c(
        "document_not_found",
        answering(
            404,
            aerr(404, 1202, "document not found"),
            call=lambda: db().collection("members").update({"_key": "m-9999", "studio": "Leith"}),
        ),
        "move_member",
        ["not_found"],
        False,
    )
    c(
        "collection_not_found",
        answering(
            404,
            aerr(404, 1203, "AQL: collection or view not found: memberz (while parsing)"),
            call=query("FOR m IN memberz RETURN m"),
        ),
        "list_members",
        ["not_found", "internal", "configuration"],
        False,
    )
    c(
        "aql_syntax",
        answering(
            400,
            aerr(
                400, 1501, "AQL: syntax error, unexpected identifier near 'RETRUN m' at position 1:20 (while parsing)"
            ),
            call=query("FOR m IN members RETRUN m"),
        ),
        "list_members",
        ["internal"],
        False,
    )
    c(
        "write_conflict",
        answering(409, aerr(409, 1200, "write-write conflict"), call=insert),
        "add_member",
        ["conflict"],
        True,
    )
    c(
        "unauthorized",
        answering(401, aerr(401, 11, "not authorized to execute this request"), call=insert),
        "add_member",
        ["auth"],
        False,
    )
    c(
        "query_killed_wrapped",
        answering(410, aerr(410, 1500, "query killed"), call=query("FOR m IN members COLLECT s = m.studio RETURN s")),
        "list_members",
        ["unknown", "unavailable", "conflict"],
        None,
        wrap=(ReportFailed, "member count per studio not computed"),
        service="reporting",
    )
    c(
        "shutting_down",
        answering(503, aerr(503, 30, "shutdown in progress"), call=insert),
        "add_member",
        ["unavailable"],
        True,
    )
    c(
        "read_timeout",
        answering(201, {}, delay_s=1.5, call=query("RETURN 1", timeout=0.4)),
        "list_members",
        ["timeout"],
        True,
    )


PG_IRI = "pq://postgres@127.0.0.1:5432/test"


@family
def pypostgresql_cases() -> None:
    import postgresql
    import postgresql.versionstring as pg_version

    c = recorder("pypostgresql", "bookings")
    # py-postgresql 1.3 cannot parse a server_version such as "15.20 (Debian 15.20-1.pgdg120+1)": one case
    # records that, then a shim strips the parenthesised suffix so the other cases reach the server.
    c(
        "server_version_unparsed",
        lambda: postgresql.open(PG_IRI).close(),
        "connect",
        ["configuration", "internal"],
        False,
    )
    split = pg_version.split
    pg_version.split = lambda vstr: split(vstr.split(" (", 1)[0])
    CLEANUPS.append(lambda: setattr(pg_version, "split", split))
    admin = postgresql.open(PG_IRI)
    CLEANUPS.append(admin.close)
    admin.execute(
        "DROP TABLE IF EXISTS h8_bookings; DROP TABLE IF EXISTS h8_studios;"
        "CREATE TABLE h8_studios (id int PRIMARY KEY, name varchar(12) NOT NULL UNIQUE);"
        "CREATE TABLE h8_bookings (id serial PRIMARY KEY, studio_id int NOT NULL REFERENCES h8_studios(id),"
        " member text NOT NULL, seats int CHECK (seats > 0));"
        "INSERT INTO h8_studios VALUES (1, 'Leith'), (2, 'Portobello')"
    )
    CLEANUPS.append(lambda: admin.execute("DROP TABLE IF EXISTS h8_bookings; DROP TABLE IF EXISTS h8_studios"))

    def run(sql: str, *args: Any, iri: str = PG_IRI) -> Callable[[], Any]:
        def call() -> Any:
            db = postgresql.open(iri)
            try:
                return db.prepare(sql)(*args)
            finally:
                db.close()

        return call

    def statement_timeout() -> None:
        db = postgresql.open(PG_IRI)
        try:
            with db.xact():
                db.execute("SET LOCAL statement_timeout = '200ms'")
                db.prepare("SELECT pg_sleep(2)")()
        finally:
            db.close()

    def lock_timeout() -> None:
        holder, waiter = postgresql.open(PG_IRI), postgresql.open(PG_IRI)
        try:
            with holder.xact():
                holder.prepare("SELECT * FROM h8_studios WHERE id = 1 FOR UPDATE")()
                with waiter.xact():
                    waiter.execute("SET LOCAL lock_timeout = '200ms'")
                    waiter.prepare("UPDATE h8_studios SET name = 'Leith Walk' WHERE id = 1")()
        finally:
            waiter.close()
            holder.close()

    c(
        "unique_name",
        run("INSERT INTO h8_studios VALUES (3, 'Leith')"),
        "open_studio",
        ["data", "conflict", "validation"],
        False,
    )
    c(
        "fk_missing_studio_wrapped",
        run("INSERT INTO h8_bookings (studio_id, member) VALUES ($1, $2)", 9, "m-1042"),
        "book_class",
        ["data", "not_found", "validation"],
        False,
        wrap=(BookingFailed, "booking for member m-1042 not stored"),
        service="bookings-api",
    )
    c(
        "name_too_long",
        run("INSERT INTO h8_studios VALUES (4, $1)", "Portobello Beach Annex"),
        "open_studio",
        ["validation", "data"],
        False,
    )
    c(
        "undefined_table",
        run("SELECT * FROM h8_waitlist"),
        "list_waitlist",
        ["configuration", "not_found", "internal"],
        False,
    )
    c("syntax_error", run("SELEC id FROM h8_studios"), "list_studios", ["internal"], False)
    c("statement_timeout", statement_timeout, "occupancy_report", ["timeout"], True)
    c("lock_timeout", lock_timeout, "rename_studio", ["conflict", "timeout"], True)
    c(
        "missing_database",
        run("SELECT 1", iri="pq://postgres@127.0.0.1:5432/h8_missing_db"),
        "list_studios",
        ["configuration", "not_found"],
        False,
    )
    c(
        "missing_role",
        run("SELECT 1", iri="pq://h8_no_such_role@127.0.0.1:5432/test"),
        "list_studios",
        ["configuration", "auth"],
        False,
    )


@family
def hiredis_cases() -> None:
    import hiredis

    def resp(*parts: str | bytes) -> bytes:
        out = [f"*{len(parts)}\r\n".encode()]
        for part in parts:
            raw = part.encode() if isinstance(part, str) else part
            out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        return b"".join(out)

    class MiniRedis:
        """A minimal RESP client: commands over a socket, replies parsed by hiredis.Reader (errors raised)."""

        def __init__(self, port: int = 6379, timeout: float = 2.0) -> None:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            self.reader = hiredis.Reader()

        def __call__(self, *parts: str | bytes) -> Any:
            self.sock.sendall(resp(*parts))
            while True:
                reply = self.reader.gets()
                if reply is not False:
                    break
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("Redis closed the connection")
                self.reader.feed(data)
            if isinstance(reply, hiredis.ReplyError):
                raise reply
            return reply

        def close(self) -> None:
            self.sock.close()

    def cmd(*commands: tuple[str | bytes, ...]) -> Callable[[], Any]:
        def call() -> Any:
            r = MiniRedis()
            try:
                r("SELECT", str(REDIS_DB))
                result = None
                for command in commands:
                    result = r(*command)
                return result
            finally:
                r.close()

        return call

    def protocol_garbage() -> Any:
        reader = hiredis.Reader()
        reader.feed(b"%%% this is not RESP\r\n")
        return reader.gets()

    setup = cmd(
        ("SET", PREFIX + "studio:leith:capacity", "twenty"),
        ("SET", PREFIX + "waitlist:yoga", "m-1042"),
        ("XADD", PREFIX + "checkins", "*", "member", "m-1042"),
        ("XGROUP", "CREATE", PREFIX + "checkins", "billing", "0"),
    )
    setup()
    CLEANUPS.append(
        cmd(("DEL", PREFIX + "studio:leith:capacity", PREFIX + "waitlist:yoga", PREFIX + "checkins", PREFIX + "seat"))
    )

    c = recorder("hiredis", "waitlist")
    c("wrongtype", cmd(("LPUSH", PREFIX + "waitlist:yoga", "m-7")), "join_waitlist", ["internal", "data"], False)
    c("incr_not_integer", cmd(("INCR", PREFIX + "studio:leith:capacity")), "release_seat", ["data", "internal"], False)
    c(
        "unknown_command",
        cmd(("HSETEXPIRE", PREFIX + "seat", "1", "a")),
        "hold_seat",
        ["internal", "configuration"],
        False,
    )
    c("wrongpass", cmd(("AUTH", "h8_app", "not-the-password")), "connect", ["auth", "configuration"], False)
    c("noscript", cmd(("EVALSHA", "0" * 40, "0")), "hold_seat", ["not_found", "internal"], None)
    c(
        "busygroup",
        cmd(("XGROUP", "CREATE", PREFIX + "checkins", "billing", "0")),
        "create_consumer_group",
        ["conflict", "internal"],
        False,
    )
    c(
        "nogroup_wrapped",
        cmd(("XREADGROUP", "GROUP", "payroll", "worker-1", "COUNT", "1", "STREAMS", PREFIX + "checkins", ">")),
        "read_checkins",
        ["not_found", "configuration"],
        False,
        wrap=(ReportFailed, "check-ins for payroll not read"),
        service="reporting",
    )
    c("db_index_out_of_range", cmd(("SELECT", "99")), "connect", ["configuration"], False)
    c(
        "restore_bad_payload",
        cmd(("RESTORE", PREFIX + "seat", "0", b"\x00\x03abc\x0a\x00garbage")),
        "restore_waitlist",
        ["data"],
        False,
    )
    c("protocol_error", protocol_garbage, "join_waitlist", ["data", "network"], None)


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
