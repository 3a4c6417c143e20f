"""Rate limiters for the workqueue (client-go ``util/workqueue/default_rate_limiters.go``) and a token bucket.

A rate limiter answers "how long should this item wait before it is retried"; ``forget`` clears an item's
failure history (it does not remove the item from any queue).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from typing import Protocol


class RateLimiter(Protocol):
    """Per-item retry delays, as client-go's ``TypedRateLimiter``."""

    def when(self, item: Hashable) -> float:
        """Records a failure of ``item`` and returns how many seconds it should wait."""
        ...

    def forget(self, item: Hashable) -> None:
        """Clears the failure history of ``item``."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many failures of ``item`` are being tracked."""
        ...


class ItemExponentialFailureRateLimiter:
    """``base_delay * 2**failures`` per item, capped at ``max_delay``."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        if base_delay <= 0:
            raise ValueError(f"base_delay: must be > 0, got {base_delay}")
        if max_delay < base_delay:
            raise ValueError(f"max_delay: must be >= base_delay ({base_delay}), got {max_delay}")
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        # Beyond 2**64 the float would overflow long before the cap matters.
        if exp > 64:
            return self.max_delay
        return min(self.base_delay * (2.0**exp), self.max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class TokenBucket:
    """A token bucket with golang ``rate.Limiter`` reservation semantics.

    ``reserve()`` always takes a token and returns how long the caller must wait for it, so concurrent callers
    queue up fairly instead of spinning.
    """

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if qps <= 0:
            raise ValueError(f"qps: must be > 0, got {qps}")
        if burst < 1:
            raise ValueError(f"burst: must be >= 1, got {burst}")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def reserve(self) -> float:
        """Takes one token; returns the seconds until it is actually available (0 when one is free now)."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    async def acquire(self) -> None:
        """Waits until a token is available and takes it."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class BucketRateLimiter:
    """One rate limit shared by all items (client-go ``BucketRateLimiter``); no per-item state."""

    def __init__(
        self, qps: float = 10.0, burst: int = 100, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._bucket = TokenBucket(qps, burst, clock)

    def when(self, item: Hashable) -> float:
        return self._bucket.reserve()

    def forget(self, item: Hashable) -> None:
        return None

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters (client-go ``MaxOfRateLimiter``)."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("limiters: at least one rate limiter is required")
        self._limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self._limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self._limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self._limiters)


def default_controller_rate_limiter() -> RateLimiter:
    """Per-item exponential backoff 5 ms -> 1000 s: controller-runtime's default since v0.23.

    Add an overall bucket with ``MaxOfRateLimiter(default_controller_rate_limiter(), BucketRateLimiter())``
    to get client-go's classic ``DefaultControllerRateLimiter``.
    """
    return ItemExponentialFailureRateLimiter(0.005, 1000.0)
