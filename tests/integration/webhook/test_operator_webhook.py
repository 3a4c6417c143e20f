"""``grove operator`` serves the admission webhooks: started as a process against the dev cluster behind
``deploy/webhook``, it rejects an invalid PodCliqueSet at ``kubectl apply`` time and stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import DEPLOY, SERVICE, SYSTEM_NAMESPACE, kubectl_async
from grove.devstack import ENDPOINTS, route_service
from grove.runtime.client import Client
from grove.runtime.errors import AlreadyExists, NotFound
from grove.runtime.resources import NAMESPACES
from grove.webhook.provision import VALIDATING_WEBHOOK_CONFIGURATIONS

GROVE = str(Path(sys.executable).with_name("grove"))

pytestmark = pytest.mark.devonly


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_grove_operator_serves_the_webhooks(
    dev: Any,
    cluster: Any,
    kubectl: Any,
    grove_crds_installed: Path,
    client: Client,
    namespace: str,
    wait_for: Callable[..., Awaitable[Any]],
) -> None:
    with contextlib.suppress(AlreadyExists):
        await client.create(NAMESPACES, {"metadata": {"name": SYSTEM_NAMESPACE}})
    await kubectl_async(kubectl, "apply", "-k", str(DEPLOY / "webhook"))
    port = _free_port()
    await route_service(client, SYSTEM_NAMESPACE, SERVICE, port)
    proc = await asyncio.create_subprocess_exec(
        GROVE,
        "operator",
        "--kubeconfig",
        cluster.kubeconfig,
        "--namespace",
        namespace,
        "--no-leader-elect",
        "--metrics-port",
        "0",
        "--webhook-port",
        str(port),
        "--webhook-host",
        "127.0.0.1",
        "--webhook-namespace",
        SYSTEM_NAMESPACE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:

        async def injected() -> bool:
            assert proc.returncode is None, "grove operator exited"
            config = await client.get(VALIDATING_WEBHOOK_CONFIGURATIONS, "podcliqueset-validating-webhook")
            return bool(config["webhooks"][0]["clientConfig"].get("caBundle"))

        await wait_for(injected, timeout=30, message="the operator to patch the caBundle")
        bad = {
            "apiVersion": "grove.io/v1alpha1",
            "kind": "PodCliqueSet",
            "metadata": {"name": "bad", "namespace": namespace},
            "spec": {"template": {"cliques": [{"name": "Leader", "spec": {"podSpec": {"containers": []}}}]}},
        }
        out = await kubectl_async(kubectl, "apply", "-f", "-", input=json.dumps(bad))
        assert out.returncode == 1
        assert out.stderr.startswith('The PodCliqueSet "bad" is invalid: ')
        assert 'spec.template.cliques[0].name: Invalid value: "Leader"' in out.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            output, _ = await proc.communicate()
        await kubectl_async(kubectl, "delete", "-k", str(DEPLOY / "webhook"), "--ignore-not-found")
        with contextlib.suppress(NotFound):
            await client.delete(ENDPOINTS, SERVICE, SYSTEM_NAMESPACE)
    assert proc.returncode == 0, output.decode()
