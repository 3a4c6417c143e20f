"""Helpers shared by the runtime unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

Eventually = Callable[[Callable[[], bool]], Awaitable[None]]


@pytest.fixture
def eventually() -> Eventually:
    """Polls a condition on the event loop until it holds; fails the test after 10 s."""

    async def wait(cond: Callable[[], bool]) -> None:
        async with asyncio.timeout(10.0):
            while not cond():  # noqa: ASYNC110 - polling with a deadline is the point
                await asyncio.sleep(0.002)

    return wait
