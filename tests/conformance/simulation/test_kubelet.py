"""Kubelet behaviour: pods bound to nodes run, report status as a kubelet does, and go away on deletion."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import watch
from simulation_helpers import (
    BUSYBOX,
    HOSTNAME,
    add_init_container_gate,
    condition,
    is_running_ready,
    pod,
    read,
)

Wait = Callable[..., Awaitable[Any]]


async def test_bound_pod_runs_and_is_ready_with_ips(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    await core.create_namespaced_pod(namespace, pod("web", cpu="100m"))

    async def ready() -> k8s.V1Pod | None:
        p = await read(core, namespace, "web")
        return p if p is not None and is_running_ready(p) else None

    p = await wait_for(ready, message="pod web Running and Ready")
    st = p.status
    assert p.spec.node_name
    assert st.pod_ip and [ip.ip for ip in st.pod_ips] == [st.pod_ip]
    assert st.host_ip and [ip.ip for ip in st.host_ips] == [st.host_ip]
    assert st.start_time is not None
    assert st.qos_class == "Burstable"
    for type_ in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
        c = condition(p, type_)
        assert c is not None and c.status == "True", type_
    [cs] = st.container_statuses
    assert cs.name == "main" and cs.ready and cs.started and cs.restart_count == 0
    assert cs.state.running is not None and cs.state.running.started_at is not None
    assert cs.image and cs.container_id


async def test_init_containers_run_one_after_another_before_the_containers(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    inits = [
        {"name": "first", "image": BUSYBOX, "command": ["sh", "-c", "sleep 1"]},
        {"name": "second", "image": BUSYBOX, "command": ["sh", "-c", "sleep 1"]},
    ]
    stages: list[str] = []
    final: k8s.V1Pod | None = None
    # Watch from before the create so no transition is missed however slow this process is.
    rv = (await core.list_namespaced_pod(namespace)).metadata.resource_version
    await core.create_namespaced_pod(namespace, pod("init", initContainers=inits))
    w = watch.Watch()
    async with w:
        async for ev in w.stream(
            core.list_namespaced_pod,
            namespace,
            field_selector="metadata.name=init",
            resource_version=rv,
            timeout_seconds=60,
        ):
            p = ev["object"]
            inits_st = p.status.init_container_statuses or []
            running = [s.name for s in inits_st if s.state.running is not None]
            done = [s.name for s in inits_st if s.state.terminated is not None]
            stage = "running" if p.status.phase == "Running" else f"init:{','.join(running)}:{','.join(done)}"
            if not stages or stages[-1] != stage:
                stages.append(stage)
            if p.status.phase == "Running":
                final = p
                break
    assert final is not None, stages
    assert "init:first:" in stages and "init:second:first" in stages, stages
    assert stages.index("init:first:") < stages.index("init:second:first") < stages.index("running"), stages
    first, second = final.status.init_container_statuses
    assert first.state.terminated.exit_code == 0 and first.state.terminated.reason == "Completed"
    assert second.state.terminated.exit_code == 0
    assert first.state.terminated.finished_at <= second.state.terminated.started_at
    assert second.state.terminated.finished_at <= final.status.container_statuses[0].state.running.started_at
    assert condition(final, "Initialized").status == "True"


async def test_deleted_pod_is_terminated_by_its_kubelet_and_removed(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    await core.create_namespaced_pod(namespace, pod("doomed"))

    async def running() -> bool:
        p = await read(core, namespace, "doomed")
        return p is not None and is_running_ready(p)

    await wait_for(running, message="pod Running")
    deleted = await core.delete_namespaced_pod("doomed", namespace)
    assert deleted.metadata.deletion_timestamp is not None
    assert deleted.metadata.deletion_grace_period_seconds == 1
    await wait_for(lambda: _gone(core, namespace, "doomed"), message="pod removed after its grace period")


async def test_force_deletion_with_grace_period_zero_removes_the_pod_at_once(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    await core.create_namespaced_pod(namespace, pod("forced", grace=30))

    async def running() -> bool:
        p = await read(core, namespace, "forced")
        return p is not None and p.status.phase == "Running"

    await wait_for(running, message="pod Running")
    await core.delete_namespaced_pod("forced", namespace, grace_period_seconds=0)
    assert await read(core, namespace, "forced") is None


async def _gone(core: k8s.CoreV1Api, namespace: str, name: str) -> bool:
    return await read(core, namespace, name) is None


@pytest.mark.devonly
async def test_grace_period_is_waited_out_then_the_kubelet_confirms_with_a_terminal_status(
    cluster: Any, api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    """The fake containers ignore SIGTERM: they are killed (137) when the grace period ends, the kubelet
    posts phase Failed and deletes the pod with grace period 0."""
    if cluster.dev is None:
        pytest.skip(
            "needs fake kubelets whose containers ignore SIGTERM (this package's dev cluster); the real "
            "tier's session kubelets exit on SIGTERM, as the e2e suite needs"
        )
    core = k8s.CoreV1Api(api_client)
    await core.create_namespaced_pod(namespace, pod("slow", grace=2))
    await core.create_namespaced_pod(namespace, pod("quick", grace=0))

    async def both_running() -> bool:
        pods = [await read(core, namespace, n) for n in ("slow", "quick")]
        return all(p is not None and p.status.phase == "Running" for p in pods)

    await wait_for(both_running, message="both pods Running")
    last: dict[str, Any] = {}
    rv = (await core.list_namespaced_pod(namespace)).metadata.resource_version
    w = watch.Watch()
    async with w:
        stream = w.stream(
            core.list_namespaced_pod,
            namespace,
            field_selector="metadata.name=slow",
            resource_version=rv,
            timeout_seconds=30,
        )
        await core.delete_namespaced_pod("slow", namespace)
        await core.delete_namespaced_pod("quick", namespace)
        # The pod deleted with grace 0 disappears while the other one is still terminating.
        assert await read(core, namespace, "quick") is None
        slow = await read(core, namespace, "slow")
        assert slow is not None and slow.metadata.deletion_timestamp is not None
        assert slow.status.phase == "Running"
        async for ev in stream:
            if ev["type"] == "DELETED":
                break
            last = ev
    p = last["object"]
    assert p.status.phase == "Failed"
    assert p.status.container_statuses[0].state.terminated.exit_code == 137
    assert condition(p, "Ready").status == "False" and condition(p, "Ready").reason == "PodFailed"


async def test_init_container_gate_holds_the_pod_until_its_condition_holds(
    cluster: Any, api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    # The condition: ConfigMap "go" exists (the test records creating it; the gate runs on the kubelets'
    # loop, which cannot block on an API call).
    created: set[str] = set()

    def gate(p: dict[str, Any], init_container: dict[str, Any]) -> bool:
        if p["metadata"]["namespace"] != namespace or init_container["name"] != "wait-for-go":
            return True
        return "go" in created

    remove = add_init_container_gate(cluster, gate)
    try:
        inits = [{"name": "wait-for-go", "image": BUSYBOX, "command": ["sh", "-c", "true"]}]
        await core.create_namespaced_pod(namespace, pod("held", initContainers=inits))

        async def initializing() -> bool:
            p = await read(core, namespace, "held")
            st = (p.status.init_container_statuses or []) if p else []
            return bool(st) and st[0].state.running is not None

        await wait_for(initializing, message="init container running")
        # A pod created later runs to completion while the gated one stays initialising.
        await core.create_namespaced_pod(
            namespace, pod("control", initContainers=[{**inits[0], "name": "other"}])
        )

        async def control_running() -> bool:
            p = await read(core, namespace, "control")
            return p is not None and is_running_ready(p)

        await wait_for(control_running, message="control pod Running")
        held = await read(core, namespace, "held")
        assert held is not None and held.status.phase == "Pending"
        initialized = condition(held, "Initialized")
        assert initialized.status == "False" and initialized.reason == "ContainersNotInitialized"
        assert initialized.message == "containers with incomplete status: [wait-for-go]"

        await core.create_namespaced_config_map(namespace, {"metadata": {"name": "go"}})
        created.add("go")

        async def held_running() -> bool:
            p = await read(core, namespace, "held")
            return p is not None and is_running_ready(p)

        await wait_for(held_running, message="gated pod Running once the condition holds")
    finally:
        remove()


async def test_kubelet_rejects_a_pod_bound_to_a_node_it_does_not_fit(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait
) -> None:
    core = k8s.CoreV1Api(api_client)
    await core.create_namespaced_pod(namespace, pod("huge", cpu="9", nodeName="fake-node-038"))

    async def failed() -> k8s.V1Pod | None:
        p = await read(core, namespace, "huge")
        return p if p is not None and p.status.phase == "Failed" else None

    p = await wait_for(failed, message="pod rejected")
    assert p.status.reason == "OutOfcpu"
    assert re.fullmatch(
        r"Pod was rejected: Node didn't have enough resource: "
        r"cpu, requested: 9000, used: \d+, capacity: 8000",
        p.status.message,
    ), p.status.message


async def test_kubectl_get_pods_wide_shows_ip_and_node(
    api_client: k8s.ApiClient, namespace: str, wait_for: Wait, kubectl: Any
) -> None:
    core = k8s.CoreV1Api(api_client)
    await core.create_namespaced_pod(namespace, pod("shown"))

    async def running() -> k8s.V1Pod | None:
        p = await read(core, namespace, "shown")
        return p if p is not None and is_running_ready(p) else None

    p = await wait_for(running, message="pod Running")
    out = kubectl("get", "pods", "-n", namespace, "-o", "wide")
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()[:2]
    assert header.split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    cells = row.split()
    assert cells[0] == "shown" and cells[1] == "1/1" and cells[2] == "Running"
    assert cells[5] == p.status.pod_ip and cells[6] == p.spec.node_name


async def test_nodes_report_ready_and_renew_leases(api_client: k8s.ApiClient, kubectl: Any) -> None:
    core = k8s.CoreV1Api(api_client)
    coordination = k8s.CoordinationV1Api(api_client)
    nodes = (await core.list_node()).items
    assert nodes
    leases = {
        lease.metadata.name: lease
        for lease in (await coordination.list_namespaced_lease("kube-node-lease")).items
    }
    for node in nodes:
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert ready.status == "True" and ready.reason == "KubeletReady"
        assert node.metadata.labels[HOSTNAME] == node.metadata.name
        assert any(a.type == "InternalIP" for a in node.status.addresses)
        lease = leases[node.metadata.name]
        assert lease.spec.holder_identity == node.metadata.name and lease.spec.renew_time is not None
    out = kubectl("get", "nodes")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[1].split()[1] == "Ready"
