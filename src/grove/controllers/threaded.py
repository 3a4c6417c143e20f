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
import threading
from typing import Any

import structlog

from grove.controllers.operator import OperatorHandle, OperatorOptions, run_operator

__all__ = ["ThreadedOperator"]

log = structlog.get_logger(__name__)


class ThreadedOperator:
    """Runs :func:`run_operator` in a daemon thread (see the module docstring)."""

    def __init__(self, kubeconfig: str | None, options: OperatorOptions | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.options = options or OperatorOptions()
        self.incarnations = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._handle: OperatorHandle | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        """True while an incarnation runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def handle(self) -> OperatorHandle:
        """The running incarnation's handle (touch it only through :meth:`call`)."""
        if self._handle is None:
            raise RuntimeError("the operator is not running")
        return self._handle

    def start(self, timeout: float = 30.0) -> None:
        """Starts a new incarnation and waits until it leads; raises what made it fail to start."""
        if self.running:
            raise RuntimeError("the operator is already running")
        self._ready.clear()
        self._error = None
        self.incarnations += 1
        self._thread = threading.Thread(
            target=self._main, name=f"grove-operator-{self.incarnations}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            self.kill()
            raise TimeoutError(f"the operator did not start leading within {timeout}s")
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        finally:
            # After kill(): let every cancelled task unwind (its writes fail, the connections are gone).
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=10))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        try:
            self._handle = await run_operator(self.kubeconfig, self.options)
            await self._handle.wait_leading()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._handle.wait()

    def call(self, fn: Any, *args: Any, timeout: float = 30.0) -> Any:
        """Runs ``fn(*args)`` (coroutine function or plain) on the operator's loop; returns its result."""
        if self._loop is None:
            raise RuntimeError("the operator is not running")

        async def run() -> Any:
            result = fn(*args)
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """Graceful stop: drain in-flight reconciles, release the lease, close the client; join the thread."""
        if not self.running or self._loop is None or self._handle is None:
            return
        handle = self._handle
        asyncio.run_coroutine_threadsafe(handle.stop(), self._loop).result(timeout)
        assert self._thread is not None
        self._thread.join(timeout)
        self._handle = None

    def kill(self) -> None:
        """Abrupt stop, as a SIGKILL: drops every connection mid-request, then cancels everything.

        Whatever the operator was doing stops where it was: in-flight writes may or may not have reached
        the server, and nothing more does (the connections are closed before anything else runs), so the
        lease is not released either (a new incarnation with the same identity takes it back at once;
        another waits for it to expire).
        """
        loop, thread, handle = self._loop, self._thread, self._handle
        if loop is None or thread is None or not thread.is_alive():
            return

        def die() -> None:
            if handle is not None:
                session = handle.client.api_client.rest_client.pool_manager
                closing = session.connector.close() if session.connector is not None else None
                if asyncio.iscoroutine(closing):
                    closing.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()

        loop.call_soon_threadsafe(die)
        thread.join(30)
        self._handle = None
        log.info("operator.killed", incarnation=self.incarnations)
