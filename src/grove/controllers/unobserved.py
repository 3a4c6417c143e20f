"""Objects a controller changed whose change its cache has not shown yet, each remembered for a bounded time.

Used for one-way changes (a scheduling gate, once removed, can never come back): after a successful write
the controller adds the object's UID, the informer handler that sees the change removes it, and while it is
remembered a reconcile that still finds the old state in the cache leaves the object alone instead of
writing again. Entries expire after ``ttl`` seconds, so a change the cache somehow never shows (a lost
event the relist did not repair) is written again then rather than never.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["UnobservedWrites"]


class UnobservedWrites:
    """A set of UIDs whose entries expire ``ttl`` seconds after they were added."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl: must be > 0 seconds, got {ttl}")
        self.ttl = ttl
        self._clock = clock
        self._deadlines: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._deadlines)

    def add(self, uid: str) -> None:
        """``uid`` was written; its change is not in the cache yet."""
        self._deadlines[uid] = self._clock() + self.ttl

    def observed(self, uid: str) -> None:
        """The cache shows the change of ``uid`` (or the object is gone)."""
        self._deadlines.pop(uid, None)

    def pending(self, uid: str) -> bool:
        """True while ``uid``'s write is remembered and has not expired (an expired entry is dropped)."""
        deadline = self._deadlines.get(uid)
        if deadline is None:
            return False
        if self._clock() >= deadline:
            del self._deadlines[uid]
            return False
        return True
