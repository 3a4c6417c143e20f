"""Fixtures for the controller integration tests.

Against a real cluster (``GROVE_TEST_KUBECONFIG``) the tests use it as it is (the operator deployed there);
otherwise this package gets its own dev cluster with 40 fake nodes, kubelets, the scheduler stand-in and the
``grove-initc`` kubelet gate, as ``grove dev`` runs it, so pods really get scheduled and become Ready.
``operator`` (from the root conftest) then runs an in-process operator for each test's namespace.
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
# Fast kubelets so the tests take seconds; pods still go Pending -> Running -> Ready as on a real node, and
# their containers exit on SIGTERM (as well-behaved servers do) instead of waiting out the grace period.
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


@pytest_asyncio.fixture
async def client(cluster: Any) -> AsyncIterator[Client]:
    """A runtime client for the test cluster."""
    c = await Client.connect(cluster.kubeconfig, retry=RetryPolicy(max_retries=4, base_delay=0.02))
    try:
        yield c
    finally:
        await c.close()
