"""A :class:`DevCluster` on its own event loop in a background thread, with a thread-safe handle.

Test fixtures use it so one cluster serves a whole pytest session while every test runs its own event
loop. Everything on the handle may be called from any thread; work on the cluster itself (store, faults)
always runs on the cluster's loop, through :meth:`LoopThread.call` / :meth:`LoopThread.acall`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from grove.devcluster.cluster import DevCluster
from grove.runtime.loopthread import LoopThread


class ThreadedDevCluster(LoopThread):
    """Runs ``DevCluster(**kwargs)`` in a daemon thread; ``start()``/``stop()`` block until done."""

    def __init__(self, setup: Callable[[DevCluster], None] | None = None, **kwargs: Any) -> None:
        """``kwargs`` go to :class:`DevCluster`; ``setup(cluster)`` runs on the cluster's loop before
        ``start()`` (register components there)."""
        super().__init__("the dev cluster")
        self._setup = setup
        self._kwargs = kwargs
        self._cluster: DevCluster | None = None
        self._stop_event: asyncio.Event | None = None

    async def _startup(self) -> None:
        self._stop_event = asyncio.Event()
        self._cluster = DevCluster(**self._kwargs)
        if self._setup is not None:
            self._setup(self._cluster)
        await self._cluster.start()

    async def _serve(self) -> None:
        assert self._stop_event is not None and self._cluster is not None
        await self._stop_event.wait()
        await self._cluster.stop()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the cluster and join the thread."""
        if self._stop_event is None or not self.running:
            return
        self.loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout)

    @property
    def cluster(self) -> DevCluster:
        """The cluster; only touch it inside :meth:`call` (its loop's thread)."""
        if self._cluster is None:
            raise RuntimeError("the dev cluster is not running")
        return self._cluster

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
