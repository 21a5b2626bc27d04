"""An application's database as a declarative check sees it: reached through the URL in an
environment variable, queried read-only to detect, changed one row per transaction to fix.

The operator's SQL is used as written; values only ever travel as bound parameters.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from config.jobs.reconcile import CheckSettings
from workers.masking import mask_text

CONNECT_TIMEOUT_S = 10
# Names medic adds around the operator's detect query.
DETECTED = "reconcile_detected"
LIMIT_PARAM = "reconcile_limit"
KEY_PARAM = "reconcile_key"


class CheckFailed(Exception):
    """The check cannot run (no URL, bad SQL, database unreachable); the message says why."""


def connect(check: CheckSettings) -> Engine:
    """An engine without a pool for this check's database, from the variable it names (read now, never stored)."""
    variable = check.database_url_env
    raw = os.environ.get(variable)
    if not raw:
        raise CheckFailed(f"environment variable {variable} (database_url_env) is not set")
    try:
        url = make_url(raw)
    except ArgumentError:
        raise CheckFailed(f"environment variable {variable} does not hold a database URL") from None
    if url.drivername == "postgresql":  # the driver medic installs
        url = url.set(drivername="postgresql+psycopg")
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.get_backend_name() == "postgresql" else {}
    try:
        return create_engine(url, poolclass=NullPool, connect_args=connect_args)
    except (NoSuchModuleError, ImportError) as exc:
        raise CheckFailed(f"{url.render_as_string(hide_password=True)} (from {variable}): no driver: {exc}") from None


def detect(engine: Engine, check: CheckSettings) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and the first max_rows + 1 rows of `detect`, in a read-only transaction."""
    limited = text(f"SELECT * FROM ({check.detect}) AS {DETECTED} LIMIT :{LIMIT_PARAM}")
    with engine.connect() as connection:  # closed without commit: rolled back
        _read_only(connection)
        _statement_timeout(connection, check)
        result = connection.execute(limited, {LIMIT_PARAM: check.max_rows + 1})
        return list(result.keys()), [dict(row) for row in result.mappings()]


def fix_parameters(check: CheckSettings, columns: list[str]) -> list[set[str]]:
    """Each fix statement's bound names, all of them columns `detect` returns."""
    names = [set(text(statement).compile().params) for statement in check.fix or []]
    missing = sorted(set().union(*names) - set(columns))
    if missing:
        raise CheckFailed(f"fix uses {', '.join(':' + name for name in missing)}, which detect does not return "
                          f"(it returns {', '.join(columns)})")
    return names


def fix(engine: Engine, check: CheckSettings, row: dict[str, Any],
        parameters: list[set[str]]) -> tuple[list[int], dict | None]:
    """Run the fix for one row in one transaction, then detect that row again: still there, it is rolled
    back. Returns the rows each statement affected and the row as still detected (None: fixed)."""
    key = engine.dialect.identifier_preparer.quote(check.key)
    recheck = text(f"SELECT * FROM ({check.detect}) AS {DETECTED} WHERE {DETECTED}.{key} = :{KEY_PARAM}")
    with engine.connect() as connection:
        _statement_timeout(connection, check)
        affected = [connection.execute(text(statement), {name: row[name] for name in names}).rowcount
                    for statement, names in zip(check.fix or [], parameters, strict=True)]
        still = connection.execute(recheck, {KEY_PARAM: row[check.key]}).mappings().first()
        if still is None:
            connection.commit()
            return affected, None
        connection.rollback()
        return affected, dict(still)


def describe(exc: SQLAlchemyError) -> str:
    """The driver's first line (`syntax error at or near ...`), masked: no SQL echo, no parameters."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return mask_text(f"{type(cause).__name__}: {lines[0] if lines else ''}".rstrip(": "))


def _read_only(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET TRANSACTION READ ONLY"))
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA query_only = ON")


def _statement_timeout(connection: Connection, check: CheckSettings) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT set_config('statement_timeout', :ms, true)"),
                           {"ms": str(int(check.timeout_s * 1000))})
