"""Which MEDIC_* environment variables are medic's settings, and what a misspelt one may have meant.

pydantic-settings reads only the variables that name a setting and ignores every other MEDIC_*
variable, so a typo (MEDIC_DATABSE_URL) would silently leave the default in force. The names come
from the settings model: a setting, a group of settings (MEDIC_FLOWER, as JSON) and each setting in
it (MEDIC_FLOWER__BASIC_AUTH), and any key below a mapping (MEDIC_CHANNELS__OPS__TYPE).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

# MEDIC_* variables that are not settings and are set on purpose: the ones docker-compose.yml reads
# for itself (the image, the env file, the published ports), and the test suite's (MEDIC_TEST_*).
NOT_SETTINGS = frozenset({"MEDIC_IMAGE", "MEDIC_ENV_FILE", "MEDIC_FLOWER_PUBLISH", "MEDIC_SERVE_PUBLISH"})
NOT_SETTINGS_PREFIXES = ("MEDIC_TEST_",)
# How close (difflib's ratio, the MEDIC_ prefix left out) a setting must be to be suggested.
SUGGESTION_CUTOFF = 0.7


@dataclass(frozen=True)
class KnownVariables:
    """The variable names medic reads (upper case) and the prefixes below which any name is a key."""

    prefix: str
    names: frozenset[str]
    open_prefixes: tuple[str, ...] = ()

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        upper = name.upper()
        return (upper in self.names or upper in NOT_SETTINGS
                or upper.startswith(self.open_prefixes) or upper.startswith(NOT_SETTINGS_PREFIXES))


def known_variables(model: type[BaseModel], prefix: str = "MEDIC_", delimiter: str = "__") -> KnownVariables:
    """Every environment variable that sets something in `model` (a pydantic-settings model)."""
    names: set[str] = set()
    open_prefixes: list[str] = []

    def walk(fields: type[BaseModel], head: str) -> None:
        for field_name, field in fields.model_fields.items():
            name = head + field_name.upper()
            names.add(name)
            for annotation in _alternatives(field.annotation):
                if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                    walk(annotation, name + delimiter)
                elif annotation is dict or get_origin(annotation) is dict:
                    open_prefixes.append(name + delimiter)

    walk(model, prefix)
    return KnownVariables(prefix, frozenset(names), tuple(sorted(set(open_prefixes))))


def unknown_variables(names: Iterable[str], known: KnownVariables) -> list[tuple[str, str | None]]:
    """The names with known's prefix that are no setting, in the order given, each once, with the
    setting it most likely meant (None when none is close)."""
    unknown: dict[str, str | None] = {}
    settings = {name.removeprefix(known.prefix): name for name in known.names}
    for name in names:
        if name in unknown or not name.upper().startswith(known.prefix) or name in known:
            continue
        close = difflib.get_close_matches(name.upper().removeprefix(known.prefix), list(settings), n=1,
                                          cutoff=SUGGESTION_CUTOFF)
        unknown[name] = settings[close[0]] if close else None
    return list(unknown.items())


def unknown_variable_warning(name: str, suggestion: str | None) -> str:
    text = f"{name} is not a medic setting and is ignored"
    return f"{text}; did you mean {suggestion}?" if suggestion else text


def _alternatives(annotation: Any) -> tuple[Any, ...]:
    """The types a field may hold: X | None is X."""
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(arg for arg in get_args(annotation) if arg is not type(None))
    return (annotation,)
