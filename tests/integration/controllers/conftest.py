"""Fixtures for the controller integration tests.

Against a real cluster (``GROVE_TEST_KUBECONFIG``) the tests use it as it is (the operator deployed there);
otherwise this package gets its own dev cluster with 40 fake nodes, kubelets, the scheduler stand-in and the
``grove-initc`` kubelet gate, as ``grove dev`` runs it, so pods really get scheduled and become Ready.
``operator`` (from the root conftest) then runs an in-process operator for each test's namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from package_cluster import grove_dev_cluster


@pytest.fixture(scope="package")
def cluster(cluster: Any) -> Iterator[Any]:
    """The session's real cluster, or a dev cluster with fake nodes for this package."""
    with grove_dev_cluster(cluster) as handle:
        yield handle
