"""Whether an HTTP replay may go where its event says, and to which address (pure).

Two decisions, in this order: the URL's scheme, host, port and method must match an entry of
MEDIC_REPLAY_HTTP__ALLOW (`admitted`), and every address the host resolves to must be public, or
named by an entry itself (`checked_address`). The address returned is the one connected to, so a
name that resolves elsewhere the next time (DNS rebinding) cannot move the connection.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from config.replay_http import ALLOW_SETTING, DEFAULT_PORTS, SCHEMES, AllowEntry, canonical_host, origin_text

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 ranges that carry an IPv4 address (or reach one through a gateway): they are judged as
# non-public whatever the IPv4 inside, rather than trusting each embedding to be decoded right.
_EMBEDDING_V4 = tuple(ipaddress.IPv6Network(net) for net in (
    "::/96",            # IPv4-compatible (deprecated)
    "::ffff:0:0/96",    # IPv4-mapped
    "64:ff9b::/96",     # NAT64
    "64:ff9b:1::/48",   # local NAT64
    "2001::/32",        # Teredo
    "2002::/16",        # 6to4
))


class DestinationRefused(ValueError):
    """The replay is not sent; the message says why and is stored as the attempt's error."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # canonical (config.replay_http.canonical_host)
    port: int

    @property
    def origin(self) -> str:
        return origin_text(self.scheme, self.host, self.port)

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def destination_of(url: httpx.URL) -> Destination:
    """The scheme, canonical host and port a URL names; refused when it names them ambiguously."""
    if url.scheme not in SCHEMES:
        raise DestinationRefused(f"scheme {url.scheme!r} is not http or https")
    try:
        host = canonical_host(url.raw_host.decode("ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DestinationRefused(f"host refused: {exc}") from None
    if not host:
        raise DestinationRefused("the URL has no host")
    return Destination(url.scheme, host, url.port or DEFAULT_PORTS[url.scheme])


def admitted(destination: Destination, method: str, entries: Sequence[AllowEntry]) -> AllowEntry:
    """The first entry allowing this destination and method; refused when none does."""
    same_origin = [entry for entry in entries if entry.scheme == destination.scheme and entry.port == destination.port
                   and entry.matches_host(destination.host)]
    if not same_origin:
        raise DestinationRefused(f"destination {destination.origin} is not in {ALLOW_SETTING}")
    for entry in same_origin:
        if method in entry.methods:
            return entry
    allowed = sorted(set().union(*(entry.methods for entry in same_origin)))
    raise DestinationRefused(f"method {method} to {destination.origin} is not allowed by {ALLOW_SETTING} "
                             f"(allowed: {', '.join(allowed)})")


def checked_address(destination: Destination, addresses: Sequence[IPAddress],
                    entries: Sequence[AllowEntry]) -> IPAddress:
    """The address to connect to: the first resolved, once every resolved address is allowed.

    A non-public address is allowed only when an entry of the same scheme and port names it
    exactly; a host glob or a host name never does."""
    if not addresses:
        raise DestinationRefused(f"{destination.origin} resolves to no address")
    named = {ipaddress.ip_address(entry.host) for entry in entries
             if entry.names_address and entry.scheme == destination.scheme and entry.port == destination.port}
    for address in addresses:
        if not is_public(address) and address not in named:
            raise DestinationRefused(
                f"{destination.origin} resolves to {address}, a {address_kind(address)} address; such an address "
                f"is reached only through an entry of {ALLOW_SETTING} naming it (e.g. "
                f"{origin_text(destination.scheme, str(address), destination.port)})")
    return addresses[0]


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast, and not an IPv6 form that carries an IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and any(address in net for net in _EMBEDDING_V4):
        return False
    return address.is_global and not (address.is_multicast or address.is_private or address.is_reserved
                                      or address.is_loopback or address.is_link_local or address.is_unspecified
                                      or getattr(address, "is_site_local", False))


def address_kind(address: IPAddress) -> str:
    """A word for why an address is not public, for the refusal's message."""
    if isinstance(address, ipaddress.IPv6Address) and any(address in net for net in _EMBEDDING_V4):
        return "IPv4-embedding IPv6"
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "non-public"
