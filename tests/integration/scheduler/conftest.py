"""Fixtures of the scheduler integration tests: Grove's CRDs, a runtime client, a private topology, and an
extender service on the test cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from scheduler_it_helpers import FAST, Topo

from grove.runtime.client import Client
from grove.scheduler.service import ExtenderOptions, ExtenderService


@pytest.fixture
def client(client: Client, grove_crds_installed: Path) -> Client:
    """The root ``client``, on a cluster with Grove's CRDs."""
    return client


@pytest_asyncio.fixture
async def topo(client: Client) -> AsyncIterator[Topo]:
    """A private topology; its nodes and binding are deleted afterwards."""
    t = Topo()
    try:
        yield t
    finally:
        await t.delete(client)


def extender_options(**overrides: Any) -> ExtenderOptions:
    """Free ports, short backoffs, no process metrics or gc.freeze in the shared test process."""
    base: dict[str, Any] = {
        "port": 0,
        "metrics_port": 0,
        "metrics_host": "127.0.0.1",
        "informer_options": FAST,
        "process_metrics": False,
        "settle_gc": False,
    }
    base.update(overrides)
    return ExtenderOptions(**base)


@pytest_asyncio.fixture
async def start_extender(client: Client) -> AsyncIterator[Callable[..., Any]]:
    """``await start_extender(**options)`` starts an extender service; every one started is stopped."""
    started: list[ExtenderService] = []

    async def start(**overrides: Any) -> ExtenderService:
        service = ExtenderService(client, extender_options(**overrides))
        await service.start()
        started.append(service)
        return service

    try:
        yield start
    finally:
        for service in reversed(started):
            await service.stop()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
