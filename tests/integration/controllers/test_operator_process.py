"""``grove operator`` as a process: serves health and metrics, reconciles, stops cleanly on SIGTERM, and a
SIGKILLed process is replaced by one that takes its lease and finishes the work. On the real tier it runs
under the operator's ServiceAccount, its Lease in grove-system (where that account's Role allows them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from grove.controllers.resources import PODCLIQUESETS
from grove.runtime.resources import LEASES
from grove_expect import expected, load_sample, wait_converged

GROVE = str(Path(sys.executable).with_name("grove"))
LEASE = "grove-operator-leader-election"


class Process:
    """A ``grove operator`` process for one namespace."""

    def __init__(self, kubeconfig: str, namespace: str, *extra: str) -> None:
        self.args = [
            GROVE,
            "operator",
            "--kubeconfig",
            kubeconfig,
            "--namespace",
            namespace,
            "--metrics-port",
            "0",
            "--log-level",
            "info",
            # A short lease, so the replacement of a killed process takes over quickly.
            "--lease-duration=2",
            "--renew-deadline=1.5",
            "--retry-period=0.3",
            # Admission is tested in tests/integration/webhook; here it would need a namespace and a port.
            "--no-webhook",
            *extra,
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.env: dict[str, str] | None = None
        self.lease = (LEASE, namespace)
        """The Lease's name and namespace."""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env
        )

    def port(self) -> int:
        """The metrics port, from the manager.started log line."""
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if '"manager.started"' in line:
                return int(line.split('"port": ')[1].split(",")[0])
        raise AssertionError(f"grove operator exited with {self.proc.wait()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


@pytest.fixture
def process(cluster: Any, namespace: str, grove_crds_installed: Any) -> Iterator[Process]:
    if cluster.dev is None and cluster.k8s is None:
        pytest.skip("starts its own operator processes; GROVE_TEST_KUBECONFIG runs the deployed one")
    if cluster.k8s is not None:
        proc = Process(
            cluster.k8s.operator_kubeconfig,
            namespace,
            "--leader-election-namespace",
            "grove-system",
            "--leader-election-id",
            f"grove-test-{namespace}",
        )
        proc.lease = (f"grove-test-{namespace}", "grove-system")
        # As in its pod (the Deployment's downward API): its namespaces exist, nothing to look up or create,
        # which the ServiceAccount's RBAC would refuse.
        proc.env = dict(os.environ, POD_NAMESPACE="grove-system")
    else:
        proc = Process(cluster.kubeconfig, namespace)
    yield proc
    if proc.proc is not None and proc.proc.poll() is None:
        proc.stop(signal.SIGKILL)


async def test_operator_process(process: Process, namespace: str, client: Any) -> None:
    process.start()
    port = process.port()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
            assert r.status == 200
        async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
            assert "controller_runtime_reconcile_total" in await r.text()

    manifest = load_sample("multi-node-aggregated.yaml", namespace)
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    holder = (await client.get(LEASES, *process.lease))["spec"]["holderIdentity"]

    # SIGKILL: the lease stays held; a new process waits for it to expire, then finishes the scale-out.
    assert process.stop(signal.SIGKILL) == -signal.SIGKILL
    await client.scale(PODCLIQUESETS, manifest["metadata"]["name"], 2, namespace)
    process.start()
    process.port()
    await wait_converged(client, namespace, expected(manifest, replicas=2), timeout=60)
    lease = await client.get(LEASES, *process.lease)
    assert lease["spec"]["holderIdentity"] != holder
    assert process.stop() == 0
    lease = await client.get(LEASES, *process.lease)
    assert not lease["spec"].get("holderIdentity"), "a graceful stop releases the lease"
