"""Node failure and recovery (dev cluster only: a real cluster's nodes cannot be failed from a test)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
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

pytestmark = pytest.mark.devonly


@pytest.fixture
def failing(dev: Any) -> Iterator[Callable[..., None]]:
    """``failing(node, unreachable=False)`` fails a node; every node failed is recovered afterwards."""
    sim = dev.cluster.simulation
    failed: list[str] = []

    def fail(node: str, unreachable: bool = False) -> None:
        failed.append(node)
        dev.call(sim.fail_node, node, unreachable=unreachable)

    yield fail
    for node in failed:
        dev.call(sim.recover_node, node)


async def _running(core: k8s.CoreV1Api, namespace: str, name: str) -> k8s.V1Pod | None:
    p = await read(core, namespace, name)
    return p if p is not None and is_running_ready(p) else None


async def _node_ready(core: k8s.CoreV1Api, name: str) -> str:
    node = await core.read_node(name)
    return next(c for c in node.status.conditions if c.type == "Ready").status


async def test_node_shutdown_fails_its_pods_and_taints_the_node_until_recovered(
    dev: Any, failing: Callable[..., None], api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    node = "fake-node-039"
    pin = {HOSTNAME: node}
    await core.create_namespaced_pod(namespace, pod("victim", nodeSelector=pin))
    await wait_for(lambda: _running(core, namespace, "victim"), message="victim Running")

    failing(node)
    p = await read(core, namespace, "victim")
    assert p is not None and p.status.phase == "Failed"
    assert p.status.reason == "Terminated"
    assert p.status.message == "Pod was terminated in response to imminent node shutdown."
    disruption = condition(p, "DisruptionTarget")
    assert disruption.status == "True" and disruption.reason == "TerminationByKubelet"
    assert condition(p, "Ready").status == "False"
    assert await _node_ready(core, node) == "False"
    taints = {(t.key, t.effect) for t in (await core.read_node(node)).spec.taints}
    assert ("node.kubernetes.io/not-ready", "NoSchedule") in taints
    assert ("node.kubernetes.io/not-ready", "NoExecute") in taints

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

    dev.call(dev.cluster.simulation.recover_node, node)
    assert await _node_ready(core, node) == "True"
    await wait_for(
        lambda: _running(core, namespace, "next"), timeout=20, message="pod Running after recovery"
    )
    still_failed = await read(core, namespace, "victim")
    assert still_failed is not None and still_failed.status.phase == "Failed"


async def test_unreachable_node_leaves_pods_not_ready_and_deletions_pending_until_it_returns(
    dev: Any, failing: Callable[..., None], api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    node = "fake-node-038"
    await core.create_namespaced_pod(namespace, pod("stranded", nodeSelector={HOSTNAME: node}))
    await core.create_namespaced_pod(namespace, pod("elsewhere", nodeSelector={HOSTNAME: "fake-node-001"}))
    for name in ("stranded", "elsewhere"):
        await wait_for(lambda name=name: _running(core, namespace, name), message=f"{name} Running")

    failing(node, unreachable=True)
    assert await _node_ready(core, node) == "Unknown"
    p = await read(core, namespace, "stranded")
    assert p is not None and p.status.phase == "Running"
    assert condition(p, "Ready").status == "False"

    await core.delete_namespaced_pod("stranded", namespace)
    await core.delete_namespaced_pod("elsewhere", namespace)

    async def gone(name: str) -> bool:
        return await read(core, namespace, name) is None

    await wait_for(lambda: gone("elsewhere"), message="pod on a live node removed")
    stuck = await read(core, namespace, "stranded")
    assert stuck is not None and stuck.metadata.deletion_timestamp is not None

    dev.call(dev.cluster.simulation.recover_node, node)
    await wait_for(lambda: gone("stranded"), message="deletion completed once the node is back")


async def test_noexecute_taint_evicts_pods_after_their_toleration_seconds(
    dev: Any, failing: Callable[..., None], api_client: k8s.ApiClient, namespace: str, wait_for: Wait
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

    p = await wait_for(marked, message="pod evicted by the taint eviction controller")
    disruption = condition(p, "DisruptionTarget")
    assert disruption.status == "True" and disruption.reason == "DeletionByTaintManager"
    kept = await read(core, namespace, "kept")
    assert kept is not None and kept.metadata.deletion_timestamp is None
