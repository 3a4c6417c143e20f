"""Helpers of the webhook integration tests (see conftest.py): ``deploy/webhook`` installed for a block, the
address a webhook served by the test process is reachable at, and waiting until the API server calls it."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from grove.controllers.resources import CLUSTER_TOPOLOGY_BINDINGS
from grove.devstack import ENDPOINTS
from grove.runtime.client import Client
from grove.runtime.errors import AlreadyExists, ApiError, NotFound
from grove.runtime.resources import NAMESPACES
from grove.webhook import WebhookServer
from grove.webhook.manifests import SERVICE_PORT_NAME, webhook_configurations
from grove.webhook.provision import MUTATING_WEBHOOK_CONFIGURATIONS, VALIDATING_WEBHOOK_CONFIGURATIONS
from grove.webhook.server import VALIDATE_CLUSTERTOPOLOGY_PATH

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
SYSTEM_NAMESPACE = "grove-system"
SERVICE = "grove-operator-webhook"
# kube-apiserver refuses loopback addresses in Endpoints, and the real tier's private network namespace has
# only loopback: there the webhook listens on a documentation address (TEST-NET-1) added to `lo`.
ENDPOINT_IP = "192.0.2.10"
# A ClusterTopologyBinding every webhook admits: created with a server-side dry run to see which webhook
# server the API server calls (its webhook configuration cache trails writes).
PROBE = {
    "apiVersion": "grove.io/v1alpha1",
    "kind": "ClusterTopologyBinding",
    "metadata": {"name": "grove-webhook-probe"},
    "spec": {"levels": [{"domain": "zone", "key": "topology.kubernetes.io/zone"}]},
}
_SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields")


async def kubectl_async(kubectl: Any, *args: str, input: str | None = None) -> Any:
    """kubectl in a thread: the webhook server shares the test's event loop and must keep answering."""
    return await asyncio.to_thread(kubectl, *args, input=input)


def endpoint_address(cluster: Any) -> str:
    """Where a webhook served by this process is reachable through a Service's Endpoints: 127.0.0.1 on the
    dev cluster, ENDPOINT_IP (added to this network namespace's ``lo``) on the real tier; skips against
    ``GROVE_TEST_KUBECONFIG``."""
    if cluster.dev is not None:
        return "127.0.0.1"
    if cluster.k8s is None:
        pytest.skip("the API server must reach a webhook served by the test process (GROVE_TEST_KUBECONFIG)")
    result = subprocess.run(
        ["ip", "addr", "add", f"{ENDPOINT_IP}/32", "dev", "lo"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 and "File exists" not in result.stderr and "already" not in result.stderr:
        raise AssertionError(f"ip addr add {ENDPOINT_IP}/32 dev lo: {result.stderr}")
    return ENDPOINT_IP


def webhook_client_kubeconfig(cluster: Any) -> str:
    """The credentials a webhook server runs with: the operator ServiceAccount's on the real tier."""
    return str(cluster.k8s.operator_kubeconfig if cluster.k8s is not None else cluster.kubeconfig)


async def route(client: Client, ip: str, port: int) -> None:
    """Point the webhook Service at ``ip:port`` through its Endpoints, as an endpoints controller would for
    an operator pod."""
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": SERVICE, "namespace": SYSTEM_NAMESPACE},
        "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": SERVICE_PORT_NAME, "port": port}]}],
    }
    await client.apply(ENDPOINTS, endpoints, field_manager="grove-webhook-tests", force=True)


def _resource(config: dict[str, Any]) -> Any:
    return (
        MUTATING_WEBHOOK_CONFIGURATIONS
        if config["kind"] == "MutatingWebhookConfiguration"
        else VALIDATING_WEBHOOK_CONFIGURATIONS
    )


async def wait_admitted_by(
    client: Client,
    called: Callable[[], bool],
    what: str,
    timeout: float = 30.0,  # noqa: ASYNC109 - a polling deadline
) -> None:
    """Dry-run PROBE until ``called()`` says the intended webhook server answered (the API server's webhook
    configuration cache trails the writes of the configurations)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = ""
    while True:
        try:
            await client.create(CLUSTER_TOPOLOGY_BINDINGS, PROBE, dry_run=True)
        except ApiError as e:
            last = str(e)
        if called():
            return
        if loop.time() > deadline:
            raise AssertionError(f"the API server did not call {what} within {timeout}s (last error: {last})")
        await asyncio.sleep(0.05)


def requests_served(server: WebhookServer, path: str = VALIDATE_CLUSTERTOPOLOGY_PATH) -> float:
    value = server.metrics.registry.get_sample_value(
        "controller_runtime_webhook_requests_total", {"webhook": path, "code": "200"}
    )
    return value or 0.0


@contextlib.asynccontextmanager
async def deploy_webhook(cluster: Any, kubectl: Any, client: Client) -> AsyncIterator[None]:
    """``deploy/webhook`` applied for the block (see the module doc), then removed; on the real tier the
    session stack's configurations are put back afterwards."""
    with contextlib.suppress(AlreadyExists):
        await client.create(NAMESPACES, {"metadata": {"name": SYSTEM_NAMESPACE}})
    saved: list[dict[str, Any]] = []
    if cluster.k8s is None:
        await kubectl_async(kubectl, "apply", "-k", str(DEPLOY / "webhook"))
    else:
        for config in webhook_configurations():
            resource = _resource(config)
            current = await client.get(resource, config["metadata"]["name"])
            saved.append(current)
            await client.delete(resource, config["metadata"]["name"])
        rendered = await kubectl_async(kubectl, "kustomize", str(DEPLOY / "webhook"))
        assert rendered.returncode == 0, rendered.stderr
        docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
        for doc in docs:
            if doc["kind"] == "Service":
                doc["spec"].pop("selector", None)
        out = await kubectl_async(
            kubectl, "apply", "-f", "-", input=yaml.safe_dump_all(docs, sort_keys=False)
        )
        assert out.returncode == 0, out.stderr
    try:
        yield
    finally:
        await kubectl_async(kubectl, "delete", "-k", str(DEPLOY / "webhook"), "--ignore-not-found")
        with contextlib.suppress(NotFound):
            await client.delete(ENDPOINTS, SERVICE, SYSTEM_NAMESPACE)
        if saved:
            for config in saved:
                metadata = config["metadata"]
                for key in _SERVER_FIELDS:
                    metadata.pop(key, None)
                await client.create(_resource(config), config)
            stack_webhook = cluster.k8s.stack.stack.webhook
            before = requests_served(stack_webhook)
            await wait_admitted_by(
                client, lambda: requests_served(stack_webhook) > before, "the session's webhook again"
            )
