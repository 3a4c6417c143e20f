"""Jittered exponential backoff, reset after a quiet period (client-go ``exponentialBackoffManagerImpl``)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Backoff:
    """Delays ``initial * factor**n`` capped at ``cap``, each plus up to ``jitter`` times itself at random.

    If no delay was asked for during ``reset_after`` seconds, the sequence starts over from ``initial``.
    The reflector defaults are 0.8 s, 30 s, factor 2, jitter 1.0, reset after 2 minutes.
    """

    def __init__(
        self,
        initial: float = 0.8,
        cap: float = 30.0,
        *,
        factor: float = 2.0,
        jitter: float = 1.0,
        reset_after: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or cap < initial:
            raise ValueError(f"backoff: need 0 < initial <= cap, got initial={initial} cap={cap}")
        if factor < 1 or jitter < 0:
            raise ValueError(
                f"backoff: need factor >= 1 and jitter >= 0, got factor={factor} jitter={jitter}"
            )
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.reset_after = reset_after
        self._clock = clock
        self._rng = rng or random.Random()
        self._current = initial
        self._last: float | None = None

    def next(self) -> float:
        """The next delay in seconds."""
        now = self._clock()
        if self._last is not None and now - self._last > self.reset_after:
            self._current = self.initial
        self._last = now
        delay = self._current
        self._current = min(self._current * self.factor, self.cap)
        return delay + self._rng.random() * self.jitter * delay

    def reset(self) -> None:
        """Starts the sequence over."""
        self._current = self.initial
        self._last = None
