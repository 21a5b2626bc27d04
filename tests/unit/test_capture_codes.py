"""Unit tests for the protocol codes event_from_exception captures (AMQP, MySQL, gRPC, websockets,
FTP, SMTP, NATS JetStream, DNS, subprocess exit codes, paramiko's wrapped errno).

The third-party libraries are not medic's dependencies: stand-in classes carry the same module
names, attribute names and `args` layout; py-amqp and kombu (installed with Celery) are also
tested for real.
"""

from __future__ import annotations

import errno
import ftplib
import json
import os
import smtplib
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from medic_client import event_from_exception
from workers.intake.contract import ErrorEvent


def build(exc: BaseException) -> dict:
    event = event_from_exception(exc, service="peer")
    ErrorEvent.model_validate(json.loads(json.dumps(event)))
    return event


def chained(outer: BaseException, inner: BaseException) -> BaseException:
    """outer raised `from` inner, with real tracebacks."""
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as caught:
        return caught
    raise AssertionError("unreachable")


class AppError(Exception):
    pass


# --------------------------------------------------------------------------- stand-ins


class PikaAMQPConnectionError(Exception):
    pass


class PikaConnectionClosed(PikaAMQPConnectionError):
    def __init__(self, reply_code, reply_text):
        super().__init__(int(reply_code), str(reply_text))

    @property
    def reply_code(self):
        return self.args[0]


class PikaConnectionClosedByBroker(PikaConnectionClosed):
    pass


class PikaChannelClosedByBroker(PikaConnectionClosed):
    pass


for _cls, _name in (
    (PikaAMQPConnectionError, "AMQPConnectionError"),
    (PikaConnectionClosed, "ConnectionClosed"),
    (PikaConnectionClosedByBroker, "ConnectionClosedByBroker"),
    (PikaChannelClosedByBroker, "ChannelClosedByBroker"),
):
    _cls.__module__ = "pika.exceptions"
    _cls.__qualname__ = _cls.__name__ = _name


class PyMySQLError(Exception):
    pass


class PyMySQLOperationalError(PyMySQLError):
    pass


PyMySQLError.__module__ = PyMySQLOperationalError.__module__ = "pymysql.err"
PyMySQLOperationalError.__qualname__ = "OperationalError"


class ConnectorError(Exception):
    def __init__(self, msg=None, errno=None, sqlstate=None):
        super().__init__()
        self.msg = msg
        self.errno = errno or -1
        self.sqlstate = sqlstate
        self.args = (self.errno, f"{self.errno} ({sqlstate}): {msg}", sqlstate)


class ConnectorProgrammingError(ConnectorError):
    pass


ConnectorError.__module__ = ConnectorProgrammingError.__module__ = "mysql.connector.errors"
ConnectorProgrammingError.__qualname__ = "ProgrammingError"


class StatusCode:  # like grpc.StatusCode members: .name
    def __init__(self, name):
        self.name = name


class InactiveRpcError(Exception):
    def __init__(self, status):
        super().__init__(f"<_InactiveRpcError of RPC that terminated with: status = StatusCode.{status.name}>")
        self._status = status

    def code(self):
        return self._status


InactiveRpcError.__module__ = "grpc._channel"


class Close:
    def __init__(self, code, reason=""):
        self.code = code
        self.reason = reason


class WSConnectionClosed(Exception):
    def __init__(self, rcvd, sent):
        super().__init__()
        self.rcvd = rcvd
        self.sent = sent


class WSConnectionClosedError(WSConnectionClosed):
    pass


WSConnectionClosed.__module__ = WSConnectionClosedError.__module__ = "websockets.exceptions"
WSConnectionClosed.__qualname__ = "ConnectionClosed"
WSConnectionClosedError.__qualname__ = "ConnectionClosedError"


class NatsError(Exception):
    pass


class APIError(NatsError):
    def __init__(self, code=None, description=None, err_code=None):
        super().__init__()
        self.code = code
        self.err_code = err_code
        self.description = description


class NotFoundError(APIError):
    pass


NatsError.__module__ = APIError.__module__ = NotFoundError.__module__ = "nats.js.errors"
NatsError.__qualname__ = "Error"


class DNSException(Exception):
    pass


class NXDOMAIN(DNSException):
    pass


class NoAnswer(DNSException):
    pass


DNSException.__module__ = "dns.exception"
NXDOMAIN.__module__ = NoAnswer.__module__ = "dns.resolver"


class NoValidConnectionsError(OSError):
    def __init__(self, errors):
        super().__init__(None, "Unable to connect to port 22 on 127.0.0.1")
        self.errors = errors


NoValidConnectionsError.__module__ = "paramiko.ssh_exception"


# --------------------------------------------------------------------------- AMQP


def test_pika_broker_close_is_amqp_namespaced():
    exc = PikaConnectionClosedByBroker(403, "ACCESS_REFUSED - Login was refused")
    assert build(exc)["code"] == "AMQP-403"


def test_pika_channel_close_and_connection_error_wrapping_it():
    assert build(PikaChannelClosedByBroker(406, "PRECONDITION_FAILED"))["code"] == "AMQP-406"
    wrapper = PikaAMQPConnectionError(PikaConnectionClosedByBroker(320, "CONNECTION_FORCED"))
    assert build(wrapper)["code"] == "AMQP-320"


def test_amqp_code_from_the_cause_of_an_app_error():
    exc = chained(AppError("could not publish"), PikaChannelClosedByBroker(404, "NOT_FOUND - no exchange"))
    assert build(exc)["code"] == "AMQP-404"


def test_real_py_amqp_errors():
    amqp_exceptions = pytest.importorskip("amqp.exceptions")
    assert build(amqp_exceptions.AccessRefused("ACCESS_REFUSED", reply_code=403))["code"] == "AMQP-403"
    assert build(amqp_exceptions.NotFound("NOT_FOUND - no queue 'q'"))["code"] == "AMQP-404"
    assert build(amqp_exceptions.PreconditionFailed("PRECONDITION_FAILED"))["code"] == "AMQP-406"


def test_real_kombu_wrapping_py_amqp():
    kombu_exceptions = pytest.importorskip("kombu.exceptions")
    amqp_exceptions = pytest.importorskip("amqp.exceptions")
    exc = chained(kombu_exceptions.OperationalError("lost"), amqp_exceptions.ConnectionForced("CONNECTION_FORCED"))
    assert build(exc)["code"] == "AMQP-320"


def test_amqp_reply_code_out_of_range_or_zero_is_left_out():
    class Odd(Exception):
        reply_code = 0

    assert "code" not in build(Odd("x"))


# --------------------------------------------------------------------------- MySQL


def test_pymysql_error_number_from_args():
    exc = PyMySQLOperationalError(1045, "Access denied for user 'app'@'localhost' (using password: YES)")
    event = build(exc)
    assert event["code"] == "MYSQL-1045"
    assert "errno" not in event  # a MySQL number is not an OS errno


def test_mysql_connector_number_wins_over_its_sqlstate():
    exc = ConnectorProgrammingError("Unknown database 'nope'", errno=1049, sqlstate="42000")
    assert build(exc)["code"] == "MYSQL-1049"


def test_mysql_connector_without_number_keeps_sqlstate():
    exc = ConnectorError("odd", errno=None, sqlstate="HY000")
    assert build(exc)["code"] == "HY000"


def test_mysql_args_not_a_number():
    assert "code" not in build(PyMySQLOperationalError("no number here"))


# --------------------------------------------------------------------------- gRPC


def test_grpc_status_code_name():
    assert build(InactiveRpcError(StatusCode("UNAVAILABLE")))["code"] == "UNAVAILABLE"


def test_grpc_code_method_that_raises_is_ignored():
    class Broken(InactiveRpcError):
        def code(self):
            raise RuntimeError("boom")

    Broken.__module__ = "grpc.aio"
    assert "code" not in build(Broken(StatusCode("INTERNAL")))


def test_code_method_outside_grpc_is_not_called():
    class Other(Exception):
        def code(self):
            raise AssertionError("must not be called")

    assert "code" not in build(Other())


# --------------------------------------------------------------------------- websockets


def test_websocket_received_close_code():
    exc = WSConnectionClosedError(Close(1008, "policy violation"), Close(1008, "policy violation"))
    assert build(exc)["code"] == "WS-1008"


def test_websocket_without_received_close_is_1006():
    assert build(WSConnectionClosedError(None, None))["code"] == "WS-1006"


# --------------------------------------------------------------------------- FTP, SMTP


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ftplib.error_perm("530 Login incorrect."), "FTP-530"),
        (ftplib.error_perm("550 nope.txt: No such file or directory"), "FTP-550"),
        (ftplib.error_temp("421 Too many connections"), "FTP-421"),
        (ftplib.error_reply("226-Transfer complete"), "FTP-226"),
    ],
)
def test_ftp_reply_code(exc, code):
    assert build(exc)["code"] == code


def test_ftp_without_reply_code():
    assert "code" not in build(ftplib.error_proto("garbage"))
    assert "code" not in build(ftplib.error_perm(530))


def test_smtp_codes():
    assert build(smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"))["code"] == "SMTP-535"
    assert build(smtplib.SMTPSenderRefused(553, b"sender rejected", "a@example.com"))["code"] == "SMTP-553"
    refused = smtplib.SMTPRecipientsRefused({"b@example.com": (550, b"no such user")})
    assert build(refused)["code"] == "SMTP-550"
    assert "code" not in build(smtplib.SMTPRecipientsRefused({}))


# --------------------------------------------------------------------------- NATS, DNS


def test_nats_jetstream_api_error():
    event = build(NotFoundError(code=404, description="stream not found", err_code=10059))
    assert event["code"] == "NATS-10059"
    assert event["http_status"] == 404


def test_nats_jetstream_api_error_without_codes():
    event = build(APIError())
    assert "code" not in event and "http_status" not in event


def test_dns_nxdomain_and_noanswer():
    assert build(NXDOMAIN("The DNS query name does not exist: nope.test."))["code"] == "DNS-NXDOMAIN"
    assert "code" not in build(NoAnswer("no answer"))


# --------------------------------------------------------------------------- subprocess, paramiko


def test_subprocess_exit_codes():
    assert build(subprocess.CalledProcessError(127, ["nope"]))["code"] == "EXIT-127"
    assert build(subprocess.CalledProcessError(1, "false"))["code"] == "EXIT-1"
    assert build(subprocess.CalledProcessError(-9, "sleep"))["code"] == "SIGNAL-SIGKILL"
    assert build(subprocess.CalledProcessError(-200, "x"))["code"] == "SIGNAL-200"


def test_real_subprocess_failure_keeps_its_message():
    try:
        subprocess.run(["sh", "-c", "exit 126"], check=True)
    except subprocess.CalledProcessError as exc:
        event = build(exc)
    assert event["code"] == "EXIT-126"
    assert "non-zero exit status 126" in event["message"]


def test_paramiko_no_valid_connections_takes_first_errno():
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    exc = NoValidConnectionsError({("127.0.0.1", 22): refused, ("::1", 22, 0, 0): OSError(errno.EADDRNOTAVAIL, "x")})
    assert build(exc)["errno"] == "ECONNREFUSED"


def test_wrapped_errors_that_are_not_os_errors_are_ignored():
    assert "errno" not in build(NoValidConnectionsError({("h", 22): "not an exception"}))
    assert "errno" not in build(NoValidConnectionsError({}))


# --------------------------------------------------------------------------- defensive


def test_properties_that_raise_do_not_escape():
    class Hostile(PikaConnectionClosedByBroker):
        @property
        def reply_code(self):
            raise RuntimeError("boom")

        @property
        def args(self):
            raise RuntimeError("boom")

    Hostile.__module__ = "pika.exceptions"
    event = event_from_exception(Hostile(403, "x"), service="peer")
    assert "code" not in event


def test_wrong_types_are_ignored():
    class Weird(WSConnectionClosed):
        pass

    Weird.__module__ = "websockets.legacy"
    weird = Weird(Close("1008"), None)  # not an int: treated as no received close code
    assert build(weird)["code"] == "WS-1006"
    mysql = PyMySQLOperationalError(True, "bool is not a number")
    assert "code" not in build(mysql)
    smtp = smtplib.SMTPResponseException("535", b"text code")
    assert "code" not in build(smtp)


class PikaProbableAuthenticationError(PikaAMQPConnectionError):
    pass


class AMQPConnectorSocketConnectError(Exception):
    def __init__(self, exception):
        super().__init__()
        self.exception = exception


PikaProbableAuthenticationError.__module__ = "pika.exceptions"
AMQPConnectorSocketConnectError.__module__ = "pika.adapters.utils.connection_workflow"


def test_pika_probable_errors_carry_the_close_as_text():
    text = "ConnectionClosedByBroker: (403) 'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN.'"
    assert build(PikaProbableAuthenticationError(text))["code"] == "AMQP-403"
    assert "code" not in build(PikaProbableAuthenticationError("something else (403) "))


def test_pika_refused_connection_errno_through_its_connector_error():
    inner = AMQPConnectorSocketConnectError(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
    assert build(PikaAMQPConnectionError(inner))["errno"] == "ECONNREFUSED"
    assert "errno" not in build(PikaAMQPConnectionError(AMQPConnectorSocketConnectError("not an OSError")))


class ZMQError(Exception):
    """pyzmq's shape: not an OSError, an `errno` attribute, the strerror text as its message."""

    def __init__(self, number, message=None):
        super().__init__(message if message is not None else os.strerror(number))
        self.errno = number


ZMQError.__module__ = "zmq.error"


def test_an_errno_outside_os_error_is_taken_when_the_message_is_its_strerror():
    assert build(ZMQError(errno.ENOTSOCK))["errno"] == "ENOTSOCK"


@pytest.mark.parametrize("exc", [
    ZMQError(errno.EIO, "a library's own error 5"),  # its own numbering, not the strerror
    ZMQError(156384763, "Operation cannot be accomplished in current state"),  # not an errno
    ZMQError(-2, "No such file or directory"),
])
def test_an_errno_that_may_be_a_librarys_own_number_is_left_out(exc):
    assert "errno" not in build(exc)


class MariaDBError(Exception):
    def __init__(self, message, number):
        super().__init__(message)
        self.errno = number


class InvokeResult:
    def __init__(self, exited):
        self.exited = exited


class UnexpectedExit(Exception):
    def __init__(self, result):
        super().__init__("Encountered a bad command exit code!")
        self.result = result


class ErrorReturnCode(Exception):
    def __init__(self, exit_code):
        super().__init__("RAN: /usr/bin/false")
        self.exit_code = exit_code


class ProcessExecutionError(Exception):
    def __init__(self, retcode):
        super().__init__("Unexpected exit code")
        self.retcode = retcode


MariaDBError.__module__ = "mariadb"
UnexpectedExit.__module__ = "invoke.exceptions"
ErrorReturnCode.__module__ = "sh"
ProcessExecutionError.__module__ = "plumbum.commands.processes"


def test_the_mariadb_connectors_error_number():
    assert build(MariaDBError("UPDATE command denied to user", 1142))["code"] == "MYSQL-1142"


@pytest.mark.parametrize(("exc", "code"), [
    (UnexpectedExit(InvokeResult(127)), "EXIT-127"),
    (UnexpectedExit(InvokeResult(-9)), "SIGNAL-SIGKILL"),
    (ErrorReturnCode(2), "EXIT-2"),
    (ProcessExecutionError(137), "EXIT-137"),
])
def test_process_libraries_exit_statuses(exc, code):
    assert build(exc)["code"] == code


def test_an_exit_status_outside_process_libraries_is_left_out():
    exc = Exception("done")
    exc.retcode = 3
    assert "code" not in build(exc)


# --------------------------------------------------------------------------- API error codes by convention


class SlackResponse:
    """Not a mapping: the parsed body is under .data, as slack_sdk keeps it."""

    def __init__(self, data):
        self.data = data


class SlackApiError(Exception):
    def __init__(self, message, response):
        super().__init__(message)
        self.response = response


class BodyError(Exception):
    def __init__(self, body):
        super().__init__("the API answered with an error")
        self.body = body


@pytest.mark.parametrize(("exc", "code"), [
    (SlackApiError("The request to the Slack API failed.", SlackResponse({"ok": False, "error": "not_in_channel"})),
     "not_in_channel"),
    (BodyError({"error": {"type": "insufficient_quota", "message": "You exceeded your quota"}}), "insufficient_quota"),
    (BodyError({"error": {"code": "rate_limit_exceeded", "type": "requests"}}), "rate_limit_exceeded"),
    (BodyError({"code": "PERMISSION_DENIED", "message": "no"}), "PERMISSION_DENIED"),
])
def test_an_api_error_code_is_read_from_the_parsed_body(exc, code):
    assert build(exc)["code"] == code


def test_an_error_code_attribute_is_a_code():
    exc = Exception("refused")
    exc.error_code = "ACCOUNT_LOCKED"
    assert build(exc)["code"] == "ACCOUNT_LOCKED"


@pytest.mark.parametrize("body", [
    {"error": "Something went wrong on our side, sorry"},  # a sentence, not a code
    {"error": {"message": "no code here"}},
    ["error", "not_in_channel"],
    "not_in_channel",
])
def test_what_is_not_a_code_token_is_left_out(body):
    assert "code" not in build(BodyError(body))


def test_an_own_code_attribute_wins_over_the_body():
    exc = BodyError({"error": "invalid_auth"})
    exc.code = "E401"
    assert build(exc)["code"] == "E401"


# --------------------------------------------------------------------------- the corpus

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus" / "cases.jsonl"
CATEGORIES = {"network", "timeout", "rate_limit", "unavailable", "conflict", "auth", "validation", "not_found",
              "data", "resource", "configuration", "internal", "unknown"}


def corpus_cases() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_corpus_lines_are_labelled_contract_events():
    """Shape only: every line validates and is labelled. Accuracy is the classification gate's business."""
    cases = corpus_cases()
    assert len(cases) >= 120
    ids = [case["id"] for case in cases]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for case in cases:
        assert set(case) == {"id", "family", "event", "accept", "retryable"}, case["id"]
        assert isinstance(case["family"], str) and case["family"], case["id"]
        assert case["accept"] and set(case["accept"]) <= CATEGORIES, case["id"]
        assert case["retryable"] in (True, False, None), case["id"]
        ErrorEvent.model_validate(case["event"])
        assert case["event"]["source"] == "corpus-app", case["id"]


def test_corpus_covers_every_family_with_five_cases():
    per_family = Counter(case["family"] for case in corpus_cases())
    expected = {"amqp", "mqtt", "nats", "yaml", "config", "toml", "crypto", "jwt", "dns", "ssh", "ftp", "websockets",
                "subprocess", "mysql", "grpc", "smtp", "http", "postgres", "redis"}
    assert set(per_family) == expected
    assert min(per_family.values()) >= 5, per_family


def test_corpus_events_carry_the_namespaced_codes():
    codes = {case["event"].get("code") for case in corpus_cases()}
    for prefix in ("AMQP-", "MYSQL-", "WS-", "FTP-", "SMTP-", "NATS-", "DNS-", "EXIT-", "SIGNAL-"):
        assert any(isinstance(code, str) and code.startswith(prefix) for code in codes), prefix
