"""Gang termination on the dev cluster and the real tier: a gang whose minAvailable stays breached for
terminationDelay is recreated, at the smallest scope that restores it (a scaling-group replica, else the
PodCliqueSet replica).

Nodes are failed as "unreachable" (the kubelet stops talking): their pods stay bound and Running but lose
readiness, and their deletion hangs, so only gang termination brings the gang back (upstream #401). Every
pod requests 5 of a fake node's 8 CPUs, so each pod has a node of its own and failing one node hits exactly
one pod. Negative checks are anchored on a positive event that happens later than the unwanted action would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from grove.api import labels
from grove.controllers import conditions as cond
from grove.controllers import reasons
from grove.controllers.resources import (
    PODCLIQUES,
    PODCLIQUESCALINGGROUPS,
    PODCLIQUESETS,
    PODS,
    SERVICES,
)
from grove.controllers.status import find_condition
from grove.runtime.client import Client
from grove.runtime.resources import EVENTS
from grove_expect import expected, wait_converged

TOLERATION = {"key": "fake-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"}


def clique(name: str, replicas: int, min_available: int | None = None, cpu: str = "5") -> dict[str, Any]:
    """A clique whose pods each need a fake node of their own (or, with a huge ``cpu``, none fits)."""
    container = {
        "name": name,
        "image": "nginx:latest",
        "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}},
    }
    spec: dict[str, Any] = {
        "roleName": name,
        "replicas": replicas,
        "podSpec": {"tolerations": [TOLERATION], "containers": [container]},
    }
    if min_available is not None:
        spec["minAvailable"] = min_available
    return {"name": name, "spec": spec}


def podcliqueset(
    name: str,
    namespace: str,
    cliques: list[dict[str, Any]],
    groups: list[dict[str, Any]] | None = None,
    replicas: int = 1,
) -> dict[str, Any]:
    """A PodCliqueSet with a 2 s terminationDelay."""
    template: dict[str, Any] = {"terminationDelay": "2s", "cliques": cliques}
    if groups:
        template["podCliqueScalingGroups"] = groups
    return {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "PodCliqueSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "template": template},
    }


class Nodes:
    """Fails fake nodes as unreachable and recovers them: the dev cluster's simulation, or the real tier's
    HTTP kubelets. On the real tier the node lifecycle controller's part (taints, conditions Unknown, pods
    NotReady) is done at once as the emulator does it, not ~50 s later by kube-controller-manager: these
    tests are about what the operator does next (the simulation conformance tests cover
    kube-controller-manager's own timing)."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.failed: set[str] = set()

    def fail(self, node: str) -> None:
        """The node's kubelet stops talking."""
        self.failed.add(node)
        dev = self.cluster.dev
        if dev is not None:
            dev.call(dev.cluster.simulation.fail_node, node, unreachable=True)
        else:
            self.cluster.k8s.fail_node(node, unreachable=True, node_lifecycle=True)

    def recover(self) -> None:
        """Every failed node comes back (its held pod deletions complete)."""
        dev = self.cluster.dev
        for node in sorted(self.failed):
            if dev is not None:
                dev.call(dev.cluster.simulation.recover_node, node)
            else:
                self.cluster.k8s.recover_node(node, node_lifecycle=True)
        self.failed.clear()


@pytest.fixture
def nodes(cluster: Any) -> Iterator[Nodes]:
    """:class:`Nodes`; whatever is still failed at the end is recovered."""
    if cluster.dev is None and cluster.k8s is None:
        pytest.skip("fails fake nodes: needs the dev cluster or the real tier's HTTP kubelets")
    handle = Nodes(cluster)
    yield handle
    handle.recover()


async def pclqs(client: Client, namespace: str, pcs: str) -> dict[str, dict[str, Any]]:
    """The PodCliques of ``pcs`` by name."""
    items = (await client.list(PODCLIQUES, namespace, label_selector=f"{labels.PART_OF}={pcs}")).items
    return {p["metadata"]["name"]: p for p in items}


async def uids(client: Client, namespace: str, pcs: str) -> dict[str, str]:
    """PodClique name -> UID."""
    return {n: p["metadata"]["uid"] for n, p in (await pclqs(client, namespace, pcs)).items()}


async def pods_of(client: Client, namespace: str, pclq: str) -> list[dict[str, Any]]:
    """The non-terminating pods of PodClique ``pclq``."""
    items = (await client.list(PODS, namespace, label_selector=f"{labels.PODCLIQUE}={pclq}")).items
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def node_of_a_pod(client: Client, namespace: str, pclq: str) -> str:
    """The node of one of the PodClique's pods."""
    pods = await pods_of(client, namespace, pclq)
    return str(sorted(p["spec"]["nodeName"] for p in pods)[0])


def _ready(pod: dict[str, Any]) -> bool:
    c = find_condition((pod.get("status") or {}).get("conditions"), "Ready")
    return c is not None and c.get("status") == "True"


def condition_of(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """A status condition of ``obj`` (a copy), or None."""
    c = find_condition(((obj or {}).get("status") or {}).get("conditions"), type_)
    return dict(c) if c is not None else None


async def recreated(
    client: Client, namespace: str, pcs: str, names: list[str], before: dict[str, str], failed: set[str]
) -> bool:
    """Every PodClique of ``names`` is a new incarnation whose pods are all Running and Ready on nodes
    that did not fail."""
    now = await pclqs(client, namespace, pcs)
    for name in names:
        pclq = now.get(name)
        if pclq is None or pclq["metadata"]["uid"] == before[name]:
            return False
        pods = [
            p
            for p in await pods_of(client, namespace, name)
            if p["metadata"]["ownerReferences"][0]["uid"] == pclq["metadata"]["uid"]
        ]
        if len(pods) != pclq["spec"]["replicas"]:
            return False
        if not all(_ready(p) and p["spec"].get("nodeName") not in failed for p in pods):
            return False
    return True


async def events(client: Client, namespace: str, reason: str, involved: str) -> list[dict[str, Any]]:
    """Events of ``reason`` about the object named ``involved``."""
    items = (await client.list(EVENTS, namespace)).items
    return [e for e in items if e.get("reason") == reason and e["involvedObject"]["name"] == involved]


@contextlib.asynccontextmanager
async def watching_flags(
    client: Client, namespace: str, wait_for: Any
) -> AsyncIterator[list[tuple[str, str]]]:
    """Collects (scaling group, GangTerminationInProgress status or "") from every change a watch delivers;
    entered once the watch has delivered the groups as they are."""
    seen: list[tuple[str, str]] = []

    async def run() -> None:
        async with client.watch(PODCLIQUESCALINGGROUPS, namespace) as stream:
            async for event in stream:
                if event.type not in ("ADDED", "MODIFIED"):
                    continue  # bookmarks
                flag = condition_of(event.object, cond.CONDITION_GANG_TERMINATION_IN_PROGRESS)
                seen.append((event.object["metadata"]["name"], flag["status"] if flag else ""))

    task = asyncio.create_task(run())
    try:
        await wait_for(lambda: seen, message="watch of the scaling groups started")
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_node_failure_recycles_only_the_broken_scaling_group_replica(
    operator: Any, namespace: str, client: Client, nodes: Nodes, wait_for: Any
) -> None:
    name = "gt-group"
    manifest = podcliqueset(
        name,
        namespace,
        [clique("frontend", 2, min_available=1), clique("leader", 1), clique("worker", 2)],
        [{"name": "g", "cliqueNames": ["leader", "worker"], "replicas": 2, "minAvailable": 1}],
    )
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    pcsg = f"{name}-0-g"
    # Scaled at runtime: the recreated member keeps it.
    await client.scale(PODCLIQUES, f"{pcsg}-1-worker", 3, namespace)
    scaled = {f"{pcsg}-1-worker": 3}
    await wait_converged(client, namespace, expected(manifest, pclq_replicas=scaled))
    before = await uids(client, namespace, name)
    group_uid = (await client.get(PODCLIQUESCALINGGROUPS, pcsg, namespace))["metadata"]["uid"]

    # The leader of group replica 1 goes silent: that replica breaches; replica 0 keeps the group at its
    # minAvailable (1), so the group recycles replica 1 itself. A frontend pod goes silent too: 1 of 2
    # stays ready, minAvailable 1 holds, so nothing happens to the frontend.
    failed = {
        await node_of_a_pod(client, namespace, f"{pcsg}-1-leader"),
        await node_of_a_pod(client, namespace, f"{name}-0-frontend"),
    }
    for node in failed:
        nodes.fail(node)
    recycled = [f"{pcsg}-1-leader", f"{pcsg}-1-worker"]
    await wait_for(
        lambda: recreated(client, namespace, name, recycled, before, failed),
        timeout=60,
        message="group replica 1 recreated, its pods Ready on healthy nodes",
    )

    after = await pclqs(client, namespace, name)
    assert {n: p["metadata"]["uid"] for n, p in after.items() if n not in recycled} == {
        n: u for n, u in before.items() if n not in recycled
    }, "only group replica 1 is recreated"
    assert after[f"{pcsg}-1-worker"]["spec"]["replicas"] == 3
    frontend = condition_of(after[f"{name}-0-frontend"], cond.CONDITION_MIN_AVAILABLE_BREACHED)
    assert frontend is not None and frontend["status"] == "False"
    group = await client.get(PODCLIQUESCALINGGROUPS, pcsg, namespace)
    assert group["metadata"]["uid"] == group_uid
    assert condition_of(group, cond.CONDITION_GANG_TERMINATION_IN_PROGRESS) is None
    await wait_for(
        lambda: events(client, namespace, reasons.PCSG_REPLICA_DELETE_SUCCESSFUL, pcsg),
        message="PodCliqueScalingGroupReplicaDeleteSuccessful",
    )
    assert not await events(client, namespace, reasons.PCS_REPLICA_DELETE_SUCCESSFUL, name)
    await wait_for(
        lambda: _no_records(client, PODCLIQUESCALINGGROUPS, namespace, pcsg), message="record dropped"
    )

    # Once the nodes return (the stuck pods finish terminating) the namespace is exactly as expected.
    nodes.recover()
    await wait_converged(client, namespace, expected(manifest, pclq_replicas=scaled))


async def _no_records(client: Client, resource: Any, namespace: str, name: str) -> bool:
    obj = await client.get(resource, name, namespace)
    return not [k for k in obj["metadata"].get("annotations") or {} if k.startswith("grove.io/gang-")]


async def test_standalone_breach_recycles_the_whole_podcliqueset_replica(
    operator: Any, namespace: str, client: Client, nodes: Nodes, wait_for: Any
) -> None:
    name = "gt-replica"
    manifest = podcliqueset(
        name,
        namespace,
        [
            clique("frontend", 2, min_available=2),
            clique("router", 1),
            clique("leader", 1),
            clique("worker", 1),
        ],
        [{"name": "g", "cliqueNames": ["leader", "worker"], "replicas": 1}],
    )
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    pcsg = f"{name}-0-g"
    scaled = {f"{name}-0-router": 2, f"{pcsg}-0-worker": 2}
    for pclq, count in scaled.items():
        await client.scale(PODCLIQUES, pclq, count, namespace)
    await wait_converged(client, namespace, expected(manifest, pclq_replicas=scaled))
    before = await uids(client, namespace, name)
    kept = {
        "group": (await client.get(PODCLIQUESCALINGGROUPS, pcsg, namespace))["metadata"]["uid"],
        "service": (await client.get(SERVICES, f"{name}-0", namespace))["metadata"]["uid"],
    }

    async with watching_flags(client, namespace, wait_for) as flags:
        failed = {await node_of_a_pod(client, namespace, f"{name}-0-frontend")}
        nodes.fail(next(iter(failed)))
        await wait_for(
            lambda: recreated(client, namespace, name, sorted(before), before, failed),
            timeout=60,
            message="every PodClique of replica 0 recreated, its pods Ready on healthy nodes",
        )
        await wait_for(
            lambda: _condition_status(
                client, pcsg, namespace, cond.CONDITION_GANG_TERMINATION_IN_PROGRESS, "False"
            ),
            timeout=30,
            message="GangTerminationInProgress False",
        )
    assert (pcsg, "True") in flags, f"GangTerminationInProgress was never True: {flags}"
    assert flags.index((pcsg, "True")) < len(flags) - 1 - flags[::-1].index((pcsg, "False"))

    after = await pclqs(client, namespace, name)
    assert {n: p["spec"]["replicas"] for n, p in after.items() if n in scaled} == scaled, "runtime scale kept"
    assert (await client.get(PODCLIQUESCALINGGROUPS, pcsg, namespace))["metadata"]["uid"] == kept["group"]
    assert (await client.get(SERVICES, f"{name}-0", namespace))["metadata"]["uid"] == kept["service"]
    deleted = await wait_for(
        lambda: events(client, namespace, reasons.PCS_REPLICA_DELETE_SUCCESSFUL, name),
        message="PodCliqueSetReplicaDeleteSuccessful",
    )
    assert len(deleted) == 1 and deleted[0].get("count", 1) == 1, "recycled exactly once"
    await wait_for(lambda: _no_records(client, SERVICES, namespace, f"{name}-0"), message="record dropped")
    assert await _no_records(client, PODCLIQUESETS, namespace, name), "the user's object is not written"

    nodes.recover()
    await wait_converged(client, namespace, expected(manifest, pclq_replicas=scaled))


async def test_a_workload_that_never_became_healthy_is_not_churned(
    operator: Any, namespace: str, client: Client, nodes: Nodes, wait_for: Any
) -> None:
    # No node fits these pods: the PodCliques and the scaling group are breached from the start.
    stuck = podcliqueset(
        "gt-stuck",
        namespace,
        [clique("big", 1, cpu="1000"), clique("bigw", 1, cpu="1000")],
        [{"name": "g", "cliqueNames": ["bigw"], "replicas": 1}],
    )
    await client.create(PODCLIQUESETS, stuck)

    async def stuck_breached() -> bool:
        got = await pclqs(client, namespace, "gt-stuck")
        groups = (await client.list(PODCLIQUESCALINGGROUPS, namespace)).items
        found = [*got.values(), *groups]
        return len(found) == 3 and all(
            (condition_of(o, cond.CONDITION_MIN_AVAILABLE_BREACHED) or {}).get("status") == "True"
            for o in found
        )

    await wait_for(stuck_breached, message="gt-stuck breached")
    stuck_uids = await uids(client, namespace, "gt-stuck")

    # A control that was healthy and then breaks, after gt-stuck: its recycle comes later than a recycle
    # of gt-stuck would have come.
    control = podcliqueset("gt-control", namespace, [clique("frontend", 1)])
    await client.create(PODCLIQUESETS, control)
    await wait_converged(client, namespace, expected(control))
    before = await uids(client, namespace, "gt-control")
    failed = {await node_of_a_pod(client, namespace, "gt-control-0-frontend")}
    nodes.fail(next(iter(failed)))
    await wait_for(
        lambda: recreated(client, namespace, "gt-control", sorted(before), before, failed),
        timeout=60,
        message="gt-control recycled",
    )

    assert await uids(client, namespace, "gt-stuck") == stuck_uids
    assert not await events(client, namespace, reasons.PCS_REPLICA_DELETE_SUCCESSFUL, "gt-stuck")
    scheduled = condition_of(
        (await pclqs(client, namespace, "gt-stuck"))["gt-stuck-0-big"], cond.CONDITION_PODCLIQUE_SCHEDULED
    )
    assert scheduled is not None and scheduled["status"] == "False"


async def test_no_recycle_of_the_replica_a_rolling_update_is_replacing(
    operator: Any, namespace: str, client: Client, nodes: Nodes, wait_for: Any
) -> None:
    name = "gt-update"
    manifest = podcliqueset(name, namespace, [clique("frontend", 2, min_available=2)], replicas=2)
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    before = await uids(client, namespace, name)

    # The new template fits no node: replica 0 is updated first, its first replaced pod never comes back,
    # and it stays below minAvailable for as long as the update lasts.
    patch = {"spec": {"template": {"cliques": [clique("frontend", 2, min_available=2, cpu="1000")]}}}
    await client.patch(PODCLIQUESETS, name, patch, namespace)

    async def replica_0_degraded_under_update() -> bool:
        pclq = (await pclqs(client, namespace, name))[f"{name}-0-frontend"]
        breach = condition_of(pclq, cond.CONDITION_MIN_AVAILABLE_BREACHED) or {}
        ready = (pclq.get("status") or {}).get("readyReplicas", 0)
        return breach.get("status") == "Unknown" and breach.get("reason") == "UpdateInProgress" and ready < 2

    await wait_for(replica_0_degraded_under_update, message="replica 0 below minAvailable, breach Unknown")

    # Replica 1 is not being updated: its breach counts. Its recycle, 2 s after a breach that began later
    # than replica 0's degradation, shows that replica 0 was left alone.
    failed = {await node_of_a_pod(client, namespace, f"{name}-1-frontend")}
    nodes.fail(next(iter(failed)))

    async def replica_1_recycled() -> bool:
        now = await uids(client, namespace, name)
        return now.get(f"{name}-1-frontend", before[f"{name}-1-frontend"]) != before[f"{name}-1-frontend"]

    await wait_for(replica_1_recycled, timeout=60, message="replica 1 recycled")
    assert (await uids(client, namespace, name))[f"{name}-0-frontend"] == before[f"{name}-0-frontend"]
    assert await replica_0_degraded_under_update()


async def test_a_scaling_group_below_its_min_available_recycles_the_podcliqueset_replica(
    operator: Any, namespace: str, client: Client, nodes: Nodes, wait_for: Any
) -> None:
    name = "gt-group-breach"
    manifest = podcliqueset(
        name,
        namespace,
        [clique("leader", 1), clique("worker", 1)],
        [{"name": "g", "cliqueNames": ["leader", "worker"], "replicas": 1, "minAvailable": 1}],
    )
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    pcsg = f"{name}-0-g"
    await wait_for(
        lambda: _condition_status(client, pcsg, namespace, cond.CONDITION_HEALTHY_STATE_OBSERVED, "True"),
        message="HealthyStateObserved",
    )
    before = await uids(client, namespace, name)

    # Its only replica loses its worker: the group itself is below minAvailable, so the PodCliqueSet
    # replica is recycled (the group cannot do it on its own).
    async with watching_flags(client, namespace, wait_for) as flags:
        failed = {await node_of_a_pod(client, namespace, f"{pcsg}-0-worker")}
        nodes.fail(next(iter(failed)))
        await wait_for(
            lambda: recreated(client, namespace, name, sorted(before), before, failed),
            timeout=60,
            message="replica 0 recreated",
        )
        await wait_for(
            lambda: _condition_status(
                client, pcsg, namespace, cond.CONDITION_GANG_TERMINATION_IN_PROGRESS, "False"
            ),
            timeout=30,
            message="GangTerminationInProgress False",
        )
    assert (pcsg, "True") in flags
    deleted = await wait_for(
        lambda: events(client, namespace, reasons.PCS_REPLICA_DELETE_SUCCESSFUL, name),
        message="PodCliqueSetReplicaDeleteSuccessful",
    )
    assert len(deleted) == 1 and deleted[0].get("count", 1) == 1
    assert not await events(client, namespace, reasons.PCSG_REPLICA_DELETE_SUCCESSFUL, pcsg)


async def _condition_status(client: Client, pcsg: str, namespace: str, type_: str, status: str) -> bool:
    c = condition_of(await client.get(PODCLIQUESCALINGGROUPS, pcsg, namespace), type_)
    return c is not None and c["status"] == status
