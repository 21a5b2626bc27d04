"""workers.notify.deliver against real local servers: an HTTP server for webhooks, aiosmtpd for email."""

from __future__ import annotations

import json
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from aiosmtpd.controller import Controller

from config.channels import EmailChannel, SlackChannel, WebhookChannel
from workers.notify import DeliveryFailed, Message, as_json, as_slack, as_text, deliver

pytestmark = pytest.mark.integration

TOKEN_PATH = "/hooks/T0001/B0002/xoxSecretToken123"
MESSAGE = Message("Group 12 needs a human", "error", "escalate",
                  {"group": 12, "service": "github", "message": "[Errno 111] Connection refused", "attempts": 5},
                  group_id=12, execution_id=34)


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- HTTP server


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay_s: float = 0.0


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class HookServer:
    """Records every POST and answers with `reply`."""

    def __init__(self):
        self.requests: list[Request] = []
        self.reply = Reply()
        self.released = threading.Event()  # ends a delayed reply early at teardown
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        # A short poll keeps shutdown() quick.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, path: str = TOKEN_PATH) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                reply = server.reply
                if reply.delay_s:
                    server.released.wait(reply.delay_s)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def hook() -> Iterator[HookServer]:
    server = HookServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.httpd.shutdown()
        server.httpd.server_close()


def webhook(url: str, **kw) -> WebhookChannel:
    return WebhookChannel(type="webhook", url=url, **kw)


def failure(channel_name: str, channel, **kw) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        deliver(channel_name, channel, MESSAGE, **kw)
    return caught.value


def assert_secret_free(error: DeliveryFailed) -> None:
    assert "xoxSecretToken123" not in str(error) and TOKEN_PATH not in str(error)


# --------------------------------------------------------------------------- webhook, Slack


def test_webhook_posts_the_json_body_with_configured_headers(hook):
    channel = webhook(hook.url(), headers={"Authorization": "Bearer abc123", "X-Tenant": "acme"})
    deliver("ops-hook", channel, MESSAGE)
    [request] = hook.requests
    assert request.path == TOKEN_PATH
    assert request.headers["authorization"] == "Bearer abc123" and request.headers["x-tenant"] == "acme"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == as_json(MESSAGE)


def test_slack_posts_the_slack_payload(hook):
    deliver("slack", SlackChannel(type="slack", url=hook.url()), MESSAGE)
    [request] = hook.requests
    payload = request.json()
    assert payload == as_slack(MESSAGE)
    assert payload["text"].startswith(":x: *[ERROR]* Group 12") and payload["blocks"][0]["type"] == "header"


def test_a_shared_client_is_used_and_left_open(hook):
    with httpx.Client() as client:
        deliver("hook", webhook(hook.url()), MESSAGE, http=client)
        deliver("slack", SlackChannel(type="slack", url=hook.url()), MESSAGE, http=client)
        assert not client.is_closed
    assert len(hook.requests) == 2


@pytest.mark.parametrize(("status", "permanent"), [
    (500, False), (502, False), (503, False), (408, False), (429, False),
    (400, True), (401, True), (403, True), (404, True), (410, True), (301, True),
])
def test_http_errors(hook, status, permanent):
    hook.reply = Reply(status, body=b"invalid_token")
    error = failure("ops-hook", webhook(hook.url()))
    assert error.permanent is permanent and error.retry_after_s is None
    assert f"HTTP {status}" in str(error) and "'ops-hook'" in str(error) and "invalid_token" in str(error)
    assert_secret_free(error)


def test_retry_after_is_reported(hook):
    hook.reply = Reply(429, headers={"Retry-After": "7"}, body=b"rate_limited")
    error = failure("slack", SlackChannel(type="slack", url=hook.url()))
    assert error.retry_after_s == 7 and not error.permanent


def test_a_body_that_echoes_the_url_is_masked(hook):
    hook.reply = Reply(404, body=f"no route for POST {TOKEN_PATH} at {hook.url()}".encode())
    error = failure("hook", webhook(hook.url()))
    assert str(error) == "channel 'hook': HTTP 404 Not Found: no route for POST *** at ***"
    assert_secret_free(error)


def test_connection_refused(hook):
    url = f"http://127.0.0.1:{free_port()}{TOKEN_PATH}"
    error = failure("ops-hook", webhook(url))
    assert not error.permanent and "ConnectError" in str(error) and "'ops-hook'" in str(error)
    assert_secret_free(error)
    assert url not in str(error)
    assert error.__cause__ is None and error.__suppress_context__


def test_timeout(hook):
    hook.reply = Reply(delay_s=5)
    started = time.monotonic()
    error = failure("ops-hook", webhook(hook.url(), timeout_s=0.3))
    assert time.monotonic() - started < 1.5
    assert not error.permanent and "0.3s" in str(error) and "Timeout" in str(error)
    assert_secret_free(error)


# --------------------------------------------------------------------------- email


class Mailbox:
    """An aiosmtpd handler: keeps what it accepts, or answers every DATA with `data_reply`."""

    def __init__(self, data_reply: str = "250 OK"):
        self.envelopes = []
        self.data_reply = data_reply

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply.startswith("250"):
            self.envelopes.append(envelope)
        return self.data_reply


class RefusingRecipients(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 no"


@pytest.fixture
def smtp_server() -> Iterator[Callable[[Mailbox], int]]:
    controllers = []

    def start(handler: Mailbox) -> int:
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        controllers.append(controller)
        return controller.port

    yield start
    for controller in controllers:
        controller.stop()


def email(port: int, *, security: str = "none", **kw) -> EmailChannel:
    return EmailChannel(type="email", host="127.0.0.1", port=port, from_addr="medic@example.com",
                        to_addrs=["ops@example.com", "dev@example.com"], security=security, timeout_s=2, **kw)


def test_email_is_sent(smtp_server):
    mailbox = Mailbox()
    deliver("mail", email(smtp_server(mailbox)), MESSAGE)
    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "medic@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "dev@example.com"]
    received = message_from_bytes(envelope.content, policy=policy.default)
    assert received["Subject"] == "[medic error] Group 12 needs a human"
    assert received["To"] == "ops@example.com, dev@example.com"
    assert received.get_content().replace("\r\n", "\n").strip() == as_text(MESSAGE)


@pytest.mark.parametrize(("handler", "permanent", "code"), [
    (Mailbox("550 no"), True, "550"), (Mailbox("451 try later"), False, "451"), (RefusingRecipients(), True, "550"),
])
def test_email_refused(smtp_server, handler, permanent, code):
    error = failure("mail", email(smtp_server(handler)))
    assert error.permanent is permanent and code in str(error) and "'mail'" in str(error)


def test_email_server_down():
    error = failure("mail", email(free_port()))
    assert not error.permanent and "ConnectionRefusedError" in str(error)


class FakeSmtp:
    """Records the conversation an SMTP client would have; for the TLS and login paths."""

    def __init__(self, login_error: Exception | None = None):
        self.calls: list[tuple] = []
        self.login_error = login_error

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.calls.append(("quit",))

    def starttls(self, context=None):
        self.calls.append(("starttls",))

    def login(self, user, password):
        self.calls.append(("login", user, password))
        if self.login_error:
            raise self.login_error

    def send_message(self, msg, from_addr=None, to_addrs=None):
        self.calls.append(("send", msg["Subject"], from_addr, tuple(to_addrs)))
        return {}


def test_email_starttls_then_login_then_send():
    fake = FakeSmtp()
    channel = email(587, security="starttls", username="medic", password="hunter2")
    deliver("mail", channel, MESSAGE, smtp_factory=lambda config: fake)
    assert fake.calls == [("starttls",), ("login", "medic", "hunter2"),
                          ("send", "[medic error] Group 12 needs a human", "medic@example.com",
                           ("ops@example.com", "dev@example.com")), ("quit",)]


def test_email_bad_login_is_permanent_and_hides_the_password():
    fake = FakeSmtp(smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials for medic/hunter2"))
    channel = email(587, username="medic", password="hunter2")
    with pytest.raises(DeliveryFailed) as caught:
        deliver("mail", channel, MESSAGE, smtp_factory=lambda config: fake)
    assert caught.value.permanent and "535" in str(caught.value) and "hunter2" not in str(caught.value)
