"""Talking to PostgreSQL's client tools and server: connection parameters from a URL, the password
in PGPASSWORD (never in argv, where `ps` shows it), tool failures as BackupError with secrets masked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from config.errors import ConfigError
from workers.maintenance.backup.errors import BackupError
from workers.masking import mask_text

CONNECT_TIMEOUT_S = 10
STDERR_TAIL_CHARS = 2000
MAINTENANCE_DATABASE = "postgres"  # where CREATE/DROP DATABASE connect when the target may not exist


def _parameters(url: str) -> tuple[dict[str, Any], str | None]:
    """libpq connection parameters of a SQLAlchemy URL, and the password apart."""
    parsed = make_url(url)
    params: dict[str, Any] = {"host": parsed.host, "port": parsed.port, "user": parsed.username,
                              "dbname": parsed.database}
    params.update({key: value[-1] if isinstance(value, tuple) else value for key, value in parsed.query.items()})
    password = params.pop("password", None) or parsed.password
    return {key: value for key, value in params.items() if value is not None}, password


def database_name(url: str) -> str:
    name = make_url(url).database
    if not name:
        raise BackupError(f"{make_url(url).render_as_string(hide_password=True)} names no database")
    return name


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def tool_path(tool: str, bin_dir: Path | None) -> str:
    found = shutil.which(tool, path=str(bin_dir) if bin_dir else None)
    if found is None:
        where = f"in {bin_dir}" if bin_dir else "on PATH"
        raise ConfigError(f"{tool} not found {where}: "
                          "install the PostgreSQL client tools or set MEDIC_BACKUP__PG_BIN_DIR")
    return found


def run(tool: str, args: list[str], *, bin_dir: Path | None, url: str | None = None) -> str:
    """Run a client tool (pg_dump, pg_restore) against `url`; its stdout, or BackupError with its stderr."""
    argv, env = [tool_path(tool, bin_dir), *args], dict(os.environ)
    if url is not None:
        params, password = _parameters(url)
        argv += ["--no-password", f"--dbname={make_conninfo(**params, connect_timeout=CONNECT_TIMEOUT_S)}"]
        if password:
            env["PGPASSWORD"] = password
    completed = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if completed.returncode != 0:
        tail = completed.stderr.strip()[-STDERR_TAIL_CHARS:]
        raise BackupError(f"{tool} failed (exit {completed.returncode}): {mask_text(tail) or 'no message'}")
    return completed.stdout


@contextmanager
def server(url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the maintenance database of the server `url` points at."""
    params, password = _parameters(url)
    params["dbname"] = MAINTENANCE_DATABASE
    try:
        conn = psycopg.connect(make_conninfo(**params), password=password, autocommit=True,
                               connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise BackupError(f"cannot connect to the PostgreSQL server of {make_url(url).render_as_string()}: "
                          f"{mask_text(str(exc))}") from None
    with conn:
        yield conn


def database_exists(url: str) -> bool:
    with server(url) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database_name(url),)).fetchone()
        return found is not None


def create_database(url: str) -> None:
    with server(url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database_name(url))))


def drop_database(url: str) -> None:
    with server(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database_name(url))))
