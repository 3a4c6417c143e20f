"""Expectations: what a controller waits for its cache to observe (kubernetes ``controller_utils.go``).

After a sync issues N creates (or deletes) it records them with
:meth:`ControllerExpectations.expect_creations`; the informer handlers call :meth:`creation_observed` as
the cache sees them. Until every expected event is seen, or the record is older than
:data:`EXPECTATIONS_TIMEOUT`, :meth:`satisfied` is False and the sync must not diff the cache against the
desired state again (it would see the old state and create duplicates). A create that failed must be taken
back with :meth:`creation_observed` (or :meth:`lower_expectations`) right away: the cache will never see it.

:class:`UIDTrackingExpectations` additionally remembers *which* objects it expects to disappear, so an object
observed twice (first with a deletionTimestamp, then really gone) is counted once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog

EXPECTATIONS_TIMEOUT = 300.0
"""Seconds after which unmet expectations are ignored (``ExpectationsTimeout = 5*time.Minute``)."""

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Record:
    add: int
    delete: int
    timestamp: float


class ControllerExpectations:
    """Per-key counters of pending creates and deletes, with a TTL."""

    def __init__(
        self, ttl: float = EXPECTATIONS_TIMEOUT, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl: must be > 0 seconds, got {ttl}")
        self.ttl = ttl
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def expect_creations(self, key: str, adds: int) -> None:
        """Sets the expectations of ``key`` to ``adds`` creates (and no deletes), restarting the TTL."""
        self._set(key, adds, 0)

    def expect_deletions(self, key: str, dels: int) -> None:
        """Sets the expectations of ``key`` to ``dels`` deletes (and no creates), restarting the TTL."""
        self._set(key, 0, dels)

    def raise_expectations(self, key: str, adds: int, dels: int) -> None:
        """Adds to the pending counters of ``key`` (creating the record if needed)."""
        rec = self._records.get(key)
        if rec is None:
            self._set(key, adds, dels)
        else:
            rec.add += adds
            rec.delete += dels

    def lower_expectations(self, key: str, adds: int, dels: int) -> None:
        """Subtracts from the pending counters of ``key``; a no-op when there is no record."""
        rec = self._records.get(key)
        if rec is not None:
            rec.add -= adds
            rec.delete -= dels

    def creation_observed(self, key: str) -> None:
        """One expected create of ``key`` was seen (or failed and will never be seen)."""
        self.lower_expectations(key, 1, 0)

    def deletion_observed(self, key: str) -> None:
        """One expected delete of ``key`` was seen (or failed and will never be seen)."""
        self.lower_expectations(key, 0, 1)

    def satisfied(self, key: str) -> bool:
        """True when the cache may be trusted for ``key``: nothing pending, no record, or record expired."""
        rec = self._records.get(key)
        if rec is None:
            return True
        if rec.add <= 0 and rec.delete <= 0:
            return True
        if self._clock() - rec.timestamp > self.ttl:
            log.info("expectations.expired", key=key, pending_adds=rec.add, pending_deletes=rec.delete)
            return True
        return False

    def pending(self, key: str) -> tuple[int, int] | None:
        """``(creates, deletes)`` still expected for ``key``, or None when there is no record."""
        rec = self._records.get(key)
        return None if rec is None else (rec.add, rec.delete)

    def delete(self, key: str) -> None:
        """Forgets ``key`` (call it when the owning object is deleted)."""
        self._records.pop(key, None)

    def _set(self, key: str, adds: int, dels: int) -> None:
        if adds < 0 or dels < 0:
            raise ValueError(f"expectations for {key}: counts must be >= 0, got adds={adds} dels={dels}")
        self._records[key] = _Record(adds, dels, self._clock())


class UIDTrackingExpectations(ControllerExpectations):
    """Expectations that track the identities (UIDs) of the objects expected to be deleted."""

    def __init__(
        self, ttl: float = EXPECTATIONS_TIMEOUT, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(ttl, clock)
        self._uids: dict[str, set[str]] = {}

    def expect_deletions_of(self, key: str, uids: Iterable[str]) -> None:
        """Expects the deletion of exactly the objects ``uids`` (replacing earlier expectations)."""
        wanted = set(uids)
        self._uids[key] = wanted
        self.expect_deletions(key, len(wanted))

    def deletion_observed_uid(self, key: str, uid: str) -> None:
        """Object ``uid`` was seen deleted (or terminating); counts once however often it is reported."""
        wanted = self._uids.get(key)
        if wanted is not None and uid in wanted:
            wanted.discard(uid)
            self.lower_expectations(key, 0, 1)

    def expected_deletions(self, key: str) -> set[str]:
        """The UIDs of ``key`` whose deletion has not been observed yet."""
        return set(self._uids.get(key, ()))

    def delete(self, key: str) -> None:
        super().delete(key)
        self._uids.pop(key, None)
