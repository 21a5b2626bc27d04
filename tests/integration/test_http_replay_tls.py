"""A pinned HTTPS replay: the TCP connection goes to the checked address, TLS (SNI and the
certificate check) stays with the URL's name."""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from config.settings import load_settings
from workers.intake.contract import HttpTarget
from workers.recovery import pinned_transport
from workers.recovery.http_replay import replay_http

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    """A CA, and a certificate it signed for partner.test (and nothing else)."""
    d = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=medic test CA",
             "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"),
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=partner.test",
             "-keyout", str(d / "leaf.key"), "-out", str(d / "leaf.csr"))
    (d / "ext.cnf").write_text("subjectAltName=DNS:partner.test\n")
    _openssl("x509", "-req", "-in", str(d / "leaf.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
             "-CAcreateserial", "-days", "1", "-out", str(d / "leaf.pem"), "-extfile", str(d / "ext.cnf"))
    return d


class _Hello(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = f"sni ok, host {self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def tls_server(certificates) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / "leaf.pem", certificates / "leaf.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def trust_test_ca(certificates, monkeypatch):
    context = ssl.create_default_context(cafile=str(certificates / "ca.pem"))
    monkeypatch.setattr(pinned_transport, "_ssl_context", lambda: context)


def replay(url: str, port: int):
    settings = load_settings(replay_http={"allow": [f"https://partner.test:{port}", f"https://other.test:{port}",
                                                    f"https://127.0.0.1:{port}"]})
    return replay_http(HttpTarget(kind="http", url=url), idempotency_key="k", now=lambda: datetime.now(UTC),
                       settings=settings, resolve=lambda host, port: [ipaddress.ip_address("127.0.0.1")])


def test_a_pinned_https_replay_verifies_the_certificate_of_the_name(tls_server, trust_test_ca):
    result = replay(f"https://partner.test:{tls_server}/x", tls_server)
    assert result.outcome == "success", result.error
    assert result.detail["body_preview"] == f"sni ok, host partner.test:{tls_server}"


@pytest.mark.parametrize("host", ["other.test", "127.0.0.1"])
def test_a_certificate_for_another_name_is_refused_though_the_address_is_the_same(tls_server, trust_test_ca, host):
    result = replay(f"https://{host}:{tls_server}/x", tls_server)
    assert result.outcome == "retryable" and "CERTIFICATE_VERIFY_FAILED" in result.error
