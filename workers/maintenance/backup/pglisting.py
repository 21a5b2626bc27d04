"""pg_restore --list, read: the dump's entries and which of them are medic's own objects; and the
session prologue every restore runs, whatever --use-list selects.

An entry line is `<id>; <tableoid> <oid> <kind> <schema> <tag> <owner>`; the tag of a constraint or
a column default is `<table> <name>`, of a privilege or a comment the object (`TABLE <table>`,
`COLUMN <table>.<column>`, `CONSTRAINT <name> ON <table>`...). medic's own objects are its tables,
their data, sequences, column defaults, indexes and constraints, and privileges and comments on
them; anything else in a dump (another app's table, a function, a trigger, a schema) is not
medic's to restore.

The prologue holds the dump's search_path setting verbatim: a crafted dump can put any SQL there,
and pg_restore runs it before the first selected entry. It must be the statements pg_restore writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from workers.maintenance.backup.tables import medic_tables
from workers.storage.models import Base

_LINE = re.compile(r"(\d+); (\d+) (\d+) (.*)")
# longest first: "TABLE DATA" before "TABLE", "FK CONSTRAINT" before "CONSTRAINT"... (kinds medic's dumps hold)
KINDS = ("SEQUENCE OWNED BY", "FK CONSTRAINT", "SEQUENCE SET", "TABLE DATA", "CONSTRAINT", "SEQUENCE", "COMMENT",
         "DEFAULT", "INDEX", "TABLE", "ACL")
_PROLOGUE = re.compile(r"SET [a-z_]+ = [A-Za-z0-9_']+;|SELECT pg_catalog\.set_config\('search_path', '', false\);")
_PSQL_GUARDS = ("\\restrict ", "\\unrestrict ")  # pg_restore's own, in a script (-f) only
MAX_NAMED = 10


@dataclass(frozen=True)
class Entry:
    line: str  # as listed: what --use-list takes back
    text: str  # kind, schema and tag (the owner left out): how a refusal names it
    kind: str | None  # None: a kind medic's dumps never hold
    schema: str = ""
    tag: str = ""


@dataclass(frozen=True)
class MedicObjects:
    tables: frozenset[str]
    sequences: frozenset[str]
    indexes: frozenset[str]

    def owns(self, entry: Entry) -> bool:
        kind, tag = entry.kind, entry.tag
        if kind in ("TABLE", "TABLE DATA"):
            return tag in self.tables
        if kind in ("SEQUENCE", "SEQUENCE OWNED BY", "SEQUENCE SET"):
            return tag in self.sequences
        if kind == "INDEX":
            return tag in self.indexes
        if kind in ("DEFAULT", "CONSTRAINT", "FK CONSTRAINT"):
            table, _, name = tag.partition(" ")
            return table in self.tables and bool(name) and " " not in name
        if kind in ("ACL", "COMMENT"):
            return self._owns_object(tag)
        return False

    def _owns_object(self, tag: str) -> bool:
        what, _, name = tag.partition(" ")
        if what == "TABLE":
            return name in self.tables
        if what == "SEQUENCE":
            return name in self.sequences
        if what == "INDEX":
            return name in self.indexes
        if what == "COLUMN":
            return name.partition(".")[0] in self.tables
        if what == "CONSTRAINT":
            return name.rpartition(" ON ")[2] in self.tables
        return False


@cache
def medic_objects() -> MedicObjects:
    """From the models: serial columns' sequences are `<table>_<column>_seq`, as PostgreSQL names them."""
    models = Base.metadata.sorted_tables
    return MedicObjects(
        tables=frozenset(medic_tables()),
        sequences=frozenset(f"{t.name}_{t.autoincrement_column.name}_seq" for t in models
                            if t.autoincrement_column is not None),
        indexes=frozenset(index.name for t in models for index in t.indexes if index.name))


def entries(listing: str) -> list[Entry]:
    found = []
    for line in listing.splitlines():
        match = _LINE.fullmatch(line)
        if match:
            found.append(_entry(line, match[4]))
    return found


def _entry(line: str, described: str) -> Entry:
    text = described.rpartition(" ")[0] or described  # the owner is the last word
    kind = next((k for k in KINDS if text.startswith(k + " ")), None)
    if kind is None:
        return Entry(line, text, None)
    schema, _, tag = text[len(kind) + 1:].partition(" ")
    return Entry(line, text, kind, schema, tag)


def foreign_problem(found: list[Entry], objects: MedicObjects) -> str | None:
    """The objects of the dump that are not medic's, named; None when there are none."""
    foreign = sorted({entry.text for entry in found if not objects.owns(entry)})
    if not foreign:
        return None
    more = f" and {len(foreign) - MAX_NAMED} more" if len(foreign) > MAX_NAMED else ""
    return (f"holds objects that are not medic's: {', '.join(foreign[:MAX_NAMED])}{more} (a medic dump holds only "
            f"medic's tables and their data, sequences, defaults, indexes, constraints, privileges and comments)")


def prologue_problem(script: str) -> str | None:
    """The statements of a restore's prologue that pg_restore does not write itself; None when none."""
    odd = [line for line in script.splitlines()
           if line and not line.startswith(("--", *_PSQL_GUARDS)) and not _PROLOGUE.fullmatch(line)]
    if not odd:
        return None
    return f"runs statements of its own before any object: {'; '.join(repr(line[:80]) for line in odd[:3])}"
