"""Scaling through the scale subresources (what ``kubectl scale`` does) sticks and converges exactly."""

from __future__ import annotations

from typing import Any

import pytest

from grove.api import labels
from grove.controllers.resources import (
    HORIZONTAL_POD_AUTOSCALERS,
    PODCLIQUES,
    PODCLIQUESCALINGGROUPS,
    PODCLIQUESETS,
    PODS,
    ROLE_BINDINGS,
    ROLES,
    SECRETS,
    SERVICE_ACCOUNTS,
)
from grove.runtime.resources import NODES
from grove_expect import expected, load_sample, observe, wait_converged

HOLD = "grove.test/hold"


async def test_scale_pclq_then_pcs(operator: Any, namespace: str, client: Any) -> None:
    manifest = load_sample("single-node-aggregated.yaml", namespace)
    pcs = manifest["metadata"]["name"]
    pclq = f"{pcs}-0-model-worker"
    await client.create(PODCLIQUESETS, manifest)
    first = await wait_converged(client, namespace, expected(manifest))
    original = {p["metadata"]["name"] for p in first.pods}

    await client.scale(PODCLIQUES, pclq, 4, namespace)
    got = await wait_converged(client, namespace, expected(manifest, pclq_replicas={pclq: 4}))
    assert original <= {p["metadata"]["name"] for p in got.pods}, "scale-out must keep the existing pods"

    # Scaling the PodCliqueSet replicates the template; the scaled PodClique keeps its 4 pods.
    await client.scale(PODCLIQUESETS, pcs, 3, namespace)
    await wait_converged(client, namespace, expected(manifest, replicas=3, pclq_replicas={pclq: 4}))
    scale = await client.get_scale(PODCLIQUESETS, pcs, namespace)
    assert scale["status"]["replicas"] == 3
    assert scale["status"]["selector"] == f"{labels.MANAGED_BY}=grove-operator,{labels.PART_OF}={pcs}"
    pclq_scale = await client.get_scale(PODCLIQUES, f"{pcs}-2-model-worker", namespace)
    selector = (
        f"{labels.MANAGED_BY}=grove-operator,{labels.PART_OF}={pcs},{labels.PODCLIQUE}={pcs}-2-model-worker"
    )
    assert pclq_scale["status"] == {"replicas": 2, "selector": selector}

    # Scale-in removes the highest replicas and everything they own.
    await client.scale(PODCLIQUESETS, pcs, 1, namespace)
    await wait_converged(client, namespace, expected(manifest, replicas=1, pclq_replicas={pclq: 4}))


async def test_scale_pcsg_and_member_pclq(operator: Any, namespace: str, client: Any) -> None:
    manifest = load_sample("multi-node-aggregated.yaml", namespace)
    pcs = manifest["metadata"]["name"]
    pcsg = f"{pcs}-0-model-instance"
    await client.create(PODCLIQUESETS, manifest)
    got = await wait_converged(client, namespace, expected(manifest))
    # minAvailable 1: replica 0 is in the base gang, replica 1 in the first scaled gang.
    assert set(got.podgangs) == {f"{pcs}-0", f"{pcs}-0-model-instance-0"}

    await client.scale(PODCLIQUESCALINGGROUPS, pcsg, 3, namespace)
    got = await wait_converged(client, namespace, expected(manifest, group_replicas={pcsg: 3}))
    assert set(got.podgangs) == {f"{pcs}-0", f"{pcsg}-0", f"{pcsg}-1"}
    scaled = got.pclqs[f"{pcsg}-2-worker"]["metadata"]["labels"]
    assert scaled[labels.PODGANG] == f"{pcsg}-1"
    assert scaled[labels.BASE_PODGANG] == f"{pcs}-0"
    scale = await client.get_scale(PODCLIQUESCALINGGROUPS, pcsg, namespace)
    assert scale["status"]["selector"].endswith(f"{labels.SCALING_GROUP}={pcsg}")

    member = f"{pcsg}-0-worker"
    await client.scale(PODCLIQUES, member, 4, namespace)
    want = expected(manifest, group_replicas={pcsg: 3}, pclq_replicas={member: 4})
    await wait_converged(client, namespace, want)

    await client.scale(PODCLIQUESCALINGGROUPS, pcsg, 1, namespace)
    got = await wait_converged(
        client, namespace, expected(manifest, group_replicas={pcsg: 1}, pclq_replicas={member: 4})
    )
    assert set(got.podgangs) == {f"{pcs}-0"}


async def test_scale_in_deletes_unscheduled_pods_first(
    operator: Any, namespace: str, client: Any, wait_for: Any
) -> None:
    manifest = load_sample("single-node-aggregated.yaml", namespace)
    pcs = manifest["metadata"]["name"]
    pclq = f"{pcs}-0-model-worker"
    await client.create(PODCLIQUESETS, manifest)
    first = await wait_converged(client, namespace, expected(manifest))
    running = {p["metadata"]["name"] for p in first.pods}

    nodes = (await client.list(NODES)).items
    for node in nodes:
        await client.patch(NODES, node["metadata"]["name"], {"spec": {"unschedulable": True}})
    try:
        await client.scale(PODCLIQUES, pclq, 4, namespace)
        # The new pods are released to the scheduler but find no node.
        await wait_converged(client, namespace, expected(manifest, pclq_replicas={pclq: 4}), ready=False)

        async def new_pods_ungated() -> bool:
            pods = (await client.list(PODS, namespace)).items
            fresh = [p for p in pods if p["metadata"]["name"] not in running]
            return len(fresh) == 2 and all(not p["spec"].get("schedulingGates") for p in fresh)

        await wait_for(new_pods_ungated, timeout=10, message="scaled-out pods released")
        await client.scale(PODCLIQUES, pclq, 2, namespace)
        got = await wait_converged(client, namespace, expected(manifest), ready=False)
        assert {p["metadata"]["name"] for p in got.pods} == running
    finally:
        for node in nodes:
            await client.patch(NODES, node["metadata"]["name"], {"spec": {"unschedulable": None}})


async def test_deleted_pod_is_replaced_at_its_index(operator: Any, namespace: str, client: Any) -> None:
    manifest = load_sample("single-node-disaggregated.yaml", namespace)
    await client.create(PODCLIQUESETS, manifest)
    got = await wait_converged(client, namespace, expected(manifest))
    victim = next(p for p in got.pods if p["spec"]["hostname"].endswith("-prefill-1"))
    await client.delete(PODS, victim["metadata"]["name"], namespace, grace_period_seconds=0)
    got = await wait_converged(client, namespace, expected(manifest))
    replacement = [p for p in got.pods if p["spec"]["hostname"] == victim["spec"]["hostname"]]
    assert len(replacement) == 1 and replacement[0]["metadata"]["name"] != victim["metadata"]["name"]


async def test_delete_removes_everything(operator: Any, namespace: str, client: Any, wait_for: Any) -> None:
    manifest = load_sample("multi-node-disaggregated.yaml", namespace)
    pcs = manifest["metadata"]["name"]
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    selector = f"{labels.PART_OF}={pcs}"
    for resource in (SERVICE_ACCOUNTS, ROLES, ROLE_BINDINGS, SECRETS):
        assert len((await client.list(resource, namespace, label_selector=selector)).items) == 1, resource
    await client.delete(PODCLIQUESETS, pcs, namespace)

    async def gone() -> bool:
        got = await observe(client, namespace, pcs)
        return not (got.pods or got.pclqs or got.pcsgs or got.services or got.podgangs or got.pcs)

    await wait_for(gone, timeout=30, message="everything of the PodCliqueSet deleted")
    selector = f"{labels.PART_OF}={pcs}"
    for resource in (SERVICE_ACCOUNTS, ROLES, ROLE_BINDINGS, SECRETS):
        assert not (await client.list(resource, namespace, label_selector=selector)).items, resource


async def test_nothing_is_created_for_a_podcliqueset_being_deleted(
    operator: Any, namespace: str, client: Any, wait_for: Any
) -> None:
    # Children created for an owner on its way out would only be left for the garbage collector.
    if not operator.in_process:
        pytest.skip("reads the in-process operator's cache")
    manifest = load_sample("single-node-aggregated.yaml", namespace)
    pcs = manifest["metadata"]["name"]
    pclq = f"{pcs}-0-model-worker"
    await client.create(PODCLIQUESETS, manifest)
    got = await wait_converged(client, namespace, expected(manifest))
    pods = {p["metadata"]["name"] for p in got.pods if p["metadata"]["labels"][labels.PODCLIQUE] == pclq}
    await client.patch(PODCLIQUESETS, pcs, {"metadata": {"finalizers": [HOLD]}}, namespace)
    try:
        # Held by the test's finalizer, the PodCliqueSet stays terminating; with background propagation the
        # garbage collector leaves its children alone until it is gone.
        await client.delete(PODCLIQUESETS, pcs, namespace)

        def cached_terminating() -> bool:
            informer = operator.threaded.handle.manager.informer(PODCLIQUESETS, namespace=namespace)
            cached = informer.store.get_by_name(namespace, pcs)
            return cached is not None and bool(cached["metadata"].get("deletionTimestamp"))

        await wait_for(
            lambda: operator.threaded.call(cached_terminating), message="the operator saw the delete"
        )
        await client.scale(PODCLIQUES, pclq, 4, namespace)
        generation = (await client.get(PODCLIQUES, pclq, namespace))["metadata"]["generation"]

        async def reconciled() -> bool:
            status = (await client.get(PODCLIQUES, pclq, namespace)).get("status") or {}
            return bool(status.get("observedGeneration") == generation)

        await wait_for(reconciled, message="the PodClique controller saw the scale-out")
        selector = f"{labels.PODCLIQUE}={pclq}"
        after = {
            p["metadata"]["name"] for p in (await client.list(PODS, namespace, label_selector=selector)).items
        }
        assert after == pods, "no pods for a PodClique whose PodCliqueSet is being deleted"
    finally:
        await client.patch(PODCLIQUESETS, pcs, {"metadata": {"finalizers": None}}, namespace)


async def test_autoscaling_configs_get_hpas_per_replica(operator: Any, namespace: str, client: Any) -> None:
    manifest = load_sample("complete-inference-pipeline.yaml", namespace)
    template = manifest["spec"]["template"]
    template["cliques"][0]["spec"]["autoScalingConfig"] = {"maxReplicas": 4}
    template["podCliqueScalingGroups"][0]["scaleConfig"] = {"maxReplicas": 3}
    pcs = manifest["metadata"]["name"]
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))

    async def hpas() -> dict[str, Any]:
        return {
            h["metadata"]["name"]: h["spec"]
            for h in (await client.list(HORIZONTAL_POD_AUTOSCALERS, namespace)).items
        }

    got = await hpas()
    assert got[f"{pcs}-0-frontend"]["scaleTargetRef"] == {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "PodClique",
        "name": f"{pcs}-0-frontend",
    }
    assert (got[f"{pcs}-0-frontend"]["minReplicas"], got[f"{pcs}-0-frontend"]["maxReplicas"]) == (2, 4)
    assert got[f"{pcs}-0-prefill"]["scaleTargetRef"]["kind"] == "PodCliqueScalingGroup"
    assert (got[f"{pcs}-0-prefill"]["minReplicas"], got[f"{pcs}-0-prefill"]["maxReplicas"]) == (1, 3)
    assert set(got) == {f"{pcs}-0-frontend", f"{pcs}-0-prefill"}

    await client.scale(PODCLIQUESETS, pcs, 2, namespace)
    await wait_converged(client, namespace, expected(manifest, replicas=2))
    assert set(await hpas()) == {f"{pcs}-{i}-{t}" for i in (0, 1) for t in ("frontend", "prefill")}
