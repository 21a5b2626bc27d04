"""`medic serve` as a process against large bodies: refused without the server growing (issue 12, item 9).

An 80 MB POST is streamed over a raw socket while the server's RSS is sampled; unauthenticated it is
answered 401, authenticated 413, and either way the server reads (at most) the cap.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from tests.integration.test_serve import TOKEN, start_serve
from tests.support import services

pytestmark = pytest.mark.integration

BODY_BYTES = 80 * 2**20
CHUNK = b"x" * 2**20
# Well under the 80 MB sent: before the fix the server grew by about three times the body.
MAX_GROWTH_BYTES = 24 * 2**20


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def post_huge(base: str, path: str, token: str | None, pid: int) -> tuple[str, int]:
    """(the status line, the peak RSS growth of the server while the body was sent)."""
    host, port = base.removeprefix("http://").split(":")
    before = peak = rss_bytes(pid)
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {BODY_BYTES}\r\n" + (f"Authorization: Bearer {token}\r\n" if token else "") + "\r\n")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())

        def stream() -> None:
            try:
                for _ in range(BODY_BYTES // len(CHUNK)):
                    sock.sendall(CHUNK)
            except OSError:  # the server answered and closed: what we want
                pass

        sender = threading.Thread(target=stream, daemon=True)
        sender.start()
        answer = b""
        while b"\r\n" not in answer:
            part = sock.recv(4096)
            if not part:
                break
            answer += part
        while sender.is_alive():
            peak = max(peak, rss_bytes(pid))
            sender.join(0.05)
        peak = max(peak, rss_bytes(pid))
    return answer.split(b"\r\n", 1)[0].decode(), peak - before


@pytest.mark.parametrize("token, status", [(None, "401"), ("wrong-token-0123456789abc", "401"), (TOKEN, "413")])
def test_an_80_mb_post_is_refused_without_the_server_growing(tmp_path, pg_database, redis_url, token, status):
    serve, base = start_serve(tmp_path, services.pg_url(pg_database), redis_url, serve__allow_writes="true")
    try:
        line, growth = post_huge(base, "/api/executions/1/retry", token, serve.proc.pid)
        print(f"{status}: {line}; server RSS growth {growth / 2**20:.1f} MiB")
        assert status in line
        assert growth < MAX_GROWTH_BYTES
        assert serve.proc.poll() is None
    finally:
        serve.terminate(timeout_s=15)
