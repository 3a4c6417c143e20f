"""Node failure and recovery, on this package's dev cluster or the real tier's HTTP kubelets.

On the dev cluster the simulation does the node lifecycle controller's part at once; on the real tier the
kubelets only post Ready=False (shut down) or go silent (unreachable), and kube-controller-manager does the
rest on its own schedule: the not-ready taints within seconds, an unreachable node marked Unknown, tainted
and its pods turned NotReady about 50 s after its last Lease renewal. The tests poll for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio import client as k8s
from simulation_helpers import (
    HOSTNAME,
    condition,
    is_running_ready,
    node_names,
    pod,
    read,
    unschedulable_message,
)

Wait = Callable[..., Awaitable[Any]]

# kube-controller-manager marks a silent node Unknown --node-monitor-grace-period (50 s) after its last
# Lease renewal (the kubelets renew every 10 s), then checks every --node-monitor-period (5 s).
UNREACHABLE_TIMEOUT = 90.0
FAILURE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


class Failing:
    """``failing(node, unreachable=False)`` fails a node, ``failing.recover(node)`` brings it back, on
    either tier."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.failed: list[str] = []

    def __call__(self, node: str, unreachable: bool = False) -> None:
        self.failed.append(node)
        dev = self.cluster.dev
        if dev is not None:
            dev.call(dev.cluster.simulation.fail_node, node, unreachable=unreachable)
        else:
            self.cluster.k8s.fail_node(node, unreachable=unreachable)

    def recover(self, node: str) -> None:
        dev = self.cluster.dev
        if dev is not None:
            dev.call(dev.cluster.simulation.recover_node, node)
        else:
            self.cluster.k8s.recover_node(node)


@pytest_asyncio.fixture
async def failing(cluster: Any, api_client: k8s.ApiClient, wait_for: Wait) -> AsyncIterator[Failing]:
    """:class:`Failing`; every node failed is recovered afterwards and, on the real tier, handed back once
    kube-controller-manager has removed its failure taints (so later tests find it as it was)."""
    if cluster.dev is None and cluster.k8s is None:
        pytest.skip("fails fake nodes: needs this package's dev cluster or the real tier's HTTP kubelets")
    handle = Failing(cluster)
    yield handle
    core = k8s.CoreV1Api(api_client)
    for node in handle.failed:
        handle.recover(node)
    for node in handle.failed:
        await wait_for(
            lambda node=node: _untainted(core, node), timeout=30, message=f"{node}'s failure taints removed"
        )


async def _untainted(core: k8s.CoreV1Api, node: str) -> bool:
    taints = (await core.read_node(node)).spec.taints or []
    return await _node_ready(core, node) == "True" and not any(t.key in FAILURE_TAINTS for t in taints)


async def _running(core: k8s.CoreV1Api, namespace: str, name: str) -> k8s.V1Pod | None:
    p = await read(core, namespace, name)
    return p if p is not None and is_running_ready(p) else None


async def _node_ready(core: k8s.CoreV1Api, name: str) -> str:
    node = await core.read_node(name)
    return next(c for c in node.status.conditions if c.type == "Ready").status


async def _ready_is(core: k8s.CoreV1Api, name: str, status: str) -> bool:
    return await _node_ready(core, name) == status


async def _taints(core: k8s.CoreV1Api, name: str) -> set[tuple[str, str]]:
    return {(t.key, t.effect) for t in (await core.read_node(name)).spec.taints or []}


async def test_node_shutdown_fails_its_pods_and_taints_the_node_until_recovered(
    failing: Failing, api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    node = "fake-node-039"
    pin = {HOSTNAME: node}
    await core.create_namespaced_pod(namespace, pod("victim", nodeSelector=pin))
    await wait_for(lambda: _running(core, namespace, "victim"), message="victim Running")

    failing(node)

    async def victim_failed() -> k8s.V1Pod | None:
        p = await read(core, namespace, "victim")
        return p if p is not None and p.status.phase == "Failed" else None

    p = await wait_for(victim_failed, message="victim Failed by the node shutdown")
    assert p.status.reason == "Terminated"
    assert p.status.message == "Pod was terminated in response to imminent node shutdown."
    disruption = condition(p, "DisruptionTarget")
    assert disruption.status == "True" and disruption.reason == "TerminationByKubelet"
    assert condition(p, "Ready").status == "False"
    await wait_for(lambda: _ready_is(core, node, "False"), message="node Ready=False")
    not_ready = {
        ("node.kubernetes.io/not-ready", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoExecute"),
    }

    async def tainted() -> bool:
        return not_ready <= await _taints(core, node)

    await wait_for(tainted, timeout=30, message="node tainted not-ready (NoSchedule and NoExecute)")

    n = len(await node_names(core))
    await core.create_namespaced_pod(namespace, pod("next", nodeSelector=pin))

    async def unschedulable() -> k8s.V1Pod | None:
        q = await read(core, namespace, "next")
        c = condition(q, "PodScheduled") if q else None
        return q if c is not None and c.reason == "Unschedulable" else None

    q = await wait_for(unschedulable, message="pod unschedulable on the failed node")
    assert condition(q, "PodScheduled").message == unschedulable_message(
        f"1 node(s) had untolerated taint(s), {n - 1} node(s) didn't match Pod's node affinity/selector",
        f"{n} Preemption is not helpful for scheduling",
        n,
    )

    failing.recover(node)
    await wait_for(lambda: _ready_is(core, node, "True"), message="node Ready again")
    await wait_for(
        lambda: _running(core, namespace, "next"), timeout=30, message="pod Running after recovery"
    )
    still_failed = await read(core, namespace, "victim")
    assert still_failed is not None and still_failed.status.phase == "Failed"


async def test_unreachable_node_leaves_pods_not_ready_and_deletions_pending_until_it_returns(
    failing: Failing, api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    node = "fake-node-038"
    await core.create_namespaced_pod(namespace, pod("stranded", nodeSelector={HOSTNAME: node}))
    await core.create_namespaced_pod(namespace, pod("elsewhere", nodeSelector={HOSTNAME: "fake-node-001"}))
    for name in ("stranded", "elsewhere"):
        await wait_for(lambda name=name: _running(core, namespace, name), message=f"{name} Running")

    failing(node, unreachable=True)
    await wait_for(
        lambda: _ready_is(core, node, "Unknown"), timeout=UNREACHABLE_TIMEOUT, message="node Ready=Unknown"
    )

    async def not_ready() -> k8s.V1Pod | None:
        p = await read(core, namespace, "stranded")
        c = condition(p, "Ready") if p is not None else None
        return p if c is not None and c.status == "False" else None

    p = await wait_for(not_ready, timeout=30, message="stranded pod NotReady")
    assert p.status.phase == "Running"

    await core.delete_namespaced_pod("stranded", namespace)
    await core.delete_namespaced_pod("elsewhere", namespace)

    async def gone(name: str) -> bool:
        return await read(core, namespace, name) is None

    await wait_for(lambda: gone("elsewhere"), message="pod on a live node removed")
    stuck = await read(core, namespace, "stranded")
    assert stuck is not None and stuck.metadata.deletion_timestamp is not None

    failing.recover(node)
    await wait_for(lambda: gone("stranded"), timeout=30, message="deletion completed once the node is back")


async def test_noexecute_taint_evicts_pods_after_their_toleration_seconds(
    failing: Failing, api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    node = "fake-node-037"
    short = [
        {"key": "fake-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 1,
        },
    ]
    await core.create_namespaced_pod(
        namespace, pod("evicted", tolerations=short, nodeSelector={HOSTNAME: node})
    )
    await core.create_namespaced_pod(namespace, pod("kept", nodeSelector={HOSTNAME: node}))
    for name in ("evicted", "kept"):
        await wait_for(lambda name=name: _running(core, namespace, name), message=f"{name} Running")

    failing(node, unreachable=True)

    async def marked() -> k8s.V1Pod | None:
        p = await read(core, namespace, "evicted")
        return p if p is not None and p.metadata.deletion_timestamp is not None else None

    p = await wait_for(
        marked, timeout=UNREACHABLE_TIMEOUT + 10, message="pod evicted by the taint eviction controller"
    )
    disruption = condition(p, "DisruptionTarget")
    assert disruption.status == "True" and disruption.reason == "DeletionByTaintManager"
    kept = await read(core, namespace, "kept")
    assert kept is not None and kept.metadata.deletion_timestamp is None
