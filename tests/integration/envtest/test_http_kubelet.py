"""Fake nodes and kubelets over HTTP (:mod:`grove.envtest.kubelet`), on the emulator and, with
``GROVE_K8S_ASSETS``, on a real control plane (see the conftest): nodes registered as ``grove dev``'s,
Leases renewed, init containers one after another, readiness gates and probes, the kubelet's final delete,
admission, the ``grove-initc`` gate served from the watch cache, node shutdown, unreachability and recovery,
and statuses identical to the emulator's own kubelet."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Awaitable, Callable
from typing import Any

from envtest_helpers import (
    BUSYBOX,
    FAST,
    GATE,
    JSON,
    condition,
    is_true,
    normalized_status,
    pod,
    read,
    renew_time,
    running_ready,
)

from grove.api import constants, labels
from grove.devcluster import ThreadedDevCluster
from grove.devcluster.nodes import LEASE_NAMESPACE, NOT_READY_TAINT, UNREACHABLE_TAINT, NodeFleet
from grove.devcluster.podstatus import SHUTDOWN_MESSAGE, SHUTDOWN_REASON
from grove.envtest.kubelet import HttpKubelets
from grove.initc.rule import make_initc_gate
from grove.runtime.client import Client, PatchType
from grove.runtime.resources import LEASES, NAMESPACES, NODES, PODS

Wait = Callable[..., Awaitable[Any]]

# kube-controller-manager's node lifecycle controller marks a silent node Unknown about 50 s after its
# last Lease renewal (then checks every 5 s); the emulator's kubelets here do it at once.
UNREACHABLE_TIMEOUT = 150.0


def _taint_keys(node: JSON) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or ()}


async def _set_gate(client: Client, namespace: str, name: str) -> None:
    """What a readiness gate's controller does: its condition True, through pods/status."""
    await client.patch_status(
        PODS,
        name,
        {"status": {"conditions": [{"type": GATE, "status": "True"}]}},
        namespace,
        patch_type=PatchType.STRATEGIC,
    )


async def test_nodes_are_registered_as_grove_dev_registers_them(
    kubelets: HttpKubelets, client: Client, wait_for: Wait
) -> None:
    fleet = NodeFleet(40)  # grove dev's default nodes
    assert kubelets.names == fleet.names
    listed = {n["metadata"]["name"]: n for n in (await client.list(NODES)).items}
    version = (await client.get(NODES, "fake-node-000"))["status"]["nodeInfo"]["kubeletVersion"]
    assert version == "v1.36.2"
    for name in fleet.names:
        want, node = fleet.node_object(name, ""), listed[name]
        assert want["metadata"]["labels"].items() <= node["metadata"]["labels"].items(), name
        for field in ("podCIDR", "podCIDRs", "providerID"):
            assert node["spec"][field] == want["spec"][field], (name, field)
        status = node["status"]
        assert status["capacity"] == status["allocatable"] == want["status"]["allocatable"], name
        assert status["addresses"] == want["status"]["addresses"], name
        ready = condition(node, "Ready")
        assert ready is not None and ready["status"] == "True" and ready["reason"] == "KubeletReady", name
    node7 = listed["fake-node-007"]["metadata"]["labels"]
    assert (node7["topology.kubernetes.io/zone"], node7["topology.grove.io/block"]) == ("zone-0", "block-0")
    assert (node7["topology.grove.io/rack"], node7["kubernetes.io/hostname"]) == ("rack-1", "fake-node-007")
    assert listed["fake-node-039"]["metadata"]["labels"]["topology.grove.io/rack"] == "rack-7"
    assert listed["fake-node-007"]["status"]["addresses"][0]["address"] == "172.18.0.9"

    async def only_the_fake_node_taint() -> bool:
        # kube-apiserver taints a new Node not-ready until the node lifecycle controller sees it Ready.
        nodes = (await client.list(NODES)).items
        return all(_taint_keys(n) == {("fake-node", "NoSchedule")} for n in nodes)

    await wait_for(only_the_fake_node_taint, timeout=30, message="every node tainted fake-node only")
    leases = {
        lease["metadata"]["name"]: lease for lease in (await client.list(LEASES, LEASE_NAMESPACE)).items
    }
    for name in fleet.names:
        spec = leases[name]["spec"]
        assert spec["holderIdentity"] == name and spec["leaseDurationSeconds"] == 40
        [owner] = leases[name]["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("Node", name, listed[name]["metadata"]["uid"])


async def test_leases_are_renewed(kubelets: HttpKubelets, client: Client, wait_for: Wait) -> None:
    first = await renew_time(client, "fake-node-000")

    async def renewed() -> bool:
        return await renew_time(client, "fake-node-000") > first

    await wait_for(renewed, timeout=3 * FAST.lease_renew_interval + 5, message="the Lease renewed")


async def test_init_containers_run_one_after_another_and_ready_waits_for_the_gate(
    kubelets: HttpKubelets, client: Client, namespace: str
) -> None:
    inits = [
        {"name": "first", "image": BUSYBOX, "command": ["sh", "-c", "sleep 1"]},
        {"name": "second", "image": BUSYBOX, "command": ["sh", "-c", "sleep 1"]},
    ]
    manifest = pod("gated", "fake-node-007", initContainers=inits, readinessGates=[{"conditionType": GATE}])
    stages: list[str] = []
    gate_set = False
    final: JSON | None = None
    # Watch from before the create so no step is missed.
    rv = (await client.list(PODS, namespace)).resource_version
    async with client.watch(
        PODS, namespace, resource_version=rv, field_selector="metadata.name=gated"
    ) as events:
        await client.create(PODS, manifest, namespace)
        async with asyncio.timeout(30):
            async for ev in events:
                if ev.type not in ("ADDED", "MODIFIED"):
                    continue
                p, st = ev.object, ev.object.get("status") or {}
                inits_st = st.get("initContainerStatuses") or ()
                running = ",".join(s["name"] for s in inits_st if "running" in s["state"])
                done = ",".join(s["name"] for s in inits_st if "terminated" in s["state"])
                stage = f"{st.get('phase')}:{running}:{done}:ready={is_true(p, 'Ready')}"
                if not stages or stages[-1] != stage:
                    stages.append(stage)
                if is_true(p, "Ready"):
                    final = p
                    break
                if st.get("phase") == "Running" and is_true(p, "ContainersReady") and not gate_set:
                    ready = condition(p, "Ready")
                    assert ready is not None and ready["reason"] == "ReadinessGatesNotReady", ready
                    assert (
                        ready["message"]
                        == f'corresponding condition of pod readiness gate "{GATE}" does not exist.'
                    )
                    await _set_gate(client, namespace, "gated")
                    gate_set = True
    assert final is not None and gate_set, stages
    order = [
        "Pending:first::ready=False",
        "Pending:second:first:ready=False",
        "Running::first,second:ready=False",
        "Running::first,second:ready=True",
    ]
    assert [s for s in stages if s in order] == order, stages
    st = final["status"]
    assert st["hostIP"] == "172.18.0.9" and st["hostIPs"] == [{"ip": "172.18.0.9"}]
    assert ipaddress.ip_address(st["podIP"]) in ipaddress.ip_network("10.244.7.0/24")
    assert st["podIPs"] == [{"ip": st["podIP"]}] and st["startTime"]
    first, second = st["initContainerStatuses"]
    for s in (first, second):
        term = s["state"]["terminated"]
        assert (term["exitCode"], term["reason"]) == (0, "Completed")
        assert s["imageID"].startswith("registry.k8s.io/e2e-test-images/busybox@sha256:") and s["containerID"]
    [main] = st["containerStatuses"]
    assert main["ready"] and main["started"] and main["restartCount"] == 0
    assert first["state"]["terminated"]["finishedAt"] <= second["state"]["terminated"]["startedAt"]
    assert second["state"]["terminated"]["finishedAt"] <= main["state"]["running"]["startedAt"]
    for type_ in (
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
        "PodScheduled",
        GATE,
    ):
        assert is_true(final, type_), type_
    ready = condition(final, "Ready")
    assert ready is not None and "reason" not in ready and "message" not in ready


async def test_readiness_probe_delay_and_sidecars(
    kubelets: HttpKubelets, client: Client, namespace: str, wait_for: Wait
) -> None:
    sidecar = {"name": "proxy", "image": BUSYBOX, "restartPolicy": "Always"}
    probed = {
        "name": "main",
        "image": "registry.k8s.io/pause:3.10",
        "readinessProbe": {"exec": {"command": ["true"]}, "initialDelaySeconds": 3},
    }
    await client.create(
        PODS, pod("probed", "fake-node-008", initContainers=[sidecar], containers=[probed]), namespace
    )

    async def running() -> JSON | None:
        p = await read(client, namespace, "probed")
        return p if p is not None and p["status"].get("phase") == "Running" else None

    p = await wait_for(running, message="pod Running")
    [side] = p["status"]["initContainerStatuses"]
    assert "running" in side["state"] and side["started"], side
    assert not p["status"]["containerStatuses"][0]["ready"]
    ready_cond = condition(p, "Ready")
    assert ready_cond is not None and ready_cond["reason"] == "ContainersNotReady", ready_cond

    async def ready() -> JSON | None:
        p = await read(client, namespace, "probed")
        return p if running_ready(p) else None

    p = await wait_for(ready, message="ready after the probe's initial delay")
    started = p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
    became_ready = condition(p, "Ready")
    assert became_ready is not None and became_ready["lastTransitionTime"] > started


async def test_deleted_pod_is_confirmed_by_its_kubelet(
    kubelets: HttpKubelets, client: Client, namespace: str, wait_for: Wait
) -> None:
    await client.create(PODS, pod("doomed", "fake-node-003", grace=2), namespace)
    await wait_for(lambda: _running(client, namespace, "doomed"), message="pod Running")
    rv = (await client.list(PODS, namespace)).resource_version
    seen: list[JSON] = []
    async with client.watch(
        PODS, namespace, resource_version=rv, field_selector="metadata.name=doomed"
    ) as events:
        deleted = await client.delete(PODS, "doomed", namespace)
        assert (
            deleted["metadata"]["deletionTimestamp"]
            and deleted["metadata"]["deletionGracePeriodSeconds"] == 2
        )
        async with asyncio.timeout(30):
            async for ev in events:
                if ev.type == "DELETED":
                    break
                if ev.type == "MODIFIED":
                    seen.append(ev.object)
    # Terminating while the containers ignore SIGTERM, then killed at the end of the grace period: the
    # kubelet posts the terminal status and deletes with grace period 0.
    assert seen and seen[0]["status"]["phase"] == "Running"
    last = seen[-1]["status"]
    assert last["phase"] == "Failed"
    assert last["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137
    assert await read(client, namespace, "doomed") is None


async def test_kubelet_rejects_a_pod_that_does_not_fit(
    kubelets: HttpKubelets, client: Client, namespace: str, wait_for: Wait
) -> None:
    huge = pod(
        "huge",
        "fake-node-038",
        containers=[
            {"name": "main", "image": "registry.k8s.io/pause:3.10", "resources": {"requests": {"cpu": "9"}}}
        ],
    )
    await client.create(PODS, huge, namespace)

    async def failed() -> JSON | None:
        p = await read(client, namespace, "huge")
        return p if p is not None and p["status"].get("phase") == "Failed" else None

    p = await wait_for(failed, message="pod rejected")
    assert p["status"]["reason"] == "OutOfcpu"
    assert re.fullmatch(
        r"Pod was rejected: Node didn't have enough resource: "
        r"cpu, requested: 9000, used: \d+, capacity: 8000",
        p["status"]["message"],
    ), p["status"]["message"]


async def test_initc_gate_holds_a_pod_until_its_parent_clique_is_ready(
    kubelets: HttpKubelets, client: Client, namespace: str, wait_for: Wait
) -> None:
    remove = kubelets.add_init_container_gate(make_initc_gate(kubelets.list_pods))
    try:
        initc = {"name": constants.INITC_CONTAINER_NAME, "image": BUSYBOX, "args": ["--podcliques=leader:1"]}
        gang = {labels.PODGANG: "g"}
        await client.create(
            PODS,
            pod(
                "worker", "fake-node-020", labels={**gang, labels.PODCLIQUE: "worker"}, initContainers=[initc]
            ),
            namespace,
        )

        async def initializing() -> bool:
            p = await read(client, namespace, "worker")
            inits = ((p or {}).get("status") or {}).get("initContainerStatuses") or ()
            return bool(inits) and "running" in inits[0]["state"]

        await wait_for(initializing, message="grove-initc running")
        # A pod created later, with an ordinary init container, runs to the end meanwhile.
        other = {"name": "other", "image": BUSYBOX}
        await client.create(PODS, pod("control", "fake-node-021", initContainers=[other]), namespace)
        await wait_for(lambda: _running(client, namespace, "control"), message="control pod Running")
        worker = await read(client, namespace, "worker")
        assert worker is not None and worker["status"]["phase"] == "Pending"

        await client.create(
            PODS, pod("leader", "fake-node-022", labels={**gang, labels.PODCLIQUE: "leader"}), namespace
        )
        await wait_for(
            lambda: _running(client, namespace, "worker"), message="worker Running once its leader is"
        )
        assert kubelets.list_pods(namespace, f"{labels.PODGANG}=g")
    finally:
        remove()


async def test_node_shutdown_fails_its_pods_until_it_recovers(
    kubelets: HttpKubelets, client: Client, namespace: str, wait_for: Wait
) -> None:
    node = "fake-node-011"
    await client.create(PODS, pod("victim", node), namespace)
    await wait_for(lambda: _running(client, namespace, "victim"), message="pod Running")
    kubelets.fail_node(node)
    assert kubelets.state(node) == "NotReady"
    try:

        async def node_shut_down() -> bool:
            ready = condition(await client.get(NODES, node), "Ready")
            return ready is not None and ready["status"] == "False" and ready["reason"] == "KubeletNotReady"

        await wait_for(node_shut_down, message="Ready=False KubeletNotReady")

        async def pod_failed() -> JSON | None:
            p = await read(client, namespace, "victim")
            return p if p is not None and p["status"].get("phase") == "Failed" else None

        p = await wait_for(pod_failed, message="the node's pod failed")
        assert (p["status"]["reason"], p["status"]["message"]) == (SHUTDOWN_REASON, SHUTDOWN_MESSAGE)
        disruption = condition(p, "DisruptionTarget")
        assert disruption is not None and disruption["reason"] == "TerminationByKubelet"

        async def tainted() -> bool:
            taints = _taint_keys(await client.get(NODES, node))
            return {(NOT_READY_TAINT, "NoSchedule"), (NOT_READY_TAINT, "NoExecute")} <= taints

        # The node lifecycle controller's taints (the emulator's kubelets here add them themselves).
        await wait_for(tainted, timeout=60, message="not-ready taints")
        await _assert_lease_stopped(client, node, wait_for)
    finally:
        kubelets.recover_node(node)
    assert kubelets.state(node) == "Ready"
    await _wait_recovered(client, node, wait_for)
    assert (await client.get(PODS, "victim", namespace))["status"]["phase"] == "Failed"
    await client.create(PODS, pod("after", node), namespace)
    await wait_for(
        lambda: _running(client, namespace, "after"), message="a new pod runs on the recovered node"
    )


async def test_unreachable_node_holds_its_pods_until_it_recovers(
    kubelets: HttpKubelets, client: Client, namespace: str, wait_for: Wait
) -> None:
    node = "fake-node-012"
    await client.create(PODS, pod("stranded", node), namespace)
    await wait_for(lambda: _running(client, namespace, "stranded"), message="pod Running")
    kubelets.fail_node(node, unreachable=True)
    assert kubelets.state(node) == "Unknown"
    try:
        await _assert_lease_stopped(client, node, wait_for)

        async def marked_unknown() -> bool:
            n = await client.get(NODES, node)
            ready = condition(n, "Ready")
            taints = {(UNREACHABLE_TAINT, "NoSchedule"), (UNREACHABLE_TAINT, "NoExecute")}
            return ready is not None and ready["status"] == "Unknown" and taints <= _taint_keys(n)

        # On the real control plane it is the node lifecycle controller's doing, once the grace period
        # since the last Lease renewal is over.
        await wait_for(
            marked_unknown, timeout=UNREACHABLE_TIMEOUT, interval=1.0, message="node Unknown, tainted"
        )

        async def pod_not_ready() -> JSON | None:
            p = await read(client, namespace, "stranded")
            return p if p is not None and not is_true(p, "Ready") else None

        p = await wait_for(pod_not_ready, timeout=30, message="the node's pod NotReady")
        assert p["status"]["phase"] == "Running"
        await client.delete(PODS, "stranded", namespace)
        # Nobody confirms the deletion while the kubelet is silent: it still holds after the other nodes
        # renewed their Leases twice.
        await _wait_renewals(client, "fake-node-000", 2, wait_for)
        held = await read(client, namespace, "stranded")
        assert held is not None and held["metadata"].get("deletionTimestamp")
    finally:
        kubelets.recover_node(node)
    await _wait_recovered(client, node, wait_for)
    await wait_for(lambda: _gone(client, namespace, "stranded"), message="deletion completed after recovery")


async def test_statuses_are_the_emulator_kubelets(
    kubelets: HttpKubelets, client: Client, namespace: str, wait_for: Wait
) -> None:
    """The same pod on these kubelets and on the emulator's own (``grove dev``'s) reads the same."""
    node = "fake-node-030"
    manifest = pod(
        "twin",
        node,
        initContainers=[
            {"name": "setup", "image": BUSYBOX},
            {"name": "proxy", "image": BUSYBOX, "restartPolicy": "Always"},
        ],
        readinessGates=[{"conditionType": GATE}],
    )
    emulator = ThreadedDevCluster(port=0, nodes=40, simulation=FAST)
    emulator.start()
    try:
        twin = await Client.connect(emulator.kubeconfig_path)
        try:
            statuses = []
            for c in (client, twin):
                if c is twin:
                    await twin.create(NAMESPACES, {"metadata": {"name": namespace}})
                await c.create(PODS, manifest, namespace)
                await wait_for(
                    lambda c=c: _running(c, namespace, "twin", ready=False), message="twin Running"
                )
                await _set_gate(c, namespace, "twin")

                async def ready(c: Client = c) -> JSON | None:
                    p = await read(c, namespace, "twin")
                    return p if running_ready(p) else None

                statuses.append(normalized_status(await wait_for(ready, message="twin Ready")))
        finally:
            await twin.close()
    finally:
        emulator.stop()
    ours, theirs = statuses
    assert ours == theirs


# ------------------------------------------------------------------------------------------- helpers


async def _running(client: Client, namespace: str, name: str, *, ready: bool = True) -> bool:
    p = await read(client, namespace, name)
    if ready:
        return running_ready(p)
    return p is not None and p["status"].get("phase") == "Running"


async def _gone(client: Client, namespace: str, name: str) -> bool:
    return await read(client, namespace, name) is None


async def _wait_renewals(client: Client, node: str, count: int, wait_for: Wait) -> None:
    """Poll until ``node``'s Lease was renewed ``count`` times (time passes with kubelets alive)."""
    for _ in range(count):
        before = await renew_time(client, node)

        async def renewed(before: str = before) -> bool:
            return await renew_time(client, node) > before

        await wait_for(renewed, timeout=3 * FAST.lease_renew_interval + 5, message=f"{node}'s Lease renewed")


async def _assert_lease_stopped(client: Client, node: str, wait_for: Wait) -> None:
    """A failed node's Lease is not renewed while a healthy one's is, twice."""
    await _wait_renewals(client, "fake-node-000", 1, wait_for)
    before = await renew_time(client, node)
    await _wait_renewals(client, "fake-node-000", 2, wait_for)
    assert await renew_time(client, node) == before


async def _wait_recovered(client: Client, node: str, wait_for: Wait) -> None:
    async def recovered() -> bool:
        n = await client.get(NODES, node)
        return is_true(n, "Ready") and _taint_keys(n) == {("fake-node", "NoSchedule")}

    # The real node lifecycle controller removes its taints on its next pass (every 5 s).
    await wait_for(recovered, timeout=60, message="node Ready and untainted")
