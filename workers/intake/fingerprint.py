"""Error fingerprints: occurrences of the same error, whatever their ids and values, group together."""

from __future__ import annotations

import hashlib
import re

MAX_TEMPLATE_CHARS = 1000
_FIELD_SEPARATOR = "\x1f"  # ASCII unit separator: keeps ("a", "bc") apart from ("ab", "c")

# One pass, alternatives in priority order. A match starts on the character before the value,
# which must not be a letter or digit ("sha256" and "utf8" keep their digits); the replacement
# keeps it. Each alternative ends with an empty group named after its placeholder.
_VARIABLE_PART = re.compile(
    r"[^0-9A-Za-z](?:"
    r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(?![0-9A-Za-z])(?P<uuid>)"
    # A hex run needs a digit and a letter: "deadbeef" is a word, "12345678" a number.
    r"|(?:0[xX][0-9a-fA-F]+|(?=[0-9a-fA-F]*[0-9])(?=[0-9]*[a-fA-F])[0-9a-fA-F]{8,})(?![0-9A-Za-z])(?P<hex>)"
    r"""|(?:'[^'\n]*'|"[^"\n]*")(?![0-9A-Za-z])(?P<quoted>)"""
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?(?P<timestamp>)"
    r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?::[0-9]{1,5})?(?![0-9]|\.[0-9])(?P<ip>)"
    r"|-?[0-9]+(?:\.[0-9]+)?(?P<number>)"
    r")"
)
_PLACEHOLDERS = {
    "uuid": "<uuid>",
    "hex": "<hex>",
    "quoted": "<str>",
    "timestamp": "<ts>",
    "ip": "<ip>",
    "number": "<num>",
}


def normalise_message(message: str) -> str:
    """The message with its variable parts replaced by placeholders, e.g. "User <num> not found".

    Uuids, hex ids, quoted values, ISO timestamps, IPv4 addresses (with port) and numbers
    (where they start a word) are replaced; whitespace runs collapse to one space; the result
    is stripped and capped at MAX_TEMPLATE_CHARS.
    """
    # The leading space gives a value at the very start its preceding character.
    template = _VARIABLE_PART.sub(_placeholder, " " + message)
    return " ".join(template.split())[:MAX_TEMPLATE_CHARS]


def _placeholder(match: re.Match[str]) -> str:
    kind = match.lastgroup
    assert kind is not None, "every alternative of _VARIABLE_PART is a named group"
    return match.string[match.start()] + _PLACEHOLDERS[kind]


def fingerprint(error_type: str, message: str, service: str, operation: str | None) -> str:
    """Hex sha256 of the error type, normalised message, service and operation (None same as "")."""
    key = _FIELD_SEPARATOR.join((error_type, normalise_message(message), service, operation or ""))
    # JSON may carry lone surrogates; they must not make hashing fail.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
