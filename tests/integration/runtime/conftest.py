"""Fixtures for the runtime integration tests: a runtime Client on the test cluster, fast informer options."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from runtime_it_helpers import FAST

from grove.runtime.client import Client, RetryPolicy
from grove.runtime.informer import InformerOptions
from grove.runtime.metrics import RuntimeMetrics


@pytest_asyncio.fixture
async def client(cluster: Any) -> AsyncIterator[Client]:
    """A runtime client (with its own metrics registry) for the test cluster."""
    c = await Client.connect(
        cluster.kubeconfig, metrics=RuntimeMetrics(), retry=RetryPolicy(max_retries=4, base_delay=0.02)
    )
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def fast_options() -> InformerOptions:
    """Informer options with short backoffs."""
    return FAST
