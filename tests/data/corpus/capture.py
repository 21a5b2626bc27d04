"""Build tests/data/corpus/cases.jsonl: real errors, raised by real libraries, labelled by hand.

Every case triggers its error for real: against the machine's RabbitMQ, MariaDB, Mosquitto, NATS,
PostgreSQL and Redis, against servers this script starts on 127.0.0.1 (DNS, FTP, SSH/SFTP, SMTP,
websockets, gRPC, HTTP, a NATS and a Mosquitto that refuse everyone), or by feeding a library
real bad input. The event is built by `medic_client.event_from_exception`; the labels are
written next to each trigger (README.md, "Labelling").

Run with the corpus venv (README.md): /tmp/corpus-venv/bin/python tests/data/corpus/capture.py
It writes cases.jsonl next to itself and prints, per family, how many cases it captured and
which triggers did not raise.
"""

from __future__ import annotations

import asyncio
import collections
import configparser
import io
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import traceback
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from medic_client import event_from_exception

HERE = Path(__file__).resolve().parent
OUT = HERE / "cases.jsonl"
SOURCE = "corpus-app"
DUMMY_PASSWORD = "not-the-password"  # never a real secret

CASES: list[dict[str, Any]] = []
MISSED: list[str] = []


# --------------------------------------------------------------------------- app errors


def app_error(name: str) -> type[Exception]:
    """An application's own exception class, in a module of its own (not __main__)."""
    cls = type(name, (Exception,), {})
    cls.__module__ = "shop.errors"
    return cls


SyncFailed = app_error("SyncFailed")
PublishFailed = app_error("PublishFailed")
ConfigError = app_error("ConfigError")
ImportFailed = app_error("ImportFailed")
ResolveFailed = app_error("ResolveFailed")
MqttConnectRefused = app_error("MqttConnectRefused")
DeployFailed = app_error("DeployFailed")


# --------------------------------------------------------------------------- recording


def _event(exc: BaseException, service: str, operation: str | None, context: dict | None) -> dict:
    event = event_from_exception(
        exc, service=service, operation=operation, source=SOURCE, context=context, include_traceback=False
    )
    event.pop("occurred_at", None)  # the corpus is data, not a log: no timestamps
    return event


def record(
    case_id: str,
    family: str,
    exc: BaseException,
    *,
    service: str,
    accept: list[str],
    retryable: bool | None,
    operation: str | None = None,
    context: dict | None = None,
) -> None:
    event = _event(exc, service, operation, context)
    CASES.append(
        {"id": case_id, "family": family, "event": event, "accept": accept, "retryable": retryable}
    )
    print(f"  {case_id:40} {event['error_type'][:50]:50} code={event.get('code')} errno={event.get('errno')}"
          f" http={event.get('http_status')}")


def capture(
    case_id: str,
    family: str,
    trigger: Callable[[], Any],
    *,
    wrap: tuple[type[Exception], str] | None = None,
    **labels: Any,
) -> None:
    """Run trigger; record what it raises (wrapped in an app error `from` it when asked)."""
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
        record(case_id, family, exc, **labels)
        return
    MISSED.append(f"{family}/{case_id}: did not raise")
    print(f"  {case_id:40} DID NOT RAISE")


def acapture(case_id: str, family: str, coro_fn: Callable[[], Awaitable[Any]], **kw: Any) -> None:
    capture(case_id, family, lambda: coro_fn(), **kw)


def family(name: str):
    """Decorator: run a family's cases; a family whose setup breaks is reported, not fatal."""

    def decorate(fn):
        def run():
            print(f"[{name}]")
            try:
                fn()
            except Exception:  # noqa: BLE001
                MISSED.append(f"{name}: setup failed: {traceback.format_exc(limit=3)}")
                print(f"  SETUP FAILED:\n{traceback.format_exc()}")

        run.family = name
        return run

    return decorate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    return free_port()  # nothing listens there once the probe socket is closed


def wait_port(port: int, deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {deadline_s}s")


class Silent:
    """A TCP listener that accepts and never says a word (for handshake/banner timeouts)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


# =========================================================================== data files


@family("yaml")
def yaml_cases() -> None:
    import yaml

    tmp = Path(tempfile.mkdtemp(prefix="corpus-yaml-"))
    settings = tmp / "settings.yaml"
    settings.write_text("database:\n  host: db.internal\n\tport: 5432\n")  # a tab: ScannerError

    def load_settings():
        with settings.open() as f:
            return yaml.safe_load(f)

    deploy = {"service": "settings-file", "operation": "load_settings", "context": {"path": "/etc/shop/settings.yaml"}}
    capture("yaml_config_tab", "yaml", load_settings, accept=["configuration"], retryable=False, **deploy)
    capture("yaml_config_wrapped", "yaml", load_settings, wrap=(ConfigError, "could not read /etc/shop/settings.yaml"),
            accept=["configuration"], retryable=False, **deploy)
    capture("yaml_config_unclosed", "yaml", lambda: yaml.safe_load("workers: [1, 2\nqueues: default\n"),
            accept=["configuration"], retryable=False, **deploy)
    upload = {"service": "catalog-import", "operation": "import_products", "context": {"upload": "products.yaml"}}
    capture("yaml_input_bad_indent", "yaml", lambda: yaml.safe_load("- sku: A1\n  price: 3\n - sku: B2\n"),
            accept=["validation"], retryable=False, **upload)
    capture("yaml_input_python_tag", "yaml",
            lambda: yaml.safe_load("!!python/object/apply:os.system ['true']"),
            accept=["validation"], retryable=False, **upload)
    capture("yaml_input_wrapped", "yaml", lambda: yaml.safe_load("a: b: c"),
            wrap=(ImportFailed, "products.yaml is not valid YAML"), accept=["validation"], retryable=False, **upload)
    capture("yaml_input_binary", "yaml", lambda: yaml.safe_load(b"name: \xff\xfe bad"),
            accept=["validation", "data"], retryable=False, **upload)


@family("config")
def config_cases() -> None:
    deploy = {"service": "settings-file", "operation": "load_settings", "context": {"path": "/etc/shop/shop.ini"}}

    def parse(text: str) -> configparser.ConfigParser:
        parser = configparser.ConfigParser()
        parser.read_string(text, source="/etc/shop/shop.ini")
        return parser

    capture("ini_no_section_header", "config", lambda: parse("host = db.internal\n"),
            accept=["configuration"], retryable=False, **deploy)
    capture("ini_duplicate_option", "config", lambda: parse("[db]\nhost = a\nhost = b\n"),
            accept=["configuration"], retryable=False, **deploy)
    capture("ini_missing_section", "config", lambda: parse("[db]\nhost = a\n").get("smtp", "host"),
            accept=["configuration"], retryable=False, **deploy)
    capture("ini_missing_option", "config", lambda: parse("[db]\nhost = a\n").get("db", "port"),
            accept=["configuration"], retryable=False, **deploy)
    capture("ini_bad_interpolation", "config", lambda: parse("[db]\nurl = postgres://%(user)s@h/db\n").get("db", "url"),
            accept=["configuration"], retryable=False, **deploy)
    capture("ini_not_an_int", "config", lambda: parse("[db]\nport = fivefourthreetwo\n").getint("db", "port"),
            accept=["configuration"], retryable=False, **deploy)
    capture("ini_wrapped", "config", lambda: parse("[db]\nhost\n= x\n"),
            wrap=(ConfigError, "invalid settings file /etc/shop/shop.ini"), accept=["configuration"],
            retryable=False, **deploy)
    capture("ini_input_upload", "config", lambda: parse("this is not ini\n[\n"),
            accept=["validation"], retryable=False, service="tenant-import", operation="import_tenant_settings",
            context={"upload": "tenant.ini"})


@family("toml")
def toml_cases() -> None:
    deploy = {"service": "settings-file", "operation": "load_settings", "context": {"path": "/etc/shop/shop.toml"}}
    capture("toml_config_duplicate_key", "toml", lambda: tomllib.loads("[db]\nport = 1\nport = 2\n"),
            accept=["configuration"], retryable=False, **deploy)
    capture("toml_config_unquoted", "toml", lambda: tomllib.loads("[db]\nhost = db.internal\n"),
            accept=["configuration"], retryable=False, **deploy)
    capture("toml_config_wrapped", "toml", lambda: tomllib.loads("workers = [1, 2\n"),
            wrap=(ConfigError, "cannot load /etc/shop/shop.toml"), accept=["configuration"], retryable=False, **deploy)
    upload = {"service": "pyproject-lint", "operation": "lint_upload", "context": {"upload": "pyproject.toml"}}
    capture("toml_input_bad_date", "toml", lambda: tomllib.loads("released = 2024-13-45\n"),
            accept=["validation"], retryable=False, **upload)
    capture("toml_input_bad_table", "toml", lambda: tomllib.loads("[project\nname = 'x'\n"),
            accept=["validation"], retryable=False, **upload)
    capture("toml_input_bytes", "toml", lambda: tomllib.load(io.BytesIO(b"a = \"\xff\"\n")),
            accept=["validation", "data"], retryable=False, **upload)


# =========================================================================== crypto, tokens


GARBAGE_PEM = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"


@family("crypto")
def crypto_cases() -> None:
    import base64

    from cryptography.exceptions import InvalidSignature, InvalidTag  # noqa: F401
    from cryptography.fernet import Fernet, MultiFernet
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key, other_key = Fernet.generate_key(), Fernet.generate_key()
    token = Fernet(key).encrypt(b"card-fingerprint")
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[-40] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw))
    stored = {"service": "vault-columns", "operation": "decrypt_customer_record"}
    capture("fernet_tampered", "crypto", lambda: Fernet(key).decrypt(tampered),
            accept=["data"], retryable=False, **stored)
    # The deployment's key is not the one the data was encrypted with (a rotated key not configured).
    capture("fernet_wrong_key", "crypto", lambda: MultiFernet([Fernet(other_key)]).decrypt(token),
            accept=["configuration", "data"], retryable=False, **stored)
    capture("fernet_garbage", "crypto", lambda: Fernet(key).decrypt(b"not-a-token"),
            wrap=(SyncFailed, "could not decrypt record 1842"), accept=["data", "validation"], retryable=False,
            **stored)
    # A short-lived token (an emailed link) past its ttl: an expired credential.
    old = Fernet(key).encrypt_at_time(b"reset:42", int(time.time()) - 3600)
    capture("fernet_expired_link", "crypto", lambda: Fernet(key).decrypt(old, ttl=900),
            accept=["auth"], retryable=False, service="password-reset", operation="verify_reset_link")
    capture("fernet_bad_key_setting", "crypto", lambda: Fernet(b"short-key-from-env"),
            accept=["configuration"], retryable=False, service="settings-env", operation="load_settings",
            context={"setting": "FERNET_KEY"})
    aes_key = AESGCM.generate_key(bit_length=128)
    blob = AESGCM(aes_key).encrypt(b"\x00" * 12, b"payload", None)
    capture("aesgcm_tag_mismatch", "crypto", lambda: AESGCM(aes_key).decrypt(b"\x00" * 12, blob[:-1] + b"\x00", None),
            accept=["data"], retryable=False, service="backup-store", operation="restore_backup")
    private = ec.generate_private_key(ec.SECP256R1())
    signature = private.sign(b"webhook-body", ec.ECDSA(hashes.SHA256()))
    capture("ecdsa_bad_signature", "crypto",
            lambda: private.public_key().verify(signature, b"webhook-body-changed", ec.ECDSA(hashes.SHA256())),
            accept=["auth", "validation", "data"], retryable=False, service="partner-webhooks",
            operation="verify_webhook")
    capture("pem_garbage_key_file", "crypto",
            lambda: serialization.load_pem_private_key(GARBAGE_PEM, password=None),
            accept=["configuration"], retryable=False, service="signing-key", operation="load_signing_key",
            context={"path": "/etc/shop/signing.pem"})


@family("jwt")
def jwt_cases() -> None:
    import jwt

    secret = "corpus-signing-secret-0123456789abcdef"
    api = {"service": "auth-gateway", "operation": "verify_bearer_token"}
    expired = jwt.encode({"sub": "42", "exp": int(time.time()) - 60}, secret, algorithm="HS256")
    capture("jwt_expired", "jwt", lambda: jwt.decode(expired, secret, algorithms=["HS256"]),
            accept=["auth"], retryable=False, **api)
    forged = jwt.encode({"sub": "42"}, "some-other-secret-0123456789abcdef", algorithm="HS256")
    capture("jwt_bad_signature", "jwt", lambda: jwt.decode(forged, secret, algorithms=["HS256"]),
            accept=["auth"], retryable=False, **api)
    capture("jwt_garbage", "jwt", lambda: jwt.decode("not.a.jwt", secret, algorithms=["HS256"]),
            accept=["auth", "validation"], retryable=False, **api)
    aud = jwt.encode({"sub": "42", "aud": "billing"}, secret, algorithm="HS256")
    capture("jwt_wrong_audience", "jwt", lambda: jwt.decode(aud, secret, algorithms=["HS256"], audience="orders"),
            accept=["auth"], retryable=False, **api)
    future = jwt.encode({"sub": "42", "nbf": int(time.time()) + 3600}, secret, algorithm="HS256")
    capture("jwt_not_yet_valid", "jwt", lambda: jwt.decode(future, secret, algorithms=["HS256"]),
            accept=["auth"], retryable=None, **api)
    capture("jwt_missing_claim", "jwt",
            lambda: jwt.decode(jwt.encode({"sub": "42"}, secret, algorithm="HS256"), secret, algorithms=["HS256"],
                               options={"require": ["exp"]}),
            accept=["auth", "validation"], retryable=False, **api)
    none_alg = jwt.encode({"sub": "42"}, None, algorithm="none")
    capture("jwt_alg_none_refused", "jwt", lambda: jwt.decode(none_alg, secret, algorithms=["HS256"]),
            accept=["auth"], retryable=False, **api)
    capture("jwt_wrapped_expired", "jwt", lambda: jwt.decode(expired, secret, algorithms=["HS256"]),
            wrap=(SyncFailed, "partner token rejected"), accept=["auth"], retryable=False,
            service="partner-api", operation="sync_orders")
    capture("jwt_bad_key_config", "jwt", lambda: jwt.encode({"sub": "42"}, "not a PEM key", algorithm="RS256"),
            accept=["configuration"], retryable=False, service="auth-gateway", operation="issue_token")


# =========================================================================== subprocess, http


@family("subprocess")
def subprocess_cases() -> None:
    tool = {"service": "image-tools", "operation": "make_thumbnail"}
    capture("exit_127_not_found", "subprocess",
            lambda: subprocess.run(["sh", "-c", "convert-nonexistent in.png out.png"], check=True,
                                   capture_output=True),
            accept=["configuration"], retryable=False, **tool)
    script = Path(tempfile.mkdtemp(prefix="corpus-sub-")) / "thumb.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    capture("exit_126_not_executable", "subprocess",
            lambda: subprocess.run(["sh", "-c", str(script)], check=True, capture_output=True),
            accept=["configuration"], retryable=False, **tool)
    capture("exit_1_generic", "subprocess", lambda: subprocess.run(["false"], check=True),
            accept=["unknown"], retryable=None, **tool)
    capture("exit_2_usage", "subprocess",
            lambda: subprocess.check_output(["ls", "--no-such-flag"], stderr=subprocess.DEVNULL),
            accept=["unknown", "internal", "configuration"], retryable=None, **tool)
    capture("killed_sigkill", "subprocess",
            lambda: subprocess.run(["sh", "-c", "kill -9 $$"], check=True),
            accept=["unknown", "resource"], retryable=None, **tool)
    capture("missing_binary", "subprocess", lambda: subprocess.run(["/usr/bin/corpus-no-such-tool"], check=True),
            accept=["configuration", "not_found"], retryable=False, **tool)
    capture("subprocess_timeout", "subprocess", lambda: subprocess.run(["sleep", "2"], timeout=0.1),
            accept=["timeout"], retryable=True, **tool)
    capture("exit_127_wrapped", "subprocess",
            lambda: subprocess.run(["sh", "-c", "pg_dump-nonexistent"], check=True, capture_output=True),
            wrap=(DeployFailed, "backup step failed"), accept=["configuration"], retryable=False,
            service="backup-job", operation="dump_database")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        status = int(self.path.strip("/").split("/")[0] or 200)
        if status == 999:
            time.sleep(1.0)
            status = 200
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "2")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@family("http")
def http_cases() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    api = {"service": "partner-api", "operation": "fetch_prices"}

    def get(path: str, timeout_s: float = 2.0):
        return urllib.request.urlopen(base + path, timeout=timeout_s).read()

    for status, accept, retry in ((401, ["auth"], False), (403, ["auth"], False), (404, ["not_found"], False),
                                  (409, ["conflict"], True), (422, ["validation"], False),
                                  (429, ["rate_limit"], True), (502, ["unavailable"], True),
                                  (504, ["timeout"], True)):
        capture(f"urllib_{status}", "http", lambda s=status: get(f"/{s}"), accept=accept, retryable=retry, **api)
    capture("urllib_read_timeout", "http", lambda: get("/999", timeout_s=0.2), accept=["timeout"], retryable=True,
            **api)
    capture("urllib_refused", "http", lambda: urllib.request.urlopen(f"http://127.0.0.1:{closed_port()}/", timeout=2),
            accept=["network"], retryable=True, **api)
    capture("urllib_503_wrapped", "http", lambda: get("/503"), wrap=(SyncFailed, "price sync failed"),
            accept=["unavailable"], retryable=True, **api)
    server.shutdown()


# =========================================================================== message brokers


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@family("amqp")
def amqp_cases() -> None:
    import amqp
    import kombu
    import pika

    bus = {"service": "order-events", "operation": "publish_order_created"}
    good = pika.ConnectionParameters("127.0.0.1", 5672, credentials=pika.PlainCredentials("guest", "guest"),
                                     connection_attempts=1, socket_timeout=2, blocked_connection_timeout=2)

    def pika_connect(**changes):
        params = pika.ConnectionParameters(**{**dict(host="127.0.0.1", port=5672, connection_attempts=1,
                                                     socket_timeout=2,
                                                     credentials=pika.PlainCredentials("guest", "guest")),
                                              **changes})
        return pika.BlockingConnection(params)

    capture("pika_bad_password", "amqp",
            lambda: pika_connect(credentials=pika.PlainCredentials("guest", DUMMY_PASSWORD)),
            accept=["auth"], retryable=False, **bus)
    capture("pika_missing_vhost", "amqp", lambda: pika_connect(virtual_host="no-such-vhost"),
            accept=["configuration", "not_found", "auth"], retryable=False, **bus)
    capture("pika_refused", "amqp", lambda: pika_connect(port=closed_port()),
            accept=["network"], retryable=True, **bus)

    def passive_missing():
        with pika.BlockingConnection(good) as conn:
            conn.channel().queue_declare("corpus-no-such-queue", passive=True)

    capture("pika_queue_not_found", "amqp", passive_missing, accept=["not_found", "configuration"], retryable=False,
            service="order-events", operation="consume_orders")

    def redeclare():
        with pika.BlockingConnection(good) as conn:
            ch = conn.channel()
            ch.queue_declare("corpus-redeclare", auto_delete=True, arguments={"x-max-length": 10})
            ch2 = conn.channel()
            ch2.queue_declare("corpus-redeclare", auto_delete=True, arguments={"x-max-length": 20})

    capture("pika_redeclare_406", "amqp", redeclare, accept=["configuration"], retryable=False,
            service="order-events", operation="declare_topology")

    def publish_missing_exchange():
        with pika.BlockingConnection(good) as conn:
            ch = conn.channel()
            ch.confirm_delivery()
            ch.basic_publish("corpus-no-such-exchange", "rk", b"{}")

    capture("pika_publish_no_exchange", "amqp", publish_missing_exchange, wrap=(PublishFailed, "order 1842 not sent"),
            accept=["not_found", "configuration"], retryable=False, **bus)

    def exclusive_locked():
        with pika.BlockingConnection(good) as owner, pika.BlockingConnection(good) as other:
            owner.channel().queue_declare("corpus-exclusive", exclusive=True)
            other.channel().queue_declare("corpus-exclusive", exclusive=True)

    capture("pika_exclusive_locked_405", "amqp", exclusive_locked, accept=["conflict"], retryable=True,
            service="order-events", operation="consume_orders")

    def connection_forced():
        conn = pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", 5672, client_properties={"connection_name": "corpus-forced"}, connection_attempts=1))
        try:
            rabbitmqctl("close_all_connections", "corpus: broker shutting down")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.2)
        finally:
            if conn.is_open:
                conn.close()

    capture("pika_connection_forced_320", "amqp", connection_forced, accept=["unavailable", "network"],
            retryable=True, **bus)

    # py-amqp (what Celery and kombu use underneath)
    def amqp_connect(**kw):
        conn = amqp.Connection(**{"host": "127.0.0.1:5672", "userid": "guest", "password": "guest",
                                  "connect_timeout": 2, **kw})
        conn.connect()
        return conn

    capture("pyamqp_bad_password", "amqp", lambda: amqp_connect(password=DUMMY_PASSWORD), accept=["auth"],
            retryable=False, **bus)

    def pyamqp_passive():
        conn = amqp_connect()
        try:
            conn.channel().queue_declare("corpus-no-such-queue", passive=True)
        finally:
            conn.collect()

    capture("pyamqp_queue_not_found", "amqp", pyamqp_passive, accept=["not_found", "configuration"],
            retryable=False, service="order-events", operation="consume_orders")

    def pyamqp_exchange_type():
        conn = amqp_connect()
        try:
            ch = conn.channel()
            ch.exchange_declare("corpus-typed", "direct", auto_delete=True)
            conn.channel().exchange_declare("corpus-typed", "fanout", auto_delete=True)
        finally:
            conn.collect()

    capture("pyamqp_exchange_type_406", "amqp", pyamqp_exchange_type, accept=["configuration"], retryable=False,
            service="order-events", operation="declare_topology")
    capture("pyamqp_refused", "amqp", lambda: amqp_connect(host=f"127.0.0.1:{closed_port()}"), accept=["network"],
            retryable=True, **bus)

    # kombu (Celery's messaging layer)
    def kombu_passive():
        with kombu.Connection("amqp://guest:guest@127.0.0.1:5672//", connect_timeout=2) as conn:
            kombu.Queue("corpus-no-such-queue", channel=conn.channel()).queue_declare(passive=True)

    capture("kombu_queue_not_found", "amqp", kombu_passive, accept=["not_found", "configuration"], retryable=False,
            service="order-events", operation="consume_orders")

    def kombu_bad_password():
        with kombu.Connection(f"amqp://guest:{DUMMY_PASSWORD}@127.0.0.1:5672//", connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)

    capture("kombu_bad_password", "amqp", kombu_bad_password, accept=["auth"], retryable=False, **bus)

    def kombu_refused():
        with kombu.Connection(f"amqp://guest:guest@127.0.0.1:{closed_port()}//", connect_timeout=1) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0)

    capture("kombu_refused", "amqp", kombu_refused, wrap=(PublishFailed, "could not publish invoice"),
            accept=["network"], retryable=True, **bus)


@family("mqtt")
def mqtt_cases() -> None:
    import paho.mqtt.client as mqtt

    telemetry = {"service": "telemetry-broker", "operation": "publish_reading"}
    capture("paho_refused", "mqtt", lambda: mqtt.Client(mqtt.CallbackAPIVersion.VERSION2).connect("127.0.0.1",
                                                                                                  closed_port(), 5),
            accept=["network"], retryable=True, **telemetry)

    def publish_wildcard():
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", 1883, 5)
        try:
            client.publish("sensors/+/temp", b"21.5")
        finally:
            client.disconnect()

    capture("paho_wildcard_topic", "mqtt", publish_wildcard, accept=["validation", "internal"], retryable=False,
            **telemetry)

    def publish_not_connected():
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        info = client.publish("sensors/1/temp", b"21.5", qos=1)
        info.wait_for_publish(timeout=0.5)

    capture("paho_not_connected", "mqtt", publish_not_connected, accept=["network", "internal"], retryable=None,
            **telemetry)

    def publish_too_big():
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.publish("sensors/1/blob", b"x" * 268435456)

    capture("paho_payload_too_large", "mqtt", publish_too_big, accept=["validation", "resource"], retryable=False,
            **telemetry)

    # A broker that refuses every client (allow_anonymous false, no users): CONNACK "Not authorized".
    conf_dir = Path(tempfile.mkdtemp(prefix="corpus-mosq-"))
    port = free_port()
    (conf_dir / "m.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npersistence false\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(conf_dir / "m.conf")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_port(port)

        def refused_by_broker(protocol):
            outcome: dict[str, Any] = {}
            done = threading.Event()

            def on_connect(client, userdata, flags, reason_code, properties):
                outcome["rc"] = reason_code
                done.set()

            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
            client.username_pw_set("meter-17", DUMMY_PASSWORD)
            client.on_connect = on_connect
            client.connect("127.0.0.1", port, 5)
            client.loop_start()
            try:
                if not done.wait(5):
                    raise TimeoutError("no CONNACK from the MQTT broker within 5 s")
            finally:
                client.loop_stop()
            rc = outcome["rc"]
            if rc.is_failure:
                # what an app does with paho: a failed CONNACK becomes its own exception
                raise MqttConnectRefused(f"MQTT connection refused: {rc} (reason code {rc.value})")

        capture("paho_not_authorized_v311", "mqtt", lambda: refused_by_broker(mqtt.MQTTv311), accept=["auth"],
                retryable=False, **telemetry)
        capture("paho_not_authorized_v5", "mqtt", lambda: refused_by_broker(mqtt.MQTTv5), accept=["auth"],
                retryable=False, **telemetry)
    finally:
        broker.terminate()
        broker.wait(5)

    silent = Silent()
    try:
        def no_connack():
            done = threading.Event()
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
            client.on_connect = lambda *a: done.set()
            client.connect("127.0.0.1", silent.port, 5)
            client.loop_start()
            try:
                if not done.wait(0.5):
                    raise TimeoutError("no CONNACK from the MQTT broker within 0.5 s")
            finally:
                client.loop_stop()

        capture("paho_no_connack", "mqtt", no_connack, accept=["timeout"], retryable=True, **telemetry)
    finally:
        silent.close()


@family("nats")
def nats_cases() -> None:
    import nats
    from nats.js.api import StreamConfig

    bus = {"service": "inventory-bus", "operation": "request_stock"}

    async def connected():
        return await nats.connect("nats://127.0.0.1:4222", connect_timeout=2, allow_reconnect=False)

    async def no_responders():
        nc = await connected()
        try:
            await nc.request("corpus.nobody.listens", b"{}", timeout=1)
        finally:
            await nc.close()

    acapture("nats_no_responders", "nats", no_responders, accept=["unavailable"], retryable=True, **bus)

    async def slow_responder():
        nc = await connected()

        async def handler(msg):
            await asyncio.sleep(1)

        await nc.subscribe("corpus.slow", cb=handler)
        try:
            await nc.request("corpus.slow", b"{}", timeout=0.2)
        finally:
            await nc.close()

    acapture("nats_request_timeout", "nats", slow_responder, accept=["timeout"], retryable=True, **bus)

    async def refused():
        await nats.connect(f"nats://127.0.0.1:{closed_port()}", connect_timeout=1, allow_reconnect=False,
                           max_reconnect_attempts=1, reconnect_time_wait=0.1)

    acapture("nats_refused", "nats", refused, accept=["network"], retryable=True, **bus)

    async def stream_not_found():
        nc = await connected()
        try:
            await nc.jetstream().stream_info("CORPUS_NO_SUCH_STREAM")
        finally:
            await nc.close()

    acapture("nats_js_stream_not_found", "nats", stream_not_found, accept=["not_found", "configuration"],
             retryable=False, service="inventory-bus", operation="read_stream")

    async def no_stream_for_subject():
        nc = await connected()
        try:
            await nc.jetstream().publish("corpus.unbound.subject", b"{}", timeout=1)
        finally:
            await nc.close()

    acapture("nats_js_no_stream", "nats", no_stream_for_subject, accept=["configuration", "not_found", "unavailable"],
             retryable=None, service="inventory-bus", operation="publish_stock_change")

    async def stream_conflict():
        nc = await connected()
        js = nc.jetstream()
        try:
            await js.add_stream(StreamConfig(name="CORPUS_S1", subjects=["corpus.s1.>"]))
            await js.add_stream(StreamConfig(name="CORPUS_S1", subjects=["corpus.other.>"]))
        finally:
            try:
                await js.delete_stream("CORPUS_S1")
            finally:
                await nc.close()

    acapture("nats_js_stream_config_conflict", "nats", stream_conflict, accept=["configuration", "conflict"],
             retryable=False, service="inventory-bus", operation="declare_streams")

    async def kv_missing_key():
        nc = await connected()
        js = nc.jetstream()
        try:
            kv = await js.create_key_value(bucket="CORPUS_KV")
            await kv.get("no-such-key")
        finally:
            try:
                await js.delete_key_value("CORPUS_KV")
            finally:
                await nc.close()

    acapture("nats_kv_key_not_found", "nats", kv_missing_key, accept=["not_found"], retryable=False,
             service="feature-flags", operation="read_flag")

    async def too_big():
        nc = await connected()
        try:
            await nc.publish("corpus.big", b"x" * (nc.max_payload + 1))
        finally:
            await nc.close()

    acapture("nats_max_payload", "nats", too_big, accept=["validation", "resource"], retryable=False, **bus)

    async def bad_subject():
        nc = await connected()
        try:
            await nc.subscribe("")
        finally:
            await nc.close()

    acapture("nats_bad_subject", "nats", bad_subject, accept=["validation", "internal"], retryable=False, **bus)

    # a NATS server that wants a user and password
    port = free_port()
    server = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port), "--user", "corpus",
                               "--pass", "corpus-server-side"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)

        async def bad_credentials():
            await nats.connect(f"nats://127.0.0.1:{port}", user="corpus", password=DUMMY_PASSWORD, connect_timeout=2,
                               allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0.1)

        acapture("nats_authorization_violation", "nats", bad_credentials, accept=["auth"], retryable=False, **bus)
        acapture("nats_auth_wrapped", "nats", bad_credentials, wrap=(SyncFailed, "stock sync could not start"),
                 accept=["auth"], retryable=False, **bus)
    finally:
        server.terminate()
        server.wait(5)


# =========================================================================== databases


@family("mysql")
def mysql_cases() -> None:
    import mysql.connector
    import pymysql

    db = {"service": "orders-mysql", "operation": "load_order"}
    root = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}

    def q(sql: str, connect: dict | None = None, **kw):
        conn = pymysql.connect(**{**root, "database": "test", "connect_timeout": 2, **(connect or {})}, **kw)
        try:
            with conn.cursor() as cur:
                for statement in sql.split(";"):
                    if statement.strip():
                        cur.execute(statement)
            conn.commit()
        finally:
            conn.close()

    with pymysql.connect(**root, database="test") as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS corpus_parent (id INT PRIMARY KEY) ENGINE=InnoDB")
        cur.execute("CREATE TABLE IF NOT EXISTS corpus_orders (id INT PRIMARY KEY, sku VARCHAR(8),"
                    " parent INT, FOREIGN KEY (parent) REFERENCES corpus_parent(id)) ENGINE=InnoDB")
        cur.execute("DELETE FROM corpus_orders")
        cur.execute("INSERT INTO corpus_orders VALUES (1, 'A1', NULL)")
        cur.execute("CREATE USER IF NOT EXISTS 'corpus_ro'@'%' IDENTIFIED BY 'corpus-ro-pass'")
        cur.execute("GRANT SELECT ON test.* TO 'corpus_ro'@'%'")
        setup.commit()

    capture("pymysql_access_denied", "mysql", lambda: q("SELECT 1", {"user": "corpus_ro", "password": DUMMY_PASSWORD}),
            accept=["auth"], retryable=False, **db)
    capture("pymysql_unknown_database", "mysql", lambda: q("SELECT 1", {"database": "corpus_nope"}),
            accept=["configuration", "not_found"], retryable=False, **db)
    capture("pymysql_db_access_denied", "mysql",
            lambda: q("SELECT 1", {"user": "corpus_ro", "password": "corpus-ro-pass", "database": "mysql"}),
            accept=["auth"], retryable=False, **db)
    capture("pymysql_table_missing", "mysql", lambda: q("SELECT * FROM corpus_no_table"),
            accept=["configuration", "internal", "not_found"], retryable=False, **db)
    capture("pymysql_syntax", "mysql", lambda: q("SELEC id FROM corpus_orders"), accept=["internal"],
            retryable=False, **db)
    capture("pymysql_duplicate", "mysql", lambda: q("INSERT INTO corpus_orders VALUES (1, 'B2', NULL)"),
            accept=["data", "conflict"], retryable=False, **db)
    capture("pymysql_fk", "mysql", lambda: q("INSERT INTO corpus_orders VALUES (2, 'B2', 99)"), accept=["data"],
            retryable=False, **db)
    capture("pymysql_too_long", "mysql",
            lambda: q("SET SESSION sql_mode='STRICT_ALL_TABLES';"
                      " INSERT INTO corpus_orders VALUES (3, 'WAYTOOLONGSKU', NULL)"),
            accept=["validation", "data"], retryable=False, **db)
    capture("pymysql_insert_denied", "mysql",
            lambda: q("INSERT INTO corpus_orders VALUES (4, 'C3', NULL)",
                      {"user": "corpus_ro", "password": "corpus-ro-pass"}),
            accept=["auth"], retryable=False, **db)
    capture("pymysql_refused", "mysql", lambda: q("SELECT 1", {"port": closed_port()}), accept=["network"],
            retryable=True, **db)
    capture("pymysql_statement_timeout", "mysql",
            lambda: q("SET STATEMENT max_statement_time=0.1 FOR SELECT SLEEP(2)"), accept=["timeout"],
            retryable=True, **db)
    capture("pymysql_read_timeout", "mysql", lambda: q("SELECT SLEEP(2)", read_timeout=0.3), accept=["timeout"],
            retryable=True, **db)

    def lock_wait():
        holder = pymysql.connect(**root, database="test")
        try:
            with holder.cursor() as cur:
                cur.execute("START TRANSACTION")
                cur.execute("SELECT * FROM corpus_orders WHERE id = 1 FOR UPDATE")
                q("SET SESSION innodb_lock_wait_timeout = 1; UPDATE corpus_orders SET sku = 'Z' WHERE id = 1")
        finally:
            holder.rollback()
            holder.close()

    capture("pymysql_lock_wait_timeout", "mysql", lock_wait, accept=["conflict", "timeout"], retryable=True, **db)
    capture("pymysql_wrapped_duplicate", "mysql", lambda: q("INSERT INTO corpus_orders VALUES (1, 'B2', NULL)"),
            wrap=(SyncFailed, "order 1 could not be imported"), accept=["data", "conflict"], retryable=False, **db)

    def mc(sql: str, **connect):
        conn = mysql.connector.connect(**{**root, "database": "test", "connection_timeout": 2, **connect})
        try:
            cur = conn.cursor()
            cur.execute(sql)
            cur.fetchall()
        finally:
            conn.close()

    capture("connector_access_denied", "mysql", lambda: mc("SELECT 1", user="corpus_ro", password=DUMMY_PASSWORD),
            accept=["auth"], retryable=False, **db)
    capture("connector_unknown_database", "mysql", lambda: mc("SELECT 1", database="corpus_nope"),
            accept=["configuration", "not_found"], retryable=False, **db)
    capture("connector_table_missing", "mysql", lambda: mc("SELECT * FROM corpus_no_table"),
            accept=["configuration", "internal", "not_found"], retryable=False, **db)
    capture("connector_syntax", "mysql", lambda: mc("SELEC 1"), accept=["internal"], retryable=False, **db)
    capture("connector_refused", "mysql", lambda: mc("SELECT 1", port=closed_port()), accept=["network"],
            retryable=True, **db)
    capture("connector_duplicate", "mysql", lambda: mc("INSERT INTO corpus_orders VALUES (1, 'B2', NULL)"),
            accept=["data", "conflict"], retryable=False, **db)

    with pymysql.connect(**root, database="test") as cleanup, cleanup.cursor() as cur:
        cur.execute("DROP USER IF EXISTS 'corpus_ro'@'%'")
        cur.execute("DROP TABLE IF EXISTS corpus_orders")
        cur.execute("DROP TABLE IF EXISTS corpus_parent")


@family("postgres")
def postgres_cases() -> None:
    import psycopg

    db = {"service": "orders-db", "operation": "save_order"}
    dsn = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=2"

    def q(*statements: str, conninfo: str = dsn):
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    q("CREATE TABLE IF NOT EXISTS corpus_orders (id int PRIMARY KEY, sku varchar(8))", "TRUNCATE corpus_orders",
      "INSERT INTO corpus_orders VALUES (1, 'A1')")
    capture("psycopg_unknown_database", "postgres", lambda: q("SELECT 1", conninfo=dsn.replace("test", "corpus_nope")),
            accept=["configuration", "not_found"], retryable=False, **db)
    capture("psycopg_unknown_role", "postgres",
            lambda: q("SELECT 1", conninfo=dsn.replace("postgres", "corpus_nobody")),
            accept=["auth", "configuration"], retryable=False, **db)
    capture("psycopg_refused", "postgres", lambda: q("SELECT 1", conninfo=dsn.replace("5432", str(closed_port()))),
            accept=["network"], retryable=True, **db)
    capture("psycopg_duplicate", "postgres", lambda: q("INSERT INTO corpus_orders VALUES (1, 'B2')"),
            accept=["data", "conflict"], retryable=False, **db)
    capture("psycopg_statement_timeout", "postgres", lambda: q("SET statement_timeout = 100", "SELECT pg_sleep(2)"),
            accept=["timeout"], retryable=True, **db)
    capture("psycopg_read_only", "postgres",
            lambda: q("SET default_transaction_read_only = on", "INSERT INTO corpus_orders VALUES (5, 'E5')"),
            accept=["unavailable", "configuration"], retryable=None, **db)
    capture("psycopg_too_long", "postgres", lambda: q("INSERT INTO corpus_orders VALUES (6, 'WAYTOOLONGSKU')"),
            accept=["validation", "data"], retryable=False, **db)

    def lock_not_available():
        with psycopg.connect(dsn) as holder:
            holder.execute("SELECT * FROM corpus_orders WHERE id = 1 FOR UPDATE")
            q("SET lock_timeout = 100", "UPDATE corpus_orders SET sku = 'Z' WHERE id = 1")

    capture("psycopg_lock_timeout", "postgres", lock_not_available, wrap=(SyncFailed, "order 1 not saved"),
            accept=["conflict", "timeout"], retryable=True, **db)
    q("DROP TABLE corpus_orders")


@family("redis")
def redis_cases() -> None:
    import redis

    cache = {"service": "session-cache", "operation": "load_session"}
    r = redis.Redis(host="127.0.0.1", port=6379, db=15, socket_timeout=2)
    r.delete("corpus:list")
    r.rpush("corpus:list", "a")
    capture("redis_wrongtype", "redis", lambda: r.get("corpus:list"), accept=["internal", "data"], retryable=False,
            **cache)
    capture("redis_unknown_command", "redis", lambda: r.execute_command("CORPUSNOSUCH"),
            accept=["internal", "configuration"], retryable=False, **cache)
    capture("redis_noscript", "redis", lambda: r.evalsha("0" * 40, 0), accept=["not_found", "internal"],
            retryable=None, **cache)
    capture("redis_wrongpass", "redis",
            lambda: redis.Redis(host="127.0.0.1", port=6379, username="corpus-app", password=DUMMY_PASSWORD,
                                socket_timeout=2).ping(),
            accept=["auth"], retryable=False, **cache)
    capture("redis_refused", "redis", lambda: redis.Redis(host="127.0.0.1", port=closed_port()).ping(),
            accept=["network"], retryable=True, **cache)
    capture("redis_read_timeout", "redis",
            lambda: redis.Redis(host="127.0.0.1", port=6379, db=15, socket_timeout=0.2).blpop(["corpus:empty"], 1),
            accept=["timeout"], retryable=True, **cache)

    def busygroup():
        r.delete("corpus:stream")
        r.xgroup_create("corpus:stream", "workers", mkstream=True)
        r.xgroup_create("corpus:stream", "workers", mkstream=True)

    capture("redis_busygroup", "redis", busygroup, accept=["conflict", "configuration"], retryable=False,
            service="job-stream", operation="declare_consumer_group")
    capture("redis_wrongtype_wrapped", "redis", lambda: r.hget("corpus:list", "field"),
            wrap=(SyncFailed, "session 42 unreadable"), accept=["internal", "data"], retryable=False, **cache)
    r.delete("corpus:list", "corpus:stream")


# =========================================================================== network protocols


class _DnsServer:
    """A tiny authoritative server for `corpus.test.` on 127.0.0.1 (dnspython's message API)."""

    def __init__(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rrset

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._dns = (dns.message, dns.rcode, dns.rrset)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        message, rcode, rrset = self._dns
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = message.from_wire(data)
            name = query.question[0].name.to_text()
            if name.startswith("slow."):
                continue  # never answers: the client times out
            response = message.make_response(query)
            if name == "api.corpus.test." and query.question[0].rdtype == 1:
                response.answer.append(rrset.from_text(name, 60, "IN", "A", "127.0.0.1"))
            elif name == "api.corpus.test.":
                pass  # the name exists, but not with that type: NoAnswer
            elif name.startswith("broken."):
                response.set_rcode(rcode.SERVFAIL)
            elif name.startswith("private."):
                response.set_rcode(rcode.REFUSED)
            else:
                response.set_rcode(rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


@family("dns")
def dns_cases() -> None:
    import dns.asyncresolver
    import dns.resolver

    server = _DnsServer()

    def resolver(cls=dns.resolver.Resolver):
        res = cls(configure=False)
        res.nameservers = ["127.0.0.1"]
        res.port = server.port
        res.lifetime = 0.5
        res.timeout = 0.5
        return res

    svc = {"service": "partner-api", "operation": "resolve_endpoint"}
    capture("dns_service_nxdomain", "dns", lambda: resolver().resolve("partner-api.corpus.test", "A"),
            accept=["network", "configuration"], retryable=None, **svc)
    capture("dns_service_nxdomain_wrapped", "dns", lambda: resolver().resolve("partner-api.corpus.test", "A"),
            wrap=(ResolveFailed, "cannot resolve partner-api.corpus.test"), accept=["network", "configuration"],
            retryable=None, **svc)
    mail = {"service": "mail-validation", "operation": "check_mx", "context": {"field": "email"}}
    capture("dns_user_domain_nxdomain", "dns", lambda: resolver().resolve("typo-domain.corpus.test", "MX"),
            accept=["not_found", "validation"], retryable=False, **mail)
    capture("dns_noanswer", "dns", lambda: resolver().resolve("api.corpus.test", "MX"),
            accept=["not_found", "validation"], retryable=False, **mail)
    capture("dns_servfail", "dns", lambda: resolver().resolve("broken.corpus.test", "A"),
            accept=["unavailable", "network"], retryable=True, **svc)
    capture("dns_refused", "dns", lambda: resolver().resolve("private.corpus.test", "A"),
            accept=["unavailable", "configuration", "network"], retryable=None, **svc)
    capture("dns_timeout", "dns", lambda: resolver().resolve("slow.corpus.test", "A"), accept=["timeout"],
            retryable=True, **svc)
    capture("dns_async_timeout", "dns", lambda: resolver(dns.asyncresolver.Resolver).resolve("slow.corpus.test", "A"),
            accept=["timeout"], retryable=True, **svc)
    capture("dns_async_nxdomain", "dns",
            lambda: resolver(dns.asyncresolver.Resolver).resolve("partner-api.corpus.test", "A"),
            accept=["network", "configuration"], retryable=None, **svc)
    capture("dns_bad_name", "dns", lambda: resolver().resolve("a" * 70 + ".corpus.test", "A"),
            accept=["validation"], retryable=False, **mail)
    server.close()


@family("ssh")
def ssh_cases() -> None:
    import paramiko

    host_key = paramiko.RSAKey.generate(2048)  # throwaway keys, made for this run
    other_key = paramiko.RSAKey.generate(2048)

    class Server(paramiko.ServerInterface):
        def check_auth_password(self, username, password):
            return paramiko.AUTH_SUCCESSFUL if password == "corpus-ssh-pass" else paramiko.AUTH_FAILED

        def check_auth_publickey(self, username, key):
            return paramiko.AUTH_FAILED

        def get_allowed_auths(self, username):
            return "password,publickey"

        def check_channel_request(self, kind, chanid):
            return paramiko.OPEN_SUCCEEDED

        def check_channel_subsystem_request(self, channel, name):
            return super().check_channel_subsystem_request(channel, name)

    class Sftp(paramiko.SFTPServerInterface):
        def open(self, path, flags, attr):
            if "secret" in path:
                return paramiko.sftp.SFTP_PERMISSION_DENIED
            return paramiko.sftp.SFTP_NO_SUCH_FILE

        def stat(self, path):
            return paramiko.sftp.SFTP_NO_SUCH_FILE

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(host_key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, Sftp)
            try:
                transport.start_server(server=Server())
            except Exception:  # noqa: BLE001 -- a client that gave up
                pass

    threading.Thread(target=serve, daemon=True).start()
    deploy = {"service": "deploy-host", "operation": "upload_release"}

    def client(**kw):
        c = paramiko.SSHClient()
        c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        c.connect("127.0.0.1", port=port, username="deploy", look_for_keys=False, allow_agent=False, timeout=2,
                  banner_timeout=2, auth_timeout=2, **kw)
        return c

    capture("paramiko_bad_password", "ssh", lambda: client(password=DUMMY_PASSWORD), accept=["auth"],
            retryable=False, **deploy)
    capture("paramiko_bad_password_wrapped", "ssh", lambda: client(password=DUMMY_PASSWORD),
            wrap=(DeployFailed, "release 1.4.2 not uploaded"), accept=["auth"], retryable=False, **deploy)
    capture("paramiko_refused", "ssh", lambda: paramiko.SSHClient().connect("127.0.0.1", port=closed_port(),
                                                                            timeout=2),
            accept=["network"], retryable=True, **deploy)

    def unknown_host():
        c = paramiko.SSHClient()
        c.set_missing_host_key_policy(paramiko.RejectPolicy())
        c.connect("127.0.0.1", port=port, username="deploy", password="corpus-ssh-pass", look_for_keys=False,
                  allow_agent=False, timeout=2)

    capture("paramiko_unknown_host_key", "ssh", unknown_host, accept=["configuration", "auth"], retryable=False,
            **deploy)

    def changed_host_key():
        c = paramiko.SSHClient()
        c.get_host_keys().add(f"[127.0.0.1]:{port}", other_key.get_name(), other_key)
        c.connect("127.0.0.1", port=port, username="deploy", password="corpus-ssh-pass", look_for_keys=False,
                  allow_agent=False, timeout=2)

    capture("paramiko_bad_host_key", "ssh", changed_host_key, accept=["auth", "configuration"], retryable=False,
            **deploy)
    silent = Silent()
    capture("paramiko_banner_timeout", "ssh",
            lambda: paramiko.SSHClient().connect("127.0.0.1", port=silent.port, timeout=1, banner_timeout=0.5),
            accept=["timeout", "network"], retryable=True, **deploy)
    silent.close()

    def sftp(path):
        c = client(password="corpus-ssh-pass")
        try:
            c.open_sftp().open(path)
        finally:
            c.close()

    capture("sftp_no_such_file", "ssh", lambda: sftp("/releases/missing.tar.gz"), accept=["not_found"],
            retryable=False, service="partner-sftp", operation="fetch_report")
    capture("sftp_permission_denied", "ssh", lambda: sftp("/etc/secret"), accept=["auth"], retryable=False,
            service="partner-sftp", operation="fetch_report")
    listener.close()



@family("ftp")
def ftp_cases() -> None:
    import ftplib

    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    root = Path(tempfile.mkdtemp(prefix="corpus-ftp-"))
    (root / "report.csv").write_text("id\n1\n")
    authorizer = DummyAuthorizer()
    authorizer.add_user("partner", "corpus-ftp-pass", str(root), perm="elr")  # read-only
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "banner": "corpus ftp",
                                              "auth_failed_timeout": 0.1})
    logging.getLogger("pyftpdlib").setLevel("ERROR")
    server = FTPServer(("127.0.0.1", 0), handler)
    server.max_cons_per_ip = 3
    port = server.address[1]
    threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1}, daemon=True).start()
    feed = {"service": "partner-ftp", "operation": "fetch_daily_report"}

    def session(user="partner", password="corpus-ftp-pass"):
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", port, timeout=2)
        ftp.login(user, password)
        return ftp

    capture("ftp_login_incorrect", "ftp", lambda: session(password=DUMMY_PASSWORD), accept=["auth"],
            retryable=False, **feed)
    capture("ftp_login_wrapped", "ftp", lambda: session(password=DUMMY_PASSWORD),
            wrap=(SyncFailed, "daily report not fetched"), accept=["auth"], retryable=False, **feed)
    capture("ftp_missing_file", "ftp", lambda: session().retrbinary("RETR missing.csv", lambda b: None),
            accept=["not_found"], retryable=False, **feed)
    capture("ftp_missing_dir", "ftp", lambda: session().cwd("/no-such-dir"), accept=["not_found", "configuration"],
            retryable=False, **feed)
    capture("ftp_store_denied", "ftp",
            lambda: session().storbinary("STOR upload.csv", io.BytesIO(b"x")), accept=["auth"],
            retryable=False, service="partner-ftp", operation="upload_invoice")
    capture("ftp_unknown_command", "ftp", lambda: session().sendcmd("CORPUSNOSUCH"), accept=["internal", "validation"],
            retryable=False, **feed)

    def too_many():
        held = [session() for _ in range(3)]
        try:
            session()
        finally:
            for ftp in held:
                ftp.close()

    capture("ftp_too_many_connections", "ftp", too_many, accept=["unavailable", "rate_limit", "resource"],
            retryable=True, **feed)
    capture("ftp_refused", "ftp", lambda: ftplib.FTP().connect("127.0.0.1", closed_port(), timeout=2),
            accept=["network"], retryable=True, **feed)
    server.close_all()


@family("smtp")
def smtp_cases() -> None:
    import smtplib

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Handler:
        async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
            if address.startswith("blocked"):
                return "553 5.7.1 Sender address rejected"
            envelope.mail_from = address
            return "250 OK"

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
            if address.startswith("nobody"):
                return "550 5.1.1 No such user here"
            if address.startswith("full"):
                return "452 4.2.2 Mailbox full"
            if address.startswith("slow"):
                return "421 4.7.0 Try again later, closing connection"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            if b"spam" in envelope.content:
                return "554 5.7.1 Message rejected as spam"
            return "250 Message accepted"

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False)

    controller = Controller(Handler(), hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    mail = {"service": "smtp-relay", "operation": "send_receipt"}

    def send(sender="shop@corpus.test", rcpt="buyer@corpus.test", body="receipt", login=False):
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=2) as smtp:
            if login:
                smtp.login("shop", DUMMY_PASSWORD)
            smtp.sendmail(sender, [rcpt], f"Subject: x\r\n\r\n{body}\r\n")

    capture("smtp_auth_failed", "smtp", lambda: send(login=True), accept=["auth"], retryable=False, **mail)
    capture("smtp_no_such_user", "smtp", lambda: send(rcpt="nobody@corpus.test"), accept=["not_found", "validation"],
            retryable=False, **mail)
    capture("smtp_mailbox_full", "smtp", lambda: send(rcpt="full@corpus.test"), accept=["resource", "unavailable"],
            retryable=None, **mail)
    capture("smtp_sender_rejected", "smtp", lambda: send(sender="blocked@corpus.test"),
            accept=["auth", "validation", "configuration"], retryable=False, **mail)
    capture("smtp_data_rejected", "smtp", lambda: send(body="spam spam"), accept=["validation"], retryable=False,
            **mail)
    capture("smtp_try_later", "smtp", lambda: send(rcpt="slow@corpus.test"),
            accept=["unavailable", "rate_limit"], retryable=True, **mail)
    capture("smtp_refused", "smtp", lambda: smtplib.SMTP("127.0.0.1", closed_port(), timeout=2), accept=["network"],
            retryable=True, **mail)
    capture("smtp_auth_wrapped", "smtp", lambda: send(login=True), wrap=(SyncFailed, "receipt 1842 not sent"),
            accept=["auth"], retryable=False, **mail)
    controller.stop()


@family("websockets")
def websockets_cases() -> None:
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    def reject(connection, request):
        status = {"/private": 401, "/gone": 404, "/busy": 503}.get(request.path)
        if status:
            return Response(status, "rejected", Headers([("Content-Length", "0")]), b"")
        return None

    async def handler(ws):
        path = ws.request.path
        message = await ws.recv()
        if path == "/policy":
            await ws.close(1008, "token expired")
        elif path == "/crash":
            await ws.close(1011, "unexpected condition")
        elif path == "/restart":
            await ws.close(1012, "service restart")
        elif path == "/app":
            await ws.close(4403, "forbidden channel")
        elif path == "/drop":
            ws.transport.abort()
        else:
            await ws.send(message)

    feed = {"service": "price-stream", "operation": "stream_prices"}

    async def run_all():
        async with serve(handler, "127.0.0.1", 0, process_request=reject, max_size=1024) as server:
            port = server.sockets[0].getsockname()[1]

            async def talk(path, payload="subscribe"):
                async with connect(f"ws://127.0.0.1:{port}{path}", open_timeout=2, close_timeout=1) as ws:
                    await ws.send(payload)
                    await ws.recv()

            cases = [
                ("ws_close_1008_policy", "/policy", "subscribe", ["auth"], False),
                ("ws_close_1011_server_error", "/crash", "subscribe", ["unavailable"], True),
                ("ws_close_1012_restart", "/restart", "subscribe", ["unavailable"], True),
                ("ws_close_4403_app_code", "/app", "subscribe", ["auth"], False),
                ("ws_abnormal_1006", "/drop", "subscribe", ["network"], True),
                ("ws_message_too_big_1009", "/echo", "x" * 4096, ["validation", "resource"], False),
                ("ws_handshake_401", "/private", "subscribe", ["auth"], False),
                ("ws_handshake_404", "/gone", "subscribe", ["not_found", "configuration"], False),
                ("ws_handshake_503", "/busy", "subscribe", ["unavailable"], True),
            ]
            for case_id, path, payload, accept, retry in cases:
                try:
                    await talk(path, payload)
                except Exception as exc:  # noqa: BLE001
                    record(case_id, "websockets", exc, accept=accept, retryable=retry, **feed)
                else:
                    MISSED.append(f"websockets/{case_id}: did not raise")
            try:
                try:
                    await talk("/policy")
                except Exception as exc:
                    raise SyncFailed("price stream ended") from exc
            except SyncFailed as exc:
                record("ws_policy_wrapped", "websockets", exc, accept=["auth"], retryable=False, **feed)

        try:
            async with connect(f"ws://127.0.0.1:{closed_port()}/", open_timeout=2):
                pass
        except Exception as exc:  # noqa: BLE001
            record("ws_refused", "websockets", exc, accept=["network"], retryable=True, **feed)
        silent = Silent()
        try:
            async with connect(f"ws://127.0.0.1:{silent.port}/", open_timeout=0.3):
                pass
        except Exception as exc:  # noqa: BLE001
            record("ws_open_timeout", "websockets", exc, accept=["timeout"], retryable=True, **feed)
        finally:
            silent.close()
        try:
            async with connect("http://127.0.0.1/not-a-ws-uri"):
                pass
        except Exception as exc:  # noqa: BLE001
            record("ws_invalid_uri", "websockets", exc, accept=["configuration", "validation"], retryable=False,
                   **feed)

    asyncio.run(run_all())


@family("grpc")
def grpc_cases() -> None:
    from concurrent import futures

    import grpc

    aborts = {
        "Unavailable": grpc.StatusCode.UNAVAILABLE,
        "Denied": grpc.StatusCode.PERMISSION_DENIED,
        "Unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
        "NotFound": grpc.StatusCode.NOT_FOUND,
        "Invalid": grpc.StatusCode.INVALID_ARGUMENT,
        "Exhausted": grpc.StatusCode.RESOURCE_EXHAUSTED,
        "Exists": grpc.StatusCode.ALREADY_EXISTS,
        "Precondition": grpc.StatusCode.FAILED_PRECONDITION,
    }

    def behaviour(name):
        def handle(request, context):
            if name == "Slow":
                time.sleep(1)
                return b""
            if name == "Crash":
                raise RuntimeError("handler bug")
            context.abort(aborts[name], f"corpus: {name}")

        return grpc.unary_unary_rpc_method_handler(handle)

    handlers = {name: behaviour(name) for name in [*aborts, "Slow", "Crash"]}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("corpus.Inventory", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    rpc = {"service": "inventory-grpc", "operation": "reserve_stock"}

    def call(method, timeout_s=2.0, target=channel):
        return target.unary_unary(f"/corpus.Inventory/{method}")(b"", timeout=timeout_s)

    labels = {
        "Unavailable": (["unavailable"], True), "Denied": (["auth"], False), "Unauthenticated": (["auth"], False),
        "NotFound": (["not_found"], False), "Invalid": (["validation"], False),
        "Exhausted": (["rate_limit", "resource"], True), "Exists": (["conflict"], False),
        "Precondition": (["validation", "conflict"], False),
    }
    for method, (accept, retry) in labels.items():
        capture(f"grpc_{method.lower()}", "grpc", lambda m=method: call(m), accept=accept, retryable=retry, **rpc)
    capture("grpc_deadline", "grpc", lambda: call("Slow", timeout_s=0.2), accept=["timeout"], retryable=True, **rpc)
    capture("grpc_unimplemented", "grpc", lambda: call("NoSuchMethod"), accept=["configuration"], retryable=False,
            **rpc)
    capture("grpc_server_bug", "grpc", lambda: call("Crash"), accept=["unavailable"], retryable=None, **rpc)
    capture("grpc_refused", "grpc",
            lambda: call("Unavailable", timeout_s=1, target=grpc.insecure_channel(f"127.0.0.1:{closed_port()}")),
            accept=["network", "unavailable"], retryable=True, **rpc)
    capture("grpc_wrapped_denied", "grpc", lambda: call("Denied"), wrap=(SyncFailed, "stock not reserved"),
            accept=["auth"], retryable=False, **rpc)

    async def aio_not_found():
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as achannel:
            await achannel.unary_unary("/corpus.Inventory/NotFound")(b"", timeout=2)

    acapture("grpc_aio_not_found", "grpc", aio_not_found, accept=["not_found"], retryable=False, **rpc)
    channel.close()
    server.stop(0)


# =========================================================================== main


FAMILIES = [
    yaml_cases, config_cases, toml_cases, crypto_cases, jwt_cases, subprocess_cases, http_cases, amqp_cases,
    mqtt_cases, nats_cases, mysql_cases, postgres_cases, redis_cases, dns_cases, ssh_cases, ftp_cases, smtp_cases,
    websockets_cases, grpc_cases,
]


def main() -> int:
    wanted = set(sys.argv[1:])
    for run in FAMILIES:
        if not wanted or run.family in wanted:
            run()
    ids = collections.Counter(case["id"] for case in CASES)
    duplicates = [case_id for case_id, n in ids.items() if n > 1]
    if duplicates:
        print(f"duplicate ids: {duplicates}", file=sys.stderr)
        return 1
    with OUT.open("w") as out:
        for case in CASES:
            out.write(json.dumps(case, ensure_ascii=False, sort_keys=False) + "\n")
    per_family = collections.Counter(case["family"] for case in CASES)
    print(f"\n{len(CASES)} cases written to {OUT}")
    for name, n in sorted(per_family.items()):
        print(f"  {name:12} {n}")
    if MISSED:
        print("not captured:\n  " + "\n  ".join(MISSED))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
