"""Invalid specs reported on the object, no writes in steady state, and a killed operator resuming exactly."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from grove.controllers.resources import (
    PCS_MEMBERS,
    PODCLIQUES,
    PODCLIQUESCALINGGROUPS,
    PODCLIQUESETS,
    PODS,
    SERVICES,
)
from grove.runtime.errors import NotFound
from grove.runtime.resources import EVENTS, NAMESPACES
from grove_expect import expected, load_sample, wait_converged

RECONCILE_TRIGGER = "grove.io/reconcile-trigger"
CONTROLLERS = ("podcliqueset-controller", "podcliquescalinggroup-controller", "podclique-controller")


async def test_invalid_spec_is_reported_and_not_acted_on(
    operator: Any, namespace: str, client: Any, wait_for: Any, webhooks_skipping: Any
) -> None:
    manifest = load_sample("multi-node-aggregated.yaml", namespace)
    broken = copy.deepcopy(manifest)
    broken["spec"]["template"]["podCliqueScalingGroups"][0]["cliqueNames"] = ["leader", "wrker"]
    name = manifest["metadata"]["name"]
    # As on a cluster without Grove's webhooks (which would refuse it, and the fix below as an immutable
    # change): the operator's own check reports it.
    async with webhooks_skipping(namespace, broken):
        await client.create(PODCLIQUESETS, broken)

        async def reported() -> Any:
            status = (await client.get(PODCLIQUESETS, name, namespace)).get("status") or {}
            conditions = {c["type"]: c for c in status.get("conditions") or ()}
            return status if conditions.get("SpecValid", {}).get("status") == "False" else None

        status = await wait_for(reported, timeout=10, message="SpecValid=False")
        error = 'spec.template.podCliqueScalingGroups[0].cliqueNames[1]: Invalid value: "wrker"'
        assert error in status["conditions"][0]["message"]
        assert [e["code"] for e in status["lastErrors"]] == ["ERR_INVALID_PODCLIQUESET_SPEC"]
        assert error in status["lastErrors"][0]["description"]

        async def warned() -> bool:
            events = (await client.list(EVENTS, namespace)).items
            return any(e["reason"] == "InvalidSpec" and e["type"] == "Warning" for e in events)

        await wait_for(warned, timeout=10, message="InvalidSpec event")
        assert not (await client.list(PODCLIQUESCALINGGROUPS, namespace)).items
        assert not (await client.list(PODCLIQUES, namespace)).items

        # Fixing the spec lets the operator act on it, and clears the report.
        await client.patch(
            PODCLIQUESETS,
            name,
            {
                "spec": {
                    "template": {
                        "podCliqueScalingGroups": manifest["spec"]["template"]["podCliqueScalingGroups"]
                    }
                }
            },
            namespace,
        )
        got = await wait_converged(client, namespace, expected(manifest))

        async def cleared() -> bool:
            status = (await client.get(PODCLIQUESETS, name, namespace))["status"]
            return not status.get("lastErrors") and status["conditions"][0]["status"] == "True"

        await wait_for(cleared, timeout=10, message="report cleared")
        assert got.pods


def _reconciles(operator: Any) -> dict[str, float]:
    def read() -> dict[str, float]:
        registry = operator.threaded.handle.manager.metrics.registry
        return {
            c: sum(
                registry.get_sample_value(
                    "controller_runtime_reconcile_total", {"controller": c, "result": result}
                )
                or 0.0
                for result in ("success", "error", "requeue", "requeue_after")
            )
            for c in CONTROLLERS
        }

    return dict(operator.threaded.call(read))


async def _versions(client: Any, namespace: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for resource in (PODCLIQUESETS, *PCS_MEMBERS, EVENTS):
        for obj in (await client.list(resource, namespace)).items:
            out[f"{resource.kind}/{obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
    return out


async def test_no_writes_in_steady_state(operator: Any, namespace: str, client: Any, wait_for: Any) -> None:
    if not operator.in_process:
        pytest.skip("reads the in-process operator's reconcile counters")
    manifest = load_sample("complete-inference-pipeline.yaml", namespace)
    name = manifest["metadata"]["name"]
    await client.create(PODCLIQUESETS, manifest)
    got = await wait_converged(client, namespace, expected(manifest))

    async def settled() -> bool:
        status = (await client.get(PODCLIQUESETS, name, namespace)).get("status") or {}
        return status.get("availableReplicas") == 1

    await wait_for(settled, timeout=10, message="PodCliqueSet available")
    # Let every reconcile the convergence triggered finish: two identical snapshots of the namespace.
    before: dict[str, str] = {}

    async def quiet() -> bool:
        nonlocal before
        now = await _versions(client, namespace)
        same = now == before
        before = now
        return same

    await wait_for(quiet, timeout=10, interval=0.5, message="namespace quiet")

    # Make every controller reconcile everything again without changing anything it owns.
    counts = _reconciles(operator)
    pod = got.pods[0]["metadata"]["name"]
    await client.patch(
        PODCLIQUESETS, name, {"metadata": {"annotations": {RECONCILE_TRIGGER: "1"}}}, namespace
    )
    await client.patch(PODS, pod, {"metadata": {"annotations": {"grove.test/poke": "1"}}}, namespace)

    async def reconciled() -> bool:
        now = _reconciles(operator)
        return all(now[c] > counts[c] for c in CONTROLLERS)

    await wait_for(reconciled, timeout=10, message="every controller reconciled after the poke")
    after = await _versions(client, namespace)
    changed = sorted(k for k in after if after[k] != before.get(k))
    assert changed == sorted([f"PodCliqueSet/{name}", f"Pod/{pod}"]), changed


async def test_killed_operator_resumes_without_duplicates(
    operator: Any, namespace: str, client: Any, wait_for: Any
) -> None:
    if not operator.in_process:
        pytest.skip("kills the in-process operator")
    manifest = load_sample("complete-inference-pipeline.yaml", namespace)
    await client.create(PODCLIQUESETS, manifest)

    async def some_pods() -> bool:
        return bool((await client.list(PODS, namespace)).items)

    await wait_for(some_pods, timeout=10, message="first pods")
    operator.kill()
    operator.start()
    await wait_converged(client, namespace, expected(manifest))
    await client.scale(PODCLIQUESETS, manifest["metadata"]["name"], 2, namespace)
    operator.restart()
    await wait_converged(client, namespace, expected(manifest, replicas=2))


async def test_on_delete_template_change_keeps_pods_and_replicas(
    operator: Any, namespace: str, client: Any, wait_for: Any
) -> None:
    manifest = load_sample("single-node-aggregated.yaml", namespace)
    manifest["spec"]["updateStrategy"] = {"type": "OnDelete"}
    pcs = manifest["metadata"]["name"]
    pclq = f"{pcs}-0-model-worker"
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    await client.scale(PODCLIQUES, pclq, 3, namespace)
    await wait_converged(client, namespace, expected(manifest, pclq_replicas={pclq: 3}))
    old_hash = (await client.get(PODCLIQUES, pclq, namespace))["metadata"]["labels"][
        "grove.io/pod-template-hash"
    ]

    cliques = manifest["spec"]["template"]["cliques"]
    cliques[0]["spec"]["podSpec"]["containers"][0]["image"] = "nginx:1.27"
    await client.patch(PODCLIQUESETS, pcs, {"spec": {"template": {"cliques": cliques}}}, namespace)

    async def updated() -> Any:
        obj = await client.get(PODCLIQUES, pclq, namespace)
        image = obj["spec"]["podSpec"]["containers"][0]["image"]
        return obj if image == "nginx:1.27" else None

    obj = await wait_for(updated, timeout=10, message="PodClique follows the template")
    assert obj["spec"]["replicas"] == 3
    assert obj["metadata"]["labels"]["grove.io/pod-template-hash"] != old_hash

    async def ended() -> Any:
        status = (await client.get(PODCLIQUESETS, pcs, namespace)).get("status") or {}
        return status.get("updateProgress", {}).get("updateEndedAt")

    await wait_for(ended, timeout=10, message="OnDelete update recorded as ended")
    # Nothing is replaced; a new pod gets the new template.
    await client.scale(PODCLIQUES, pclq, 4, namespace)
    got = await wait_converged(client, namespace, expected(manifest, pclq_replicas={pclq: 4}))
    images = sorted(p["spec"]["containers"][0]["image"] for p in got.pods)
    assert images == ["nginx:1.27", "nginx:latest", "nginx:latest", "nginx:latest"]


def _images(pods: list[dict[str, Any]]) -> set[str]:
    return {c["image"] for p in pods for c in p["spec"]["containers"]}


async def test_rolling_update_replaces_every_outdated_pod_replica_by_replica(
    operator: Any, namespace: str, client: Any, wait_for: Any
) -> None:
    manifest = load_sample("complete-inference-pipeline.yaml", namespace)
    manifest["spec"]["replicas"] = 2
    pcs = manifest["metadata"]["name"]
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    frontend = f"{pcs}-0-frontend"
    await client.scale(PODCLIQUES, frontend, 3, namespace)
    want = expected(manifest, pclq_replicas={frontend: 3})
    before = await wait_converged(client, namespace, want)
    old_names = {p["metadata"]["name"] for p in before.pods}

    cliques = manifest["spec"]["template"]["cliques"]
    for clique in cliques:
        if clique["name"] in ("frontend", "pworker"):
            clique["spec"]["podSpec"]["containers"][0]["image"] = "nginx:1.27"
    await client.patch(PODCLIQUESETS, pcs, {"spec": {"template": {"cliques": cliques}}}, namespace)

    seen_updating: set[int] = set()

    async def rolled_out() -> bool:
        status = (await client.get(PODCLIQUESETS, pcs, namespace)).get("status") or {}
        progress = status.get("updateProgress") or {}
        for entry in progress.get("currentlyUpdating") or ():
            seen_updating.add(entry["replicaIndex"])
        return bool(progress.get("updateEndedAt")) and status.get("updatedReplicas") == 2

    await wait_for(rolled_out, timeout=60, interval=0.1, message="rolling update ended")
    got = await wait_converged(client, namespace, want, contiguous=False)
    assert seen_updating == {0, 1}
    for pod in got.pods:
        clique = pod["metadata"]["labels"]["grove.io/podclique"].rsplit("-", 1)[-1]
        image = pod["spec"]["containers"][0]["image"]
        assert image == ("nginx:1.27" if clique in ("frontend", "pworker") else "nginx:latest"), pod[
            "metadata"
        ]["name"]
    # Pods whose template did not change stayed, except the prefill group replicas, recreated as a unit.
    kept = {p["metadata"]["name"] for p in got.pods} & old_names
    assert {n.rsplit("-", 1)[0] for n in kept} == {
        f"{pcs}-{i}-{c}"
        for i in (0, 1)
        for c in ("vision-encoder", "decode-cluster-0-dleader", "decode-cluster-0-dworker")
    }
    assert (await client.get(PODCLIQUES, frontend, namespace))["spec"]["replicas"] == 3

    generation_hash = (await client.get(PODCLIQUESETS, pcs, namespace))["status"]["currentGenerationHash"]

    async def hashes_current() -> bool:
        # Every PodClique reports the templates it converged to, as upstream's status does.
        pclqs = (await client.list(PODCLIQUES, namespace)).items
        return len(pclqs) == 12 and all(
            (p.get("status") or {}).get("currentPodCliqueSetGenerationHash") == generation_hash
            and p["status"].get("currentPodTemplateHash")
            == p["metadata"]["labels"]["grove.io/pod-template-hash"]
            for p in pclqs
        )

    await wait_for(hashes_current, timeout=30, interval=0.1, message="PodCliques report the current hashes")

    async def groups_report_progress() -> bool:
        # Each group's update started when its replica's turn came and ended with all members converged.
        pcsgs = (await client.list(PODCLIQUESCALINGGROUPS, namespace)).items
        progress = [(g.get("status") or {}).get("updateProgress") or {} for g in pcsgs]
        return len(pcsgs) == 4 and all(
            p.get("podCliqueSetGenerationHash") == generation_hash
            and p.get("updateEndedAt")
            and p.get("updatedPodCliquesCount") == p.get("totalPodCliquesCount") == 2
            for p in progress
        )

    await wait_for(groups_report_progress, timeout=30, interval=0.1, message="groups report their update")


async def test_only_groves_gate_is_removed(operator: Any, namespace: str, client: Any, wait_for: Any) -> None:
    manifest = load_sample("single-node-aggregated.yaml", namespace)
    manifest["spec"]["template"]["cliques"][0]["spec"]["podSpec"]["schedulingGates"] = [
        {"name": "example.com/hold"}
    ]
    pcs = manifest["metadata"]["name"]
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest), ready=False)

    async def only_foreign_gate() -> bool:
        pods = (await client.list(PODS, namespace)).items
        return len(pods) == 2 and all(
            p["spec"].get("schedulingGates") == [{"name": "example.com/hold"}] for p in pods
        )

    await wait_for(only_foreign_gate, timeout=10, message="Grove's gate removed, the other kept")

    async def counted() -> bool:
        status = (await client.get(PODCLIQUES, f"{pcs}-0-model-worker", namespace)).get("status") or {}
        return status.get("scheduleGatedReplicas") == 2 and status.get("scheduledReplicas") == 0

    await wait_for(counted, timeout=10, message="gated pods counted")


async def test_an_object_owned_by_someone_else_is_reported(
    operator: Any, namespace: str, client: Any, wait_for: Any
) -> None:
    manifest = load_sample("single-node-aggregated.yaml", namespace)
    pcs = manifest["metadata"]["name"]
    squatter = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"{pcs}-0",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "grove-operator", "app.kubernetes.io/part-of": pcs},
        },
        "spec": {"clusterIP": "None", "selector": {"app": "other"}},
    }
    await client.create(SERVICES, squatter)

    async def reported() -> Any:
        status = (await client.get(PODCLIQUESETS, pcs, namespace)).get("status") or {}
        return [e for e in status.get("lastErrors") or () if e["code"] == "ERR_RESOURCE_CONFLICT"]

    await client.create(PODCLIQUESETS, manifest)
    errors = await wait_for(reported, timeout=10, message="ERR_RESOURCE_CONFLICT")
    assert f"Service {namespace}/{pcs}-0 already exists" in errors[0]["description"]
    # Everything else is still created (pods run); the squatter is left alone.
    await wait_converged(client, namespace, expected(manifest))
    assert (await client.get(SERVICES, f"{pcs}-0", namespace))["spec"]["selector"] == {"app": "other"}
    await client.delete(SERVICES, f"{pcs}-0", namespace)

    async def replaced() -> bool:
        try:
            svc = await client.get(SERVICES, f"{pcs}-0", namespace)
        except NotFound:
            return False
        return bool(svc["spec"]["selector"].get("app.kubernetes.io/part-of") == pcs)

    await wait_for(replaced, timeout=10, message="Grove's Service created")

    async def cleared() -> bool:
        status = (await client.get(PODCLIQUESETS, pcs, namespace)).get("status") or {}
        return not status.get("lastErrors")

    await wait_for(cleared, timeout=10, message="error cleared once the Service is Grove's")


def _errors(operator: Any) -> dict[str, float]:
    def read() -> dict[str, float]:
        registry = operator.threaded.handle.manager.metrics.registry
        return {
            c: registry.get_sample_value("controller_runtime_reconcile_errors_total", {"controller": c})
            or 0.0
            for c in CONTROLLERS
        }

    return dict(operator.threaded.call(read))


async def test_deleting_the_namespace_is_no_error(
    operator: Any, namespace: str, client: Any, wait_for: Any
) -> None:
    # While the namespace is terminating the operator may still try to replace what the namespace controller
    # deletes; those creates are refused (NamespaceTerminating), which is expected, not an error to retry.
    if not operator.in_process:
        pytest.skip("reads the in-process operator's reconcile counters")
    manifest = load_sample("multi-node-disaggregated.yaml", namespace)
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    before = _errors(operator)
    await client.delete(NAMESPACES, namespace)

    async def gone() -> bool:
        try:
            await client.get(NAMESPACES, namespace)
        except NotFound:
            return True
        return False

    await wait_for(gone, timeout=60, message="namespace deleted")
    assert _errors(operator) == before
