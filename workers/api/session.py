"""A database session for one API request; transient database errors become StorageUnavailable (503)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request
from sqlalchemy.orm import Session

from workers.storage.db import guarded_session


@contextmanager
def db(request: Request) -> Iterator[Session]:
    with guarded_session(request.app.state.sessions) as session:
        yield session
