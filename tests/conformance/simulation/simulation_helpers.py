"""Pod manifests and status readers for the nodes/kubelet/scheduler conformance tests."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client as k8s

PAUSE = "registry.k8s.io/pause:3.10"
BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"
TOLERATE_FAKE_NODES = [{"key": "fake-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
TOLERATE_EVERYTHING = [{"operator": "Exists"}]
HOSTNAME = "kubernetes.io/hostname"


def pod(
    name: str,
    *,
    cpu: str | None = None,
    tolerations: list[dict[str, Any]] | None = None,
    grace: int = 1,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A Pod running ``pause`` that tolerates the fake nodes' taint; ``spec`` entries are merged in."""
    container: dict[str, Any] = {"name": "main", "image": PAUSE}
    if cpu is not None:
        container["resources"] = {"requests": {"cpu": cpu}}
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": "sim-test"}},
        "spec": {
            "containers": [container],
            "tolerations": TOLERATE_FAKE_NODES if tolerations is None else tolerations,
            "terminationGracePeriodSeconds": grace,
        },
    }
    body["spec"].update(spec)
    return body


def condition(p: k8s.V1Pod, type_: str) -> k8s.V1PodCondition | None:
    """The pod's condition of ``type_``."""
    return next((c for c in p.status.conditions or [] if c.type == type_), None)


def is_running_ready(p: k8s.V1Pod) -> bool:
    """Running with Ready=True."""
    ready = condition(p, "Ready")
    return p.status.phase == "Running" and ready is not None and ready.status == "True"


async def read(core: k8s.CoreV1Api, namespace: str, name: str) -> k8s.V1Pod | None:
    """The pod, or None when it is gone."""
    try:
        return await core.read_namespaced_pod(name, namespace)
    except k8s.ApiException as e:
        if e.status == 404:
            return None
        raise


async def node_names(core: k8s.CoreV1Api) -> list[str]:
    """Every node's name."""
    return [n.metadata.name for n in (await core.list_node()).items]


def unschedulable_message(histogram: str, preemption: str, nodes: int) -> str:
    """kube-scheduler's message for a pod no node fits (``histogram`` and the preemption outcome as
    ``count reason`` lists)."""
    return (
        f"0/{nodes} nodes are available: {histogram}. no new claims to deallocate, "
        f"preemption: 0/{nodes} nodes are available: {preemption}."
    )


def add_init_container_gate(cluster: Any, gate: Any) -> Any:
    """Hold init containers until ``gate(pod, init_container)`` holds, on the fake kubelets of either tier
    (the dev cluster's simulation, or the real tier's HTTP kubelets); returns a callable removing the gate."""
    if cluster.dev is not None:
        dev = cluster.dev
        remove = dev.call(dev.cluster.simulation.add_init_container_gate, gate)
        return lambda: dev.call(remove)
    stack = cluster.k8s.stack
    remove = stack.call(stack.stack.kubelets.add_init_container_gate, gate)
    return lambda: stack.call(remove)
