"""Start-up ordering: ``grove-initc`` holds a clique's pods in Init until its parents have minAvailable Ready
pods, on the dev cluster's kubelets and with the real ``grove initc`` wait."""

from __future__ import annotations

import asyncio
from typing import Any

from grove.api import constants
from grove.controllers.resources import PODCLIQUESETS, PODS
from grove.initc.command import wait_for_parents
from grove.initc.rule import parse_podcliques
from grove.runtime.resources import NODES
from grove_expect import expected, wait_converged

TOLERATION = {"key": "fake-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"}


def _clique(name: str, replicas: int, node_selector: dict[str, str] | None = None) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "tolerations": [TOLERATION],
        "containers": [{"name": name, "image": "nginx:latest", "resources": {"requests": {"cpu": "100m"}}}],
    }
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    return {"name": name, "spec": {"replicas": replicas, "podSpec": pod_spec}}


def _init_state(pod: dict[str, Any]) -> str:
    for s in (pod.get("status") or {}).get("initContainerStatuses") or ():
        if s.get("name") == constants.INITC_CONTAINER_NAME:
            return next(iter(s.get("state") or {"unknown": None}))
    return "none"


async def test_in_order_cliques_wait_for_their_parent(
    operator: Any, namespace: str, client: Any, cluster: Any, wait_for: Any
) -> None:
    label = f"grove.test/{namespace}"
    manifest = {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "PodCliqueSet",
        "metadata": {"name": "ordered", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "template": {
                "cliqueStartupType": "CliqueStartupTypeInOrder",
                # The leader only fits on a node carrying the label, which no node has yet.
                "cliques": [_clique("leader", 2, {label: "yes"}), _clique("worker", 2)],
            },
        },
    }
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest), ready=False)

    async def workers_held() -> list[dict[str, Any]] | None:
        pods = (
            await client.list(PODS, namespace, label_selector="grove.io/podclique=ordered-0-worker")
        ).items
        return pods if len(pods) == 2 and all(_init_state(p) == "running" for p in pods) else None

    workers = await wait_for(workers_held, timeout=15, message="workers running grove-initc")
    initc = workers[0]["spec"]["initContainers"][-1]
    assert initc["name"] == constants.INITC_CONTAINER_NAME
    assert initc["command"] == ["grove", "initc"]
    assert initc["args"] == ["--podcliques=ordered-0-leader:2"]
    assert {v["name"] for v in workers[0]["spec"]["volumes"]} >= {"sa-token-secret-vol", "pod-info-vol"}

    # The real ``grove initc`` wait, on the same pods the kubelet gate looks at.
    waiter = asyncio.create_task(
        wait_for_parents(client, namespace, "ordered-0", parse_podcliques(initc["args"][0].split("=", 1)[1:]))
    )
    try:
        leaders = (
            await client.list(PODS, namespace, label_selector="grove.io/podclique=ordered-0-leader")
        ).items
        assert all(not p["spec"].get("nodeName") for p in leaders)
        assert not waiter.done()

        node = (await client.list(NODES)).items[0]["metadata"]["name"]
        await client.patch(NODES, node, {"metadata": {"labels": {label: "yes"}}})
        try:
            await wait_converged(client, namespace, expected(manifest), timeout=30)
            await asyncio.wait_for(waiter, timeout=10)
        finally:
            await client.patch(NODES, node, {"metadata": {"labels": {label: None}}})
    finally:
        waiter.cancel()
