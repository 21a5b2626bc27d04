"""An httpx client that connects only to one address checked beforehand, whatever DNS says later.

The request keeps its URL, so the Host header, TLS SNI and certificate verification are for the
name in it; only the TCP connection goes to the pinned address. This is done below httpx, in the
httpcore network backend, the one place that turns a host into a socket: httpx's own resolver is
never asked, and a connection to any other host or port (a redirect is not followed anyway, but
a proxy from the environment would be one) fails instead of resolving.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from functools import cache

import httpcore
import httpx


class PinnedBackend(httpcore.NetworkBackend):
    """Connects `host:port` to `address`; refuses everything else."""

    def __init__(self, host: str, port: int, address: str) -> None:
        self._host = _comparable(host)
        self._port = port
        self._address = address
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None) -> httpcore.NetworkStream:
        if (_comparable(host), port) != (self._host, self._port):
            raise httpcore.ConnectError(f"{host}:{port} is not the destination that was checked")
        return self._backend.connect_tcp(self._address, port, timeout=timeout, local_address=local_address,
                                         socket_options=socket_options)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("replays do not use Unix sockets")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def pinned_client(host: str, port: int, address: str) -> httpx.Client:
    """A client whose only connection is to `address` for `host:port` (host as in the URL, in ASCII).

    No proxy from the environment, no .netrc, no redirects; the caller closes it."""
    transport = httpx.HTTPTransport(verify=_ssl_context(), trust_env=False)
    if not isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        raise RuntimeError("httpx.HTTPTransport no longer keeps an httpcore pool in _pool; update pinned_transport")
    transport._pool = httpcore.ConnectionPool(ssl_context=_ssl_context(), max_connections=1,
                                              network_backend=PinnedBackend(host, port, address))
    return httpx.Client(transport=transport, trust_env=False, follow_redirects=False)


@cache
def _ssl_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle for every replay would cost more than the replay."""
    return httpx.create_ssl_context(trust_env=False)


def _comparable(host: str) -> str:
    return host.strip("[]").lower().removesuffix(".")
