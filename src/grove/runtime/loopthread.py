"""A long-running asyncio service on its own event loop in a daemon thread, driven from blocking code.

Tests and benchmarks drive a cluster from blocking code (real kubectl, polling, pytest fixtures shared by
tests that each run their own loop) while a service keeps running on its own loop. A subclass says how the
service starts (:meth:`LoopThread._startup`) and what it does until it ends (:meth:`LoopThread._serve`);
this class owns the thread and the loop, reports a failed start to the caller, and runs work on the loop
for other threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, overload

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """Runs ``_startup()`` then ``_serve()`` on a fresh event loop in a daemon thread per :meth:`start`."""

    def __init__(self, name: str) -> None:
        """``name`` names the thread and the service in errors (``"the operator"``)."""
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    async def _startup(self) -> None:
        """Start the service; :meth:`start` returns once this does, raising what it raised."""
        raise NotImplementedError

    async def _serve(self) -> None:
        """Run the started service until it stops; the loop closes when this returns."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The service's event loop."""
        if self._loop is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._loop

    def start(self, timeout: float = 30.0, *, thread_name: str | None = None) -> None:
        """Start a thread and a loop and wait for ``_startup``; raises what made it fail to start."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._main, name=thread_name or self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self.name} did not start within {timeout}s")
        if self._error is not None:
            raise self._error

    def join(self, timeout: float) -> None:
        """Wait for the thread to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._run())
        finally:
            # Let every task still alive (after a kill, or one the service forgot) unwind before closing.
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=10))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _run(self) -> None:
        try:
            await self._startup()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._serve()

    def _submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> concurrent.futures.Future[Any]:
        async def run() -> Any:
            result = fn(*args, **kwargs)
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self.loop)

    @overload
    def call(
        self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any, timeout: float = ..., **kwargs: Any
    ) -> T: ...
    @overload
    def call(self, fn: Callable[..., T], *args: Any, timeout: float = ..., **kwargs: Any) -> T: ...
    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 30.0, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` (plain or coroutine function) on the service's loop; block for the
        result."""
        return self._submit(fn, args, kwargs).result(timeout)

    @overload
    async def acall(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T: ...
    @overload
    async def acall(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...
    async def acall(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """:meth:`call` from a coroutine on another event loop, without blocking that loop."""
        return await asyncio.wrap_future(self._submit(fn, args, kwargs))
