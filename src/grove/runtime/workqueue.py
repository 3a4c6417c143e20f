"""An asyncio work queue with client-go's semantics (``util/workqueue``): queue, delaying, rate limiting.

Guarantees, as client-go's ``doc.go`` states them:

- *fair*: items are processed in the order they are added;
- *stingy*: an item added several times before it is processed is processed once, and an item is never handed
  to two workers at once;
- an item added while it is being processed is marked dirty and handed out again after ``done``.

A worker does ``item = await q.get()``, processes it, then **must** call ``q.done(item)``. Everything runs on
one event loop: ``add``/``done``/``add_after`` are plain (non-async) calls and never block.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.ratelimit import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue is shut down and empty."""


class _QueueMetrics:
    """The workqueue metrics of one queue, with label children bound once (binding is the costly part)."""

    def __init__(self, metrics: RuntimeMetrics, name: str, controller: str) -> None:
        labels = (name, controller)
        self.depth = metrics.workqueue_depth.labels(*labels)
        self.adds = metrics.workqueue_adds.labels(*labels)
        self.queue_duration = metrics.workqueue_queue_duration.labels(*labels)
        self.work_duration = metrics.workqueue_work_duration.labels(*labels)
        self.retries = metrics.workqueue_retries.labels(*labels)
        self.added_at: dict[Any, float] = {}
        self.started_at: dict[Any, float] = {}
        # Computed when scraped rather than by a 500 ms loop as in client-go: same values, no task to manage.
        metrics.workqueue_unfinished_work.labels(*labels).set_function(self._unfinished_work)
        metrics.workqueue_longest_running.labels(*labels).set_function(self._longest_running)

    def _unfinished_work(self) -> float:
        now = time.monotonic()
        return sum(now - t for t in self.started_at.values())

    def _longest_running(self) -> float:
        if not self.started_at:
            return 0.0
        return time.monotonic() - min(self.started_at.values())


class WorkQueue(Generic[T]):
    """The basic queue: dirty set + processing set + FIFO order (client-go ``workqueue.Typed``)."""

    def __init__(
        self, name: str = "", *, metrics: RuntimeMetrics | None = None, controller: str | None = None
    ) -> None:
        self.name = name
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._drained: asyncio.Event | None = None
        self._shutting_down = False
        self._m = _QueueMetrics(metrics, name, controller or name) if metrics is not None else None

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        """True once ``shut_down`` or ``shut_down_with_drain`` was called."""
        return self._shutting_down

    def add(self, item: T) -> None:
        """Marks ``item`` as needing processing; a no-op if it already does or the queue is shutting down."""
        if self._shutting_down or item in self._dirty:
            return
        m = self._m
        if m is not None:
            m.adds.inc()
            m.depth.inc()
            if item not in m.added_at:
                m.added_at[item] = time.monotonic()
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._wake_one()

    async def get(self) -> T:
        """Waits for the next item and marks it processing; raises :class:`ShutDown` once shut down and empty.

        After shutdown, items still queued are handed out until the queue is empty (client-go semantics).
        """
        while not self._queue:
            if self._shutting_down:
                raise ShutDown()
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                # A wake-up meant for us must not be lost: pass it to the next waiter.
                if fut.done() and not fut.cancelled():
                    self._wake_one()
                raise
        item = self._queue.popleft()
        m = self._m
        if m is not None:
            now = time.monotonic()
            m.depth.dec()
            added = m.added_at.pop(item, None)
            if added is not None:
                m.queue_duration.observe(now - added)
            m.started_at[item] = now
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    def done(self, item: T) -> None:
        """Marks ``item`` as processed; if it was added meanwhile, queues it again."""
        m = self._m
        if m is not None:
            started = m.started_at.pop(item, None)
            if started is not None:
                m.work_duration.observe(time.monotonic() - started)
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one()
        elif not self._processing and self._drained is not None:
            self._drained.set()

    def shut_down(self) -> None:
        """Ignores further adds; ``get`` hands out what is queued, then raises :class:`ShutDown`."""
        self._shutting_down = True
        self._on_shut_down()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    async def shut_down_with_drain(self) -> None:
        """Shuts down, then waits until every item handed out has been marked ``done``."""
        if self._drained is None:
            self._drained = asyncio.Event()
        self.shut_down()
        if self._processing:
            await self._drained.wait()

    def is_processing(self, item: T) -> bool:
        """True while ``item`` has been handed out and not yet marked done."""
        return item in self._processing

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _on_shut_down(self) -> None:
        """Hook for subclasses that hold timers."""


class DelayingQueue(WorkQueue[T]):
    """Adds ``add_after``: an item becomes available after a delay (client-go ``DelayingInterface``).

    Re-adding an item that is already waiting keeps the *earlier* ready time.
    """

    def __init__(
        self, name: str = "", *, metrics: RuntimeMetrics | None = None, controller: str | None = None
    ) -> None:
        super().__init__(name, metrics=metrics, controller=controller)
        self._ready_at: dict[T, float] = {}
        self._heap: list[tuple[float, int, T]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0

    def add_after(self, item: T, delay: float) -> None:
        """Adds ``item`` once ``delay`` seconds have passed (immediately if ``delay <= 0``)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        ready = loop.time() + delay
        current = self._ready_at.get(item)
        if current is not None and current <= ready:
            return
        # Lazy deletion: a superseded heap entry is skipped when popped because its time no longer matches.
        self._ready_at[item] = ready
        heapq.heappush(self._heap, (ready, next(self._seq), item))
        if self._timer is None or ready < self._timer_when:
            self._schedule(loop, ready)

    def waiting(self) -> int:
        """How many items are waiting for their delay to pass."""
        return len(self._ready_at)

    def _schedule(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_when = when
        self._timer = loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        heap = self._heap
        while heap and heap[0][0] <= now:
            ready, _, item = heapq.heappop(heap)
            if self._ready_at.get(item) == ready:
                del self._ready_at[item]
                self.add(item)
        if heap:
            self._schedule(loop, heap[0][0])

    def _on_shut_down(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap.clear()
        self._ready_at.clear()


class RateLimitingQueue(DelayingQueue[T]):
    """Adds per-item rate-limited retries (client-go ``RateLimitingInterface``)."""

    def __init__(
        self,
        name: str = "",
        *,
        rate_limiter: RateLimiter | None = None,
        metrics: RuntimeMetrics | None = None,
        controller: str | None = None,
    ) -> None:
        super().__init__(name, metrics=metrics, controller=controller)
        self.rate_limiter = rate_limiter if rate_limiter is not None else default_controller_rate_limiter()

    def add_rate_limited(self, item: T) -> None:
        """Adds ``item`` after the delay the rate limiter assigns to its next retry."""
        if self._shutting_down:
            return
        if self._m is not None:
            self._m.retries.inc()
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Clears the retry history of ``item`` (it is *not* removed from the queue; still call ``done``)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        """How many rate-limited retries of ``item`` have been recorded since it was last forgotten."""
        return self.rate_limiter.num_requeues(item)
