"""Fixtures for the webhook integration tests: Grove's CRDs, and Grove's webhook server running in the test
process behind the manifests of ``deploy/webhook`` (their Service routed to it through an Endpoints object,
as the dev cluster resolves services; :func:`grove.devstack.start_webhook_server`, which ``grove dev`` uses
too).

The server runs in the test process, which a real cluster cannot call: these tests need the dev cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from grove.devstack import ENDPOINTS, start_webhook_server
from grove.runtime.client import Client
from grove.runtime.errors import AlreadyExists, NotFound
from grove.runtime.resources import NAMESPACES
from grove.webhook import WebhookOptions, WebhookServer

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
SYSTEM_NAMESPACE = "grove-system"
SERVICE = "grove-operator-webhook"


async def kubectl_async(kubectl: Any, *args: str, input: str | None = None) -> Any:
    """kubectl in a thread: the webhook server shares the test's event loop and must keep answering."""
    return await asyncio.to_thread(kubectl, *args, input=input)


@pytest_asyncio.fixture
async def webhook(
    dev: Any, kubectl: Any, grove_crds_installed: Path, client: Client
) -> AsyncIterator[WebhookServer]:
    """Grove's webhook server (certProvisionMode auto) registered through ``deploy/webhook``."""
    with contextlib.suppress(AlreadyExists):
        await client.create(NAMESPACES, {"metadata": {"name": SYSTEM_NAMESPACE}})
    await kubectl_async(kubectl, "apply", "-k", str(DEPLOY / "webhook"))
    server = await start_webhook_server(
        client, WebhookOptions(port=0, host="127.0.0.1", namespace=SYSTEM_NAMESPACE, service_name=SERVICE)
    )
    try:
        yield server
    finally:
        await server.stop()
        await kubectl_async(kubectl, "delete", "-k", str(DEPLOY / "webhook"), "--ignore-not-found")
        with contextlib.suppress(NotFound):
            await client.delete(ENDPOINTS, SERVICE, SYSTEM_NAMESPACE)
