"""The stack ``grove dev`` runs, for the placement tests: 40 fake nodes (2 zones x 2 blocks x 2 racks x 5
hosts, 8 cpu each), a kube-scheduler serving ``grove-scheduler`` through the scheduler extender, the
``dev-topology`` ClusterTopologyBinding and the operator. On the emulator: a dev cluster of the package's own,
with the kube-scheduler stand-in and an operator for every namespace. On the real control plane
(``GROVE_K8S_ASSETS``): the session's, its second kube-scheduler and in-process extender, and an operator per
test namespace under the operator's ServiceAccount for the tests that need one (``grove_operator``). Every
test works in its own namespace and leaves the nodes empty and healthy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from placement_helpers import FAST, DevClusterStack, RealStack, Stack

from grove.controllers.operator import OperatorOptions
from grove.controllers.threaded import ThreadedOperator
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
def stack(cluster: Any) -> Iterator[Stack]:
    """The stack (skipped against ``GROVE_TEST_KUBECONFIG``: it needs the fake topology and the extender
    in-process)."""
    if cluster.k8s is not None:
        yield RealStack(cluster.k8s)
        return
    if cluster.dev is None:
        pytest.skip(
            "needs the fake node topology and an in-process scheduler extender (GROVE_TEST_KUBECONFIG)"
        )
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
        yield DevClusterStack(dev, extender)
    finally:
        dev.stop()


@pytest_asyncio.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    """A runtime client for the stack's cluster."""
    c = await Client.connect(
        stack.kubeconfig, metrics=RuntimeMetrics(), retry=RetryPolicy(max_retries=4, base_delay=0.02)
    )
    try:
        yield c
    finally:
        await c.close()


@pytest_asyncio.fixture
async def ns(stack: Stack, client: Client, wait: Any) -> AsyncIterator[str]:
    """A fresh namespace; afterwards its pods are deleted at once and the namespace removed. On the real
    control plane the nodes are the session's: first it waits for earlier tests' pods to be gone (and a node
    failed by one to be back)."""
    if stack.real:
        await wait(lambda: stack.nodes_idle(client), deadline=60, message="the fake nodes empty and healthy")
    name = await stack.create_namespace(client, wait)
    try:
        yield name
    finally:
        await stack.delete_namespace(client, name)


@pytest.fixture
def grove_operator(stack: Stack, ns: str) -> Iterator[None]:
    """The operator serving ``ns``: the dev cluster's own, or on the real control plane one for the
    namespace under the operator's ServiceAccount (its Lease in grove-system, where its Role allows)."""
    if not isinstance(stack, RealStack):
        yield
        return
    options = OperatorOptions(
        namespace=ns,
        metrics_port=None,
        identity=f"grove-test-{ns}",
        leader_election_namespace="grove-system",
        leader_election_id=f"grove-test-{ns}",
        informer_options=FAST,
    )
    operator = ThreadedOperator(stack.tier.operator_kubeconfig, options)
    operator.start()
    try:
        yield
    finally:
        operator.stop()


@pytest.fixture
def wait(wait_for: Any) -> Any:
    """``wait_for`` with a longer default deadline (scheduling retries back off up to 10 s)."""

    async def waiter(predicate: Any, *, deadline: float = 30.0, message: str = "condition") -> Any:
        return await wait_for(predicate, timeout=deadline, interval=0.05, message=message)

    return waiter
