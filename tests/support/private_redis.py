"""A private redis-server for tests that kill and restart the broker.

Restarting the shared Redis would break every other test run on the machine; this one lives in its
own temporary directory, on its own port, and is removed at the end. `kill` is SIGKILL (nothing is
written at exit: what survives is what the append-only file already holds), `start` again brings it
back on the same port and directory. With `aof=True` every write is in the append-only file before
Redis answers it (`appendfsync always`); with `aof=False` nothing is kept at all (no AOF, no RDB).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.support.pgcluster import free_port


class PrivateRedis:
    def __init__(self, *, aof: bool):
        binary = shutil.which("redis-server")
        if binary is None:
            raise AssertionError("redis-server not found: this test starts a Redis of its own")
        self.binary = binary
        self.aof = aof
        self.root = Path(tempfile.mkdtemp(prefix="medic-redis-"))
        self.log = self.root / "server.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, *, socket_timeout: float = 5) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=socket_timeout)

    def _args(self) -> list[str]:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else ["--appendonly", "no"]
        return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
                "--save", "", *persistence, "--logfile", str(self.log), "--daemonize", "no"]

    def start(self, timeout_s: float = 10) -> None:
        assert self.proc is None or self.proc.poll() is not None, "redis-server is running already"
        self.proc = subprocess.Popen(self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.starts += 1
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited with {self.proc.returncode}:\n{self.output()[-2000:]}")
            try:
                if self.client(socket_timeout=1).ping():
                    return
            except (redis.BusyLoadingError, redis.ConnectionError):
                pass  # still starting, or loading its append-only file
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server not answering after {timeout_s}s:\n{self.output()[-2000:]}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown save, no goodbye to clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
