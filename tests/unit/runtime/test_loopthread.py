"""LoopThread: a service on its own loop in a thread, started, called into and stopped from other threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from grove.runtime.loopthread import LoopThread


class _Service(LoopThread):
    def __init__(self, fail: bool = False) -> None:
        super().__init__("the service")
        self.fail = fail
        self.stopping: asyncio.Event | None = None

    async def _startup(self) -> None:
        if self.fail:
            raise ValueError("no start")
        self.stopping = asyncio.Event()

    async def _serve(self) -> None:
        assert self.stopping is not None
        await self.stopping.wait()

    def stop(self) -> None:
        assert self.stopping is not None
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.join(10)


def test_calls_run_on_the_service_loop_thread_and_return_results() -> None:
    svc = _Service()
    svc.start(timeout=10)
    try:
        assert svc.running
        assert svc.call(threading.current_thread) is not threading.current_thread()

        async def double(x: int) -> int:
            await asyncio.sleep(0)
            return 2 * x

        assert svc.call(double, 21) == 42
        assert svc.call(lambda a, b=0: a + b, 1, b=2) == 3

        async def from_another_loop() -> int:
            return await svc.acall(double, 4)

        assert asyncio.run(from_another_loop()) == 8
        with pytest.raises(RuntimeError, match="already running"):
            svc.start()
    finally:
        svc.stop()
    assert not svc.running


def test_a_failed_start_raises_in_the_caller() -> None:
    svc = _Service(fail=True)
    with pytest.raises(ValueError, match="no start"):
        svc.start(timeout=10)
    svc.join(10)
    assert not svc.running
