"""Fixtures of the observability tests: the stack ``grove dev`` runs (dev cluster with 20 fake nodes and
kubelets, the scheduler extender, the kube-scheduler stand-in serving ``grove-scheduler`` through it, the
``grove-initc`` gate), and per test an operator for the test's namespace serving ``/metrics`` on a free port,
with the admission webhook registered on the same registry as ``grove operator`` does.

On the real tier (``GROVE_K8S_ASSETS``) they use the session's control plane instead: its in-process
extender (under the scheduler's ServiceAccount, called by the second kube-scheduler for ``grove-scheduler``
pods), its fake nodes, and per test an in-process operator under the operator's ServiceAccount (the deployed
Lease, in grove-system). They read the registries of in-process servers, so they skip against
``GROVE_TEST_KUBECONFIG``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from grove.controllers.operator import OperatorOptions
from grove.controllers.threaded import ThreadedOperator
from grove.dev_command import prepare_dev_cluster
from grove.devcluster import ThreadedDevCluster
from grove.devcluster.cluster import DevCluster
from grove.devcluster.nodes import NodeShape
from grove.devcluster.simulation import SimulationOptions
from grove.devstack import DevStack, EmbeddedExtender, dev_topology
from grove.scheduler.service import ExtenderService
from grove.webhook import WebhookOptions, WebhookServer

SHAPE = NodeShape(cpu="8", memory="32Gi")
NODES = 20
SIMULATION = SimulationOptions(
    shape=SHAPE,
    start_delay=0.05,
    init_container_duration=0.05,
    gate_recheck_interval=0.2,
    exit_on_sigterm_after=0.05,
)


@dataclass
class ObservedStack:
    """Where the scheduler extender runs: inside the package's dev cluster, or beside the real tier's
    control plane (``dev`` is then None)."""

    dev: ThreadedDevCluster | None
    service: Callable[[], ExtenderService | None]
    """The extender service now running (the real tier's stack may have restarted it)."""
    extender_url: str
    """The ``urlPrefix`` kube-scheduler calls."""

    @property
    def extender_metrics_url(self) -> str:
        """The extender's ``/metrics``."""
        service = self.service()
        assert service is not None
        return f"http://127.0.0.1:{service.manager.port}/metrics"


@pytest.fixture(scope="package")
def _dev_stack() -> Iterator[ObservedStack]:
    """One dev cluster with the extender for the package (the emulator tier)."""
    extender = EmbeddedExtender(dev_topology(SHAPE), settle_gc=False)
    dev_stack = DevStack.build(SIMULATION, extender=extender)

    def setup(cluster: DevCluster) -> None:
        prepare_dev_cluster(cluster)
        dev_stack.setup(cluster)

    dev = ThreadedDevCluster(setup=setup, nodes=NODES, bookmark_interval=1.0, **dev_stack.cluster_kwargs())
    dev.start()
    try:
        yield ObservedStack(dev, lambda: extender.service, extender.url)
    finally:
        dev.stop()


@pytest.fixture(scope="package")
def cluster(cluster: Any, request: pytest.FixtureRequest) -> Any:
    """The real tier's cluster as it is, or the package's dev cluster, for the root fixtures
    (``namespace``, ``kubectl``)."""
    if cluster.k8s is not None:
        return cluster
    if os.environ.get("GROVE_TEST_KUBECONFIG"):
        pytest.skip("reads the registries of the in-process operator, extender and webhook")
    dev_stack: ObservedStack = request.getfixturevalue("_dev_stack")
    assert dev_stack.dev is not None
    return dataclasses.replace(cluster, kubeconfig=dev_stack.dev.kubeconfig_path, dev=dev_stack.dev)


@pytest.fixture(scope="package")
def stack(cluster: Any, request: pytest.FixtureRequest) -> ObservedStack:
    """The extender the tests scrape and call."""
    if cluster.k8s is None:
        dev_stack: ObservedStack = request.getfixturevalue("_dev_stack")
        return dev_stack
    real = cluster.k8s.stack.stack
    return ObservedStack(None, lambda: real.extender, real.extender_url)


@dataclass
class ObservedOperator:
    """An operator with its webhook, and where its metrics are served."""

    threaded: ThreadedOperator
    metrics_url: str
    webhook_url: str


@pytest.fixture
def grove(cluster: Any, namespace: str) -> Iterator[ObservedOperator]:
    """An operator for the test's namespace (leader election on, Lease in that namespace; in grove-system on
    the real tier), its metrics on a
    free port, and the admission webhook on its loop and registry, as ``grove operator`` runs them."""
    options = OperatorOptions(
        namespace=namespace,
        metrics_port=0,
        metrics_host="127.0.0.1",
        identity=f"grove-test-{namespace}",
        lease_duration=4.0,
        renew_deadline=3.0,
        retry_period=0.5,
        graceful_shutdown_timeout=5.0,
    )
    kubeconfig = cluster.kubeconfig
    if cluster.k8s is not None:
        # As deployed: the ServiceAccount's token, and the deployed Lease where its Role allows (what the
        # GroveOperatorNoLeader alert selects; each test's operator releases it when it stops).
        kubeconfig = cluster.k8s.operator_kubeconfig
        options.leader_election_namespace = "grove-system"
    threaded = ThreadedOperator(kubeconfig, options)
    threaded.start()
    webhook: WebhookServer | None = None

    async def start_webhook() -> WebhookServer:
        handle = threaded.handle
        server = WebhookServer(
            handle.client,
            WebhookOptions(
                port=0,
                host="127.0.0.1",
                namespace=namespace,
                mutating_configurations=(),
                validating_configurations=(),
            ),
            registry=handle.manager.metrics.registry,
        )
        await server.start()
        return server

    try:
        webhook = threaded.call(start_webhook)
        assert webhook is not None and webhook.port is not None
        yield ObservedOperator(
            threaded,
            f"http://127.0.0.1:{threaded.handle.manager.port}/metrics",
            f"https://127.0.0.1:{webhook.port}",
        )
    finally:
        if webhook is not None:
            threaded.call(webhook.stop)
        threaded.stop()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP session for scraping (and admission reviews: the webhook's certificate is self-signed)."""
    async with aiohttp.ClientSession() as session:
        yield session
