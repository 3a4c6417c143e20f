"""The HTTP fake kubelets' writes: a fixed pool of workers, so a burst of thousands of pod status updates
costs no task per pod and never more than ``concurrency`` requests in flight.

Writes are keyed by the object they change and run one at a time and in order per key (a pod's Pending
status lands before its Running one, a terminal status before the final delete), in parallel across keys.
Urgent keys (node leases and statuses) go before the others, so heartbeats keep nodes alive while
thousands of pod writes wait: a lease renewed late is a node the node lifecycle controller takes for
dead.

A write that fails with a connection error, 429 or 5xx is retried with backoff (the kubelet's writes are
idempotent: each carries the whole state it wants); any other failure is logged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

from grove.runtime.client import RetryPolicy
from grove.runtime.errors import ApiError, KubeError, TooManyRequests, TransportError

__all__ = ["Done", "Write", "WriteQueue"]

log = structlog.get_logger("grove.envtest.writes")

Write = Callable[[], Awaitable[None]]
"""One write: a coroutine function doing one request (and handling the answers it expects)."""
Done = Callable[[bool], None]
"""Told whether a write was done (True) or given up (False), once, after its last attempt."""


def _retryable(error: Exception) -> bool:
    if isinstance(error, TransportError):
        return True
    return isinstance(error, ApiError) and (error.status == 429 or error.status >= 500)


class WriteQueue:
    """Writes in order per key, at most ``concurrency`` at once, urgent keys first (see module doc)."""

    def __init__(self, concurrency: int = 32, *, retry: RetryPolicy | None = None) -> None:
        if concurrency < 1:
            raise ValueError(f"write concurrency must be >= 1, got {concurrency}")
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy(max_retries=6, base_delay=0.1, max_delay=2.0)
        self._queues: dict[str, deque[tuple[Write, Done | None]]] = {}
        self._urgent_keys: set[str] = set()
        self._urgent: deque[str] = deque()
        self._normal: deque[str] = deque()
        self._ready = asyncio.Semaphore(0)
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the workers (idempotent)."""
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._work(), name=f"http-kubelet-writer-{i}")
                for i in range(self.concurrency)
            ]

    async def stop(self) -> None:
        """Stop the workers; writes not yet sent are dropped, as a stopped kubelet's are."""
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        self._queues.clear()
        self._urgent_keys.clear()
        self._urgent.clear()
        self._normal.clear()
        self._ready = asyncio.Semaphore(0)

    def submit(self, key: str, write: Write, *, urgent: bool = False, done: Done | None = None) -> None:
        """Queue ``write`` after the writes already queued for ``key``; ``done(ok)`` follows its last
        attempt (not when the queue is stopped first)."""
        queue = self._queues.get(key)
        if urgent:
            self._urgent_keys.add(key)
        if queue is not None:
            queue.append((write, done))
            return
        self._queues[key] = deque(((write, done),))
        self._make_ready(key)

    def pending(self, key: str) -> bool:
        """Whether writes for ``key`` are queued or running."""
        return key in self._queues

    def _make_ready(self, key: str) -> None:
        (self._urgent if key in self._urgent_keys else self._normal).append(key)
        self._ready.release()

    async def _work(self) -> None:
        while True:
            await self._ready.acquire()
            key = self._urgent.popleft() if self._urgent else self._normal.popleft()
            queue = self._queues[key]
            write, done = queue.popleft()
            ok = await self._run(key, write)
            if done is not None:
                done(ok)
            if queue:
                self._make_ready(key)
            else:
                del self._queues[key]
                self._urgent_keys.discard(key)

    async def _run(self, key: str, write: Write) -> bool:
        attempt = 0
        while True:
            attempt += 1
            try:
                await write()
                return True
            except KubeError as e:
                if not _retryable(e) or attempt > self.retry.max_retries:
                    log.warning("write.failed", key=key, error=str(e), attempts=attempt)
                    return False
                retry_after = e.retry_after if isinstance(e, TooManyRequests) else None
                await asyncio.sleep(self.retry.delay(attempt, retry_after))
            except Exception:
                log.exception("write.failed", key=key)
                return False
