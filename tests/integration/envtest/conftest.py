"""Fixtures for the HTTP fake kubelet tests, on either tier with the same tests.

* ``tier`` (package): the API server the kubelets talk to. By default the emulator with no fake nodes of
  its own (``ThreadedDevCluster(nodes=0)``: no simulation, no scheduler, no node lifecycle controller).
  With ``GROVE_K8S_ASSETS=DIR`` a real control plane (etcd, kube-apiserver, kube-controller-manager,
  kube-scheduler) started by :mod:`grove.envtest.controlplane`, which only starts inside a private
  loopback-only network namespace::

      GROVE_K8S_ASSETS=/tmp/k8s unshare --net --pid --fork --kill-child \\
          sh -c 'ip link set lo up && exec .venv/bin/pytest tests/integration/envtest'

  Either way this package's cluster is its own: the tests fail and recover nodes.
* ``kubelets`` (function): :class:`~grove.envtest.kubelet.HttpKubelets` with fast kubelets, started on the
  test's loop for the test (the nodes stay registered between tests and are taken over by the next one).
  On the emulator they also play the node lifecycle controller (``node_lifecycle=True``); on the real
  control plane kube-controller-manager does.
* ``client`` (function): a :class:`~grove.runtime.client.Client` for the tier; ``namespace`` a fresh one
  whose default ServiceAccount exists (kube-apiserver refuses pods before it does).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from envtest_helpers import FAST

from grove.devcluster import ThreadedDevCluster
from grove.envtest.controlplane import ASSETS_ENV, ControlPlane, ControlPlaneOptions
from grove.envtest.kubelet import HttpKubelets
from grove.runtime.client import Client, RetryPolicy
from grove.runtime.errors import NotFound
from grove.runtime.resources import NAMESPACES, SERVICE_ACCOUNTS


@dataclass
class Tier:
    """The API server under the kubelets: ``real`` for kube-apiserver with kube-controller-manager."""

    kubeconfig: str
    real: bool


@pytest.fixture(scope="package")
def tier() -> Iterator[Tier]:
    """The emulator, or the real control plane from ``$GROVE_K8S_ASSETS`` (see the module doc)."""
    assets = os.environ.get(ASSETS_ENV)
    if assets:
        plane = ControlPlane(ControlPlaneOptions(assets=Path(assets))).start()
        try:
            yield Tier(str(plane.kubeconfig_path), real=True)
        finally:
            plane.stop()
        return
    dev = ThreadedDevCluster(port=0, nodes=0, bookmark_interval=1.0)
    dev.start()
    try:
        yield Tier(dev.kubeconfig_path, real=False)
    finally:
        dev.stop()


@pytest_asyncio.fixture
async def kubelets(tier: Tier) -> AsyncIterator[HttpKubelets]:
    """40 fake nodes and their fast kubelets for this test."""
    k = HttpKubelets(tier.kubeconfig, options=FAST, node_lifecycle=not tier.real)
    await k.start()
    try:
        yield k
    finally:
        await k.stop()


@pytest_asyncio.fixture
async def client(tier: Tier) -> AsyncIterator[Client]:
    """A client for the tier (the test's own, not the kubelets')."""
    c = await Client.connect(tier.kubeconfig, retry=RetryPolicy(max_retries=4, base_delay=0.05))
    try:
        yield c
    finally:
        await c.close()


@pytest_asyncio.fixture
async def namespace(client: Client, wait_for: Callable[..., Awaitable[Any]]) -> AsyncIterator[str]:
    """A fresh namespace with its default ServiceAccount, deleted (without waiting) afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})

    async def service_account() -> bool:
        try:
            await client.get(SERVICE_ACCOUNTS, "default", name)
        except NotFound:
            return False
        return True

    await wait_for(service_account, message="the namespace's default ServiceAccount")
    try:
        yield name
    finally:
        await client.delete(NAMESPACES, name)
