"""The Redis db of one test run, claimed so that two runs on one machine never flush each other's.

A run uses MEDIC_TEST_REDIS_URL when it is set; otherwise it claims the first free db of
CANDIDATE_DBS on MEDIC_TEST_REDIS_SERVER (default redis://127.0.0.1:6379). Either way the db holds
the key CLAIM_KEY (`SET NX EX`: who holds it, kept alive by a thread of this process) while the run
lasts, and the run flushes only that db, and only while it still holds it (`flush`, one Lua script:
FLUSHDB and the claim set again, nothing in between). A free db is one without the key and without
any other key: a run of an older checkout that does not claim is left alone while it has data.

The claim is taken at first use (unit tests never touch Redis) and released at the end of the
session (tests/conftest.py) or of the process: the db is flushed, then given back. A run killed
with SIGKILL leaves its claim for at most CLAIM_TTL_S.
"""

from __future__ import annotations

import atexit
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

import redis

SERVER_URL = os.environ.get("MEDIC_TEST_REDIS_SERVER", "redis://127.0.0.1:6379").rstrip("/")
# Never 0 (a developer's own Redis default) nor 14 (the benchmarks' default, benchmarks/common.py).
# The dbs earlier runs were told to use by hand (9-11, 13) come last.
CANDIDATE_DBS = (15, 12, 8, 7, 6, 5, 4, 3, 2, 1, 9, 10, 11, 13)
CLAIM_KEY = "medic-test-claim"
CLAIM_TTL_S = 120
REFRESH_EVERY_S = 20

# 1: claimed; 0: another run holds it; -1: unclaimed but not empty (a run that does not claim uses it).
_CLAIM_FREE_DB = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('DBSIZE') > 0 then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
_REFRESH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('EXPIRE', KEYS[1], ARGV[2])
"""
_FLUSH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('FLUSHDB')
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then redis.call('FLUSHDB') else redis.call('DEL', KEYS[1]) end
return 1
"""


class RedisDbTaken(RuntimeError):
    """No db could be claimed for this run (or the one MEDIC_TEST_REDIS_URL names is another run's)."""


@dataclass
class Claim:
    url: str
    token: str
    chosen: bool  # picked by this run (not MEDIC_TEST_REDIS_URL): flushed when given back
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _released: bool = False

    def _client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=10)

    def holds(self) -> bool:
        return self._client().get(CLAIM_KEY) == self.token.encode()

    def refresh(self) -> bool:
        return bool(self._client().eval(_REFRESH, 1, CLAIM_KEY, self.token, CLAIM_TTL_S))

    def flush(self) -> None:
        """FLUSHDB, keeping the claim; refuses (AssertionError) when the db is no longer this run's."""
        if not self._client().eval(_FLUSH, 1, CLAIM_KEY, self.token, CLAIM_TTL_S):
            raise AssertionError(f"not flushing {self.url}: this test run no longer holds it ({CLAIM_KEY} is "
                                 f"{self._client().get(CLAIM_KEY)!r}, ours {self.token!r})")

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._stop.set()
        try:
            self._client().eval(_RELEASE, 1, CLAIM_KEY, self.token, "1" if self.chosen else "0")
        except redis.RedisError as exc:  # the claim expires by itself
            print(f"could not give back {self.url}: {exc!r}", file=sys.stderr)

    def _keep_alive(self) -> None:
        while not self._stop.wait(REFRESH_EVERY_S):
            try:
                if not self.refresh():
                    print(f"!!!!! the claim of {self.url} was lost: another run may use it !!!!!", file=sys.stderr)
                    return
            except redis.RedisError as exc:
                print(f"could not refresh the claim of {self.url}: {exc!r}", file=sys.stderr)

    def start(self) -> Claim:
        threading.Thread(target=self._keep_alive, name="redis-db-claim", daemon=True).start()
        atexit.register(self.release)
        return self


def new_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{time.strftime('%Y-%m-%dT%H:%M:%S')}:{uuid.uuid4().hex[:8]}"


def claim(explicit_url: str | None = None) -> Claim:
    """This run's db: `explicit_url` (MEDIC_TEST_REDIS_URL) if given, else the first free candidate."""
    token = new_token()
    if explicit_url:
        client = redis.Redis.from_url(explicit_url, socket_timeout=10)
        if not client.set(CLAIM_KEY, token, nx=True, ex=CLAIM_TTL_S):
            raise RedisDbTaken(f"MEDIC_TEST_REDIS_URL={explicit_url} is in use by another test run "
                               f"({CLAIM_KEY} = {client.get(CLAIM_KEY)!r}, expires in {client.ttl(CLAIM_KEY)}s): "
                               f"unset it to have a free db picked, or name another")
        return Claim(explicit_url, token, chosen=False).start()
    busy = []
    for db in CANDIDATE_DBS:
        url = f"{SERVER_URL}/{db}"
        try:
            got = redis.Redis.from_url(url, socket_timeout=10).eval(_CLAIM_FREE_DB, 1, CLAIM_KEY, token, CLAIM_TTL_S)
        except redis.ResponseError as exc:  # e.g. "DB index is out of range" on a server with fewer dbs
            busy.append(f"{db}: {exc}")
            continue
        if got == 1:
            return Claim(url, token, chosen=True).start()
        busy.append(f"{db}: {'claimed by another run' if got == 0 else 'has data and no claim'}")
    raise RedisDbTaken(f"no free Redis db on {SERVER_URL} for this test run ({'; '.join(busy)}); "
                       f"set MEDIC_TEST_REDIS_URL to choose one")
