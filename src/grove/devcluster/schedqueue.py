"""kube-scheduler's scheduling queue: activeQ, backoffQ, the unschedulable pool and gated pods.

* activeQ pops the highest priority first, then the pod queued longest (PrioritySort).
* A pod that did not fit goes to the unschedulable pool, remembering which plugins rejected it. A cluster
  event moves the pods it may help (the plugins it interests intersect their rejectors) to backoffQ while
  their backoff lasts, else to activeQ. Backoff doubles per attempt from ``initial`` up to ``maximum``
  seconds.
* Pods an extender rejected nodes for carry the ``Extender`` rejector, which kube-scheduler registers for
  every cluster event (kubernetes#122019): any node or assigned-pod event moves them, and so does any update
  of the pod itself (its own ``PodScheduled`` condition being written included).
* A pod that did not fit with no rejector at all (no nodes) is not parked: it is retried after its backoff
  (``determineSchedulingHintForInFlightPod`` answers ``queueAfterBackoff``), as is a pod that failed with an
  error.
* Pods with scheduling gates wait gated (the SchedulingGates PreEnqueue plugin) until an update clears them.
* Pods left unschedulable for 5 minutes are retried anyway (``podMaxInUnschedulablePodsDuration``).

The scheduler feeds cluster events to the queue only between scheduling cycles, so an event that arrives
while a pod is being scheduled reaches the queue after the pod is back in it, and moves it if it helps.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable

from grove.devcluster.placement import EXTENDER, PodInfo

MAX_IN_UNSCHEDULABLE_SECONDS = 300.0

_ACTIVE, _BACKOFF, _UNSCHEDULABLE, _GATED, _IN_FLIGHT = (
    "active",
    "backoff",
    "unschedulable",
    "gated",
    "flight",
)


class QueuedPod:
    """A pod waiting to be (re)scheduled."""

    __slots__ = (
        "attempts",
        "backoff_until",
        "gen",
        "info",
        "rejectors",
        "since",
        "timestamp",
        "where",
    )

    def __init__(self, info: PodInfo, now: float) -> None:
        self.info = info
        self.attempts = 0
        self.timestamp = now
        self.since = now
        self.backoff_until = 0.0
        self.rejectors: frozenset[str] = frozenset()
        self.gen = 0
        self.where = ""


class SchedulingQueue:
    """The queue; ``clock`` is the event loop's monotonic time."""

    def __init__(self, initial_backoff: float, max_backoff: float, clock: Callable[[], float]) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.clock = clock
        self.pods: dict[str, QueuedPod] = {}
        self._active: list[tuple[int, float, int, str, int]] = []
        self._backoff: list[tuple[float, int, str, int]] = []
        self._unschedulable: dict[str, QueuedPod] = {}
        self._by_rejector: dict[str, set[str]] = {}
        self._seq = itertools.count()

    # ----------------------------------------------------------------- placement in the queues

    def _gen(self, qp: QueuedPod, where: str) -> int:
        self._leave(qp)
        qp.gen += 1
        qp.where = where
        return qp.gen

    def _leave(self, qp: QueuedPod) -> None:
        if qp.where == _UNSCHEDULABLE:
            self._unschedulable.pop(qp.info.key, None)
            for r in qp.rejectors:
                keys = self._by_rejector.get(r)
                if keys is not None:
                    keys.discard(qp.info.key)
        qp.where = ""

    def _to_active(self, qp: QueuedPod) -> None:
        gen = self._gen(qp, _ACTIVE)
        heapq.heappush(self._active, (-qp.info.priority, qp.timestamp, next(self._seq), qp.info.key, gen))

    def _to_backoff(self, qp: QueuedPod) -> None:
        gen = self._gen(qp, _BACKOFF)
        heapq.heappush(self._backoff, (qp.backoff_until, next(self._seq), qp.info.key, gen))

    def _to_unschedulable(self, qp: QueuedPod) -> None:
        self._gen(qp, _UNSCHEDULABLE)
        qp.since = self.clock()
        self._unschedulable[qp.info.key] = qp
        for r in qp.rejectors:
            self._by_rejector.setdefault(r, set()).add(qp.info.key)

    def _activate_or_backoff(self, qp: QueuedPod) -> None:
        now = self.clock()
        qp.timestamp = now
        if qp.backoff_until > now:
            self._to_backoff(qp)
        else:
            self._to_active(qp)

    # ----------------------------------------------------------------- pod events

    def add(self, info: PodInfo, gated: bool) -> None:
        """A new unscheduled pod (or one that came back unbound)."""
        qp = QueuedPod(info, self.clock())
        self.pods[info.key] = qp
        if gated:
            self._gen(qp, _GATED)
        else:
            self._to_active(qp)

    def update(self, info: PodInfo, gated: bool, spec_changed: bool) -> None:
        """An unscheduled pod changed; a spec or label change retries it (any change, when an extender
        rejected it), a cleared gate activates it."""
        qp = self.pods.get(info.key)
        if qp is None or qp.info.uid != info.uid:
            self.add(info, gated)
            return
        qp.info = info
        if qp.where == _IN_FLIGHT:
            return
        if gated:
            if qp.where != _GATED:
                self._gen(qp, _GATED)
            return
        if qp.where == _GATED:
            self._to_active(qp)
        elif qp.where == _UNSCHEDULABLE and (spec_changed or EXTENDER in qp.rejectors):
            self._activate_or_backoff(qp)

    def delete(self, key: str) -> None:
        """Forget a pod (deleted, bound by someone else, or no longer ours)."""
        qp = self.pods.pop(key, None)
        if qp is not None:
            self._leave(qp)
            qp.gen += 1

    def is_gated(self, key: str) -> bool:
        """Whether the pod waits behind scheduling gates."""
        qp = self.pods.get(key)
        return qp is not None and qp.where == _GATED

    # ----------------------------------------------------------------- scheduling

    def pop(self) -> QueuedPod | None:
        """The next pod to schedule (expired backoffs first join activeQ), marked in flight."""
        now = self.clock()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key, gen = heapq.heappop(self._backoff)
            qp = self.pods.get(key)
            if qp is not None and qp.gen == gen and qp.where == _BACKOFF:
                self._to_active(qp)
        while self._active:
            _, _, _, key, gen = heapq.heappop(self._active)
            qp = self.pods.get(key)
            if qp is None or qp.gen != gen or qp.where != _ACTIVE:
                continue
            self._gen(qp, _IN_FLIGHT)
            qp.attempts += 1
            return qp
        return None

    def next_wakeup(self) -> float | None:
        """When a backoff expires or the oldest unschedulable pod must be retried anyway."""
        times = []
        while self._backoff:
            until, _, key, gen = self._backoff[0]
            qp = self.pods.get(key)
            if qp is not None and qp.gen == gen and qp.where == _BACKOFF:
                times.append(until)
                break
            heapq.heappop(self._backoff)
        if self._unschedulable:
            times.append(min(qp.since for qp in self._unschedulable.values()) + MAX_IN_UNSCHEDULABLE_SECONDS)
        return min(times) if times else None

    def has_active(self) -> bool:
        """Whether a pod is ready to pop now."""
        return bool(self._active) or bool(self._backoff and self._backoff[0][0] <= self.clock())

    def flush_unschedulable(self) -> None:
        """Retry pods that stayed unschedulable for 5 minutes."""
        if not self._unschedulable:
            return
        deadline = self.clock() - MAX_IN_UNSCHEDULABLE_SECONDS
        for qp in [q for q in self._unschedulable.values() if q.since <= deadline]:
            self._activate_or_backoff(qp)

    def _backoff_duration(self, attempts: int) -> float:
        d = self.initial_backoff
        for _ in range(1, attempts):
            d *= 2
            if d >= self.max_backoff:
                return self.max_backoff
        return min(d, self.max_backoff)

    def done(self, qp: QueuedPod) -> None:
        """The in-flight pod was assumed on a node: it leaves the queue."""
        if self.pods.get(qp.info.key) is qp:
            del self.pods[qp.info.key]
        qp.gen += 1

    def unschedulable(self, qp: QueuedPod, rejectors: Iterable[str]) -> None:
        """The in-flight pod did not fit: wait in the unschedulable pool for an event that may help (with no
        rejector nothing would signal it, so it is retried after its backoff)."""
        if self.pods.get(qp.info.key) is not qp:
            return
        qp.rejectors = frozenset(rejectors)
        qp.backoff_until = self.clock() + self._backoff_duration(qp.attempts)
        if qp.rejectors:
            self._to_unschedulable(qp)
        else:
            self._activate_or_backoff(qp)

    def error(self, qp: QueuedPod, *, readd: bool = False) -> None:
        """The in-flight pod failed with an error: back off and retry. ``readd`` puts back a pod that
        already left the queue (its binding failed)."""
        current = self.pods.get(qp.info.key)
        if current is not qp:
            if current is not None or not readd:
                return
            self.pods[qp.info.key] = qp
        qp.backoff_until = self.clock() + self._backoff_duration(max(qp.attempts, 1))
        self._activate_or_backoff(qp)

    # ----------------------------------------------------------------- cluster events

    def move(self, interests: frozenset[str] | None) -> None:
        """A cluster event: move the unschedulable pods it may help. ``interests`` are the plugins whose
        rejections it may resolve (None: all); pods an extender rejected move on any event."""
        if not self._unschedulable:
            return
        if interests is None:
            keys = set(self._unschedulable)
        else:
            keys = set(self._by_rejector.get(EXTENDER, ()))
            for plugin in interests:
                keys |= self._by_rejector.get(plugin, set())
        for key in keys:
            qp = self._unschedulable.get(key)
            if qp is not None:
                self._activate_or_backoff(qp)
