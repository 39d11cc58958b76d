"""Per-key rate limiting: a token bucket per API key, in process memory.

Each key may burst up to ``burst`` operations, refilled at ``rate`` per second. With several
server processes each keeps its own buckets, so the effective limit is per process — good
enough to stop one runaway client from starving the rest, and it needs no shared service.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

# Buckets of keys idle this long are full again anyway: drop them so memory stays bounded.
_IDLE_SECONDS = 300.0
_SWEEP_EVERY = 1024


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``take(key)`` returns 0 when the operation may run, else seconds until it may.

    >>> limiter = RateLimiter(rate=1, burst=2, clock=lambda: 0.0)
    >>> [limiter.take("k") for _ in range(3)]
    [0.0, 0.0, 1.0]
    """

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._calls = 0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str) -> float:
        if not self.enabled:
            return 0.0
        now = self._clock()
        self._calls += 1
        if self._calls % _SWEEP_EVERY == 0:
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def _sweep(self, now: float) -> None:
        idle = [
            key for key, bucket in self._buckets.items() if now - bucket.updated > _IDLE_SECONDS
        ]
        for key in idle:
            del self._buckets[key]


def retry_after_header(seconds: float) -> str:
    """Retry-After takes whole seconds; round up so a client that obeys it is let through."""
    return str(max(1, math.ceil(seconds)))
