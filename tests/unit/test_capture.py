"""Unit tests for medic_client.events and medic_client.sending (exception -> medic.report event, sent)."""

from __future__ import annotations

import json
import socket
import urllib.error
from datetime import UTC, datetime, timedelta, timezone

import pytest

from medic_client import event_from_exception, qualified_name, report_exception, sending
from medic_client import events as capture
from workers.intake.contract import ErrorEvent

MODULE = __name__


def validated(event: dict) -> ErrorEvent:
    """Every event must survive a JSON round trip and validate against the contract."""
    return ErrorEvent.model_validate(json.loads(json.dumps(event)))


def build(exc: BaseException, **options) -> dict:
    options.setdefault("service", "billing")
    event = event_from_exception(exc, **options)
    validated(event)
    return event


def caught(fn):
    """Run fn, return what it raised (with a real traceback)."""
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("fn did not raise")


# --------------------------------------------------------------------------- fakes


class AppError(Exception):
    pass


class SyncFailed(AppError):
    pass


class FakeResponse:
    def __init__(self, status_code):
        self.status_code = status_code

    def __bool__(self):  # like requests.Response: falsy for 4xx/5xx
        return self.status_code < 400


class FakeRequestsError(OSError):  # requests.RequestException derives from IOError
    def __init__(self, message, response=None):
        super().__init__(message)
        self.response = response


class FakeHttpxStatusError(Exception):
    def __init__(self, message, response):
        super().__init__(message)
        self.response = response


class FakeAiohttpError(Exception):
    def __init__(self, status):
        super().__init__(f"{status}, message='boom'")
        self.status = status


class StatusCodeError(Exception):
    def __init__(self, status_code):
        super().__init__("status_code error")
        self.status_code = status_code


class FakePsycopgError(Exception):  # psycopg 3
    def __init__(self, message, sqlstate):
        super().__init__(message)
        self.sqlstate = sqlstate


class FakePsycopg2Error(Exception):
    def __init__(self, message, pgcode):
        super().__init__(message)
        self.pgcode = pgcode


class FakeClientError(Exception):  # botocore.exceptions.ClientError
    def __init__(self, response, operation_name):
        code = response["Error"]["Code"]
        super().__init__(f"An error occurred ({code}) when calling the {operation_name} operation")
        self.response = response
        self.operation_name = operation_name


class FakeDBAPIError(Exception):  # sqlalchemy.exc.DBAPIError
    code = "e3q8"  # SQLAlchemy's docs link id: must not hide the SQLSTATE of .orig

    def __init__(self, statement, orig):
        super().__init__(f"({type(orig).__name__}) {orig}")
        self.statement = statement
        self.orig = orig


class CodedError(Exception):
    def __init__(self, code):
        super().__init__("coded")
        self.code = code


def boto_response(code="ThrottlingException", status=400):
    return {
        "Error": {"Code": code, "Message": "Rate exceeded"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "abc"},
    }


# --------------------------------------------------------------------------- names


def test_qualified_name_builtin_is_bare():
    assert qualified_name(KeyError) == "KeyError"
    assert qualified_name(BaseException) == "BaseException"


def test_qualified_name_module_qualified():
    assert qualified_name(AppError) == f"{MODULE}.AppError"
    assert qualified_name(urllib.error.HTTPError) == "urllib.error.HTTPError"
    assert qualified_name(socket.gaierror) == "socket.gaierror"


def test_qualified_name_nested_class():
    class Local(Exception):
        class Inner(Exception):
            pass

    assert qualified_name(Local.Inner) == (
        f"{MODULE}.test_qualified_name_nested_class.<locals>.Local.Inner"
    )


def test_error_type_and_message():
    event = build(caught(lambda: {}["missing"]))
    assert event["error_type"] == "KeyError"
    assert event["message"] == "'missing'"
    assert event["service"] == "billing"
    assert event["schema_version"] == 1


def test_empty_message_kept():
    event = build(AppError())
    assert event["message"] == ""
    assert event["error_type"] == f"{MODULE}.AppError"


def test_mro_order_and_content():
    event = build(SyncFailed("x"))
    assert event["error_mro"] == [f"{MODULE}.AppError", "Exception", "BaseException"]
    event = build(ConnectionRefusedError(111, "refused"))
    assert event["error_mro"] == ["ConnectionError", "OSError", "Exception", "BaseException"]


def test_mro_of_base_exception_is_omitted():
    event = build(BaseException("raw"))
    assert "error_mro" not in event


def test_mro_multiple_inheritance():
    class Mixin:
        pass

    class Both(Mixin, ValueError):
        pass

    event = build(Both())
    mixin = f"{MODULE}.test_mro_multiple_inheritance.<locals>.Mixin"
    assert event["error_mro"] == [mixin, "ValueError", "Exception", "BaseException"]


# --------------------------------------------------------------------------- chain


def _explicit_chain():
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as inner:
            raise AppError("db down") from inner
    except AppError as middle:
        raise SyncFailed("sync of order 7 failed") from middle


def test_explicit_cause_chain_outermost_first():
    exc = caught(_explicit_chain)
    event = build(exc)
    assert event["error_type"] == f"{MODULE}.SyncFailed"
    assert event["causes"] == [
        {"error_type": f"{MODULE}.AppError", "message": "db down"},
        {"error_type": "ConnectionRefusedError", "message": "[Errno 111] Connection refused"},
    ]


def test_implicit_context_followed():
    def fn():
        try:
            {}["k"]
        except KeyError:
            raise ValueError("while handling")  # noqa: B904 (the implicit context is the point)

    event = build(caught(fn))
    assert event["causes"] == [{"error_type": "KeyError", "message": "'k'"}]


def test_cause_preferred_over_context():
    def fn():
        try:
            raise KeyError("context")
        except KeyError:
            raise ValueError("outer") from TypeError("cause")

    event = build(caught(fn))
    assert [c["error_type"] for c in event["causes"]] == ["TypeError"]


def test_from_none_suppresses_context():
    def fn():
        try:
            raise KeyError("hidden")
        except KeyError:
            raise ValueError("clean") from None

    event = build(caught(fn))
    assert "causes" not in event
    assert "hidden" not in event["traceback"]


def test_cycle_is_safe():
    a = ValueError("a")
    b = TypeError("b")
    a.__cause__ = b
    b.__cause__ = a
    event = build(a)
    assert event["causes"] == [{"error_type": "TypeError", "message": "b"}]


def test_self_cycle_is_safe():
    a = ValueError("a")
    a.__context__ = a
    event = build(a)
    assert "causes" not in event


def test_chain_limited_to_32():
    exc = ValueError("e0")
    head = exc
    for i in range(1, 50):
        nxt = ValueError(f"e{i}")
        head.__cause__ = nxt
        head = nxt
    event = build(exc)
    assert len(event["causes"]) == 32
    assert event["causes"][0]["message"] == "e1"
    assert event["causes"][-1]["message"] == "e32"


# --------------------------------------------------------------------------- traceback


def test_traceback_has_whole_chain():
    event = build(caught(_explicit_chain))
    tb = event["traceback"]
    assert tb.startswith("Traceback (most recent call last):")
    for text in ("Connection refused", "db down", "sync of order 7 failed", "_explicit_chain"):
        assert text in tb
    assert "The above exception was the direct cause" in tb
    # innermost printed first, like the interpreter does
    assert tb.index("Connection refused") < tb.index("sync of order 7 failed")


def test_traceback_optional():
    event = build(caught(_explicit_chain), include_traceback=False)
    assert "traceback" not in event


def test_traceback_for_unraised_exception():
    event = build(ValueError("never raised"))
    assert event["traceback"] == "ValueError: never raised\n"


# --------------------------------------------------------------------------- http_status


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (FakeRequestsError("404 Client Error", response=FakeResponse(404)), 404),
        (FakeHttpxStatusError("Server error '503'", FakeResponse(503)), 503),
        (StatusCodeError(429), 429),
        (FakeAiohttpError(502), 502),
        (urllib.error.HTTPError("http://x/y", 404, "Not Found", hdrs=None, fp=None), 404),
        (FakeClientError(boto_response(status=400), "PutItem"), 400),
    ],
    ids=["requests", "httpx", "status_code", "aiohttp", "urllib", "botocore"],
)
def test_http_status_sources(exc, status):
    assert build(exc)["http_status"] == status


def test_falsy_response_still_read():
    # requests.Response.__bool__ is False for errors; extraction must not use truthiness
    exc = FakeRequestsError("500", response=FakeResponse(500))
    assert not exc.response
    assert build(exc)["http_status"] == 500


@pytest.mark.parametrize("bad", [True, 99, 600, "404", 404.0, None])
def test_http_status_rejects_non_status(bad):
    event = build(StatusCodeError(bad))
    assert "http_status" not in event


def test_requests_error_without_response():
    event = build(FakeRequestsError("connection aborted", response=None))
    assert "http_status" not in event


def test_http_status_int_subclass_is_plain_int():
    from http import HTTPStatus

    event = build(FakeAiohttpError(HTTPStatus.TOO_MANY_REQUESTS))
    assert event["http_status"] == 429
    assert type(event["http_status"]) is int


def test_urllib_code_needs_httperror():
    # a plain int .code on another exception is not an HTTP status (and not a str code)
    event = build(CodedError(404))
    assert "http_status" not in event
    assert "code" not in event


def test_http_status_from_cause_chain():
    def fn():
        try:
            raise FakeHttpxStatusError("Client error '429'", FakeResponse(429))
        except FakeHttpxStatusError as err:
            raise SyncFailed("push failed") from err

    event = build(caught(fn))
    assert event["http_status"] == 429


def test_outer_value_wins_over_chain():
    def fn():
        try:
            raise StatusCodeError(503)
        except StatusCodeError as err:
            raise StatusCodeError(429) from err

    assert build(caught(fn))["http_status"] == 429


# --------------------------------------------------------------------------- errno


def test_errno_name():
    event = build(ConnectionRefusedError(111, "Connection refused"))
    assert event["errno"] == "ECONNREFUSED"


def test_errno_from_real_oserror():
    exc = caught(lambda: open("/nonexistent/medic/capture/test", encoding="utf-8"))
    assert build(exc)["errno"] == "ENOENT"


def test_errno_unknown_kept_as_int():
    assert build(OSError(99999, "strange"))["errno"] == 99999


def test_errno_absent():
    event = build(OSError("no errno"))
    assert "errno" not in event
    event = build(ValueError("x"))
    assert "errno" not in event


def test_errno_only_from_oserror():
    class MySQLishError(Exception):
        errno = 1213  # a server error number, not an OS errno

    assert "errno" not in build(MySQLishError("Deadlock found"))


def test_gaierror_negative_errno():
    exc = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert build(exc)["errno"] == "EAI_NONAME"


def test_gaierror_unknown_value_kept():
    assert build(socket.gaierror(-12345, "odd"))["errno"] == -12345


def test_errno_from_cause_chain():
    def fn():
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except OSError:
            raise AppError("lost connection")  # noqa: B904 (the implicit context is the point)

    assert build(caught(fn))["errno"] == "ECONNRESET"


# --------------------------------------------------------------------------- code


def test_code_psycopg3():
    event = build(FakePsycopgError("deadlock detected", "40P01"))
    assert event["code"] == "40P01"


def test_code_psycopg2():
    assert build(FakePsycopg2Error("could not serialize access", "40001"))["code"] == "40001"


def test_code_botocore():
    event = build(FakeClientError(boto_response("ThrottlingException", 400), "PutItem"))
    assert event["code"] == "ThrottlingException"
    assert event["http_status"] == 400


def test_code_sqlalchemy_orig_beats_wrapper_code():
    orig = FakePsycopgError("deadlock detected", "40P01")
    event = build(FakeDBAPIError("UPDATE t SET x=1", orig))
    assert event["code"] == "40P01"


def test_sqlalchemy_orig_all_fields():
    class OrigWithAll(OSError):
        sqlstate = "08006"
        status = 503

    orig = OrigWithAll(111, "refused")
    wrapper = FakeDBAPIError("SELECT 1", orig)  # .orig only; no __cause__ set
    event = build(wrapper)
    assert event["code"] == "08006"
    assert event["errno"] == "ECONNREFUSED"
    assert event["http_status"] == 503
    assert "causes" not in event


def test_sqlalchemy_wrapper_code_used_when_orig_has_none():
    event = build(FakeDBAPIError("SELECT 1", ValueError("bad")))
    assert event["code"] == "e3q8"


def test_orig_self_reference_is_safe():
    exc = FakeDBAPIError("SELECT 1", ValueError("x"))
    exc.orig = exc
    assert build(exc)["code"] == "e3q8"


def test_orig_loop_is_safe():
    a = FakeDBAPIError("SELECT 1", ValueError("x"))
    b = FakeDBAPIError("SELECT 2", a)
    a.orig = b
    assert build(a)["code"] == "e3q8"


def test_generic_str_code():
    assert build(CodedError("E_QUOTA"))["code"] == "E_QUOTA"


@pytest.mark.parametrize("bad", ["", "   ", 42, None, b"bytes"])
def test_generic_code_ignored_when_not_nonempty_str(bad):
    assert "code" not in build(CodedError(bad))


def test_code_capped_to_contract_length():
    event = build(CodedError("X" * 500))
    assert event["code"] == "X" * 128


def test_system_exit_code_not_used():
    assert "code" not in build(SystemExit("fatal: config missing"))


def test_code_from_cause_chain():
    def fn():
        try:
            raise FakePsycopgError("deadlock detected", "40P01")
        except FakePsycopgError as err:
            raise SyncFailed("sync failed") from err

    event = build(caught(fn))
    assert event["code"] == "40P01"
    assert event["causes"][0]["error_type"] == f"{MODULE}.FakePsycopgError"


# --------------------------------------------------------------------------- hostile


class Hostile(Exception):
    """Every interesting attribute raises."""

    def __getattribute__(self, name):
        if name in {
            "response", "status_code", "status", "code", "errno", "sqlstate", "pgcode",
            "orig", "__cause__", "__context__", "__suppress_context__",
        }:
            raise RuntimeError(f"no {name} for you")
        return super().__getattribute__(name)

    def __str__(self):
        raise RuntimeError("no str either")


def test_hostile_attributes_never_raise():
    def raise_hostile():
        raise Hostile()

    event = build(caught(raise_hostile))
    assert event["error_type"] == f"{MODULE}.Hostile"
    assert event["message"] == f"<unprintable {MODULE}.Hostile object>"
    for key in ("http_status", "errno", "code", "causes"):
        assert key not in event
    assert event["traceback"].startswith("Traceback (most recent call last):")
    assert "in raise_hostile" in event["traceback"]
    assert event["traceback"].endswith(f"{MODULE}.Hostile: <unprintable {MODULE}.Hostile object>\n")


def test_hostile_in_cause_chain():
    outer = AppError("outer")
    outer.__cause__ = Hostile()
    event = build(outer)
    assert event["causes"][0]["error_type"] == f"{MODULE}.Hostile"
    assert "traceback" in event


class WeirdResponse:
    def __getattr__(self, name):
        raise KeyError(name)  # not AttributeError: defeats getattr's default

    def __getitem__(self, key):
        raise RuntimeError("nope")


class WeirdMapping(dict):
    def __getitem__(self, key):
        raise RuntimeError("nope")


@pytest.mark.parametrize(
    "response",
    [
        WeirdResponse(),
        WeirdMapping(Error={"Code": "X"}),
        "a string",
        ["list"],
        {"Error": "not a dict", "ResponseMetadata": None},
        {"Error": {"Code": 12}, "ResponseMetadata": {"HTTPStatusCode": "400"}},
        FakeResponse("200"),
    ],
    ids=["getattr-raises", "getitem-raises", "str", "list", "wrong-shape", "wrong-types",
         "str-status"],
)
def test_weird_response_objects(response):
    exc = FakeHttpxStatusError("weird", response)
    event = build(exc)
    assert "http_status" not in event
    assert "code" not in event


class FakeClass(Exception):
    @property
    def __class__(self):
        raise RuntimeError("lying about class")


def test_faked_class_attribute():
    event = build(FakeClass("x"))
    assert event["error_type"] == f"{MODULE}.FakeClass"


class NonExceptionCause(Exception):
    @property
    def __cause__(self):
        return "not an exception"


def test_non_exception_cause_ignored():
    event = build(NonExceptionCause("x"))
    assert "causes" not in event


def test_hostile_str_returns_str_subclass():
    class S(str):
        pass

    class E(Exception):
        def __str__(self):
            return S("sub")

    event = build(E())
    assert event["message"] == "sub"
    assert type(event["message"]) is str


# --------------------------------------------------------------------------- options


def test_all_options_and_validation():
    replay = {"kind": "celery", "task": "billing.sync", "args": [7], "queue": "billing"}
    fallback = {"kind": "http", "method": "post", "url": "https://x.test/hook"}
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = build(
        caught(_explicit_chain),
        service="  billing  ",
        operation="sync_order",
        source="worker-3",
        context={"order_id": 7, "at": when, "ids": (1, 2), "obj": object, "nan": float("nan")},
        replay=replay,
        fallback=fallback,
        idempotency_key="order-7-sync",
        occurred_at=when,
    )
    model = validated(event)
    assert event["service"] == "billing"
    assert event["operation"] == "sync_order"
    assert event["source"] == "worker-3"
    assert event["context"]["order_id"] == 7
    assert event["context"]["at"] == "2025-01-02T03:04:05+00:00"
    assert event["context"]["ids"] == [1, 2]
    assert event["context"]["obj"] == str(object)
    assert event["context"]["nan"] == "nan"
    assert event["replay"] == replay and event["replay"] is not replay
    assert event["fallback"] == fallback
    assert event["idempotency_key"] == "order-7-sync"
    assert event["occurred_at"] == "2025-01-02T03:04:05+00:00"
    assert model.occurred_at == when
    assert model.replay.task == "billing.sync"


def test_none_and_empty_options_omitted():
    event = build(ValueError("x"), operation="", source=None, context={}, replay=None,
                  fallback={}, idempotency_key="", include_traceback=False)
    assert set(event) == {"schema_version", "error_type", "message", "service", "error_mro",
                          "occurred_at"}


def test_occurred_at_default_is_now_utc():
    before = datetime.now(UTC)
    event = build(ValueError("x"))
    after = datetime.now(UTC)
    stamp = datetime.fromisoformat(event["occurred_at"])
    assert stamp.utcoffset() == timedelta(0)
    assert before <= stamp <= after


def test_occurred_at_naive_is_utc_and_aware_converted():
    naive = datetime(2025, 5, 6, 7, 8, 9)
    assert build(ValueError(), occurred_at=naive)["occurred_at"] == "2025-05-06T07:08:09+00:00"
    plus2 = datetime(2025, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert build(ValueError(), occurred_at=plus2)["occurred_at"] == "2025-05-06T07:08:09+00:00"


def test_context_cycles_and_odd_keys():
    ctx: dict = {1: "int key", None: "none key"}
    ctx["self"] = ctx
    event = build(ValueError(), context=ctx)
    assert event["context"]["1"] == "int key"
    assert event["context"]["None"] == "none key"
    assert isinstance(event["context"]["self"], str)


def test_long_names_capped():
    event = build(ValueError(), operation="o" * 300, source="s" * 300)
    assert event["operation"] == "o" * 256
    assert event["source"] == "s" * 256


@pytest.mark.parametrize("service", ["", "   "])
def test_service_required(service):
    with pytest.raises(ValueError):
        event_from_exception(ValueError(), service=service)


def test_bad_option_types_raise():
    with pytest.raises(TypeError):
        event_from_exception(ValueError(), service=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        event_from_exception("not an exception", service="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        event_from_exception(ValueError(), service="x", context=["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        event_from_exception(
            ValueError(), service="x", occurred_at="2025-01-01"  # type: ignore[arg-type]
        )
    with pytest.raises(ValueError):
        event_from_exception(ValueError(), service="x", idempotency_key="k" * 257)


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        event_from_exception(ValueError(), "billing")  # type: ignore[misc]


# --------------------------------------------------------------------------- report_exception


class RecordingApp:
    def __init__(self):
        self.calls = []

    def send_task(self, name, args=None, kwargs=None, **options):
        self.calls.append((name, args, kwargs, options))

        class Result:
            id = "task-123"

        return Result()


def test_report_exception_sends_event():
    app = RecordingApp()
    exc = caught(_explicit_chain)
    task_id = report_exception(app, exc, service="billing", operation="sync_order")
    assert task_id == "task-123"
    assert len(app.calls) == 1
    name, args, kwargs, options = app.calls[0]
    assert name == "medic.report" == capture.TASK_NAME
    assert options == {"queue": "medic.errors", "kwargsrepr": "{}",  # Flower shows a masked summary
                       "argsrepr": 'service=billing error_type=tests.unit.test_capture.SyncFailed '
                                   'operation=sync_order message="sync of order 7 failed"',
                       "retry": True, "retry_policy": sending.PUBLISH_RETRY_POLICY}  # bounded: twice
    assert kwargs is None
    (event,) = args
    model = validated(event)
    assert model.service == "billing"
    assert model.operation == "sync_order"
    assert model.error_type == f"{MODULE}.SyncFailed"
    assert model.errno == "ECONNREFUSED"


def test_report_exception_bad_options_send_nothing():
    app = RecordingApp()
    with pytest.raises(TypeError):
        report_exception(app, ValueError())  # no service
    with pytest.raises(ValueError):
        report_exception(app, ValueError(), service="")
    assert app.calls == []


def test_report_exception_with_real_celery_app(monkeypatch):
    """A real Celery app: the event goes through send_task unchanged (no broker needed)."""
    from celery import Celery

    app = Celery("client", broker="memory://")
    sent = {}

    def fake_send_task(name, args=None, kwargs=None, **options):
        sent.update(name=name, args=args, options=options)

        class Result:
            id = "abc"

        return Result()

    monkeypatch.setattr(app, "send_task", fake_send_task)
    assert report_exception(app, KeyError("k"), service="shop") == "abc"
    assert sent["name"] == "medic.report"
    assert sent["options"]["queue"] == "medic.errors"
    assert validated(sent["args"][0]).error_type == "KeyError"


# --------------------------------------------------------------------------- real libraries


def test_real_psycopg_and_sqlalchemy_if_installed():
    errors = pytest.importorskip("psycopg.errors")
    sa_exc = pytest.importorskip("sqlalchemy.exc")
    orig = errors.DeadlockDetected("deadlock detected")
    wrapper = sa_exc.OperationalError("UPDATE t SET x = 1", {}, orig)
    assert wrapper.code == "e3q8"
    event = build(wrapper)
    assert event["code"] == "40P01"
    assert event["error_type"] == "sqlalchemy.exc.OperationalError"
    assert "sqlalchemy.exc.DBAPIError" in event["error_mro"]
