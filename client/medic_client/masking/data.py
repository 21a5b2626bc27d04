"""Masking JSON-like data: by key, by the names found next to values, and every string as text."""

from __future__ import annotations

import re
from enum import Enum
from functools import lru_cache
from typing import Any

from medic_client.masking.keys import holds_secrets, is_secret_key
from medic_client.masking.text import MASK, mask_text

MAX_DEPTH = 64
# An object that names its value: {"name": "DB_PASSWORD", "value": "..."}.
_NAMING_KEYS = frozenset(spelling for key in ("name", "key", "field", "header", "param", "parameter", "variable")
                         for spelling in (key, key.capitalize(), key.upper()))
_VALUE_KEYS = frozenset({"value", "Value", "VALUE"})
# A command-line option: "--password", "-api-key".
_OPTION = re.compile(r"--?[A-Za-z][\w.-]*")
# Keys up to this long have their verdict cached.
_CACHED_KEY_CHARS = 128


def mask_value(value: Any, *, _depth: int = 0) -> Any:
    """A masked copy of JSON-like data. The input is never mutated.

    - A value under a secret key (is_secret_key) becomes MASK, whatever it is; under a plural
      one (`tokens`, `passwords`) too, unless it is a number.
    - An object that names a secret has its `value` masked: `{"name": "DB_PASSWORD", "value": ...}`
      (the name under name, key, field, header, param, parameter or variable).
    - In a list, the value after an option naming a secret (`"--password", X`) is masked, and so
      is the second of a pair naming one (`[["X-Api-Key", X]]`).
    - A key that is itself a secret (a token, say) is replaced by `***1`, `***2`...
    - Every string is masked as text (mask_text).
    - Content nested deeper than MAX_DEPTH becomes MASK.
    """
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return MASK if _depth >= MAX_DEPTH else _masked_dict(value, _depth + 1)
    if isinstance(value, list):
        return MASK if _depth >= MAX_DEPTH else _masked_list(value, _depth + 1)
    return value


class _Key(Enum):
    """What a key says about its value, or about itself."""

    SECRET = "its value is secret"
    PLURAL = "its value holds secrets, unless it is a count"
    NAMING = "its value may name the secret beside it"
    SHAPED = "the key itself looks like a secret"
    PLAIN = "nothing"


_SECRET, _PLURAL, _NAMING, _SHAPED = _Key.SECRET, _Key.PLURAL, _Key.NAMING, _Key.SHAPED


def _masked_dict(mapping: dict, depth: int) -> dict:
    masked: dict = {}
    names_a_secret = False
    for key, item in mapping.items():
        if not isinstance(key, str):
            masked[key] = mask_value(item, _depth=depth)
            continue
        kind = _cached_key_kind(key) if len(key) <= _CACHED_KEY_CHARS else _key_kind(key)
        if kind is _SECRET or (kind is _PLURAL and not _is_number(item)):
            masked[key] = MASK
        elif kind is _SHAPED:
            masked[_placeholder(masked)] = mask_value(item, _depth=depth)
        else:
            masked[key] = mask_value(item, _depth=depth)
            if kind is _NAMING and isinstance(item, str) and is_secret_key(item):
                names_a_secret = True
    if names_a_secret:
        return {key: MASK if key in _VALUE_KEYS else item for key, item in masked.items()}
    return masked


def _masked_list(items: list, depth: int) -> list:
    masked = [mask_value(item, _depth=depth) for item in items]
    # Rarely anything more: an option naming a secret, or a pair naming one.
    for index, item in enumerate(items):
        if isinstance(item, str):
            if item.startswith("-") and index + 1 < len(items) and _is_secret_option(item):
                if isinstance(items[index + 1], (str, int, float)):
                    masked[index + 1] = MASK
        elif isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and is_secret_key(item[0]):
            if isinstance(masked[index], list):  # not cut at the depth limit
                masked[index][1] = MASK
    return masked


def _key_kind(key: str) -> _Key:
    if is_secret_key(key):
        return _SECRET
    if holds_secrets(key):
        return _PLURAL
    if key in _NAMING_KEYS:
        return _NAMING
    return _SHAPED if mask_text(key) != key else _Key.PLAIN


_cached_key_kind = lru_cache(maxsize=4096)(_key_kind)


def _placeholder(masked_so_far: dict) -> str:
    """A stable stand-in for a key that is a secret: ***1, ***2... in the object's order."""
    number = 1
    while f"{MASK}{number}" in masked_so_far:
        number += 1
    return f"{MASK}{number}"


def _is_secret_option(item: str) -> bool:
    return _OPTION.fullmatch(item) is not None and is_secret_key(item)


def _is_number(item: Any) -> bool:
    return isinstance(item, (int, float)) and not isinstance(item, bool)
