"""Exponential backoff with jitter: one pure function, the clock and randomness passed in."""

from __future__ import annotations

import random
from typing import Literal

Jitter = Literal["full", "equal", "none"]


def backoff_delay_s(attempt: int, *, initial_s: float, rate: float = 2.0, max_s: float, jitter: Jitter = "full",
                    rng: random.Random | None = None) -> float:
    """Delay before retry number `attempt` (0-based): initial_s * rate**attempt, capped at max_s.

    Full jitter (uniform over [0, delay]) is the default: it spreads the retries of many
    clients that failed together, which is what keeps a recovering peer from a thundering herd.
    Equal jitter keeps at least half the delay; none is deterministic.
    """
    if attempt < 0 or initial_s < 0 or rate < 1 or max_s < 0:
        raise ValueError("attempt, initial_s and max_s must be >= 0 and rate >= 1")
    try:
        delay = min(max_s, initial_s * rate ** min(attempt, 64))
    except OverflowError:
        delay = max_s
    if jitter == "none":
        return delay
    draw = (rng or random).uniform
    return draw(0, delay) if jitter == "full" else delay / 2 + draw(0, delay / 2)
