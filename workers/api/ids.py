"""Row ids, offsets and limits the API accepts: what PostgreSQL's bigint can hold, else 422.

A larger number reached the database driver and failed there (OverflowError, answered 500).
"""

from __future__ import annotations

from typing import Any

from fastapi import Path, Query

# PostgreSQL's bigint (and SQLite's integer): ids are `BIGSERIAL`/`INTEGER PRIMARY KEY`.
MAX_ROW_ID = 2**63 - 1


def id_path(what: str) -> Any:
    """A path parameter naming one row."""
    return Path(ge=1, le=MAX_ROW_ID, description=f"The {what}'s id.")


def id_query(what: str) -> Any:
    """An optional query parameter naming one row."""
    return Query(None, ge=1, le=MAX_ROW_ID, description=f"Only rows of this {what}.")
