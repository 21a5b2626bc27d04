"""A token bucket per key (an API token's name): events per second on average, a burst above it.

Pure but for the clock, which is injected. Counted in this process: each `medic serve` process has
its own buckets.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Bucket:
    tokens: float
    updated_s: float


class RateLimiter:
    def __init__(self, *, rate_per_s: float, burst: int, clock_s: Callable[[], float] = time.monotonic):
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be positive and burst at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock_s = clock_s
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str, count: int = 1) -> float:
        """Take `count` tokens from key's bucket: 0 when taken, else the seconds until they would be
        there (nothing is taken then). A count over the burst is never there: its wait is infinite."""
        if count > self.burst:
            return math.inf
        with self._lock:
            bucket = self._refilled(key)
            if bucket.tokens >= count:
                bucket.tokens -= count
                return 0.0
            return (count - bucket.tokens) / self.rate_per_s

    def wait_s(self, key: str, count: int = 1) -> float:
        """Seconds until key's bucket holds `count` tokens (0: now); takes nothing."""
        if count > self.burst:
            return math.inf
        with self._lock:
            bucket = self._refilled(key)
            return max(0.0, (count - bucket.tokens) / self.rate_per_s)

    def _refilled(self, key: str) -> Bucket:
        now_s = self.clock_s()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(float(self.burst), now_s)
        elapsed_s = max(0.0, now_s - bucket.updated_s)
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed_s * self.rate_per_s)
        bucket.updated_s = now_s
        return bucket


def retry_after_header(wait_s: float) -> str:
    """Retry-After in whole seconds (HTTP has no fractions), at least 1."""
    return str(max(1, math.ceil(wait_s)))
