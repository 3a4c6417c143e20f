"""Scheduler behaviour: binding, the Unschedulable diagnostics, taints, node selection, scheduling gates,
retries when capacity frees up, and spreading."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client as k8s
from simulation_helpers import (
    HOSTNAME,
    TOLERATE_EVERYTHING,
    condition,
    is_running_ready,
    node_names,
    pod,
    read,
    unschedulable_message,
)

Wait = Callable[..., Awaitable[Any]]


async def _scheduled_condition(
    core: k8s.CoreV1Api, namespace: str, name: str, reason: str
) -> k8s.V1Pod | None:
    p = await read(core, namespace, name)
    c = condition(p, "PodScheduled") if p is not None else None
    return p if c is not None and c.status == "False" and c.reason == reason else None


async def _bound(core: k8s.CoreV1Api, namespace: str, name: str) -> k8s.V1Pod | None:
    p = await read(core, namespace, name)
    return p if p is not None and p.spec.node_name else None


async def _running(core: k8s.CoreV1Api, namespace: str, name: str) -> k8s.V1Pod | None:
    p = await read(core, namespace, name)
    return p if p is not None and is_running_ready(p) else None


async def test_scheduled_pod_is_bound_with_podscheduled_true_and_a_scheduled_event(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    await core.create_namespaced_pod(namespace, pod("placed"))
    p = await wait_for(lambda: _bound(core, namespace, "placed"), message="pod bound")
    assert condition(p, "PodScheduled").status == "True"

    async def scheduled_event() -> list[k8s.CoreV1Event]:
        events = await core.list_namespaced_event(namespace, field_selector="involvedObject.name=placed")
        return [e for e in events.items if e.reason == "Scheduled"]

    [event] = await wait_for(scheduled_event, message="Scheduled event")
    assert event.type == "Normal"
    assert event.message == f"Successfully assigned {namespace}/placed to {p.spec.node_name}"


async def test_unschedulable_pod_gets_kube_scheduler_message_and_event(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    n = len(await node_names(core))
    await core.create_namespaced_pod(namespace, pod("huge", cpu="100000", tolerations=TOLERATE_EVERYTHING))
    p = await wait_for(lambda: _scheduled_condition(core, namespace, "huge", "Unschedulable"))
    expected = unschedulable_message(
        f"{n} Insufficient cpu", f"{n} Preemption is not helpful for scheduling", n
    )
    assert condition(p, "PodScheduled").message == expected
    assert p.status.phase == "Pending" and p.spec.node_name is None

    async def failed_event() -> list[k8s.CoreV1Event]:
        events = await core.list_namespaced_event(namespace, field_selector="involvedObject.name=huge")
        return [e for e in events.items if e.reason == "FailedScheduling"]

    [event] = await wait_for(failed_event, message="FailedScheduling event")
    assert event.type == "Warning" and event.message == expected


async def test_node_selector_and_required_affinity_choose_the_node(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    nodes = (await core.list_node()).items
    target = nodes[len(nodes) // 2]
    await core.create_namespaced_pod(
        namespace,
        pod("selected", tolerations=TOLERATE_EVERYTHING, nodeSelector={HOSTNAME: target.metadata.name}),
    )
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchFields": [
                            {"key": "metadata.name", "operator": "In", "values": [target.metadata.name]}
                        ]
                    }
                ]
            }
        }
    }
    await core.create_namespaced_pod(
        namespace, pod("affine", tolerations=TOLERATE_EVERYTHING, affinity=affinity)
    )
    for name in ("selected", "affine"):
        p = await wait_for(lambda name=name: _bound(core, namespace, name), message=f"{name} bound")
        assert p.spec.node_name == target.metadata.name


async def test_pod_matching_no_node_is_unschedulable_with_the_affinity_reason(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    n = len(await node_names(core))
    await core.create_namespaced_pod(
        namespace,
        pod("nowhere", tolerations=TOLERATE_EVERYTHING, nodeSelector={"grove.test/nonexistent": "x"}),
    )
    p = await wait_for(lambda: _scheduled_condition(core, namespace, "nowhere", "Unschedulable"))
    assert condition(p, "PodScheduled").message == unschedulable_message(
        f"{n} node(s) didn't match Pod's node affinity/selector",
        f"{n} Preemption is not helpful for scheduling",
        n,
    )


async def test_gated_pod_waits_with_scheduling_gated_until_the_gate_is_removed(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    await core.create_namespaced_pod(namespace, pod("gated", schedulingGates=[{"name": "example.com/hold"}]))
    p = await wait_for(lambda: _scheduled_condition(core, namespace, "gated", "SchedulingGated"))
    assert condition(p, "PodScheduled").message == "Scheduling is blocked due to non-empty scheduling gates"
    # Another pod created afterwards gets scheduled while the gated one stays unbound.
    await core.create_namespaced_pod(namespace, pod("free"))
    await wait_for(lambda: _bound(core, namespace, "free"), message="ungated pod bound")
    still = await read(core, namespace, "gated")
    assert still is not None and still.spec.node_name is None and still.status.phase == "Pending"

    await core.patch_namespaced_pod(
        "gated",
        namespace,
        [{"op": "remove", "path": "/spec/schedulingGates"}],
        _content_type="application/json-patch+json",
    )
    await wait_for(lambda: _running(core, namespace, "gated"), message="pod Running once its gate is removed")


async def test_untolerated_taint_keeps_pods_off_the_fake_nodes(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    n = len(await node_names(core))
    await core.create_namespaced_pod(namespace, pod("intolerant", tolerations=[]))
    p = await wait_for(lambda: _scheduled_condition(core, namespace, "intolerant", "Unschedulable"))
    assert condition(p, "PodScheduled").message == unschedulable_message(
        f"{n} node(s) had untolerated taint(s)", f"{n} Preemption is not helpful for scheduling", n
    )


async def test_unschedulable_pod_is_retried_when_capacity_frees_up(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    n = len(await node_names(core))
    pin = {HOSTNAME: "fake-node-030"}
    await core.create_namespaced_pod(namespace, pod("filler", cpu="7", nodeSelector=pin))
    await wait_for(lambda: _running(core, namespace, "filler"), message="filler Running")
    await core.create_namespaced_pod(namespace, pod("waiting", cpu="2", nodeSelector=pin))
    p = await wait_for(lambda: _scheduled_condition(core, namespace, "waiting", "Unschedulable"))
    assert condition(p, "PodScheduled").message == unschedulable_message(
        f"1 Insufficient cpu, {n - 1} node(s) didn't match Pod's node affinity/selector",
        f"1 No preemption victims found for incoming pod, {n - 1} Preemption is not helpful for scheduling",
        n,
    )
    await core.delete_namespaced_pod("filler", namespace)
    p = await wait_for(
        lambda: _running(core, namespace, "waiting"), timeout=20, message="retried and Running"
    )
    assert p.spec.node_name == "fake-node-030"


async def test_pods_spread_over_nodes(api_client: k8s.ApiClient, namespace: str, wait_for: Wait) -> None:
    core = k8s.CoreV1Api(api_client)
    for i in range(6):
        await core.create_namespaced_pod(namespace, pod(f"spread-{i}", cpu="1"))

    async def all_bound() -> list[str] | None:
        pods = (await core.list_namespaced_pod(namespace)).items
        nodes = [p.spec.node_name for p in pods if p.spec.node_name]
        return nodes if len(nodes) == 6 else None

    nodes = await wait_for(all_bound, message="6 pods bound")
    assert len(set(nodes)) == 6, nodes
