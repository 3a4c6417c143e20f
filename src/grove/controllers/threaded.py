"""An operator on its own event loop in a background thread, startable, stoppable and killable at will.

For tests and benchmarks that drive a cluster from blocking code (real kubectl, polling) while the operator
keeps running::

    op = ThreadedOperator(kubeconfig, OperatorOptions(namespace="t-1", metrics_port=None))
    op.start()        # returns once the operator leads and its controllers run
    op.kill()         # abrupt, like SIGKILL: connections dropped mid-request, nothing cleaned up, lease kept
    op.start()        # a new incarnation (same identity: it takes its own lease back at once)
    op.stop()         # graceful: in-flight reconciles finish, the lease is released

Each ``start`` runs a fresh operator (new caches, expectations and client) on a fresh loop and thread.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from grove.controllers.operator import OperatorHandle, OperatorOptions, run_operator
from grove.runtime.loopthread import LoopThread

__all__ = ["ThreadedOperator"]

log = structlog.get_logger(__name__)


class ThreadedOperator(LoopThread):
    """Runs :func:`run_operator` in a daemon thread (see the module docstring)."""

    def __init__(self, kubeconfig: str | None, options: OperatorOptions | None = None) -> None:
        super().__init__("the operator")
        self.kubeconfig = kubeconfig
        self.options = options or OperatorOptions()
        self.incarnations = 0
        self._handle: OperatorHandle | None = None

    @property
    def handle(self) -> OperatorHandle:
        """The running incarnation's handle (touch it only through :meth:`call`)."""
        if self._handle is None:
            raise RuntimeError("the operator is not running")
        return self._handle

    def start(self, timeout: float = 30.0, *, thread_name: str | None = None) -> None:
        """Starts a new incarnation and waits until it leads; raises what made it fail to start."""
        if self.running:
            raise RuntimeError("the operator is already running")
        self.incarnations += 1
        try:
            super().start(timeout, thread_name=thread_name or f"grove-operator-{self.incarnations}")
        except TimeoutError:
            self.kill()
            raise

    async def _startup(self) -> None:
        self._handle = await run_operator(self.kubeconfig, self.options)
        await self._handle.wait_leading()

    async def _serve(self) -> None:
        assert self._handle is not None
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._handle.wait()

    def stop(self, timeout: float = 60.0) -> None:
        """Graceful stop: drain in-flight reconciles, release the lease, close the client; join the thread."""
        if not self.running or self._handle is None:
            return
        self.call(self._handle.stop, timeout=timeout)
        self.join(timeout)
        self._handle = None

    def kill(self) -> None:
        """Abrupt stop, as a SIGKILL: drops every connection mid-request, then cancels everything.

        Whatever the operator was doing stops where it was: in-flight writes may or may not have reached
        the server, and nothing more does (the connections are closed before anything else runs), so the
        lease is not released either (a new incarnation with the same identity takes it back at once;
        another waits for it to expire).
        """
        if not self.running:
            return
        loop, handle = self.loop, self._handle

        def die() -> None:
            if handle is not None:
                session = handle.client.api_client.rest_client.pool_manager
                closing = session.connector.close() if session.connector is not None else None
                if asyncio.iscoroutine(closing):
                    closing.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()

        loop.call_soon_threadsafe(die)
        self.join(30)
        self._handle = None
        log.info("operator.killed", incarnation=self.incarnations)
