"""What CLI commands share: settings, a checked database, parsing of times."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import click
from sqlalchemy.orm import Session

from config.errors import ConfigError
from config.settings import Settings, get_settings, legacy_data_dir_warning, unknown_variable_warnings
from workers.clock import utcnow
from workers.storage import migrate
from workers.storage.db import guarded_session, session_factory

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
limit_option = click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000),
                            help="At most this many rows.")


# Set once settings() has looked for a database at the old default data dir: it warns once per process.
_legacy_checked = False
# Set once settings() has looked for MEDIC_* variables that are no setting: it warns once per process.
_environment_checked = False


def settings() -> Settings:
    """The process's settings; the first call also warns of each MEDIC_* variable that is no setting
    (before loading them, so the warning comes even when they are invalid) and of a database left at
    the old default data dir."""
    global _legacy_checked, _environment_checked
    if not _environment_checked:
        _environment_checked = True
        for unknown in unknown_variable_warnings():  # ignored by the settings: the command goes on
            click.echo(f"medic: warning: {unknown}", err=True)
    current = get_settings()
    if not _legacy_checked:
        _legacy_checked = True
        warning = legacy_data_dir_warning(current)
        if warning:  # the command goes on, with the data dir in use
            click.echo(f"medic: warning: {warning}", err=True)
    return current


@contextmanager
def database() -> Iterator[Session]:
    """A session on an up-to-date database, or a clear error naming what to do."""
    url = settings().database_url
    with guarded_session(session_factory(url)) as session:
        _require_current_schema(url)
        yield session


def require_database() -> None:
    """Fail now, naming what to do, unless the database is reachable and up to date."""
    with database():
        pass


def _require_current_schema(url: str) -> None:
    current, head = migrate.current_revision(url), migrate.head_revision(url)
    if current != head:
        raise ConfigError(f"the database is at schema revision {current or 'none'}, medic needs {head}: "
                          f"run `medic db upgrade` (MEDIC_DATABASE_URL={mask_url(url)})")


def mask_url(url: str) -> str:
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def parse_since(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """'30m', '2h', '7d' ago, or an ISO-8601 time."""
    if value is None:
        return None
    now = now or utcnow()
    match = _DURATION.match(value.strip())
    if match:
        return now - timedelta(seconds=int(match[1]) * _UNIT_S[match[2]])
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: use a duration like 30m, 2h, 7d or an ISO-8601 time",
                                 param_hint="--since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
