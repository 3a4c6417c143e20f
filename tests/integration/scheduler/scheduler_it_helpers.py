"""Helpers for the scheduler integration tests: a private topology per test (its own label keys and nodes,
so tests sharing one cluster never see each other's capacity), pods and PodGangs, and kube-scheduler's
side of the extender protocol."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from grove.runtime.client import Client
from grove.runtime.errors import NotFound
from grove.runtime.informer import InformerOptions
from grove.scheduler.kinds import CLUSTER_TOPOLOGY_BINDINGS, NODES, PODGANGS, PODS
from grove.scheduler.synthetic import GroupSpec, node, pod, podgang

FAST = InformerOptions(backoff_initial=0.05, backoff_cap=0.2, backoff_reset=5.0)
HOST_KEY = "kubernetes.io/hostname"


@dataclass
class Topo:
    """Label keys ``<prefix>.grove.test/{zone,block,rack}`` and the ClusterTopologyBinding naming them."""

    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")
    nodes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.prefix

    def key(self, level: str) -> str:
        return HOST_KEY if level == "host" else f"{self.prefix}.grove.test/{level}"

    def binding(self) -> dict[str, Any]:
        return {
            "apiVersion": "grove.io/v1alpha1",
            "kind": "ClusterTopologyBinding",
            "metadata": {"name": self.name},
            "spec": {
                "levels": [{"domain": d, "key": self.key(d)} for d in ("zone", "block", "rack", "host")]
            },
        }

    def node(self, zone: int, block: int, rack: int, host: int, **kwargs: Any) -> dict[str, Any]:
        name = f"{self.prefix}-z{zone}-b{block}-r{rack}-h{host}"
        labels = {
            self.key("zone"): f"z{zone}",
            self.key("block"): f"z{zone}-b{block}",
            self.key("rack"): f"z{zone}-b{block}-r{rack}",
        }
        kwargs["taints"] = [PRIVATE_TAINT, *kwargs.get("taints", ())]
        return node(name, labels, **kwargs)

    def rack_of(self, node_name: str) -> str:
        return node_name.rsplit("-h", 1)[0]

    async def create(self, client: Client, racks: Sequence[tuple[int, int, int, int]], **kwargs: Any) -> None:
        """The binding, then ``hosts`` nodes in each (zone, block, rack, hosts)."""
        await client.create(CLUSTER_TOPOLOGY_BINDINGS, self.binding())
        await self.create_nodes(client, racks, **kwargs)

    async def create_nodes(
        self, client: Client, racks: Sequence[tuple[int, int, int, int]], **kwargs: Any
    ) -> None:
        """``hosts`` nodes in each (zone, block, rack, hosts)."""
        for z, b, r, hosts in racks:
            for h in range(hosts):
                created = await client.create(NODES, self.node(z, b, r, h, **kwargs))
                self.nodes.append(created["metadata"]["name"])

    async def delete(self, client: Client) -> None:
        for name in self.nodes:
            with contextlib.suppress(NotFound):
                await client.delete(NODES, name)
        with contextlib.suppress(NotFound):
            await client.delete(CLUSTER_TOPOLOGY_BINDINGS, self.name)


# The tests play kube-scheduler against their own extender: their pods name a scheduler nobody runs, so on a
# cluster with one (the real tier's kube-schedulers) no other scheduler binds them first; and their private
# nodes carry a taint only their pods tolerate, so no other test's pod takes capacity there.
TEST_SCHEDULER = "grove-scheduler-under-test"
PRIVATE_TAINT = {"key": "grove.test/private-topology", "value": "true", "effect": "NoSchedule"}
# ... and every other taint: on a real control plane kube-controller-manager taints these kubelet-less nodes
# not-ready/unreachable soon after they are created, which the extender would honour.
PRIVATE_TOLERATION = {"operator": "Exists"}


def api_pod(name: str, namespace: str, gang: str | None, cpu: str = "1", **kwargs: Any) -> dict[str, Any]:
    """A pod body as a client would send it (no uid, no status), for :data:`TEST_SCHEDULER`."""
    kwargs.setdefault("scheduler_name", TEST_SCHEDULER)
    kwargs["tolerations"] = [PRIVATE_TOLERATION, *kwargs.get("tolerations", ())]
    body = pod(name, namespace=namespace, gang=gang, cpu=cpu, memory="1Gi", **kwargs)
    del body["metadata"]["uid"]
    del body["status"]
    return body


async def create_gang(
    client: Client,
    namespace: str,
    name: str,
    groups: Sequence[GroupSpec],
    *,
    topo: Topo,
    cpu: str = "1",
    **podgang_args: Any,
) -> list[dict[str, Any]]:
    """The pods of every group (``cpu`` each), then their PodGang; returns the created pods."""
    pods = []
    for g in groups:
        for p in g.pods:
            pods.append(await client.create(PODS, api_pod(p, namespace, name, cpu=cpu)))
    body = podgang(name, groups, namespace=namespace, topology_name=topo.name, **podgang_args)
    del body["metadata"]["uid"]
    await client.create(PODGANGS, body)
    return pods


class Scheduler:
    """kube-scheduler's side of the protocol (nodeCacheCapable), over HTTP."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def post(self, verb: str, body: Any) -> Any:
        async with self.session.post(f"{self.url}/{verb}", json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def filter(self, pod: dict[str, Any], nodes: Iterable[str]) -> dict[str, Any]:
        result: dict[str, Any] = await self.post(
            "filter", {"Pod": pod, "Nodes": None, "NodeNames": list(nodes)}
        )
        return result

    async def bind(self, pod: dict[str, Any], node: str) -> dict[str, Any]:
        meta = pod["metadata"]
        result: dict[str, Any] = await self.post(
            "bind",
            {"PodName": meta["name"], "PodNamespace": meta["namespace"], "PodUID": meta["uid"], "Node": node},
        )
        return result

    async def schedule(self, pod: dict[str, Any], nodes: Iterable[str]) -> str | dict[str, Any]:
        """Filter, then bind to the only node left: the node, or the filter result when none is left."""
        result = await self.filter(pod, nodes)
        passing = result["NodeNames"] or []
        if len(passing) != 1:
            return result
        bound = await self.bind(pod, passing[0])
        assert bound == {"Error": ""}, bound
        return str(passing[0])

    async def place(self, pod: dict[str, Any], nodes: Iterable[str]) -> str | None:
        """:meth:`schedule` for polling: the node the pod was bound to, or None (kube-scheduler retries)."""
        outcome = await self.schedule(pod, nodes)
        return outcome if isinstance(outcome, str) else None
