"""How long to wait before trying a call again: exponential backoff with jitter.

Many workers lose the same server at the same moment (a rolling restart); if they all came
back on the same schedule they would arrive together. The jitter spreads them out, and the
floor of half the step keeps a worker from hammering a server that is still down.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    """The wait before try ``n + 1`` after ``n`` failures: a random time between half and all
    of ``first * factor ** (n - 1)``, never more than ``most`` seconds.

    >>> backoff = Backoff(first=1, factor=2, most=10)
    >>> [backoff.ceiling(n) for n in (1, 2, 3, 4, 5)]
    [1, 2, 4, 8, 10]
    >>> 2 <= backoff.delay(3) <= 4
    True
    """

    first: float = 0.25
    factor: float = 2.0
    most: float = 10.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.first <= 0 or self.factor < 1 or self.most < self.first:
            raise ValueError("Backoff needs first > 0, factor >= 1 and most >= first")

    def ceiling(self, failures: int) -> float:
        """The longest wait after ``failures`` failures in a row (1 or more)."""
        # Past ~60 doublings the power overflows a float; the cap is reached long before.
        return min(self.most, self.first * self.factor ** min(max(failures, 1) - 1, 60))

    def delay(self, failures: int, *, at_least: float = 0.0) -> float:
        """A jittered wait after ``failures`` failures; ``at_least`` (a server's Retry-After,
        capped at ``most``) raises its floor."""
        ceiling = self.ceiling(failures)
        wait = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        return max(wait, min(at_least, self.most))
