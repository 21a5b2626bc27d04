"""Finding an archive: a registered name, or a file by path (registered or not), with its registry row;
and the gate it must pass (its registration, this medic's signing key, the operator's --trust-unsigned)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from config.errors import NotFound, StorageUnavailable
from config.settings import Settings
from workers.maintenance.backup import catalog, keyfile, sqlite, tables
from workers.maintenance.backup.trust import Gate
from workers.storage.db import guarded_session, session_factory
from workers.storage.models import Backup


@dataclass(frozen=True)
class Source:
    path: Path
    row: Backup | None  # its registry row, when registered
    unregistered_because: str | None = None  # why the registry could not say, when it could not

    @property
    def registration_problem(self) -> str | None:
        if self.row is not None:
            return None
        because = f" ({self.unregistered_because})" if self.unregistered_because else ""
        return f"is not registered in medic's backups table{because}"


def locate(name_or_path: str, settings: Settings) -> Source:
    """A registered archive by name, or an archive file by path (registered or not)."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return _registered_at(path.resolve(), settings)
    with guarded_session(session_factory(settings.database_url)) as session:
        try:
            row = catalog.get(session, name_or_path)
        except NotFound:
            raise NotFound(f"no backup named {name_or_path!r} and no such file: "
                           "`medic backup list` shows them") from None
    return Source(Path(row.path), row)


def _registered_at(path: Path, settings: Settings) -> Source:
    url = settings.database_url
    if tables.database_kind(url) == tables.SQLITE and not sqlite.database_path(url).exists():
        return Source(path, None, "medic's database does not exist")  # looking would create an empty file
    try:
        with guarded_session(session_factory(url)) as session:
            return Source(path, catalog.by_path(session, path))
    except (SQLAlchemyError, StorageUnavailable) as exc:  # the live database may be what is broken
        return Source(path, None, f"the table cannot be read: {type(exc).__name__}")


def gate(source: Source, settings: Settings, *, trust_unsigned: bool) -> Gate:
    return Gate(keyfile.load(settings), source.registration_problem, trust_unsigned)
