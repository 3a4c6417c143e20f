"""Fixtures of the end-to-end suite.

Against a real cluster (``GROVE_TEST_KUBECONFIG``, the operator deployed there watching every namespace)
the tests use it as it is. Otherwise this package gets its own dev cluster as ``grove dev`` runs it: 40 fake
nodes, kubelets, the scheduler stand-in and the ``grove-initc`` kubelet gate. Its fake containers exit as
soon as they get SIGTERM (as KWOK's do), so a deleted PodCliqueSet is gone in a moment instead of after the
30 s grace period. The root conftest's ``operator`` fixture runs an in-process operator per test namespace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from grove.dev_command import prepare_dev_cluster
from grove.devcluster import ThreadedDevCluster
from grove.devcluster.simulation import SimulationOptions
from grove.runtime.client import Client, RetryPolicy

NODES = 40
SIMULATION = SimulationOptions(
    start_delay=0.05, init_container_duration=0.05, gate_recheck_interval=0.2, exit_on_sigterm_after=0.05
)


@pytest.fixture(scope="package")
def cluster(cluster: Any) -> Iterator[Any]:
    """The session's real cluster, or a dev cluster with fake nodes for this package."""
    if cluster.dev is None:
        yield cluster
        return
    dev = ThreadedDevCluster(
        setup=prepare_dev_cluster, port=0, nodes=NODES, simulation=SIMULATION, bookmark_interval=1.0
    )
    dev.start()
    try:
        yield dataclasses.replace(cluster, kubeconfig=dev.kubeconfig_path, dev=dev)
    finally:
        dev.stop()


@pytest.fixture
def timeout(cluster: Any) -> float:
    """Seconds a step may take to converge: generous on a real cluster, where pods take longer."""
    return 60.0 if cluster.dev is not None else 300.0


@pytest_asyncio.fixture
async def client(cluster: Any) -> AsyncIterator[Client]:
    """A runtime client for the test cluster; it retries reads through injected 5xx faults."""
    c = await Client.connect(cluster.kubeconfig, retry=RetryPolicy(max_retries=8, base_delay=0.02))
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def kubectl(cluster: Any, kubectl_factory: Any) -> Any:
    """Real kubectl for this package's cluster."""
    return kubectl_factory(cluster.kubeconfig)
