"""Fixtures for the webhook integration tests: Grove's CRDs, and Grove's webhook server running in the test
process behind the manifests of ``deploy/webhook`` (their Service routed to it through an Endpoints object,
as the dev cluster resolves services). Helpers: ``webhook_helpers``.

On the real tier (``GROVE_K8S_ASSETS``) the session's stack has registered the three configurations of
``deploy/webhook`` (same names, a ``url`` clientConfig) for its own webhook server.
``webhook_helpers.deploy_webhook`` saves them, deletes them and applies ``deploy/webhook`` as a user would,
its Service without a selector (there is no operator pod: kube-controller-manager's endpoints controller
would empty the hand-written Endpoints of a Service that selects pods), routed to a TEST-NET-1 address on
``lo`` (kube-apiserver refuses loopback addresses in Endpoints; its ``--enable-aggregator-routing`` dials
them). Afterwards it deletes them again and restores the saved ones, caBundle included, and waits until the
API server calls the session's webhook again, so later tests find it as they expect. Against
``GROVE_TEST_KUBECONFIG`` the API server cannot reach the test process: the tests skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from webhook_helpers import (
    SERVICE,
    SYSTEM_NAMESPACE,
    deploy_webhook,
    endpoint_address,
    requests_served,
    route,
    wait_admitted_by,
    webhook_client_kubeconfig,
)

from grove.runtime.client import Client
from grove.webhook import WebhookOptions, WebhookServer


@pytest_asyncio.fixture
async def webhook(
    cluster: Any, kubectl: Any, grove_crds_installed: Path, client: Client
) -> AsyncIterator[WebhookServer]:
    """Grove's webhook server (certProvisionMode auto, under the operator's account on the real tier)
    registered through ``deploy/webhook``; handed out once the API server calls it."""
    ip = endpoint_address(cluster)
    async with deploy_webhook(cluster, kubectl, client):
        server_client = client
        if cluster.k8s is not None:
            server_client = await Client.connect(webhook_client_kubeconfig(cluster))
        server = WebhookServer(
            server_client,
            WebhookOptions(port=0, host=ip, namespace=SYSTEM_NAMESPACE, service_name=SERVICE),
        )
        await server.start()
        try:
            await route(client, ip, server.port)
            await wait_admitted_by(client, lambda: requests_served(server) > 0, "the test's webhook server")
            yield server
        finally:
            await server.stop()
            if server_client is not client:
                await server_client.close()
