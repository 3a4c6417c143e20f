"""``grove operator`` serves the admission webhooks: started as a process behind ``deploy/webhook`` (on the
real tier under the operator's ServiceAccount), it rejects an invalid PodCliqueSet at ``kubectl apply`` time
and stops cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from webhook_helpers import (
    SYSTEM_NAMESPACE,
    deploy_webhook,
    endpoint_address,
    kubectl_async,
    route,
    webhook_client_kubeconfig,
)

from grove.runtime.client import Client
from grove.webhook.provision import VALIDATING_WEBHOOK_CONFIGURATIONS

GROVE = str(Path(sys.executable).with_name("grove"))


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
        return port


async def test_grove_operator_serves_the_webhooks(
    cluster: Any,
    kubectl: Any,
    grove_crds_installed: Path,
    client: Client,
    namespace: str,
    wait_for: Callable[..., Awaitable[Any]],
) -> None:
    ip = endpoint_address(cluster)
    async with deploy_webhook(cluster, kubectl, client):
        port = _free_port(ip)
        await route(client, ip, port)
        proc = await asyncio.create_subprocess_exec(
            GROVE,
            "operator",
            "--kubeconfig",
            webhook_client_kubeconfig(cluster),
            "--namespace",
            namespace,
            "--no-leader-elect",
            "--metrics-port",
            "0",
            "--webhook-port",
            str(port),
            "--webhook-host",
            ip,
            "--webhook-namespace",
            SYSTEM_NAMESPACE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # On the real tier it runs as in its pod: the namespace exists (RBAC would refuse a lookup).
            env=dict(os.environ, POD_NAMESPACE=SYSTEM_NAMESPACE) if cluster.k8s is not None else None,
        )
        try:

            async def injected() -> bool:
                assert proc.returncode is None, "grove operator exited"
                config = await client.get(
                    VALIDATING_WEBHOOK_CONFIGURATIONS, "podcliqueset-validating-webhook"
                )
                return bool(config["webhooks"][0]["clientConfig"].get("caBundle"))

            await wait_for(injected, timeout=30, message="the operator to patch the caBundle")
            bad = {
                "apiVersion": "grove.io/v1alpha1",
                "kind": "PodCliqueSet",
                "metadata": {"name": "bad", "namespace": namespace},
                "spec": {
                    "template": {"cliques": [{"name": "Leader", "spec": {"podSpec": {"containers": []}}}]}
                },
            }
            result: dict[str, Any] = {}

            async def answered() -> bool:
                # Until the API server's webhook configuration cache has the caBundle, the call fails.
                out = await kubectl_async(kubectl, "apply", "-f", "-", input=json.dumps(bad))
                result["out"] = out
                return "failed calling webhook" not in out.stderr

            await wait_for(answered, timeout=30, interval=0.1, message="the webhook answering")
            out = result["out"]
            assert out.returncode == 1
            assert out.stderr.startswith('The PodCliqueSet "bad" is invalid: ')
            assert 'spec.template.cliques[0].name: Invalid value: "Leader"' in out.stderr
        finally:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                output, _ = await proc.communicate()
    assert proc.returncode == 0, output.decode()
