"""Pod predicates, index assignment, upstream's deletion order and the PodClique status counts."""

from __future__ import annotations

from typing import Any

from grove.controllers.pods import (
    count_pods,
    deletion_order,
    duplicate_indices,
    free_indices,
    has_grove_gate,
    pod_index,
)


def pod(
    name: str,
    *,
    node: str = "",
    phase: str = "Pending",
    ready: bool = False,
    created: str = "2026-01-01T00:00:00Z",
    hash_: str = "h1",
    terminating: bool = False,
    gates: list[str] | None = None,
    index: int | None = None,
    started_not_ready: bool = False,
) -> dict[str, Any]:
    labels = {"grove.io/pod-template-hash": hash_}
    if index is not None:
        labels["grove.io/podclique-pod-index"] = str(index)
    meta: dict[str, Any] = {"name": name, "labels": labels, "creationTimestamp": created}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:09Z"
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    statuses = [{"name": "c", "started": started_not_ready or ready, "ready": ready}]
    return {
        "metadata": meta,
        "spec": {
            "nodeName": node,
            "schedulingGates": [{"name": g} for g in gates or []],
            "hostname": f"x-{index}",
        },
        "status": {"phase": phase, "conditions": conditions, "containerStatuses": statuses},
    }


def names(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_free_indices_fill_holes_from_zero() -> None:
    assert free_indices([0, 2, 5], 4) == [1, 3, 4, 6]
    assert free_indices([None, 1], 2) == [0, 2]
    assert free_indices([], 0) == []


def test_pod_index_from_label_then_hostname() -> None:
    assert pod_index(pod("a", index=3)) == 3
    p = pod("b")
    p["spec"]["hostname"] = "pcs-0-w-7"
    assert pod_index(p) == 7


def test_deletion_order_as_upstream() -> None:
    pods = [
        pod("running-old", node="n", phase="Running", ready=True, created="2026-01-01T00:00:01Z"),
        pod("running-new", node="n", phase="Running", ready=True, created="2026-01-01T00:00:05Z"),
        pod("not-ready", node="n", phase="Running", created="2026-01-01T00:00:00Z"),
        pod("outdated", node="n", phase="Running", ready=True, hash_="h0", created="2026-01-01T00:00:00Z"),
        pod("pending-bound", node="n", phase="Pending"),
        pod("unscheduled", phase="Pending"),
        pod("terminating", node="n", phase="Running", ready=True, terminating=True),
    ]
    assert names(deletion_order(pods, "h1")) == [
        "terminating",
        "unscheduled",
        "pending-bound",
        "not-ready",
        "outdated",
        "running-new",
        "running-old",
    ]


def test_counts() -> None:
    pods = [
        pod("a", node="n", phase="Running", ready=True),
        pod("b", node="n", phase="Running", started_not_ready=True),
        pod("c", gates=["grove.io/podgang-pending-creation"], hash_="h0"),
        pod("d", node="n", phase="Running", ready=True, terminating=True),
    ]
    counts = count_pods(pods, "h1")
    assert (
        counts.replicas,
        counts.ready,
        counts.scheduled,
        counts.gated,
        counts.updated,
        counts.available,
    ) == (
        3,
        1,
        2,
        1,
        2,
        1,
    )
    assert has_grove_gate(pods[2]) and not has_grove_gate(pods[0])


def test_duplicate_indices_keep_the_pod_deleted_last() -> None:
    pods = [
        pod("a0", node="n", phase="Running", ready=True, index=0),
        pod("b1-ready", node="n", phase="Running", ready=True, index=1),
        pod("b1-pending", index=1),
        pod("c2", node="n", phase="Running", ready=True, index=2),
    ]
    no_index = pod("x")
    no_index["spec"]["hostname"] = ""
    assert names(duplicate_indices([*pods, no_index], "h1")) == ["b1-pending", "x"]
    assert duplicate_indices(pods[:2], "h1") == []
