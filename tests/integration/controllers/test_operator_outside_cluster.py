"""`grove operator` run from a workstation: it creates the namespaces its Lease and webhook Secret live in."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from grove.controllers.operator import OperatorOptions, run_operator
from grove.operator_command import namespaces_to_ensure, start_webhook
from grove.runtime.errors import NotFound
from grove.runtime.resources import LEASES, NAMESPACES, SECRETS
from grove.webhook import WebhookOptions, WebhookServer

GROVE = str(Path(sys.executable).with_name("grove"))


def test_only_an_operator_outside_a_pod_creates_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    options = OperatorOptions(leader_election_namespace="lease-ns")
    webhook = WebhookOptions(namespace="webhook-ns")
    assert namespaces_to_ensure(options, webhook) == ("lease-ns", "webhook-ns")
    assert namespaces_to_ensure(OperatorOptions(leader_election=False), None) == ()
    manual = WebhookOptions(namespace="webhook-ns", cert_provision_mode="manual", cert_dir="/certs")
    assert namespaces_to_ensure(OperatorOptions(leader_election_namespace="x"), manual) == ("x",)
    monkeypatch.setenv("POD_NAMESPACE", "grove-system")
    assert namespaces_to_ensure(options, webhook) == ()


async def test_operator_outside_the_cluster_creates_its_namespaces_and_leads(
    cluster: Any, client: Any, wait_for: Any, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    watched, lease_ns, webhook_ns = f"w-{suffix}", f"lease-{suffix}", f"webhook-{suffix}"
    env = {k: v for k, v in os.environ.items() if k != "POD_NAMESPACE"}
    # On a real cluster our webhook would write its CA into the deployed operator's webhook configurations.
    webhook = cluster.dev is not None
    log_file = (tmp_path / "operator.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        GROVE,
        "operator",
        f"--kubeconfig={cluster.kubeconfig}",
        f"--namespace={watched}",  # acts on nothing the other tests own
        f"--leader-election-namespace={lease_ns}",
        f"--webhook-namespace={webhook_ns}",
        "--metrics-port=0",
        "--webhook-port=0" if webhook else "--no-webhook",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log_file,
    )

    def logs() -> str:
        return (tmp_path / "operator.log").read_text()[-2000:]

    try:

        async def leading() -> Any:
            assert process.returncode is None, logs()
            try:
                lease = await client.get(LEASES, "grove-operator-leader-election", lease_ns)
            except NotFound:
                return None
            return lease["spec"].get("holderIdentity")

        await wait_for(leading, timeout=30, message="the operator holding its Lease")
        if webhook:

            async def certificate() -> Any:
                try:
                    return await client.get(SECRETS, "grove-webhook-server-cert", webhook_ns)
                except NotFound:
                    return None

            # The webhook starts beside the manager: its Secret may come just after the Lease.
            secret = await wait_for(certificate, timeout=30, message="the webhook's certificate Secret")
            assert set(secret["data"]) >= {"tls.crt", "tls.key", "ca.crt"}
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=60)
        log_file.close()
        for name in (lease_ns, webhook_ns):
            with contextlib.suppress(NotFound):
                await client.delete(NAMESPACES, name)
    assert process.returncode == 0, logs()


async def test_a_stop_during_the_webhook_start_is_a_clean_stop(cluster: Any, namespace: str) -> None:
    # SIGTERM while the webhook provisions its certificate: the manager's shutdown closes the client under it.
    options = OperatorOptions(namespace=namespace, leader_election=False, metrics_port=0)
    handle = await run_operator(cluster.kubeconfig, options)
    await handle.stop()
    webhook = WebhookServer(handle.client, WebhookOptions(port=0, namespace=namespace))
    try:
        assert await start_webhook(webhook, handle) is False
    finally:
        await webhook.stop()
