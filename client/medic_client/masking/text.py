"""Free-text masking: secrets found by their shape in messages, tracebacks, URLs and log lines.

One pass of one regex finds every kind of secret (SHAPES). A match starts on the
non-alphanumeric character before the secret, which lets the engine skip through words; the
replacement keeps it. Each shape ends with a group named after its kind: the group holds the
secret, or, closing a shape of WHOLE_SHAPES empty, says that the secret is all the shape matched.

The cost stays linear in the text: a shape never scans a run of characters that another
starting point of the same shape would scan again (a run stops where the next start could be,
or the shape refuses to start inside the run), and bounded repeats stay small.
tests/unit/test_masking_cost.py holds every shape to that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from medic_client.masking.cards import CARD, masked_card
from medic_client.masking.keys import GLUED_WORDS, SECRET_WORDS
from medic_client.masking.wordtrie import SEPARATOR, words_regex

MASK = "***"

# ----------------------------------------------------------------------------- building blocks

_BLANK = r"[^\S\r\n]"  # white space within a line: space, tab, no-break space...
# Secret names that count before "=" only: before ":" they are too often prose ("auth: failed").
_ASSIGNED_ONLY = ("pass", "pw", "auth", "bearer", "jwt", "sig", "otp", "totp")
_NAMES = words_regex(word for word in SECRET_WORDS if word not in _ASSIGNED_ONLY)
_ASSIGNED_NAMES = words_regex(_ASSIGNED_ONLY)
_GLUED_NAMES = words_regex(GLUED_WORDS)
# What may follow a name's first alphanumeric run when it is a multi-word one ("api key").
_NAME_TAILS = words_regex({word.split(SEPARATOR, 1)[1] for word in SECRET_WORDS if SEPARATOR in word})
# Every name ends in one of these: a cheap test that skips most words.
_LAST_LETTERS = "".join(sorted({word[-1] for word in SECRET_WORDS} | {word[-1].upper() for word in SECRET_WORDS}))
# The letters before a hump, the last hump first; only in a word long enough to have one before a
# name. A URL-encoded & (%26) before a name is a hump too.
_HUMPS = r"(?=[A-Za-z0-9]{3})[A-Za-z0-9]*(?:[a-z0-9](?=[A-Z])|[A-Z](?=[A-Z][a-z])|[6Cc](?<=%2[6Cc]))"
# The letters glued before a name, in a word long enough for both.
_GLUED_PREFIX = rf"(?=[A-Za-z0-9]{{{min(map(len, GLUED_WORDS)) + 1}}})[A-Za-z0-9]+?"
# A name's closing quote (maybe escaped), then = or : (or URL-encoded); a value may start on the next line.
_CLOSE = r"""(?:\\?["'])?"""
_SEPARATOR_AHEAD = rf"{_CLOSE}{_BLANK}*+(?:[:=]|%3[ADad])"
_SEPARATOR = rf"{_CLOSE}{_BLANK}*+(?:[:=]>?|%3[ADad]){_BLANK}*+(?:\r?\n{_BLANK}*+)?"
# A name, followed by its separator ("=" only for some) or by the > closing an XML tag (<password>).
_NAME = (rf"(?:{_NAMES}(?={_SEPARATOR_AHEAD}|>)"
         rf"|{_ASSIGNED_NAMES}(?={_CLOSE}{_BLANK}*+(?:=|%3[Dd])|>))")
_QUOTED = r"""\\"(?:[^"\\]++|\\(?!"))*+\\"|"(?:[^"\\\r\n]++|\\.)*+"|'(?:[^'\\\r\n]++|\\.)*+'"""
_BARE = r"""[^\s"'\\&,;()\[\]{}]++"""
# Schemes kept before a credential: "Authorization: Bearer ***".
_KEPT_SCHEME = rf"(?i:bearer|basic){_BLANK}++"
# Other schemes are masked with their credential: "Authorization: Token abc" -> "Authorization: ***".
_OTHER_SCHEME = rf"(?:(?i:token|digest|negotiate|ntlm|bot|apikey|dpop){_BLANK}++)?"
# Up to ten arguments of a command line, none of them another command that the shape starts on.
_COMMANDS = r"curl|mysql|mariadb|sshpass"
_ARGUMENTS = rf"(?:{_BLANK}++(?!{_COMMANDS})\S++){{0,10}}?{_BLANK}++"
_URL_PASSWORD_CHAR = r"(?:[^\s@:]|:(?!//))"

# ----------------------------------------------------------------------------- the shapes

# Python's re skips a shape at once where its first step, a character or a class, does not match;
# a group or a lookaround first would cost a step at every position. So every shape but `pair`
# opens with one, and those whose secret starts the shape close with their group, empty.
SHAPES: dict[str, str] = {
    # Cookie header dumps: every cookie, to the end of the line.
    "cookie": rf"""[CcSs](?i:(?<=c)ookie|(?<=s)et-cookie){_BLANK}*+:{_BLANK}*+(?P<cookie>[^\s"'\\][^\r\n"'\\]*+)""",
    # key=value, key: value, "key": "value", key%3Dvalue, <key>value</key>. The lookahead cheaply
    # skips a word that cannot end in a name or is not followed by a separator (a word led by digits
    # is one only after a URL-encoded &: %26pw); then a secret name must end the word: whole, after
    # a camelCase hump (githubToken, XApiKey), or glued to anything (PGPASSWORD).
    "pair": (
        rf"(?=(?:[A-Za-z][A-Za-z0-9]++|[0-9][A-Za-z0-9]{{3,}}+)(?:[-_ ]{_NAME_TAILS})?(?<=[{_LAST_LETTERS}])"
        rf"(?:{_SEPARATOR_AHEAD}|>))"
        # The name ends the word whichever way it is found: the first way found is the only one tried.
        rf"(?>{_NAME}|{_HUMPS}{_NAME}|{_GLUED_PREFIX}{_GLUED_NAMES}(?={_SEPARATOR_AHEAD}|>))"
        # An XML element's text, up to its closing tag: <password>...</password>, <db:Password>. It
        # stops at a > too: a run without < then costs one scan, not one from every "name>" in it.
        rf"(?:>(?P<xml>[^<>]++)(?=</)"
        rf"|{_SEPARATOR}(?:{_KEPT_SCHEME})?(?P<pair>{_QUOTED}|{_OTHER_SCHEME}{_BARE}))"
    ),
    # ?key=... and &key=... in URLs.
    "query_key": r"[Kk](?<=[?&;][Kk])[Ee][Yy]=(?P<query_key>[^\s&#\"'<>]++)",
    # Bearer and Basic credentials anywhere; "Bearer token missing" is prose (see _masked_credential).
    "scheme": rf"[Bb](?i:earer|asic){_BLANK}++(?P<scheme>[A-Za-z0-9_.~+/-]++=*+)",
    # An AWS access key id, with the secret key when it follows right after: "AKIA… wJalr…".
    "aws_key": (
        r"A[KS]IA[A-Z0-9]{16}(?![A-Za-z0-9])"
        r"(?:[^A-Za-z0-9+/\r\n]{1,6}+[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=]))?(?P<aws_key>)"
    ),
    # Vendor tokens, known by their prefix.
    "token": (
        r"(?:gh[pousr]_[A-Za-z0-9]{20,}+|github_pat_[A-Za-z0-9_]{20,}+"
        r"|gl(?:pat|dt|ptt|rt|cbt|oas|soat|ft|imt|agent)-[A-Za-z0-9_-]{20,}+"
        r"|xox[bpars]-[A-Za-z0-9-]{10,}+"
        r"|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}+|whsec_[A-Za-z0-9+/=]{20,}+"
        r"|sk-(?:proj|ant|svcacct|admin)-[A-Za-z0-9_-]{20,}+|sk-[A-Za-z0-9]{32,}+"
        r"|AIza[A-Za-z0-9_-]{35}|SG\.[A-Za-z0-9_-]{16,}+\.[A-Za-z0-9_-]{16,}+"
        r"|SK[0-9a-fA-F]{32}(?![A-Za-z0-9])|npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"
        r"|hf_[A-Za-z0-9]{30,}+|pypi-AgE[A-Za-z0-9_-]{50,}+)(?P<token>)"
    ),
    # JSON web tokens; one never starts inside a run of base64url characters (that would rescan the run).
    "jwt": r"eyJ(?<=[^A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]*+\.[A-Za-z0-9_-]++\.[A-Za-z0-9_-]*+(?P<jwt>)",
    # Chat webhooks: the URL's path is the credential.
    "webhook": (
        r"[hd](?:(?<=h)ooks\.slack\.com/(?:services|workflows|triggers)/|(?<=d)iscord(?:app)?\.com/api/webhooks/)"
        r"(?P<webhook>[A-Za-z0-9/_-]++)"
    ),
    # Command lines: curl -u user:PW, mysql -pPW, sshpass -p PW.
    "curl_user": (
        rf"curl{_ARGUMENTS}(?:-u|--user|--proxy-user)(?:=|{_BLANK}*+)['\"]?[^\s:'\"]++:"
        rf"(?P<curl_user>{_QUOTED}|[^\s'\"]++)"
    ),
    "command_password": (
        rf"[ms](?:(?<=m)(?:ysql|ariadb)|(?<=s)shpass)[\w.-]*+{_ARGUMENTS}-p{_BLANK}*+"
        rf"(?P<command_password>{_QUOTED}|[^\s'\"]++)"
    ),
    # <password>...</password>, <db:Password>, <apiKey>.
    # Credentials in URLs (scheme://user:password@host); a password may hold @ / ? #, never "://".
    # "host:8443/path" is a port, not a password. The group takes the @ closing the password too.
    "url": (
        rf"//(?<=://)[^\s:@/?#]*+:(?![0-9]{{1,5}}(?:[/?#\s]|$))(?!@)"
        rf"(?P<url>(?:{_URL_PASSWORD_CHAR}*+@)++)"
    ),
    # Private keys in PEM: everything between BEGIN and END (to the end of the text if cut). The
    # character before may be the first dash.
    "pem": r"----(?:-?)BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?P<pem>[^-]*+(?:-(?!----END )[^-]*+)*+)",
    "card": CARD,
}
WHOLE_SHAPES = frozenset({"aws_key", "token", "jwt", "card"})

# Most shapes start with an ASCII letter or digit: one lookahead skips them all at any other character.
_WORD_LED = ("cookie", "pair", "query_key", "scheme", "aws_key", "token", "jwt", "webhook", "curl_user",
             "command_password")
_SECRETS = re.compile(
    "[^A-Za-z0-9](?:(?=[A-Za-z0-9])(?:"
    + "|".join(SHAPES[kind] for kind in _WORD_LED) + ")|"
    + "|".join(pattern for kind, pattern in SHAPES.items() if kind not in _WORD_LED) + ")"
)


def mask_text(text: str) -> str:
    """Mask secrets in free text (messages, tracebacks, URLs, header dumps, command lines), keeping the rest."""
    if len(text) <= _CACHED_CHARS:
        return _masked_short_text(text)
    return _masked_text(text)


def _masked_text(text: str) -> str:
    # The leading space gives a secret at the very start its non-alphanumeric character.
    masked = _SECRETS.sub(_masked, " " + text)[1:]
    return text if masked == text else masked


# Short texts (names, ids, keys) come back again and again.
_CACHED_CHARS = 64
_masked_short_text = lru_cache(maxsize=8192)(_masked_text)


def _masked(match: re.Match[str]) -> str:
    kind = match.lastgroup
    assert kind in _MASKERS, "every shape ends with a group named after its kind"
    text, begin = match.string, match.start()
    start = begin + 1 if kind in WHOLE_SHAPES else match.start(kind)
    return text[begin:start] + _MASKERS[kind](text[start:match.end()])


def _masked_value(value: str) -> str:
    """MASK in place of a value, its quotes kept."""
    if value.startswith('\\"'):
        return '\\"' + MASK + '\\"'
    if value[0] in "\"'":
        return value[0] + MASK + value[0]
    return MASK


def _masked_whole(secret: str) -> str:
    return MASK


def _masked_credential(credential: str) -> str:
    # "Bearer token missing" is prose, "Basic realm=" a parameter, not a credential: a lowercase word is kept.
    word = credential.rstrip("=")
    return credential if word.isalpha() and word[1:].islower() else MASK


def _masked_url_password(password_and_at: str) -> str:
    return MASK + "@"


def _masked_aws_key(keys: str) -> str:
    # The id is 20 characters; a secret key after it is 40, and what separates them is kept.
    return MASK if len(keys) == 20 else MASK + keys[20:-40] + MASK


_MASKERS: dict[str, Callable[[str], str]] = {
    "cookie": _masked_whole,
    "pair": _masked_value,
    "xml": _masked_whole,
    "query_key": _masked_whole,
    "scheme": _masked_credential,
    "aws_key": _masked_aws_key,
    "token": _masked_whole,
    "jwt": _masked_whole,
    "webhook": _masked_whole,
    "curl_user": _masked_value,
    "command_password": _masked_value,
    "url": _masked_url_password,
    "pem": _masked_whole,
    "card": masked_card,
}
