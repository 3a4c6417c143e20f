"""Fixtures for the controller integration tests: a runtime client and helpers to read the test namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from grove.runtime.client import Client, RetryPolicy


@pytest_asyncio.fixture
async def client(cluster: Any) -> AsyncIterator[Client]:
    """A runtime client for the test cluster."""
    c = await Client.connect(cluster.kubeconfig, retry=RetryPolicy(max_retries=4, base_delay=0.02))
    try:
        yield c
    finally:
        await c.close()
