"""Secret masking: applied to every event before anything is stored or logged."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

MASK = "***"
CARD_MASK = "****-****-****-"
MAX_DEPTH = 64

# A key is secret when its last words are one of these (see is_secret_key).
SECRET_WORDS = (
    "password", "passwd", "pwd", "passphrase",
    "secret", "secret_key", "secret_access_key", "private_key",
    "token", "api_key", "authorization", "credentials", "credential",
    "cookie", "session", "session_id", "signature", "dsn",
    "card_number", "cc_number", "pan", "cvv", "cvc",
)
_SECRET_SUFFIXES = frozenset(SECRET_WORDS) | {word.replace("_", "") for word in SECRET_WORDS}
_LONGEST_SUFFIX = max(word.count("_") + 1 for word in SECRET_WORDS)

# Words of a key: "X-Api-Key" -> X, Api, Key; "githubToken" -> github, Token; "APIKey" -> API, Key.
_KEY_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


@lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """True when the key's last words spell a secret word: `db_password`, `githubToken`, `X-Api-Key`.

    Words are split on `-`, `_`, `.`, spaces and camelCase and compared case-insensitively;
    a word must match whole, so `tokenizer`, `token_count`, `password_changed_at`, `author`
    and `max_tokens` are not secret. Squashed forms (`apikey`, `sessionid`) count too.
    """
    words = [word.lower() for word in _KEY_WORD.findall(key)]
    return any("_".join(words[-n:]) in _SECRET_SUFFIXES for n in range(1, min(len(words), _LONGEST_SUFFIX) + 1))


# ----------------------------------------------------------------------------- free text

# A key's closing quote (maybe escaped), then = or :
_SEPARATOR = r"""(?:\\?["'])?[ \t]*[:=][ \t]*"""
_KEY_WORDS = "|".join("[-_ ]?".join(word.split("_")) for word in sorted(SECRET_WORDS, key=len, reverse=True))
# What may follow a key's last alphanumeric run when it ends in a multi-word secret ("api_key").
_WORD_TAILS = "|".join(sorted({"[-_ ]?".join(word.split("_")[1:]) for word in SECRET_WORDS if "_" in word}))
# A key word also starts at a camelCase hump: githubToken, XApiKey.
_HUMP = r"[A-Za-z0-9]*(?:[a-z0-9](?=[A-Z])|[A-Z](?=[A-Z][a-z]))"
_BEARER_OR_BASIC = r"[Bb](?:earer|asic)[ \t]+"
# Other schemes are masked with their credential: "Authorization: Token abc" -> "Authorization: ***".
_OTHER_SCHEME = r"(?:(?i:token|digest|negotiate|ntlm|bot|apikey|dpop)[ \t]+)?"
_QUOTED = r"""\\"(?:[^"\\]|\\(?!"))*\\"|"(?:[^"\\\r\n]|\\.)*"|'(?:[^'\\\r\n]|\\.)*'"""
_BARE = r"""[^\s"'\\&,;()\[\]{}]+"""

# One pass for every kind of secret. A match starts on the non-alphanumeric character before
# the secret, which lets the engine skip through words quickly; the replacement keeps it.
# Each alternative ends with a group, named after its kind, that holds the secret itself.
_SECRETS = re.compile(
    r"[^A-Za-z0-9](?:"
    # Cookie header dumps: every cookie, to the end of the line.
    rf"""(?=[CcSs])(?i:(?:set-)?cookie)[ \t]*:[ \t]*(?P<cookie>[^\s"'\\][^\r\n"'\\]*)"""
    # key=value, key: value, "key": "value". The lookahead cheaply skips words not followed by a
    # separator; "Authorization: Bearer x" is left to the scheme rule, which keeps the scheme.
    rf"""|(?=[A-Za-z0-9]++(?:[-_ ](?i:{_WORD_TAILS}))?(?:\\?["'])?[ \t]*+[:=])(?:{_HUMP})??(?i:{_KEY_WORDS})"""
    rf"""{_SEPARATOR}(?!{_BEARER_OR_BASIC})(?P<pair>{_QUOTED}|{_OTHER_SCHEME}{_BARE})"""
    rf"""|{_BEARER_OR_BASIC}(?P<scheme>[A-Za-z0-9_.~+/-]+=*)"""
    r"""|//(?<=://)[^\s:@/?#]*:(?P<url>[^\s/?#]+)(?=@)"""
    # Card numbers; dash-joined digit groups that run on (uuids) are not cards.
    r"""|(?P<card>[0-9](?<![0-9]-[0-9])(?:[ -]?[0-9]){12,18})(?![0-9]|-[0-9])"""
    r"""|(?P<cloud_key>(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"""
    r"""|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"""
    r"""|xox[bpars]-[A-Za-z0-9-]{10,}"""
    r"""|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"""
    r"""|AIza[A-Za-z0-9_-]{35}"""
    r"""|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"""
    r")"
)


def mask_text(text: str) -> str:
    """Mask secrets in free text (messages, tracebacks, URLs, header dumps), keeping the rest."""
    # The leading space gives a secret at the very start its non-alphanumeric character.
    return _SECRETS.sub(_masked, " " + text)[1:]


def _masked(match: re.Match[str]) -> str:
    kind = match.lastgroup
    assert kind is not None, "every alternative of _SECRETS is a named group"
    return match.string[match.start():match.start(kind)] + _MASKERS[kind](match[kind])


def _masked_value(value: str) -> str:
    """MASK in place of a key's value, its quotes kept."""
    if value.startswith('\\"'):
        return '\\"' + MASK + '\\"'
    if value[0] in "\"'":
        return value[0] + MASK + value[0]
    return MASK


def _masked_whole(secret: str) -> str:
    return MASK


def _masked_credential(credential: str) -> str:
    # "Bearer token missing" is prose, not a credential: a lowercase word is kept.
    return credential if credential.isalpha() and credential[1:].islower() else MASK


def _masked_card(number: str) -> str:
    digits = number.replace(" ", "").replace("-", "")
    return CARD_MASK + digits[-4:] if _passes_luhn(digits) else number


_MASKERS = {
    "cookie": _masked_whole,
    "pair": _masked_value,
    "scheme": _masked_credential,
    "url": _masked_whole,
    "card": _masked_card,
    "cloud_key": _masked_whole,
}


def _passes_luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


# ----------------------------------------------------------------------------- JSON-like data


def mask_value(value: Any, *, _depth: int = 0) -> Any:
    """A masked copy of JSON-like data: values under secret keys become MASK, strings are masked.

    The input is never mutated. Content nested deeper than MAX_DEPTH becomes MASK.
    """
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        if _depth >= MAX_DEPTH:
            return MASK
        return {
            key: MASK if isinstance(key, str) and is_secret_key(key) else mask_value(item, _depth=_depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        if _depth >= MAX_DEPTH:
            return MASK
        return [mask_value(item, _depth=_depth + 1) for item in value]
    return value
