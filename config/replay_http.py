"""Where HTTP replays may go: the operator's allowlist of destinations, and credentials by origin.

An allowlist entry is `[METHODS ]scheme://host[:port]`: `https://*.partner.com:443`,
`http://127.0.0.1:8080`, `POST,PUT,DELETE https://api.partner.com`. The port defaults to the
scheme's; `*.` may start a host name and stands for one or more labels; an IP address is written
as an address (`[::1]` for IPv6), never as a glob. See docs/security.md, "Replay destinations (HTTP)".
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

ALLOW_SETTING: Final = "MEDIC_REPLAY_HTTP__ALLOW"
CREDENTIALS_SETTING: Final = "MEDIC_REPLAY_HTTP_HEADERS"
SCHEMES: Final = ("http", "https")
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
# An entry that names no methods allows these; PUT, PATCH and DELETE change or remove what exists,
# so an operator names them where a partner's API expects them.
DEFAULT_METHODS: Final = frozenset({"GET", "HEAD", "POST"})

# Headers an event may not set: they frame the request or the connection, or address a proxy.
_CONNECTION_HEADERS: Final = frozenset({"host", "content-length", "transfer-encoding", "connection",
                                        "keep-alive", "te", "trailer", "upgrade"})

# WHATWG URL: a host whose last label is a number is an IPv4 address, in any of its legacy forms
# (2130706433, 0x7f.1, 017700000001, 127.1). Only the canonical dotted quad is accepted.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$")
_ENTRY = re.compile(r"^(?:(?P<methods>[A-Za-z,]+)\s+)?(?P<scheme>[a-z]+)://(?P<host>\[[^\]]*\]|[^:/\[\]]+)"
                    r"(?::(?P<port>[0-9]{1,5}))?/?$")


def is_connection_header(name: str) -> bool:
    """Host, Content-Length, Transfer-Encoding, hop-by-hop and Proxy-* headers: not an event's to set."""
    lowered = name.strip().lower()
    return lowered in _CONNECTION_HEADERS or lowered.startswith("proxy-")


def canonical_host(host: str) -> str:
    """A URL's host as medic compares it: an IP address in its canonical form, a name lowercased
    without a trailing dot. Raises ValueError for a numeric host that is not a canonical address."""
    bare = host.strip("[]") if host.startswith("[") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    name = bare.lower().removesuffix(".")
    if _NUMERIC_LABEL.match(name.rsplit(".", 1)[-1]):
        raise ValueError(f"{host!r} is a numeric host but not a canonical IP address")
    return name


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def origin_text(scheme: str, host: str, port: int) -> str:
    """'https://api.partner.com:443', '[...]' around an IPv6 address."""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


@dataclass(frozen=True)
class AllowEntry:
    """One parsed allowlist entry. `host` is canonical; `*.suffix` when a glob."""

    scheme: str
    host: str
    port: int
    methods: frozenset[str]

    @property
    def is_glob(self) -> bool:
        return self.host.startswith("*.")

    @property
    def names_address(self) -> bool:
        """Whether the entry names one IP address (the only way to allow a non-public one)."""
        return is_ip(self.host)

    def matches_host(self, host: str) -> bool:
        """`host` canonical. A glob matches names under its suffix, never an IP address."""
        if self.is_glob:
            return not is_ip(host) and host.endswith(self.host[1:])
        return host == self.host

    def __str__(self) -> str:
        return origin_text(self.scheme, self.host, self.port)


def parse_allow_entry(text: str) -> AllowEntry:
    """Parse one entry; ValueError says what is wrong with it."""
    match = _ENTRY.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not '[METHODS ]scheme://host[:port]' (no path, user or query)")
    scheme = match["scheme"]
    if scheme not in SCHEMES:
        raise ValueError(f"{text!r}: the scheme must be http or https")
    methods = DEFAULT_METHODS
    if match["methods"]:
        methods = frozenset(part.upper() for part in match["methods"].split(",") if part)
        if unknown := methods - METHODS:
            raise ValueError(f"{text!r}: unknown method(s) {', '.join(sorted(unknown))} "
                             f"(one of {', '.join(sorted(METHODS))})")
    raw_host = match["host"]
    glob = raw_host.startswith("*.")
    if "*" in (raw_host[2:] if glob else raw_host):
        raise ValueError(f"{text!r}: '*.' may only start a host name (e.g. https://*.partner.com:443)")
    try:
        host = canonical_host(raw_host[2:] if glob else raw_host)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    if raw_host.startswith("[") and not is_ip(host):
        raise ValueError(f"{text!r}: {raw_host} is not an IPv6 address")
    if glob and is_ip(host) or not (is_ip(host) or _NAME.match(host)):
        raise ValueError(f"{text!r}: {raw_host!r} is neither a host name nor an IP address")
    port = int(match["port"]) if match["port"] else DEFAULT_PORTS[scheme]
    if not 1 <= port <= 65_535:
        raise ValueError(f"{text!r}: the port must be 1 to 65535")
    return AllowEntry(scheme, f"*.{host}" if glob else host, port, methods)


def credential_origin(key: str) -> str:
    """A key of MEDIC_REPLAY_HTTP_HEADERS as the exact origin its headers go to.

    `https://api.partner.com` and `https://api.partner.com:443` name that origin; a bare
    `api.partner.com` (or `api.partner.com:8443`) means https, so credentials never travel in the
    clear unless the key says http. Globs are refused: credentials go to the origins listed, one by one.
    """
    text = key.strip()
    if "://" not in text:
        text = f"https://{text}"
    if "*" in text:
        raise ValueError(f"{key!r}: credentials are matched on an exact origin (scheme://host:port), "
                         "not a glob; list each origin")
    if any(char.isspace() for char in text):  # no methods: credentials go with every method allowed
        raise ValueError(f"{key!r} is not an origin (scheme://host[:port])")
    try:
        return str(parse_allow_entry(text))
    except ValueError as exc:
        raise ValueError(f"{key!r} is not an origin (scheme://host[:port]): {exc}") from None


class HttpReplaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow: list[str] = Field(
        default_factory=list,
        description="Destinations HTTP replays may go to, e.g. [\"https://*.partner.com:443\", "
                    "\"POST,PUT http://10.0.0.5:8080\"]: `[METHODS ]scheme://host[:port]`, `*.` only at "
                    "the start of a host name, methods GET,HEAD,POST unless listed. Empty (the default): "
                    "no HTTP replay is sent. Loopback, private and other non-public addresses are reached "
                    "only through an entry naming that address. See docs/security.md.")

    @field_validator("allow")
    @classmethod
    def _parse_each(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_allow_entry(entry)
        return value

    @cached_property
    def entries(self) -> tuple[AllowEntry, ...]:
        return tuple(parse_allow_entry(entry) for entry in self.allow)
