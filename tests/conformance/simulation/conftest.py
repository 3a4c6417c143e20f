"""Fixtures for the nodes/kubelet/scheduler conformance tests.

These tests need nodes, kubelets and a scheduler. Against a real cluster (``GROVE_TEST_KUBECONFIG``) they
use it as it is; otherwise this package gets its own dev cluster with 40 fake nodes (the session's shared
cluster has none, so nothing else sees pods scheduled and run). ``cluster`` and ``kubectl`` are overridden
for this package (``dev`` too, with this package's skip reason); ``namespace`` and ``api_client`` follow
them.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grove.devcluster import ThreadedDevCluster
from grove.devcluster.simulation import SimulationOptions

NODES = 40
# Fast kubelets so the tests take seconds; pods still go Pending -> Running as on a real node.
OPTIONS = SimulationOptions(start_delay=0.05, init_container_duration=0.05, gate_recheck_interval=0.2)
KUBECTL = str(Path(sys.executable).with_name("kubectl"))


@pytest.fixture(scope="package")
def cluster(cluster: Any) -> Iterator[Any]:
    """The session's real cluster, or a dev cluster with fake nodes for this package."""
    if cluster.dev is None:
        yield cluster
        return
    dev = ThreadedDevCluster(port=0, nodes=NODES, simulation=OPTIONS)
    dev.start()
    try:
        yield dataclasses.replace(cluster, kubeconfig=dev.kubeconfig_path, dev=dev)
    finally:
        dev.stop()


@pytest.fixture
def dev(cluster: Any) -> Any:
    """The dev cluster handle; skips on a real cluster."""
    if cluster.dev is None:
        pytest.skip(
            "needs the embedded dev cluster (fake kubelets, node failure or its scheduler's exact state); "
            "GROVE_TEST_KUBECONFIG points at a real cluster"
        )
    return cluster.dev


class Kubectl:
    """Real kubectl against this package's cluster."""

    def __init__(self, kubeconfig: str, cache_dir: str) -> None:
        self.kubeconfig = kubeconfig
        self.env = dict(os.environ, KUBECACHEDIR=cache_dir)

    def __call__(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", self.kubeconfig, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )


@pytest.fixture(scope="package")
def _sim_kubectl_cache() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="grove-kubectl-cache-") as d:
        yield d


@pytest.fixture
def kubectl(cluster: Any, _sim_kubectl_cache: str) -> Kubectl:
    """Real kubectl against this package's cluster."""
    return Kubectl(cluster.kubeconfig, _sim_kubectl_cache)
