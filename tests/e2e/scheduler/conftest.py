"""The stack ``grove dev`` runs, for the placement tests: a dev cluster with 40 fake nodes (2 zones x 2 blocks
x 2 racks x 5 hosts, 8 cpu each), the kube-scheduler stand-in serving ``grove-scheduler`` through the
scheduler extender, the ``dev-topology`` ClusterTopologyBinding and the operator. One per test package;
every test works in its own namespace and leaves the nodes empty and healthy."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from placement_helpers import FAST, Stack

from grove.controllers.operator import OperatorOptions
from grove.dev_command import OperatorComponent, prepare_dev_cluster
from grove.devcluster import ThreadedDevCluster
from grove.devcluster.cluster import DevCluster
from grove.devcluster.nodes import NodeShape
from grove.devcluster.simulation import SimulationOptions
from grove.devstack import DevStack, EmbeddedExtender, dev_topology
from grove.runtime.client import Client, RetryPolicy
from grove.runtime.metrics import RuntimeMetrics

SHAPE = NodeShape(cpu="8", memory="32Gi")
NODES = 40


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    """The dev cluster with the extender (skipped on a real cluster: it needs the fake topology)."""
    if os.environ.get("GROVE_TEST_KUBECONFIG"):
        pytest.skip("needs the embedded dev cluster's fake node topology and in-process scheduler extender")
    extender = EmbeddedExtender(dev_topology(SHAPE), informer_options=FAST, settle_gc=False)
    dev_stack = DevStack.build(
        SimulationOptions(shape=SHAPE, start_delay=0.05, exit_on_sigterm_after=0.0), extender=extender
    )
    operator = OperatorOptions(
        leader_election=False, install_crds=True, metrics_port=0, informer_options=FAST
    )

    def setup(cluster: DevCluster) -> None:
        prepare_dev_cluster(cluster)
        dev_stack.setup(cluster)
        cluster.add_component(OperatorComponent(operator))

    dev = ThreadedDevCluster(setup=setup, nodes=NODES, bookmark_interval=1.0, **dev_stack.cluster_kwargs())
    dev.start()
    try:
        yield Stack(dev, extender)
    finally:
        dev.stop()


@pytest_asyncio.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    """A runtime client for the stack's cluster."""
    c = await Client.connect(
        stack.dev.kubeconfig_path, metrics=RuntimeMetrics(), retry=RetryPolicy(max_retries=4, base_delay=0.02)
    )
    try:
        yield c
    finally:
        await c.close()


@pytest_asyncio.fixture
async def ns(stack: Stack, client: Client) -> AsyncIterator[str]:
    """A fresh namespace; afterwards its pods are deleted at once and the namespace removed."""
    name = await stack.create_namespace(client)
    try:
        yield name
    finally:
        await stack.delete_namespace(client, name)


@pytest.fixture
def wait(wait_for: Any) -> Any:
    """``wait_for`` with a longer default deadline (scheduling retries back off up to 10 s)."""

    async def waiter(predicate: Any, *, deadline: float = 30.0, message: str = "condition") -> Any:
        return await wait_for(predicate, timeout=deadline, interval=0.05, message=message)

    return waiter
