"""Fixtures for the controller integration tests.

Against a real cluster (the real tier's control plane, or ``GROVE_TEST_KUBECONFIG``) the tests use it as it
is; otherwise this package gets its own dev cluster with 40 fake nodes, kubelets, the scheduler stand-in and
the ``grove-initc`` kubelet gate, as ``grove dev`` runs it, so pods really get scheduled and become Ready.
``operator`` (from the root conftest) then runs an in-process operator for each test's namespace.

* ``webhooks_skipping`` (function): ``async with webhooks_skipping(namespace, probe):`` on the real tier,
  whose Grove admission webhooks are registered cluster-wide, they leave the namespace alone for the block
  (the package's dev cluster runs none): for what the operator does with an object they would refuse.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from grove.controllers.resources import PODCLIQUESETS
from grove.runtime.client import Client
from grove.runtime.errors import ApiError, Conflict
from grove.webhook.manifests import webhook_configurations
from grove.webhook.provision import MUTATING_WEBHOOK_CONFIGURATIONS, VALIDATING_WEBHOOK_CONFIGURATIONS
from package_cluster import grove_dev_cluster


@pytest.fixture(scope="package")
def cluster(cluster: Any) -> Iterator[Any]:
    """The session's real cluster, or a dev cluster with fake nodes for this package."""
    with grove_dev_cluster(cluster) as handle:
        yield handle


@contextlib.asynccontextmanager
async def _skipping(client: Client, namespace: str, probe: dict[str, Any]) -> AsyncIterator[None]:
    """Grove's webhooks leave ``namespace`` alone until the block ends. ``probe`` is an object they would
    refuse, created with a server-side dry run until the API server no longer calls them for it (its
    webhook configuration cache lags a write)."""
    exclude = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [namespace]}
        ]
    }
    resources = {
        config["metadata"]["name"]: (
            MUTATING_WEBHOOK_CONFIGURATIONS
            if config["kind"] == "MutatingWebhookConfiguration"
            else VALIDATING_WEBHOOK_CONFIGURATIONS
        )
        for config in webhook_configurations()
    }

    async def set_selectors(selector: dict[str, Any]) -> None:
        for name, resource in resources.items():
            for _ in range(10):
                config = await client.get(resource, name)
                for hook in config["webhooks"]:
                    hook["namespaceSelector"] = selector
                try:
                    await client.update(resource, config)
                    break
                except Conflict:
                    continue

    await set_selectors(exclude)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        while True:
            try:
                await client.create(PODCLIQUESETS, probe, dry_run=True)
                break
            except ApiError as e:
                if "admission webhook" not in str(e):
                    break
                if loop.time() > deadline:
                    raise AssertionError(f"Grove's webhooks still called in {namespace}: {e}") from None
            await asyncio.sleep(0.1)
        yield
    finally:
        await set_selectors({})


@pytest.fixture
def webhooks_skipping(cluster: Any, client: Client) -> Callable[..., Any]:
    """See the module doc."""

    @contextlib.asynccontextmanager
    async def skipping(namespace: str, probe: dict[str, Any]) -> AsyncIterator[None]:
        if cluster.k8s is None:
            yield
            return
        async with _skipping(client, namespace, probe):
            yield

    return skipping
