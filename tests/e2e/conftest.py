"""Fixtures of the end-to-end suite.

Against a real cluster (``GROVE_TEST_KUBECONFIG``, the operator deployed there watching every namespace)
the tests use it as it is. Otherwise this package gets its own dev cluster as ``grove dev`` runs it: 40 fake
nodes, kubelets, the scheduler stand-in and the ``grove-initc`` kubelet gate. Its fake containers exit as
soon as they get SIGTERM (as KWOK's do), so a deleted PodCliqueSet is gone in a moment instead of after the
30 s grace period. The root conftest's ``operator`` fixture runs an in-process operator per test namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from grove.runtime.client import Client, RetryPolicy
from package_cluster import grove_dev_cluster


@pytest.fixture(scope="package")
def cluster(cluster: Any) -> Iterator[Any]:
    """The session's real cluster, or a dev cluster with fake nodes for this package."""
    with grove_dev_cluster(cluster) as handle:
        yield handle


@pytest.fixture
def timeout(cluster: Any) -> float:
    """Seconds a step may take to converge: generous on a real cluster, where pods take longer."""
    return 60.0 if cluster.dev is not None else 300.0


@pytest.fixture
def client(client: Client) -> Client:
    """The root ``client``, retrying reads longer (through the faults the e2e tests inject)."""
    client.retry = RetryPolicy(max_retries=8, base_delay=0.02)
    return client


@pytest.fixture
def kubectl(cluster: Any, kubectl_factory: Any) -> Any:
    """Real kubectl for this package's cluster."""
    return kubectl_factory(cluster.kubeconfig)
