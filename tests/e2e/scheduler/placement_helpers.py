"""Helpers for the placement tests: gang pods and PodGangs as the operator creates them (pods gated, then
the PodGang, then the gates removed), filler pods, and where things landed."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from prometheus_client import generate_latest

from grove.devcluster import ThreadedDevCluster
from grove.devstack import DEV_TOPOLOGY, EmbeddedExtender
from grove.runtime.client import Client, PatchType
from grove.runtime.errors import NotFound
from grove.runtime.informer import InformerOptions
from grove.runtime.resources import NAMESPACES, SERVICE_ACCOUNTS
from grove.scheduler.kinds import NODES, PODGANGS, PODS
from grove.scheduler.service import ExtenderService
from grove.scheduler.synthetic import GroupSpec, podgang

FAST = InformerOptions(backoff_initial=0.05, backoff_cap=0.2, backoff_reset=5.0)
RACK = "topology.grove.io/rack"
BLOCK = "topology.grove.io/block"
GATE = "grove.io/podgang-pending-creation"
Wait = Callable[..., Awaitable[Any]]
T = TypeVar("T")


def pod_body(
    name: str,
    *,
    cpu: str,
    gang: str | None = None,
    scheduler: str = "grove-scheduler",
    gated: bool = False,
    node: str | None = None,
) -> dict[str, Any]:
    """A pod tolerating the fake nodes' taint, gone at once when deleted."""
    spec: dict[str, Any] = {
        "schedulerName": scheduler,
        "terminationGracePeriodSeconds": 0,
        "tolerations": [{"key": "fake-node", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [
            {"name": "main", "image": "registry.k8s.io/pause:3.9", "resources": {"requests": {"cpu": cpu}}}
        ],
    }
    if gated:
        spec["schedulingGates"] = [{"name": GATE}]
    if node:
        spec["nodeName"] = node
    labels = {"grove.io/podgang": gang} if gang else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec}


class Stack:
    """Where the placement tests run: a cluster with 40 fake nodes (2 zones x 2 blocks x 2 racks x 5 hosts,
    8 cpu each), a kube-scheduler serving ``grove-scheduler`` through the scheduler extender, and the
    ``dev-topology`` ClusterTopologyBinding. :class:`DevClusterStack`: the package's own dev cluster;
    :class:`RealStack`: the session's real control plane (``GROVE_K8S_ASSETS``)."""

    kubeconfig: str
    real: bool = False

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the extender's loop (its state is read there)."""
        raise NotImplementedError

    def service(self) -> ExtenderService | None:
        """The running extender (call on its loop)."""
        raise NotImplementedError

    def fail_node(self, name: str) -> None:
        """The node's kubelet reports it NotReady."""
        raise NotImplementedError

    def recover_node(self, name: str) -> None:
        raise NotImplementedError

    def restart_extender(self) -> None:
        """Stop the extender (gracefully) and start a new one on the same URL, with an empty ledger."""
        raise NotImplementedError

    # ---- cluster objects ---------------------------------------------------------------------------------

    async def create_namespace(self, client: Client, wait: Wait) -> str:
        name = f"e2e-{uuid.uuid4().hex[:8]}"
        await client.create(NAMESPACES, {"metadata": {"name": name}})
        if self.real:
            # A real API server refuses pods until kube-controller-manager made the default ServiceAccount.
            async def has_default_account() -> bool:
                accounts = await client.list(SERVICE_ACCOUNTS, name, field_selector="metadata.name=default")
                return bool(accounts.items)

            await wait(has_default_account, message=f"ServiceAccount {name}/default")
        return name

    async def delete_namespace(self, client: Client, namespace: str) -> None:
        for p in (await client.list(PODS, namespace)).items:
            with contextlib.suppress(NotFound):
                await client.delete(PODS, p["metadata"]["name"], namespace, grace_period_seconds=0)
        await client.delete(NAMESPACES, namespace)

    async def nodes_idle(self, client: Client) -> bool:
        """No pod is bound to a node, and every node is Ready with no taint but the fake nodes' own (on a
        shared cluster, earlier tests' pods may still be going, a recovered node's taints still on)."""
        nodes = (await client.list(NODES)).items
        for n in nodes:
            ready = any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
            if not ready or any(t["key"] != "fake-node" for t in n["spec"].get("taints") or ()):
                return False
        names = {n["metadata"]["name"] for n in nodes}
        return not any(p["spec"].get("nodeName") in names for p in (await client.list(PODS)).items)

    async def racks(self, client: Client) -> dict[str, list[str]]:
        """Rack label value -> node names, in node order."""
        out: dict[str, list[str]] = {}
        for n in sorted((await client.list(NODES)).items, key=lambda n: n["metadata"]["name"]):
            out.setdefault(n["metadata"]["labels"][RACK], []).append(n["metadata"]["name"])
        return out

    async def labels_of(self, client: Client) -> dict[str, dict[str, str]]:
        return {n["metadata"]["name"]: n["metadata"]["labels"] for n in (await client.list(NODES)).items}

    # ---- the extender, on its loop ---------------------------------------------------------------------

    def ledger_knows(self, gang_key: str, pods: Iterable[str]) -> bool:
        def check() -> bool:
            service = self.service()
            if service is None:
                return False
            gang = service.ledger.gangs.get(gang_key)
            return gang is not None and gang.gang is not None and all(p in service.ledger.pods for p in pods)

        return self.call(check)

    def planned(self, gang_key: str) -> dict[str, str]:
        def read() -> dict[str, str]:
            service = self.service()
            assert service is not None
            gang = service.ledger.gangs.get(gang_key)
            return dict(gang.planned) if gang is not None else {}

        return self.call(read)

    def metric(self, name: str) -> float:
        """The sum of every series of the extender's metric ``name``."""

        def read() -> str:
            service = self.service()
            assert service is not None
            return str(generate_latest(service.manager.metrics.registry).decode())

        total = 0.0
        for line in self.call(read).splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
                total += float(line.rsplit(" ", 1)[1])
        return total


class DevClusterStack(Stack):
    """The package's dev cluster and its extender (replaced when a test restarts it)."""

    def __init__(self, dev: ThreadedDevCluster, extender: EmbeddedExtender) -> None:
        self.dev = dev
        self.extender = extender
        self.kubeconfig = dev.kubeconfig_path
        self.real = False

    def call(self, fn: Callable[[], T]) -> T:
        return self.dev.call(fn)

    def service(self) -> ExtenderService | None:
        return self.extender.service

    def fail_node(self, name: str) -> None:
        sim = self.dev.cluster.simulation
        assert sim is not None
        self.dev.call(sim.fail_node, name)

    def recover_node(self, name: str) -> None:
        sim = self.dev.cluster.simulation
        assert sim is not None
        self.dev.call(sim.recover_node, name)

    def restart_extender(self) -> None:
        old = self.extender

        async def restart() -> EmbeddedExtender:
            await old.stop()
            new = EmbeddedExtender(
                None, port=old.port, informer_options=old.options.informer_options, settle_gc=False
            )
            await self.dev.cluster.start_component(new)  # stopped with the cluster
            return new

        self.extender = self.dev.call(restart)


class RealStack(Stack):
    """The session's real control plane (:class:`k8s_tier.K8sTier`): HTTP fake kubelets, the second
    kube-scheduler calling the stack's in-process extender."""

    def __init__(self, tier: Any) -> None:
        self.tier = tier
        self.kubeconfig = str(tier.plane.kubeconfig_path)
        self.real = True

    def call(self, fn: Callable[[], T]) -> T:
        result: T = self.tier.stack.call(fn)
        return result

    def service(self) -> ExtenderService | None:
        service: ExtenderService | None = self.tier.stack.stack.extender
        return service

    def fail_node(self, name: str) -> None:
        self.tier.fail_node(name)

    def recover_node(self, name: str) -> None:
        self.tier.recover_node(name)

    def restart_extender(self) -> None:
        self.tier.stack.call(self.tier.stack.stack.restart_extender)


async def create_gang(
    stack: Stack,
    client: Client,
    namespace: str,
    name: str,
    groups: Sequence[GroupSpec],
    *,
    cpu: str,
    keep_gated: Iterable[str] = (),
    wait: Wait,
    **podgang_args: Any,
) -> list[str]:
    """Pods (gated), the PodGang (``dev-topology``), then every gate removed but ``keep_gated``'s."""
    names = [p for g in groups for p in g.pods]
    for p in names:
        await client.create(PODS, pod_body(p, cpu=cpu, gang=name, gated=True), namespace)
    body = podgang(name, groups, namespace=namespace, topology_name=DEV_TOPOLOGY, **podgang_args)
    del body["metadata"]["uid"]
    await client.create(PODGANGS, body)
    keys = [f"{namespace}/{p}" for p in names]
    # As the operator does, ungate once the PodGang exists; waiting for the extender to have seen it too
    # spares the test kube-scheduler's retry backoff.
    await wait(lambda: stack.ledger_knows(f"{namespace}/{name}", keys), message=f"extender seeing {name}")
    held = set(keep_gated)
    await ungate(client, namespace, [p for p in names if p not in held])
    return names


async def ungate(client: Client, namespace: str, names: Iterable[str]) -> None:
    await asyncio.gather(
        *(
            client.patch(PODS, n, {"spec": {"schedulingGates": None}}, namespace, patch_type=PatchType.MERGE)
            for n in names
        )
    )


async def bound_nodes(client: Client, namespace: str, names: Iterable[str], wait: Wait) -> dict[str, str]:
    """Waits until every named pod is bound; returns pod -> node."""
    wanted = list(names)

    async def check() -> dict[str, str] | None:
        pods = {p["metadata"]["name"]: p for p in (await client.list(PODS, namespace)).items}
        nodes = {n: (pods.get(n) or {}).get("spec", {}).get("nodeName") for n in wanted}
        return nodes if all(nodes.values()) else None  # type: ignore[return-value]

    result: dict[str, str] = await wait(check, message=f"pods {wanted} bound")
    return result


async def fill(client: Client, namespace: str, nodes: Iterable[str], cpu: str = "8") -> None:
    """A plain pod bound directly to each node (``filler-<node>``), using ``cpu`` of it."""
    for node in nodes:
        await client.create(
            PODS, pod_body(f"filler-{node}", cpu=cpu, scheduler="default-scheduler", node=node), namespace
        )
