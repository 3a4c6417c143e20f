"""Fixtures for the nodes/kubelet/scheduler conformance tests.

These tests need nodes, kubelets and a scheduler. On a real cluster (the real tier's control plane with its
40 HTTP fake nodes, or ``GROVE_TEST_KUBECONFIG``) they use it as it is; otherwise this package gets its own
dev cluster with 40 fake nodes (the session's shared cluster has none, so nothing else sees pods scheduled
and run). ``cluster`` and ``kubectl`` are overridden for this package (``dev`` too, with this package's skip
reason); ``namespace`` and ``api_client`` follow them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from grove.devcluster.simulation import SimulationOptions
from package_cluster import package_dev_cluster

NODES = 40
# Fast kubelets so the tests take seconds; pods still go Pending -> Running as on a real node.
OPTIONS = SimulationOptions(start_delay=0.05, init_container_duration=0.05, gate_recheck_interval=0.2)


@pytest.fixture(scope="package")
def cluster(cluster: Any) -> Iterator[Any]:
    """The session's real cluster, or a dev cluster with fake nodes for this package."""
    with package_dev_cluster(cluster, nodes=NODES, simulation=OPTIONS) as handle:
        yield handle


@pytest.fixture
def dev(cluster: Any) -> Any:
    """This package's dev cluster handle; skips elsewhere (tests that use it say what for)."""
    if cluster.dev is None:
        pytest.skip("needs this package's dev cluster and its kubelet simulation's hooks")
    return cluster.dev


@pytest.fixture
def kubectl(cluster: Any, kubectl_factory: Any) -> Any:
    """Real kubectl against this package's cluster."""
    return kubectl_factory(cluster.kubeconfig)
