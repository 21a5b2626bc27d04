"""Which names are names of secrets: `db_password`, `githubToken`, `X-Api-Key`, `PGPASSWORD`."""

from __future__ import annotations

import re
from functools import lru_cache

# A name is secret when its last words are one of these (see is_secret_key).
SECRET_WORDS = (
    "password", "passwd", "pwd", "passphrase", "pass", "pw",
    "secret", "secret_key", "secret_access_key", "private_key", "access_key", "account_key", "ssh_key",
    "token", "api_key", "authorization", "auth", "bearer", "jwt", "credentials", "credential",
    "cookie", "session", "session_id", "signature", "sig", "dsn", "otp", "totp", "mfa_code",
    "card_number", "cc_number", "pan", "cvv", "cvc",
)
# These count with anything glued in front too: PGPASSWORD, csrftoken, appsecret.
GLUED_WORDS = ("password", "passwd", "passphrase", "secret", "token")
# Trailing words that say how a secret is written, not what it is: client_secret_b64, credentials_json.
_ENCODING_WORDS = ("b64", "base64", "json", "pem", "hex", "der", "raw", "encoded")

# Words of a name: "X-Api-Key" -> X, Api, Key; "githubToken" -> github, Token; "APIKey" -> API, Key.
_NAME_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Only a name's end decides; a longer name is judged on its last characters (and not cached whole).
_TAIL_CHARS = 128


def _words(name: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in _NAME_WORD.findall(name))


_SECRET_ENDINGS = frozenset(_words(word) for word in SECRET_WORDS) | {(word.replace("_", ""),) for word in SECRET_WORDS}
_LONGEST_ENDING = max(len(ending) for ending in _SECRET_ENDINGS)
_ENCODINGS = tuple(_words(word) for word in _ENCODING_WORDS)


def is_secret_key(key: str) -> bool:
    """True when the key's last words spell a secret word: `db_password`, `githubToken`, `X-Api-Key`.

    Words are split on `-`, `_`, `.`, spaces and camelCase and compared case-insensitively;
    a word must match whole, so `tokenizer`, `token_count`, `password_changed_at`, `author`
    and `max_tokens` are not secret. Squashed forms (`apikey`, `sessionid`), a prefix glued to
    a long secret word (`PGPASSWORD`, `csrftoken`) and an encoding after it (`client_secret_b64`)
    count too.
    """
    return _ends_in_secret(_words(key[-_TAIL_CHARS:]))


def holds_secrets(key: str) -> bool:
    """True when the key is the plural of a secret name: `passwords`, `tokens`, `api_keys`.

    What such a key holds is secret unless it is a count (`max_tokens: 4096`): see mask_value.
    """
    words = _words(key[-_TAIL_CHARS:])
    if not words or len(words[-1]) < 3 or not words[-1].endswith("s"):
        return False
    return _ends_in_secret((*words[:-1], words[-1][:-1]))


@lru_cache(maxsize=4096)
def _ends_in_secret(words: tuple[str, ...]) -> bool:
    for encoding in _ENCODINGS:
        if len(words) > len(encoding) and words[-len(encoding):] == encoding:
            words = words[:-len(encoding)]
            break
    if words and words[-1].endswith(GLUED_WORDS):
        return True
    return any(words[-n:] in _SECRET_ENDINGS for n in range(1, min(len(words), _LONGEST_ENDING) + 1))
