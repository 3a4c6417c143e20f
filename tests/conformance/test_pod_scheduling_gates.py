"""Pods created with ``spec.schedulingGates``: kube-apiserver's pod strategy (``PrepareForCreate`` ->
``applySchedulingGatedCondition``) stores them with ``PodScheduled=False``, reason ``SchedulingGated``. No
scheduler is involved: the pods here name a scheduler nobody runs, so only the API server acts on them."""

from __future__ import annotations

from typing import Any

from conformance_helpers import pod

PODS = "/api/v1/namespaces/{ns}/pods"
NO_SCHEDULER = "grove-test-no-such-scheduler"
GATED = {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"


def scheduled_condition(obj: dict[str, Any]) -> dict[str, Any]:
    [cond] = [c for c in obj["status"].get("conditions") or [] if c["type"] == "PodScheduled"]
    return cond


def gated_pod(name: str, **extra: Any) -> dict[str, Any]:
    return pod(
        name, spec={"schedulerName": NO_SCHEDULER, "schedulingGates": [{"name": "example.com/hold"}]}, **extra
    )


async def test_gated_pod_is_created_with_scheduling_gated_condition(raw: Any, namespace: str) -> None:
    # A status sent by the client is dropped: the API server writes the initial status itself.
    body = gated_pod("gated", status={"conditions": [{"type": "PodScheduled", "status": "True"}]})
    created = await raw.ok("POST", PODS.format(ns=namespace), body)
    cond = scheduled_condition(created)
    assert {k: cond[k] for k in GATED} == GATED
    assert cond["message"] == MESSAGE
    assert cond["lastTransitionTime"] and cond.get("lastProbeTime") is None
    assert created["status"]["phase"] == "Pending"
    assert [c["type"] for c in created["status"]["conditions"]] == ["PodScheduled"]


async def test_dry_run_create_shows_the_condition(raw: Any, namespace: str) -> None:
    created = await raw.ok("POST", PODS.format(ns=namespace), gated_pod("dry"), query={"dryRun": "All"})
    assert scheduled_condition(created)["reason"] == "SchedulingGated"


async def test_pod_without_gates_has_no_condition(raw: Any, namespace: str) -> None:
    created = await raw.ok(
        "POST", PODS.format(ns=namespace), pod("free", spec={"schedulerName": NO_SCHEDULER})
    )
    assert "conditions" not in created["status"]


async def test_removing_the_gates_leaves_the_condition_to_the_scheduler(raw: Any, namespace: str) -> None:
    await raw.ok("POST", PODS.format(ns=namespace), gated_pod("held"))
    patched = await raw.ok(
        "PATCH",
        PODS.format(ns=namespace) + "/held",
        [{"op": "remove", "path": "/spec/schedulingGates"}],
        content_type="application/json-patch+json",
    )
    assert "schedulingGates" not in patched["spec"]
    assert scheduled_condition(patched)["reason"] == "SchedulingGated"


def test_kubectl_shows_scheduling_gated(kubectl: Any, namespace: str) -> None:
    manifest = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: shown}\nspec:\n"
        f"  schedulerName: {NO_SCHEDULER}\n  schedulingGates: [{{name: example.com/hold}}]\n"
        "  containers: [{name: c, image: registry.example/app:1}]\n"
    )
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest, check=True)
    out = kubectl("get", "pod", "shown", "-n", namespace, "--no-headers", check=True).stdout.split()
    assert out[:3] == ["shown", "0/1", "SchedulingGated"]
