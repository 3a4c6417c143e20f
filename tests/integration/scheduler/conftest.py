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

from grove.runtime.client import Client, RetryPolicy
from grove.runtime.metrics import RuntimeMetrics
from grove.scheduler.service import ExtenderOptions, ExtenderService

CRDS = Path(__file__).resolve().parents[3] / "deploy" / "crds"


@pytest.fixture(scope="session")
def grove_crds(kubectl_session: Any) -> None:
    """Grove's CRDs, installed once per session."""
    kubectl_session("apply", "--server-side", "-f", str(CRDS), check=True)
    kubectl_session("wait", "--for", "condition=established", "--timeout=30s", "-f", str(CRDS), check=True)


@pytest_asyncio.fixture
async def client(cluster: Any, grove_crds: None) -> AsyncIterator[Client]:
    """A runtime client for the test cluster."""
    c = await Client.connect(
        cluster.kubeconfig, metrics=RuntimeMetrics(), retry=RetryPolicy(max_retries=4, base_delay=0.02)
    )
    try:
        yield c
    finally:
        await c.close()


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
