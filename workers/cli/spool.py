"""The spool file `report_exception` appends to when the broker is down, taken whole and sent later.

`medic report --spool FILE` renames the file before it reads it, so an app that appends meanwhile
starts a new one and nothing is read twice or lost: what could not be sent is appended back, lines
that are not valid events go to FILE.invalid for a person to look at, and the taken copy is removed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

FILE_MODE = 0o600


def take(path: Path) -> Path | None:
    """The spool, renamed out of the way of appending apps; None when there is none."""
    taken = path.with_name(f"{path.name}.sending-{os.getpid()}")
    try:
        path.rename(taken)
    except FileNotFoundError:
        return None
    return taken


def append(path: Path, lines: Iterable[str]) -> None:
    """One write per line, in append mode: a line never interleaves with another process's."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line.rstrip("\n") + "\n")
            handle.flush()


def invalid_path(path: Path) -> Path:
    return path.with_name(path.name + ".invalid")
