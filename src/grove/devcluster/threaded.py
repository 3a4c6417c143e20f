"""A :class:`DevCluster` on its own event loop in a background thread, with a thread-safe handle.

Test fixtures use it so one cluster serves a whole pytest session while every test runs its own event
loop. Everything on the handle may be called from any thread; work on the cluster itself (store, faults)
always runs on the cluster's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from grove.devcluster.cluster import DevCluster

T = TypeVar("T")


class ThreadedDevCluster:
    """Runs ``DevCluster(**kwargs)`` in a daemon thread; ``start()``/``stop()`` block until done."""

    def __init__(self, setup: Callable[[DevCluster], None] | None = None, **kwargs: Any) -> None:
        """``kwargs`` go to :class:`DevCluster`; ``setup(cluster)`` runs on the cluster's loop before
        ``start()`` (register components there)."""
        self._setup = setup
        self._kwargs = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._cluster: DevCluster | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop_event: asyncio.Event | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 30.0) -> None:
        """Start the thread and the cluster; raises what the cluster's start raised."""
        self._thread = threading.Thread(target=self._main, name="grove-devcluster", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"dev cluster did not start within {timeout}s")
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop_event = asyncio.Event()
        try:
            self._cluster = DevCluster(**self._kwargs)
            if self._setup is not None:
                self._setup(self._cluster)
            await self._cluster.start()
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        await self._stop_event.wait()
        await self._cluster.stop()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the cluster and join the thread."""
        if self._loop is None or self._stop_event is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join(timeout)

    # ----------------------------------------------------------------- running work on the cluster loop

    @property
    def cluster(self) -> DevCluster:
        """The cluster; only touch it inside ``call``/``run`` (its loop's thread)."""
        if self._cluster is None:
            raise RuntimeError("the dev cluster is not running")
        return self._cluster

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The cluster's event loop."""
        if self._loop is None:
            raise RuntimeError("the dev cluster is not running")
        return self._loop

    def _submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)

        self.loop.call_soon_threadsafe(run)
        return fut

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 30.0, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the cluster's loop and return its result (blocking)."""
        return self._submit(lambda: fn(*args, **kwargs)).result(timeout)

    async def acall(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``call`` for coroutines running on another event loop (does not block that loop)."""
        return await asyncio.wrap_future(self._submit(lambda: fn(*args, **kwargs)))

    def run(self, coro_fn: Callable[..., Awaitable[T]], *args: Any, timeout: float = 30.0) -> T:
        """Run the coroutine ``coro_fn(*args)`` on the cluster's loop and return its result (blocking)."""

        async def wrapped() -> T:
            return await coro_fn(*args)

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    # ----------------------------------------------------------------- convenience

    @property
    def url(self) -> str:
        """API server URL."""
        return self.cluster.url

    @property
    def kubeconfig_path(self) -> str:
        """The kubeconfig file."""
        return self.cluster.kubeconfig_path

    def drop_watches(self) -> int:
        """End every open watch."""
        return self.call(lambda: self.cluster.faults.drop_watches())

    def expire_next_watch(self) -> None:
        """The next watch from a resourceVersion gets 410 Gone."""
        self.call(lambda: self.cluster.faults.expire_next_watch())

    def fail_requests(self, fraction: float, code: int = 500, *, include_watches: bool = False) -> None:
        """Fail ``fraction`` of resource requests with ``code``."""
        self.call(lambda: self.cluster.faults.fail_requests(fraction, code, include_watches=include_watches))

    def add_latency(self, seconds: float) -> None:
        """Delay every resource request."""
        self.call(lambda: self.cluster.faults.add_latency(seconds))

    def reset_faults(self) -> None:
        """Turn request faults off."""
        self.call(lambda: self.cluster.faults.reset())

    def resource_version(self) -> int:
        """The store's current global resourceVersion."""
        return self.call(lambda: self.cluster.store.resource_version)
