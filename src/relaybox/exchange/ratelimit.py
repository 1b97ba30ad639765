"""Per-route token buckets (in memory, per process)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from relaybox.errors import ErrorCode, RelayboxError


class RateLimiter:
    """``rate`` requests per second with bursts of ``burst``; ``rate == 0`` disables it."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, key: str) -> None:
        if self.rate <= 0:
            return
        now = self._clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            retry_after = max(1, math.ceil((1.0 - tokens) / self.rate))
            raise RelayboxError(ErrorCode.RATE_LIMITED, retry_after=retry_after)
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:
            self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: they hold no information."""
        full_after = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}


class SlidingWindow:
    """At most ``limit`` requests per ``window`` seconds per key, counted over the last
    ``window`` seconds (the management API's 50 per 10 s); ``limit == 0`` disables it."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._calls = 0

    def hit(self, key: str) -> int | None:
        """Count a request; None when accepted, else whole seconds (>= 1) until one would be."""
        if self.limit <= 0:
            return None
        now = self._clock()
        self._calls += 1
        if self._calls % 4096 == 0:
            self._forget(now)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            # Refused requests are not counted: the oldest hit leaving the window frees a slot.
            return max(1, math.ceil(hits[0] + self.window - now))
        hits.append(now)
        return None

    def _forget(self, now: float) -> None:
        """Drop keys (tokens) idle for a whole window, so memory follows active tokens only."""
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]:
            del self._hits[key]
