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
import dataclasses
import datetime as dt
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
    c(
        "unknown_ca_wrapped",
        connect(good_port, trust=other_ca),
        "charge_card",
        ["configuration", "auth"],
        False,
        wrap=(PaymentFailed, "card charge for booking B-7790 not sent"),
        service="bookings",
    )
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
    c(
        "dbm_unknown_format_wrapped",
        lambda: dbm.open(str(garbage), "r"),
        "open_member_index",
        ["data", "configuration"],
        False,
        wrap=(MemberSyncFailed, "member index not loaded"),
        service="members",
    )

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
        "validation_422_wrapped",
        answering(
            422,
            gh_err("Validation Failed", errors=[{"resource": "Gist", "code": "missing_field", "field": "files"}]),
            call=gist(),
        ),
        "publish_timetable",
        ["validation"],
        False,
        wrap=(NotifyFailed, "timetable for week 51 not published"),
        service="scheduler",
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
    c(
        "forbidden_403_wrapped",
        answering(403, b"", call=get_issue()),
        "open_repair_ticket",
        ["auth"],
        False,
        wrap=(NotifyFailed, "repair ticket for sauna heater not opened"),
        service="facility-alerts",
    )
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
        "model_not_found_wrapped",
        answering(404, {"error": 'model "llama9" not found, try pulling it first'}, call=chat(model="llama9")),
        "summarise_feedback",
        ["not_found", "configuration"],
        False,
        wrap=(ReportFailed, "monthly feedback digest not written"),
        service="reporting",
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
    c(
        "read_timeout_wrapped",
        answering(200, {}, delay_s=1.5, call=search(timeout=0.4)),
        "search_classes",
        ["timeout"],
        True,
        wrap=(SearchFailed, "class search for 'spin' failed"),
        service="bookings",
    )
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
        "write_conflict_wrapped",
        answering(409, aerr(409, 1200, "write-write conflict"), call=insert),
        "add_member",
        ["conflict"],
        True,
        wrap=(MemberSyncFailed, "member m-1042 not added to the graph"),
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
        ["unavailable", "unknown", "conflict"],
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
    c(
        "statement_timeout_wrapped",
        statement_timeout,
        "occupancy_report",
        ["timeout"],
        True,
        wrap=(ReportFailed, "occupancy report for December not computed"),
        service="reporting",
    )
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
    c(
        "wrongpass_wrapped",
        cmd(("AUTH", "h8_app", "not-the-password")),
        "connect",
        ["auth", "configuration"],
        False,
        wrap=(BookingFailed, "seat hold for class yoga-7 not placed"),
        service="bookings-api",
    )
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


@family
def glom_cases() -> None:
    import glom

    booking = {"member": {"id": "m-1042", "plan": None}, "classes": [{"id": "yoga-7", "seats": "2"}], "studio": "Leith"}
    c = recorder("glom", "booking-import")
    c(
        "path_missing",
        lambda: glom.glom(booking, "member.email"),
        "map_partner_booking",
        ["data", "validation", "not_found"],
        False,
    )
    c(
        "path_missing_wrapped",
        lambda: glom.glom(booking, "payment.card.last4"),
        "map_partner_booking",
        ["data", "validation", "not_found"],
        False,
        wrap=(ImportFailed, "partner booking PB-311 not imported"),
        service="partner-sync",
    )
    c(
        "index_out_of_range",
        lambda: glom.glom(booking, "classes.3.id"),
        "map_partner_booking",
        ["data", "validation"],
        False,
    )
    c(
        "none_in_path",
        lambda: glom.glom(booking, "member.plan.name"),
        "map_partner_booking",
        ["data", "validation"],
        False,
    )
    c(
        "coalesce_failed",
        lambda: glom.glom(booking, glom.Coalesce("member.phone", "member.mobile")),
        "map_partner_booking",
        ["data", "validation", "not_found"],
        False,
    )
    c(
        "match_failed",
        lambda: glom.glom(booking, glom.Match({"member": dict, "classes": [{"id": str, "seats": int}], "studio": str})),
        "validate_partner_booking",
        ["validation"],
        False,
    )
    c("bad_spec_type", lambda: glom.glom(booking, 42), "map_partner_booking", ["internal"], False)
    c(
        "assign_into_none",
        lambda: glom.assign(booking, "member.plan.name", "gold"),
        "upgrade_member",
        ["internal", "data"],
        False,
    )


@family
def liquid_cases() -> None:
    import liquid

    strict = liquid.Environment(undefined=liquid.StrictUndefined, loader=liquid.DictLoader({"footer": "{{ studio }}"}))
    c = recorder("liquid", "member-mail")
    c(
        "unclosed_tag",
        lambda: liquid.Template("Hi {{ member.name }}, {% if member.plan %}see you{% endfor %}"),
        "render_welcome_mail",
        ["internal"],
        False,
    )
    c(
        "unknown_tag",
        lambda: liquid.Template("{% greeting member %} welcome"),
        "render_welcome_mail",
        ["internal"],
        False,
    )
    c(
        "undefined_strict",
        lambda: strict.from_string("Hi {{ member.nickname }}").render(member={"name": "Ana"}),
        "render_welcome_mail",
        ["internal", "data"],
        False,
    )
    c(
        "undefined_strict_wrapped",
        lambda: strict.from_string("Your class {{ booking.class_name }} starts at {{ booking.start }}").render(
            booking={"start": "07:00"}
        ),
        "render_booking_mail",
        ["internal", "data"],
        False,
        wrap=(NotifyFailed, "booking confirmation for B-7781 not sent"),
        service="notifications",
    )
    c(
        "missing_include",
        lambda: strict.from_string("{% include 'header' %}Hi").render(),
        "render_welcome_mail",
        ["configuration", "not_found", "internal"],
        False,
    )
    c(
        "unknown_filter",
        lambda: strict.from_string("{{ member.name | shout }}").render(member={"name": "Ana"}),
        "render_welcome_mail",
        ["internal"],
        False,
    )
    c(
        "bad_filter_argument",
        lambda: strict.from_string("{{ price | divided_by: 0 }}").render(price=49),
        "render_invoice_mail",
        ["internal", "data"],
        False,
    )
    c(
        "bad_expression",
        lambda: liquid.Template("{{ member.name | }}"),
        "render_welcome_mail",
        ["internal"],
        False,
    )


@family
def markup_cases() -> None:
    import bs4
    import docutils.core
    import docutils.utils
    import html5lib
    import markdown

    c = recorder("markup", "class-pages")
    c(
        "rst_error",
        lambda: docutils.core.publish_string(
            "Timetable\n=====\n\n.. unknown-directive:: yoga\n",
            writer="null",
            settings_overrides={"halt_level": 2, "report_level": 5},
        ),
        "render_class_page",
        ["validation", "data"],
        False,
    )
    c(
        "rst_missing_include",
        lambda: docutils.core.publish_string(
            ".. include:: /nonexistent/h8_schedule.rst\n",
            writer="null",
            settings_overrides={"halt_level": 2, "report_level": 5},
        ),
        "render_class_page",
        ["configuration", "not_found"],
        False,
    )
    c(
        "markdown_unknown_extension",
        lambda: markdown.markdown("# Yoga", extensions=["markdown.extensions.timetable"]),
        "render_class_page",
        ["configuration"],
        False,
    )
    c(
        "markdown_bad_extension_config",
        lambda: markdown.markdown("# Yoga", extensions=["toc"], extension_configs={"toc": {"depth_of_field": 3}}),
        "render_class_page",
        ["configuration", "internal"],
        False,
    )
    c(
        "html5lib_strict",
        lambda: html5lib.HTMLParser(strict=True).parse("<p>Yoga <b>with Ana</p></i><table><td>"),
        "import_partner_page",
        ["validation", "data"],
        False,
    )
    c(
        "bs4_parser_missing",
        lambda: bs4.BeautifulSoup("<p>Yoga</p>", "h8-fastparser"),
        "import_partner_page",
        ["configuration"],
        False,
    )
    c(
        "bs4_element_missing_wrapped",
        lambda: bs4.BeautifulSoup("<div class='class'><h2>Yoga</h2></div>", "html.parser").find("span").text,
        "import_partner_page",
        ["data", "internal"],
        False,
        wrap=(ImportFailed, "partner timetable page not imported"),
        service="partner-sync",
    )


@family
def json_tools_cases() -> None:
    import io

    import ijson
    import jsonpatch
    import jsonpointer
    import simplejson

    doc = {"member": {"id": "m-1042", "tags": ["early-bird"]}, "bookings": [{"id": "B-1", "status": "booked"}]}
    c = recorder("json_tools", "member-api")
    c(
        "patch_test_failed",
        lambda: jsonpatch.apply_patch(
            doc,
            [
                {"op": "test", "path": "/bookings/0/status", "value": "waitlisted"},
                {"op": "remove", "path": "/bookings/0"},
            ],
        ),
        "cancel_booking",
        ["conflict", "validation"],
        False,
    )
    c(
        "patch_conflict",
        lambda: jsonpatch.apply_patch(doc, [{"op": "remove", "path": "/member/tags/5"}]),
        "update_member",
        ["not_found", "validation", "conflict"],
        False,
    )
    c(
        "patch_invalid_op",
        lambda: jsonpatch.apply_patch(doc, [{"op": "rename", "path": "/member/id", "value": "m-1"}]),
        "update_member",
        ["validation"],
        False,
    )
    c(
        "pointer_missing",
        lambda: jsonpointer.resolve_pointer(doc, "/member/address/city"),
        "read_member_field",
        ["not_found", "validation"],
        False,
    )
    c(
        "pointer_malformed",
        lambda: jsonpointer.resolve_pointer(doc, "member/id"),
        "read_member_field",
        ["validation"],
        False,
    )
    c(
        "simplejson_truncated",
        lambda: simplejson.loads('{"member": {"id": "m-1042", "tags": ["early'),
        "read_member_body",
        ["data", "validation"],
        None,
    )
    c(
        "ijson_incomplete_wrapped",
        lambda: list(ijson.items(io.BytesIO(b'[{"id": "B-1"}, {"id": "B-2", "status": '), "item")),
        "stream_bookings_export",
        ["data"],
        None,
        wrap=(ExportFailed, "bookings export stream not read"),
        service="reporting",
    )
    c(
        "ijson_bad_byte",
        lambda: list(ijson.items(io.BytesIO(b'[{"id": "B-1"}, {id: 2}]'), "item")),
        "stream_bookings_export",
        ["data", "validation"],
        False,
    )


@dataclasses.dataclass
class Plan:
    name: str
    monthly_eur: float


@dataclasses.dataclass
class Member:
    id: str
    age: int
    plan: Plan
    tags: list[str] = dataclasses.field(default_factory=list)


def _loader_classes() -> tuple[type, type, type]:
    """The loaders family's classes, at module level so that their string annotations resolve."""
    from mashumaro import DataClassDictMixin

    @dataclasses.dataclass
    class Booking(DataClassDictMixin):
        id: str
        seats: int
        starts_at: dt.datetime

    return Plan, Member, Booking


@family
def loaders_cases() -> None:
    import dacite
    import typedload

    Plan, Member, Booking = _loader_classes()  # noqa: N806
    # typedload reads dataclass fields' types as written; under `from __future__ import annotations` they are
    # strings, so its classes are made with real types.
    TPlan = dataclasses.make_dataclass("Plan", [("name", str), ("monthly_eur", float)])  # noqa: N806
    TMember = dataclasses.make_dataclass(  # noqa: N806
        "Member",
        [("id", str), ("age", int), ("plan", TPlan), ("tags", list[str], dataclasses.field(default_factory=list))],
    )
    strict = dacite.Config(strict=True)
    c = recorder("loaders", "partner-sync")
    c(
        "dacite_wrong_type",
        lambda: dacite.from_dict(Member, {"id": "m-1", "age": "forty", "plan": {"name": "gold", "monthly_eur": 49}}),
        "import_partner_member",
        ["validation", "data"],
        False,
    )
    c(
        "dacite_missing_field",
        lambda: dacite.from_dict(Member, {"id": "m-1", "age": 40}),
        "import_partner_member",
        ["validation", "data"],
        False,
    )
    c(
        "dacite_unexpected_field_wrapped",
        lambda: dacite.from_dict(
            Member,
            {"id": "m-1", "age": 40, "plan": {"name": "gold", "monthly_eur": 49}, "nickname": "A"},
            config=strict,
        ),
        "import_partner_member",
        ["validation", "data"],
        False,
        wrap=(MemberSyncFailed, "partner member m-1 not imported"),
    )
    c(
        "mashumaro_missing_field",
        lambda: Booking.from_dict({"id": "B-1", "seats": 2}),
        "import_partner_booking",
        ["validation", "data"],
        False,
    )
    c(
        "mashumaro_bad_datetime",
        lambda: Booking.from_dict({"id": "B-1", "seats": 2, "starts_at": "next tuesday 7am"}),
        "import_partner_booking",
        ["validation", "data"],
        False,
    )
    c(
        "typedload_wrong_type",
        lambda: typedload.load({"id": "m-1", "age": 40, "plan": {"name": "gold", "monthly_eur": "cheap"}}, TMember),
        "import_partner_member",
        ["validation", "data"],
        False,
    )
    c(
        "typedload_list_expected",
        lambda: typedload.load(
            {"id": "m-1", "age": 40, "plan": {"name": "gold", "monthly_eur": 49}, "tags": 7}, TMember
        ),
        "import_partner_member",
        ["validation", "data"],
        False,
    )
    c(
        "dacite_forward_ref",
        lambda: dacite.from_dict(dataclasses.make_dataclass("Slot", [("room", "Room")]), {"room": "A"}),
        "import_partner_booking",
        ["internal"],
        False,
    )


@family
def config_layers_cases() -> None:
    import dataclasses

    import confuse
    import everett.manager
    import omegaconf

    cfg = omegaconf.OmegaConf.create(
        {"db": {"host": "???", "port": 5432}, "mail": {"sender": "${smtp.user}"}, "workers": 4}
    )

    @dataclasses.dataclass
    class SchedulerSettings:
        workers: int = 4
        studio: str = "Leith"

    schema = omegaconf.OmegaConf.structured(SchedulerSettings)
    c = recorder("config_layers", "scheduler")
    c("omegaconf_missing_value", lambda: cfg.db.host, "load_settings", ["configuration"], False)
    c("omegaconf_bad_interpolation", lambda: cfg.mail.sender, "load_settings", ["configuration"], False)
    c(
        "omegaconf_type_mismatch",
        lambda: omegaconf.OmegaConf.merge(schema, {"workers": "many"}),
        "load_settings",
        ["configuration", "validation"],
        False,
    )
    yaml_path = TMP / "scheduler.yaml"
    yaml_path.write_text("timezone: Europe/London\nslots:\n  - 07:00\n  - [oops\n")
    c(
        "omegaconf_bad_yaml_wrapped",
        lambda: omegaconf.OmegaConf.load(yaml_path),
        "load_settings",
        ["configuration", "validation"],
        False,
        wrap=(ScheduleFailed, "scheduler did not start: settings unreadable"),
    )
    conf = confuse.Configuration("h8scheduler", read=False)
    conf.set({"slots": {"length": "sixty"}})
    c("confuse_not_found", lambda: conf["smtp"]["host"].get(str), "load_settings", ["configuration"], False)
    c(
        "confuse_bad_type",
        lambda: conf["slots"]["length"].get(int),
        "load_settings",
        ["configuration", "validation"],
        False,
    )

    manager = everett.manager.ConfigManager([everett.manager.ConfigDictEnv({"H8_WORKERS": "lots"})])
    c(
        "everett_missing_wrapped",
        lambda: manager("api_key", namespace="h8_payments"),
        "load_settings",
        ["configuration"],
        False,
        wrap=(PaymentFailed, "payments worker did not start"),
        service="payments",
    )
    c(
        "everett_bad_value",
        lambda: manager("workers", namespace="h8", parser=int),
        "load_settings",
        ["configuration", "validation"],
        False,
    )


@family
def formulas_cases() -> None:
    import decimal

    import pint
    import simpleeval

    ureg = pint.UnitRegistry()
    evaluator = simpleeval.SimpleEval(names={"seats": 20, "booked": 17})
    c = recorder("formulas", "pricing")
    c(
        "simpleeval_unknown_name",
        lambda: evaluator.eval("seats - booked - waitlist"),
        "evaluate_price_rule",
        ["validation", "configuration"],
        False,
    )
    c(
        "simpleeval_unknown_function",
        lambda: evaluator.eval("ceil(booked / seats)"),
        "evaluate_price_rule",
        ["validation", "configuration"],
        False,
    )
    c(
        "simpleeval_too_big",
        lambda: evaluator.eval("seats ** 9999999"),
        "evaluate_price_rule",
        ["validation", "resource"],
        False,
    )
    c("simpleeval_syntax", lambda: evaluator.eval("seats -* 2"), "evaluate_price_rule", ["validation"], False)
    c(
        "simpleeval_zero_division",
        lambda: evaluator.eval("booked / (seats - 20)"),
        "evaluate_price_rule",
        ["internal", "data"],
        False,
    )
    c(
        "pint_dimensionality",
        lambda: (ureg("45 minutes") + ureg("3 kg")).to("minutes"),
        "compute_class_length",
        ["internal", "validation"],
        False,
    )
    c("pint_undefined_unit", lambda: ureg("45 minuts"), "compute_class_length", ["validation"], False)

    def strict_decimal() -> Any:
        ctx = decimal.Context(traps=[decimal.InvalidOperation, decimal.DivisionByZero])
        return ctx.divide(decimal.Decimal("49.00"), decimal.Decimal("0"))

    c(
        "decimal_division_by_zero_wrapped",
        strict_decimal,
        "split_membership_fee",
        ["internal", "data"],
        False,
        wrap=(PaymentFailed, "membership fee split for family plan F-20 not computed"),
        service="payments",
    )
    c("decimal_bad_literal", lambda: decimal.Decimal("49,00"), "parse_price", ["validation", "data"], False)


@family
def idnumbers_cases() -> None:
    import schwifty
    from stdnum import iban, vatin
    from stdnum.gb import vat as gb_vat

    c = recorder("idnumbers", "payments")
    c(
        "iban_checksum",
        lambda: iban.validate("GB82 WEST 1234 5698 7654 33"),
        "register_direct_debit",
        ["validation"],
        False,
    )
    c("iban_length", lambda: iban.validate("GB82 WEST 1234 5698"), "register_direct_debit", ["validation"], False)
    c("vat_format", lambda: gb_vat.validate("GB12345"), "register_corporate_member", ["validation"], False)
    c(
        "vatin_unknown_country",
        lambda: vatin.validate("XX123456789"),
        "register_corporate_member",
        ["validation"],
        False,
    )
    c(
        "schwifty_checksum_wrapped",
        lambda: schwifty.IBAN("DE89 3704 0044 0532 0130 01"),
        "register_direct_debit",
        ["validation"],
        False,
        wrap=(PaymentFailed, "direct debit mandate for m-1042 not registered"),
        service="bookings",
    )
    c(
        "schwifty_bad_country",
        lambda: schwifty.IBAN("ZZ89 3704 0044 0532 0130 00"),
        "register_direct_debit",
        ["validation"],
        False,
    )
    c("bic_invalid", lambda: schwifty.BIC("DEUT12"), "register_direct_debit", ["validation"], False)


@family
def clickhouse_cases() -> None:
    import clickhouse_connect

    def connect(timeout: int = 3, port: int | None = None, database: str = "studio_stats") -> Callable[[], Any]:
        def call() -> Any:
            client = clickhouse_connect.get_client(
                host="127.0.0.1",
                port=port or FAKE.port,
                username="h8_app",
                password="not-the-password",
                database=database,
                connect_timeout=timeout,
                send_receive_timeout=timeout,
            )
            return client.query("SELECT studio, count() FROM checkins GROUP BY studio")

        return call

    def ch_err(code: int, name: str, text: str) -> tuple[str, dict[str, str]]:
        body = f"Code: {code}. DB::Exception: {text}. ({name}) (version 24.8.4.13 (official build))\n"
        return body, {"X-ClickHouse-Exception-Code": str(code), "Content-Type": "text/plain; charset=UTF-8"}

    def answering_ch(status: int, code: int, name: str, text: str, **kw: Any) -> Callable[[], Any]:
        body, headers = ch_err(code, name, text)
        return answering(status, body, headers, call=connect(**kw))

    c = recorder("clickhouse", "attendance-stats")
    c(
        "auth_failed_wrapped",
        answering_ch(
            403,
            516,
            "AUTHENTICATION_FAILED",
            "h8_app: Authentication failed: password is incorrect, or there is no user with such name",
        ),
        "load_attendance_stats",
        ["auth"],
        False,
        wrap=(ReportFailed, "daily attendance report not computed"),
        service="reporting",
    )
    c(
        "unknown_database",
        answering_ch(404, 81, "UNKNOWN_DATABASE", "Database studio_stats does not exist"),
        "load_attendance_stats",
        ["configuration", "not_found"],
        False,
    )
    c(
        "ip_not_allowed",
        answering_ch(403, 195, "IP_ADDRESS_NOT_ALLOWED", "h8_app: Connections from 10.2.0.7 are not allowed"),
        "load_attendance_stats",
        ["auth", "configuration"],
        False,
    )
    c(
        "too_many_queries_wrapped",
        answering_ch(
            503,
            202,
            "TOO_MANY_SIMULTANEOUS_QUERIES",
            "Too many simultaneous queries. Maximum: 100",
        ),
        "load_attendance_stats",
        ["unavailable", "rate_limit", "resource"],
        True,
        wrap=(ReportFailed, "weekly attendance report not computed"),
        service="reporting",
    )
    c(
        "memory_limit",
        answering_ch(
            500,
            241,
            "MEMORY_LIMIT_EXCEEDED",
            "Memory limit (total) exceeded: would use 7.45 GiB (attempt to allocate chunk of 4194304 bytes), "
            "maximum: 7.20 GiB",
        ),
        "load_attendance_stats",
        ["resource"],
        None,
    )
    c(
        "proxy_502",
        answering(
            502, "<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"}, call=connect()
        ),
        "load_attendance_stats",
        ["unavailable"],
        True,
    )
    c(
        "read_timeout",
        answering(200, b"", delay_s=2.5, call=connect(timeout=1)),
        "load_attendance_stats",
        ["timeout"],
        True,
    )
    c("hang_up", answering(mode="hangup", call=connect()), "load_attendance_stats", ["network", "unavailable"], True)


@family
def dates_cases() -> None:
    import ciso8601
    import iso8601
    import isodate
    import vobject

    c = recorder("dates", "class-calendar")
    c(
        "isodate_bad_duration",
        lambda: isodate.parse_duration("PT45X"),
        "import_class_length",
        ["validation", "data"],
        False,
    )
    c("isodate_month_13", lambda: isodate.parse_date("2026-13-01"), "import_class_date", ["validation", "data"], False)
    c(
        "isodate_no_time",
        lambda: isodate.parse_datetime("2026-12-08"),
        "import_class_start",
        ["validation", "data"],
        False,
    )
    c(
        "iso8601_us_format",
        lambda: iso8601.parse_date("12/08/2026 07:00"),
        "import_class_start",
        ["validation", "data"],
        False,
    )
    c(
        "ciso8601_hour_25_wrapped",
        lambda: ciso8601.parse_datetime("2026-12-08T25:00:00Z"),
        "import_class_start",
        ["validation", "data"],
        False,
        wrap=(ImportFailed, "partner class Y-77 not imported"),
        service="partner-sync",
    )
    c(
        "vobject_garbage",
        lambda: vobject.readOne("BEGIN:VCALENDAR\nthis line has no colon\nEND:VCALENDAR\n"),
        "import_partner_calendar",
        ["data", "validation"],
        False,
    )
    c(
        "vobject_unclosed",
        lambda: vobject.readOne("BEGIN:VCARD\nVERSION:3.0\nFN:Ana Instructor\nBEGIN:VCALENDAR\n"),
        "import_instructor_card",
        ["data", "validation"],
        False,
    )
    c(
        "vobject_missing_component",
        lambda: vobject.readOne("BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n").vevent,
        "import_partner_calendar",
        ["data", "validation", "not_found"],
        False,
    )


@family
def curio_cases() -> None:
    import curio

    async def slow_report() -> None:
        await curio.sleep(2)

    async def boom() -> float:
        return 17 / 0

    async def join_failed() -> None:
        task = await curio.spawn(boom)
        await task.join()

    async def recv_silent(port: int) -> bytes:
        sock = await curio.open_connection("127.0.0.1", port)
        async with sock:
            await sock.sendall(b"STATUS turnstile-3\r\n")
            return await curio.timeout_after(0.3, sock.recv(100))

    async def release_unlocked() -> None:
        await curio.Lock().release()

    async def nested_kernel() -> None:
        curio.run(slow_report)

    silent = Silent().port
    c = recorder("curio", "turnstiles")
    c("timeout_after", lambda: curio.run(curio.timeout_after, 0.2, slow_report), "poll_turnstiles", ["timeout"], True)
    c("join_failed_task", lambda: curio.run(join_failed), "poll_turnstiles", ["internal"], False)
    c("silent_turnstile", lambda: curio.run(recv_silent, silent), "poll_turnstiles", ["timeout"], True)
    c(
        "silent_turnstile_wrapped",
        lambda: curio.run(recv_silent, silent),
        "poll_turnstiles",
        ["timeout"],
        True,
        wrap=(MemberSyncFailed, "check-ins from turnstile 3 not collected"),
    )
    c("release_unlocked", lambda: curio.run(release_unlocked), "poll_turnstiles", ["internal"], False)
    c("nested_kernel", lambda: curio.run(nested_kernel), "poll_turnstiles", ["internal"], False)
    c("not_a_coroutine", lambda: curio.run(lambda: 42), "poll_turnstiles", ["internal"], False)


class FakeDNS:
    """A UDP DNS server answering every question with one response code (3 NXDOMAIN, 2 SERVFAIL, 5 REFUSED)."""

    def __init__(self, rcode: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.rcode = rcode
        in_thread(self._loop)
        CLEANUPS.append(self.sock.close)

    def _loop(self) -> None:
        while True:
            try:
                query, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            flags = 0x8180 | self.rcode
            header = query[:2] + flags.to_bytes(2, "big") + b"\x00\x01\x00\x00\x00\x00\x00\x00"
            end = 12
            while query[end] != 0:
                end += query[end] + 1
            with contextlib.suppress(OSError):
                self.sock.sendto(header + query[12 : end + 5], peer)


@family
def aiodns_cases() -> None:
    import aiodns

    def lookup(
        port: int, name: str = "payments.studio.internal", qtype: str = "A", timeout: float = 0.5
    ) -> Callable[[], Any]:
        async def call() -> Any:
            resolver = aiodns.DNSResolver(nameservers=[f"127.0.0.1:{port}"], timeout=timeout, tries=1)
            try:
                return await resolver.query(name, qtype)
            finally:
                await resolver.close()

        return call

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    CLEANUPS.append(silent.close)
    silent_port = silent.getsockname()[1]
    nxdomain, servfail, refused = FakeDNS(3), FakeDNS(2), FakeDNS(5)
    c = recorder("aiodns", "payments")
    c("nxdomain", lookup(nxdomain.port), "resolve_gateway", ["configuration", "not_found", "network"], False)
    c(
        "nxdomain_wrapped",
        lookup(nxdomain.port, "webhooks.studio.internal"),
        "resolve_gateway",
        ["configuration", "not_found", "network"],
        False,
        wrap=(PaymentFailed, "payment gateway address not resolved"),
        service="bookings",
    )
    c("servfail", lookup(servfail.port), "resolve_gateway", ["network", "unavailable"], True)
    c("refused", lookup(refused.port), "resolve_gateway", ["network", "configuration", "unavailable"], None)
    c("silent_nameserver", lookup(silent_port), "resolve_gateway", ["timeout", "network"], True)
    c(
        "bad_name",
        lookup(nxdomain.port, name="payments..studio.internal"),
        "resolve_gateway",
        ["configuration", "validation"],
        False,
    )
    c("unknown_type", lookup(nxdomain.port, qtype="AAAAA"), "resolve_gateway", ["internal", "validation"], False)


@family
def macaroons_cases() -> None:
    import pymacaroons

    root_key = "h8-root-key-not-a-secret"
    token = pymacaroons.Macaroon(location="studio.test", identifier="m-1042", key=root_key)
    token.add_first_party_caveat("studio = Leith")
    token.add_first_party_caveat("expires < 2026-01-01T00:00")
    delegated = pymacaroons.Macaroon(location="studio.test", identifier="m-1042-guest", key=root_key)
    delegated.add_third_party_caveat("https://auth.studio.test", "h8-caveat-key-not-a-secret", "guest-of-m-1042")

    def verify(mac: Any, key: str = root_key, studio: str = "Leith", *, general: bool = True) -> Callable[[], Any]:
        def call() -> Any:
            verifier = pymacaroons.Verifier()
            verifier.satisfy_exact(f"studio = {studio}")
            if general:
                verifier.satisfy_general(lambda caveat: caveat.startswith("expires < ") and caveat[10:] > "2026-12-08")
            return verifier.verify(mac, key, [])

        return call

    c = recorder("macaroons", "door-access")
    c("wrong_key", verify(token, key="h8-other-key-not-a-secret"), "open_studio_door", ["auth"], False)
    c("expired_caveat", verify(token), "open_studio_door", ["auth"], False)
    c(
        "other_studio_wrapped",
        verify(token, studio="Portobello"),
        "open_studio_door",
        ["auth"],
        False,
        wrap=(LoginRejected, "door pass for m-1042 refused at Portobello"),
        service="bookings",
    )
    c("missing_discharge", verify(delegated), "open_studio_door", ["auth"], False)
    c(
        "garbage_token",
        lambda: pymacaroons.Macaroon.deserialize("not-a-macaroon!!"),
        "open_studio_door",
        ["validation", "auth", "data"],
        False,
    )
    c(
        "truncated_token",
        lambda: pymacaroons.Macaroon.deserialize(token.serialize()[:40]),
        "open_studio_door",
        ["validation", "auth", "data"],
        False,
    )


@family
def png_cases() -> None:
    import png

    c = recorder("png", "member-photos")
    good = TMP / "photo.png"
    png.from_array([[0, 255, 0, 255]] * 4, "L").save(str(good))
    raw = good.read_bytes()
    bad_crc = bytearray(raw)
    bad_crc[29] ^= 0xFF
    c(
        "not_a_png",
        lambda: png.Reader(bytes=b"\xff\xd8\xff\xe0JFIF" + bytes(64)).read(),
        "import_member_photo",
        ["validation", "data"],
        False,
    )
    c("truncated", lambda: list(png.Reader(bytes=raw[:45]).read()[2]), "import_member_photo", ["data"], False)
    c("bad_crc", lambda: list(png.Reader(bytes=bytes(bad_crc)).read()[2]), "import_member_photo", ["data"], False)
    c(
        "bad_crc_wrapped",
        lambda: list(png.Reader(bytes=bytes(bad_crc)).read()[2]),
        "import_member_photo",
        ["data"],
        False,
        wrap=(ImportFailed, "photo for member m-1042 not imported"),
        service="members",
    )
    c(
        "row_length_wrong",
        lambda: png.Writer(4, 2, greyscale=True).write(open(os.devnull, "wb"), [[0, 1, 2], [3, 4, 5, 6]]),  # noqa: SIM115
        "write_member_badge",
        ["internal"],
        False,
    )
    c("bad_bitdepth", lambda: png.Writer(4, 4, greyscale=True, bitdepth=3.5), "write_member_badge", ["internal"], False)
    c(
        "missing_file",
        lambda: png.Reader(filename=str(TMP / "m-9999.png")).read(),
        "import_member_photo",
        ["not_found"],
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
