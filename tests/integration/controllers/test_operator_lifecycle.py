"""Invalid specs reported on the object, no writes in steady state, and a killed operator resuming exactly."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from grove.controllers.resources import (
    PODCLIQUES,
    PODCLIQUESCALINGGROUPS,
    PODCLIQUESETS,
    PODGANGS,
    PODS,
    ROLE_BINDINGS,
    ROLES,
    SECRETS,
    SERVICE_ACCOUNTS,
    SERVICES,
)
from grove.runtime.resources import EVENTS
from grove_expect import expected, load_sample, wait_converged

RECONCILE_TRIGGER = "grove.io/reconcile-trigger"
CONTROLLERS = ("podcliqueset-controller", "podcliquescalinggroup-controller", "podclique-controller")


async def test_invalid_spec_is_reported_and_not_acted_on(
    operator: Any, namespace: str, client: Any, wait_for: Any
) -> None:
    manifest = load_sample("multi-node-aggregated.yaml", namespace)
    broken = copy.deepcopy(manifest)
    broken["spec"]["template"]["podCliqueScalingGroups"][0]["cliqueNames"] = ["leader", "wrker"]
    name = manifest["metadata"]["name"]
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
                "template": {"podCliqueScalingGroups": manifest["spec"]["template"]["podCliqueScalingGroups"]}
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
    for resource in (
        PODCLIQUESETS,
        PODCLIQUES,
        PODCLIQUESCALINGGROUPS,
        PODGANGS,
        PODS,
        SERVICES,
        SERVICE_ACCOUNTS,
        ROLES,
        ROLE_BINDINGS,
        SECRETS,
        EVENTS,
    ):
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
