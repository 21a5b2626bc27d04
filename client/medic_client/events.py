"""A `medic.report` event built from a live exception: `event_from_exception`. Standard library only.

The event is a plain JSON-serialisable dict in the public contract (schema version 1, docs/contract.md).

Everything that inspects the exception is defensive: third-party exception objects may have
properties that raise, responses that are not what they look like, or cause chains with
cycles; none of that makes `event_from_exception` raise.  Only caller mistakes in the
options (no service, wrong option types) raise.
"""

from __future__ import annotations

import errno as _errno
import math
import os
import re
import signal
import socket
import traceback as _traceback
import urllib.error
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

__all__ = [
    "QUEUE",
    "SCHEMA_VERSION",
    "TASK_NAME",
    "event_from_exception",
    "qualified_name",
]

TASK_NAME = "medic.report"
QUEUE = "medic.errors"
SCHEMA_VERSION = 1

_MAX_CAUSES = 32  # contract: causes max_length
_MAX_MRO = 64  # contract: error_mro max_length
_NAME_MAX = 256  # contract: Name max_length
_CODE_MAX = 128
_ERRNO_MAX = 64
_ORIG_DEPTH = 8  # how deep to follow `.orig` (SQLAlchemy wrapping a DBAPI error)
_JSON_DEPTH = 32


# --------------------------------------------------------------------------- helpers


def _get(obj: Any, name: str) -> Any:
    """getattr(obj, name, None), but nothing an attribute does can escape."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _is(obj: Any, cls: type | tuple[type, ...]) -> bool:
    """isinstance by the real type (never consults a faked `__class__`), never raises."""
    try:
        return issubclass(type(obj), cls)
    except Exception:
        return False


def _item(obj: Any, key: str) -> Any:
    """obj[key] for mappings, else None; never raises."""
    if not _is(obj, Mapping):
        return None
    try:
        return obj[key]
    except Exception:
        return None


def _plain_int(value: Any) -> int | None:
    """value as a plain int if it is an int (not a bool), else None."""
    if value is None or _is(value, bool) or not _is(value, int):
        return None
    try:
        number = int.__int__(value)
    except Exception:
        return None
    return number if type(number) is int else None


def _clip(value: Any, limit: int) -> str | None:
    """A stripped, length-capped copy of a str; None for non-str or blank."""
    if not _is(value, str):
        return None
    try:
        text = str.strip(value)
    except Exception:
        return None
    return text[:limit] or None


def _safe_str(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        return f"<unprintable {_type_name(exc)} object>"
    return text if type(text) is str else str.__str__(text)


def _type_name(exc: BaseException) -> str:
    return (_clip(qualified_name(type(exc)), _NAME_MAX)) or "BaseException"


# --------------------------------------------------------------------------- names


def qualified_name(cls: type) -> str:
    """Return the qualified name of a class: ``module.QualName``, bare for builtins.

    ``requests.exceptions.ConnectTimeout`` -> ``"requests.exceptions.ConnectTimeout"``;
    ``KeyError`` -> ``"KeyError"``; a class nested in a function keeps its ``<locals>``
    path (``pkg.mod.func.<locals>.Error``).  Never raises; an object without usable
    ``__module__``/``__qualname__`` falls back to ``__name__`` and then to ``repr``.
    """
    qualname = _get(cls, "__qualname__")
    if not _is(qualname, str) or not qualname:
        qualname = _get(cls, "__name__")
    if not _is(qualname, str) or not qualname:
        try:
            qualname = repr(cls)
        except Exception:
            qualname = "<unknown>"
    qualname = str.__str__(qualname)
    module = _get(cls, "__module__")
    if not _is(module, str) or not module or module == "builtins":
        return qualname
    return f"{str.__str__(module)}.{qualname}"


def _mro_names(exc: BaseException) -> list[str]:
    try:
        bases = type(exc).__mro__[1:]
    except Exception:
        return []
    names: list[str] = []
    for base in bases:
        if base is object:
            continue
        name = _clip(qualified_name(base), _NAME_MAX)
        if name:
            names.append(name)
        if len(names) >= _MAX_MRO:
            break
    return names


# --------------------------------------------------------------------------- cause chain


def _next_in_chain(exc: BaseException) -> BaseException | None:
    """What the traceback module would print above exc: __cause__, else __context__.

    An exception group (a TaskGroup's, a Trio nursery's) says only how many failed: its first
    member is what happened, so it comes next, before the group's own context."""
    cause = _get(exc, "__cause__")
    if cause is not None:
        return cause if _is(cause, BaseException) else None
    if _is(exc, BaseExceptionGroup):
        members = _get(exc, "exceptions")
        first = members[0] if isinstance(members, tuple) and members else None
        if _is(first, BaseException):
            return first
    try:
        suppressed = bool(_get(exc, "__suppress_context__"))
    except Exception:
        suppressed = False
    if suppressed:
        return None
    context = _get(exc, "__context__")
    return context if _is(context, BaseException) else None


def _cause_chain(exc: BaseException) -> list[BaseException]:
    """The exceptions behind exc, direct cause first; cycle-safe, at most 32."""
    chain: list[BaseException] = []
    seen = {id(exc)}
    current = exc
    while len(chain) < _MAX_CAUSES:
        nxt = _next_in_chain(current)
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(nxt))
        chain.append(nxt)
        current = nxt
    return chain


# --------------------------------------------------------------------------- extraction


def _http_status(value: Any) -> int | None:
    number = _plain_int(value)
    return number if number is not None and 100 <= number <= 599 else None


def _own_http_status(exc: BaseException) -> int | None:
    response = _get(exc, "response")
    if response is not None:  # never `if response:` -- requests.Response is falsy on 4xx/5xx
        status = _http_status(_get(response, "status_code"))  # requests, httpx
        if status is not None:
            return status
    for attr in ("status_code", "status"):  # generic, aiohttp
        status = _http_status(_get(exc, attr))
        if status is not None:
            return status
    if _is(exc, urllib.error.HTTPError) or "nats.js.errors.APIError" in _class_names(exc):
        # urllib's HTTPError.code; NATS JetStream API errors carry an HTTP-style status in .code
        status = _http_status(_get(exc, "code"))
        if status is not None:
            return status
    # botocore ClientError: response is a dict
    return _http_status(_item(_item(response, "ResponseMetadata"), "HTTPStatusCode"))


_EAI_NAMES: dict[int, str] | None = None


def _eai_names() -> dict[int, str]:
    global _EAI_NAMES
    if _EAI_NAMES is None:
        names: dict[int, str] = {}
        candidates = sorted(n for n in dir(socket) if n.startswith("EAI_"))
        if "EAI_NONAME" in candidates:  # the common one wins if a platform aliases values
            candidates.insert(0, "EAI_NONAME")
        for name in candidates:
            value = getattr(socket, name, None)
            if type(value) is int:
                names.setdefault(value, name)
        _EAI_NAMES = names
    return _EAI_NAMES


def _first_wrapped_errno(exc: BaseException) -> Any:
    """paramiko `NoValidConnectionsError.errors` ({address: OSError}): the first error's errno."""
    errors = _get(exc, "errors")
    if not _is(errors, Mapping):
        return None
    try:
        wrapped = next(iter(errors.values()), None)
    except Exception:
        return None
    return _get(wrapped, "errno") if _is(wrapped, OSError) else None


def _pika_wrapped_os_error(exc: BaseException) -> BaseException | None:
    """pika's AMQPConnectionError(AMQPConnectorSocketConnectError(...)): the OSError inside."""
    if not _is(exc, Exception) or not _from_modules(_class_names(exc), ("pika",)):
        return None
    inner = _get(_arg0(exc), "exception")
    return inner if _is(inner, OSError) else None


def _strerror_errno(exc: BaseException) -> str | None:
    """An errno carried by a class that is not an OSError (pyzmq's ZMQError): taken only when the
    message is that errno's own strerror text, so a library's private numbering is not misread."""
    number = _plain_int(_get(exc, "errno"))
    if number is None or number <= 0 or number not in _errno.errorcode:
        return None
    return _errno.errorcode[number] if os.strerror(number) in _safe_str(exc) else None


def _own_errno(exc: BaseException) -> str | int | None:
    if not _is(exc, OSError):
        inner = _pika_wrapped_os_error(exc)
        if inner is None:
            return _strerror_errno(exc)
        exc = inner
    raw = _get(exc, "errno")
    if raw is None:
        raw = _first_wrapped_errno(exc)
    number = _plain_int(raw)
    if number is None:
        return _clip(raw, _ERRNO_MAX)  # some libraries already store a name
    if _is(exc, socket.gaierror) or number < 0:
        # getaddrinfo errors use the EAI_* number space (negative on Linux).
        return _eai_names().get(number, number)
    return _errno.errorcode.get(number, number)


# --------------------------------------------------------------------------- protocol codes
# Codes of protocols whose numbers collide with each other (AMQP 403, HTTP 403, FTP 530,
# SMTP 535, errno 13, MySQL 1045...) are namespaced "<PROTOCOL>-<number>" so that a rule's
# glob (case-sensitive) says which protocol it means: 'AMQP-403', 'MYSQL-1045', 'FTP-5??'.

_MYSQL_MODULES = ("pymysql", "MySQLdb", "mysql.connector", "mariadb", "asyncmy", "aiomysql")
_PIKA_CLOSE = re.compile(r"Connection[A-Za-z]*Closed[A-Za-z]*: \(([0-9]{3})\) ")
_FTP_REPLY = re.compile(r"([1-6][0-9][0-9])(?:[ -]|$)")


def _class_names(exc: BaseException) -> list[str]:
    """Qualified names of exc's class and its bases (nearest first); never raises."""
    try:
        classes = type(exc).__mro__
    except Exception:
        return []
    return [qualified_name(cls) for cls in classes if cls is not object]


def _from_modules(names: list[str], prefixes: tuple[str, ...]) -> bool:
    """Whether one of these class names (exc's class and bases) is in one of these packages."""
    return any(name.startswith(prefix + ".") for name in names for prefix in prefixes)


def _arg0(exc: BaseException) -> Any:
    args = _get(exc, "args")
    if not _is(args, tuple) or not args:
        return None
    return tuple.__getitem__(args, 0)


def _amqp_code(exc: BaseException, names: list[str]) -> str | None:
    """py-amqp/kombu `AMQPError.reply_code`, pika `ConnectionClosed`/`ChannelClosed` `.reply_code`."""
    number = _plain_int(_get(exc, "reply_code"))
    if number is None and _from_modules(names, ("pika",)):
        # pika's AMQPConnectionError wraps the broker's close as an exception, and its
        # ProbableAuthenticationError / ProbableAccessDeniedError as the text of one.
        inner = _arg0(exc)
        if _is(inner, BaseException):
            number = _plain_int(_get(inner, "reply_code"))
        else:
            text = _clip(inner, _CODE_MAX)
            match = _PIKA_CLOSE.match(text) if text else None
            number = int(match.group(1)) if match else None
    return f"AMQP-{number}" if number is not None and 100 <= number <= 999 else None


def _mysql_code(exc: BaseException, names: list[str]) -> str | None:
    """mysql-connector / mariadb `.errno`, PyMySQL/mysqlclient `args[0]`: the MySQL/MariaDB error number."""
    if not _from_modules(names, _MYSQL_MODULES):
        return None
    number = _plain_int(_get(exc, "errno"))
    if number is None or number <= 0:
        number = _plain_int(_arg0(exc))
    return f"MYSQL-{number}" if number is not None and number > 0 else None


def _grpc_code(exc: BaseException, names: list[str]) -> str | None:
    """grpc `RpcError.code()` (a StatusCode) as its name, e.g. "UNAVAILABLE"."""
    if not _from_modules(names, ("grpc",)):
        return None
    method = _get(exc, "code")
    if not callable(method):
        return None
    try:
        status = method()
    except Exception:
        return None
    return _clip(_get(status, "name"), _CODE_MAX)


def _websocket_code(exc: BaseException, names: list[str]) -> str | None:
    """websockets `ConnectionClosed`: the received close code, 1006 when none was received."""
    if not _from_modules(names, ("websockets",)) or not any(
        name.endswith("ConnectionClosed") for name in names
    ):
        return None
    number = _plain_int(_get(_get(exc, "rcvd"), "code"))
    return f"WS-{number if number is not None else 1006}"


def _ftp_code(exc: BaseException, names: list[str]) -> str | None:
    """ftplib `error_reply`/`error_temp`/`error_perm`: the reply code that starts the message."""
    if "ftplib.Error" not in names:
        return None
    text = _clip(_arg0(exc), _CODE_MAX)
    match = _FTP_REPLY.match(text) if text else None
    return f"FTP-{match.group(1)}" if match else None


def _smtp_code(exc: BaseException, names: list[str]) -> str | None:
    """smtplib `SMTPResponseException.smtp_code`; `SMTPRecipientsRefused`: the first recipient's."""
    number = None
    if "smtplib.SMTPResponseException" in names:
        number = _plain_int(_get(exc, "smtp_code"))
    elif "smtplib.SMTPRecipientsRefused" in names:
        recipients = _get(exc, "recipients")
        try:
            first = next(iter(dict.values(recipients))) if _is(recipients, dict) and recipients else None
        except Exception:
            first = None
        number = _plain_int(tuple.__getitem__(first, 0)) if _is(first, tuple) and first else None
    return f"SMTP-{number}" if number is not None else None


def _nats_code(exc: BaseException, names: list[str]) -> str | None:
    """nats-py JetStream `APIError.err_code` (10059 "stream not found"...)."""
    if "nats.js.errors.APIError" not in names:
        return None
    number = _plain_int(_get(exc, "err_code"))
    return f"NATS-{number}" if number is not None else None


def _dns_code(exc: BaseException, names: list[str]) -> str | None:
    """dnspython NXDOMAIN / YXDOMAIN: the rcode they stand for."""
    for rcode in ("NXDOMAIN", "YXDOMAIN"):
        if f"dns.resolver.{rcode}" in names:
            return f"DNS-{rcode}"
    return None


def _process_status(exc: BaseException, names: list[str]) -> Any:
    """The exit status a process library keeps: subprocess `returncode`, invoke/fabric
    `result.exited`, sh `exit_code`, plumbum `retcode`."""
    if "subprocess.CalledProcessError" in names:
        return _get(exc, "returncode")
    if _from_modules(names, ("invoke", "fabric")):
        return _get(_get(exc, "result"), "exited")
    if _from_modules(names, ("sh",)):
        return _get(exc, "exit_code")
    if _from_modules(names, ("plumbum",)):
        return _get(exc, "retcode")
    return None


def _exit_code(exc: BaseException, names: list[str]) -> str | None:
    """A process's exit status: "EXIT-127", or "SIGNAL-SIGKILL" when negative (killed by a signal)."""
    number = _plain_int(_process_status(exc, names))
    if number is None:
        return None
    if number >= 0:
        return f"EXIT-{number}"
    try:
        return f"SIGNAL-{signal.Signals(-number).name}"
    except ValueError:
        return f"SIGNAL-{-number}"


_PROTOCOL_CODES = (
    _amqp_code,
    _mysql_code,
    _grpc_code,
    _websocket_code,
    _ftp_code,
    _smtp_code,
    _nats_code,
    _dns_code,
    _exit_code,
)


def _own_protocol_code(exc: BaseException) -> str | None:
    names = _class_names(exc)
    for extract in _PROTOCOL_CODES:
        try:
            code = extract(exc, names)
        except Exception:
            code = None
        if code:
            return code[:_CODE_MAX]
    return None


def _own_specific_code(exc: BaseException) -> str | None:
    code = _own_protocol_code(exc)  # before sqlstate: MySQL's error number says more than its SQLSTATE
    if code:
        return code
    for attr in ("sqlstate", "pgcode"):  # psycopg 3, psycopg2
        code = _clip(_get(exc, attr), _CODE_MAX)
        if code:
            return code
    # botocore ClientError
    return _clip(_item(_item(_get(exc, "response"), "Error"), "Code"), _CODE_MAX)


# An API's error code by convention, where an SDK keeps the parsed body: Slack's {"error":
# "not_in_channel"} under response.data, {"error": {"code"|"type": ...}} or {"code": ...} under
# .body. Only a token is a code; a sentence under "error" is not.
_CODE_ATTRIBUTES = ("error_code", "errcode", "err_code")
_CODE_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{1,63}")


def _code_token(value: Any) -> str | None:
    text = _clip(value, _CODE_MAX)
    return text if text is not None and _CODE_TOKEN.fullmatch(text) else None


def _body_code(body: Any) -> str | None:
    error = _item(body, "error")
    code = _code_token(error) or _code_token(_item(error, "code")) or _code_token(_item(error, "type"))
    return code or _code_token(_item(body, "code"))


def _own_generic_code(exc: BaseException) -> str | None:
    if _is(exc, SystemExit):  # SystemExit.code is an exit status or a message
        return None
    code = _clip(_get(exc, "code"), _CODE_MAX)
    for attr in _CODE_ATTRIBUTES:
        code = code or _code_token(_get(exc, attr))
    return code or _body_code(_get(_get(exc, "response"), "data")) or _body_code(_get(exc, "body"))


def _no_late(exc: BaseException) -> None:
    return None


def _lookup(exc: BaseException, own, late=_no_late, depth: int = 0) -> Any:
    """own(exc), else the same lookup on exc.orig (recursively), else late(exc).

    `late` holds sources weaker than the wrapped DBAPI error: SQLAlchemy errors carry a
    generic `.code` (a docs link id such as "e3q8") that must not hide the SQLSTATE.
    """
    value = own(exc)
    if value is not None:
        return value
    orig = _get(exc, "orig")
    if orig is not None and orig is not exc and depth < _ORIG_DEPTH and _is(orig, BaseException):
        value = _lookup(orig, own, late, depth + 1)
        if value is not None:
            return value
    return late(exc)


def _first_found(exceptions: list[BaseException], own, late=_no_late) -> Any:
    for exc in exceptions:
        try:
            value = _lookup(exc, own, late)
        except Exception:
            value = None
        if value is not None:
            return value
    return None


def _format_traceback(exc: BaseException, error_type: str, message: str) -> str:
    try:
        return "".join(_traceback.format_exception(exc))
    except Exception:
        pass
    # e.g. a chain attribute that raises: at least this exception's own frames
    last = f"{error_type}: {message}\n" if message else f"{error_type}\n"
    try:
        tb = _get(exc, "__traceback__")
        if tb is None:
            return last
        return "Traceback (most recent call last):\n" + "".join(_traceback.format_tb(tb)) + last
    except Exception:
        return last


# --------------------------------------------------------------------------- options


def _jsonable(value: Any, depth: int = 0, path: frozenset[int] = frozenset()) -> Any:
    """A copy of value made only of dict/list/str/int/float/bool/None."""
    if value is None or type(value) in (str, bool, int):
        return value
    if _is(value, bool):
        return bool(value)
    if _is(value, int):
        number = _plain_int(value)
        return number if number is not None else _fallback_text(value)
    if _is(value, float):
        real = float(value)
        return real if math.isfinite(real) else str(real)
    if _is(value, str):
        return str.__str__(value)
    if _is(value, (datetime, date)):
        try:
            return value.isoformat()
        except Exception:
            return _fallback_text(value)
    if _is(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if depth >= _JSON_DEPTH or id(value) in path:
        return _fallback_text(value)
    if _is(value, Mapping):
        inner = path | {id(value)}
        try:
            items = list(value.items())
        except Exception:
            return _fallback_text(value)
        out: dict[str, Any] = {}
        for key, item in items:
            key_text = key if type(key) is str else str(_jsonable(key, depth + 1, inner))
            out[key_text] = _jsonable(item, depth + 1, inner)
        return out
    if _is(value, (list, tuple, set, frozenset)):
        inner = path | {id(value)}
        try:
            items = list(value)
        except Exception:
            return _fallback_text(value)
        return [_jsonable(item, depth + 1, inner) for item in items]
    return _fallback_text(value)


def _fallback_text(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {qualified_name(type(value))} object>"


def _optional_name(option: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{option} must be a str or None, not {type(value).__name__}")
    return _clip(value, _NAME_MAX)


def _optional_dict(option: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"{option} must be a dict or None, not {type(value).__name__}")
    return _jsonable(value) or None


def _timestamp(value: datetime | None) -> str:
    if value is None:
        value = datetime.now(UTC)
    elif not isinstance(value, datetime):
        raise TypeError(f"occurred_at must be a datetime or None, not {type(value).__name__}")
    elif value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    else:
        value = value.astimezone(UTC)
    return value.isoformat()


# --------------------------------------------------------------------------- public API


def event_from_exception(
    exc: BaseException,
    *,
    service: str,
    operation: str | None = None,
    source: str | None = None,
    context: dict | None = None,
    replay: dict | None = None,
    fallback: dict | None = None,
    idempotency_key: str | None = None,
    include_traceback: bool = True,
    occurred_at: datetime | None = None,
) -> dict:
    """Build a `medic.report` event (a JSON-serialisable dict, schema version 1) for exc.

    Options (keyword-only):
      service -- required: the dependency that failed, what was being called (1..256
        characters): ``"partner-api"``, ``"orders-db"``. medic keys circuit breakers on it; the
        application reporting is ``source``.
      operation, source -- optional names (what was being done; the reporting application);
        stripped and cut to 256 characters.
      context -- free-form details; copied into plain JSON types (unknown objects become
        their str(), non-finite floats become text, datetimes ISO-8601).
      replay, fallback -- target dicts (``{"kind": "celery" | "http" | "action", ...}``),
        copied as JSON; medic validates them on intake.
      idempotency_key -- the same key twice is one occurrence (1..256 characters).
      include_traceback -- False leaves out the formatted traceback.
      occurred_at -- when it happened; default now.  Naive datetimes are taken as UTC;
        sent as ISO-8601 UTC text.

    The event carries error_type (qualified class name), message (``str(exc)``, may be
    ""), error_mro (base classes nearest first, without the class itself and ``object``),
    causes (the ``__cause__``/``__context__`` chain as the traceback module follows it,
    direct cause first, cycle-safe, at most 32), traceback (the whole chain, formatted),
    and -- from exc, else from the first exception in its chain that has one, looking
    through SQLAlchemy-style ``.orig`` wrappers -- http_status (``response.status_code``,
    ``status_code``, ``status``, urllib ``HTTPError.code``, botocore
    ``ResponseMetadata.HTTPStatusCode``; ints 100..599 only), errno (``OSError.errno`` as
    its name, e.g. ``"ECONNREFUSED"``, ``EAI_*`` names for ``socket.gaierror``, the int when
    unknown; paramiko ``NoValidConnectionsError``: its first wrapped error's; pika
    ``AMQPConnectionError``: the OSError its connector error wraps) and code.

    code is, first match wins: a protocol's code, namespaced ``<PROTOCOL>-<number>`` because
    the numbers collide (AMQP 403, HTTP 403, errno 13, MySQL 1045): ``"AMQP-403"`` (py-amqp,
    kombu, pika ``reply_code``; pika's ``Probable*Error`` text
    ``"ConnectionClosedByBroker: (403) ..."``), ``"MYSQL-1045"`` (PyMySQL/mysqlclient ``args[0]``,
    mysql-connector ``errno``; preferred to MySQL's coarse SQLSTATE), ``"WS-1008"`` (websockets
    ``ConnectionClosed``: the received close code, ``"WS-1006"`` when none was received),
    ``"FTP-530"`` (ftplib, the reply code that starts the message), ``"SMTP-535"`` (smtplib
    ``smtp_code``; the first refused recipient's), ``"NATS-10059"`` (nats-py JetStream
    ``err_code``; its ``code`` goes to http_status), ``"DNS-NXDOMAIN"`` / ``"DNS-YXDOMAIN"``
    (dnspython), ``"EXIT-127"`` / ``"SIGNAL-SIGKILL"`` (subprocess ``CalledProcessError``,
    negative return codes are signals); gRPC ``RpcError.code()`` as the bare status name
    (``"UNAVAILABLE"``); then psycopg ``sqlstate``, psycopg2 ``pgcode``, botocore
    ``Error.Code``, else a non-empty str ``.code``.  Keys whose value would be None or
    empty are left out.

    Inspecting exc never raises, whatever its attributes do; bad options raise TypeError
    or ValueError.
    """
    if not isinstance(exc, BaseException):
        raise TypeError(f"exc must be an exception instance, not {type(exc).__name__}")
    if not isinstance(service, str):
        raise TypeError(f"service must be a str, not {type(service).__name__}")
    service_name = service.strip()
    if not 1 <= len(service_name) <= _NAME_MAX:
        raise ValueError(f"service must be 1..{_NAME_MAX} characters after stripping")
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str):
            raise TypeError(
                f"idempotency_key must be a str or None, not {type(idempotency_key).__name__}"
            )
        if len(idempotency_key) > _NAME_MAX:
            raise ValueError(f"idempotency_key must be at most {_NAME_MAX} characters")

    error_type = _type_name(exc)
    message = _safe_str(exc)
    chain = _cause_chain(exc)
    everything = [exc, *chain]

    event: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "error_type": error_type,
        "message": message,
        "service": service_name,
        "error_mro": _mro_names(exc),
        "operation": _optional_name("operation", operation),
        "source": _optional_name("source", source),
        "http_status": _first_found(everything, _own_http_status),
        "errno": _first_found(everything, _own_errno),
        "code": _first_found(everything, _own_specific_code, _own_generic_code),
        "causes": [{"error_type": _type_name(c), "message": _safe_str(c)} for c in chain],
        "traceback": _format_traceback(exc, error_type, message) if include_traceback else None,
        "context": _optional_dict("context", context),
        "occurred_at": _timestamp(occurred_at),
        "idempotency_key": idempotency_key or None,
        "replay": _optional_dict("replay", replay),
        "fallback": _optional_dict("fallback", fallback),
    }
    return {
        key: value
        for key, value in event.items()
        if key == "message" or (value is not None and value != "" and value != [] and value != {})
    }
