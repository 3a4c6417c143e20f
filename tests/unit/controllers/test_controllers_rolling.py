"""Rolling update decisions: which replica is updated, which pods and group replicas are replaced next."""

from __future__ import annotations

from typing import Any

import yaml

from grove.api.admission import admit_create
from grove.controllers.rolling import (
    ReplicaState,
    outdated_group_replicas,
    pod_replacements,
    update_progress,
    updating_replica,
)
from grove_expect import SAMPLES


def pcs(strategy: str | None = None) -> Any:
    manifest = yaml.safe_load((SAMPLES / "single-node-aggregated.yaml").read_text())
    if strategy:
        manifest["spec"]["updateStrategy"] = {"type": strategy}
    return admit_create(manifest)


def state(available: bool = True, updated: bool = True, scheduled: bool = True) -> ReplicaState:
    return ReplicaState(available, updated, scheduled, int(updated), 1, 0, 0)


def test_no_progress_until_the_templates_change() -> None:
    assert update_progress({}, pcs(), "h1", [state()], "t0") is None
    assert update_progress({"currentGenerationHash": "h1"}, pcs(), "h1", [state()], "t0") is None


def test_rolling_update_goes_replica_by_replica_unscheduled_first() -> None:
    states = [state(updated=False), state(updated=False, scheduled=False), state(updated=False)]
    progress = update_progress({"currentGenerationHash": "h0"}, pcs(), "h1", states, "t1")
    assert progress is not None
    assert progress["updateStartedAt"] == "t1"
    assert progress["currentlyUpdating"] == [{"replicaIndex": 1, "updateStartedAt": "t1"}]
    status = {"currentGenerationHash": "h1", "updateProgress": progress}
    # Replica 1 not done yet: stays; done: the next one is the lowest index.
    assert update_progress(status, pcs(), "h1", states, "t2")["currentlyUpdating"][0]["replicaIndex"] == 1
    states[1] = state()
    after = update_progress(status, pcs(), "h1", states, "t3")
    assert after is not None and after["currentlyUpdating"] == [{"replicaIndex": 0, "updateStartedAt": "t3"}]
    done = update_progress(
        {"currentGenerationHash": "h1", "updateProgress": after}, pcs(), "h1", [state()] * 3, "t4"
    )
    assert done is not None and done["updateEndedAt"] == "t4" and "currentlyUpdating" not in done
    assert updating_replica({"status": {"updateProgress": after}}, pcs()) == 0
    assert updating_replica({"status": {"updateProgress": done}}, pcs()) is None


def test_on_delete_update_ends_at_once() -> None:
    progress = update_progress(
        {"currentGenerationHash": "h0"}, pcs("OnDelete"), "h1", [state(updated=False)], "t1"
    )
    assert progress is not None and progress["updateEndedAt"] == "t1" and "currentlyUpdating" not in progress
    assert (
        updating_replica(
            {"status": {"updateProgress": {"currentlyUpdating": [{"replicaIndex": 0}]}}}, pcs("OnDelete")
        )
        is None
    )


def pod(
    name: str,
    hash_: str,
    ready: bool = True,
    created: str = "2026-01-01T00:00:00Z",
    terminating: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {"grove.io/pod-template-hash": hash_},
        "creationTimestamp": created,
    }
    if terminating:
        meta["deletionTimestamp"] = created
    return {
        "metadata": meta,
        "spec": {},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}]},
    }


def names(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_pod_replacements() -> None:
    old_a = pod("a", "old", created="2026-01-01T00:00:01Z")
    old_b = pod("b", "old", created="2026-01-01T00:00:00Z")
    new_c = pod("c", "new")
    assert names(pod_replacements([old_a, pod("x", "old", ready=False), new_c], "new", 3, 2)) == ["x"]
    assert names(pod_replacements([old_a, old_b, new_c], "new", 3, 2)) == ["b"]  # oldest first
    assert pod_replacements([old_a, old_b], "new", 3, 2) == []  # a replacement is still missing
    assert pod_replacements([old_a, old_b, pod("c", "new", ready=False)], "new", 3, 2) == []
    assert pod_replacements([old_a, old_b, new_c, pod("d", "old", terminating=True)], "new", 3, 2) == []
    assert pod_replacements([old_a, pod("c", "new", ready=False), pod("e", "new")], "new", 3, 3) == []
    assert pod_replacements([new_c], "new", 1, 1) == []


def member(j: int, clique: str, hash_: str) -> dict[str, Any]:
    return {"metadata": {"name": f"g-{j}-{clique}", "labels": {"grove.io/pod-template-hash": hash_}}}


def test_outdated_group_replicas() -> None:
    hashes = {"l": "L2", "w": "W2"}

    def clique_of(m: dict[str, Any]) -> str:
        return str(m["metadata"]["name"].rsplit("-", 1)[-1])

    members = {j: [member(j, "l", "L2"), member(j, "w", "W1" if j > 0 else "W2")] for j in range(3)}
    all_available = {0: True, 1: True, 2: True}
    assert outdated_group_replicas(members, 3, 2, hashes, clique_of, all_available, 1) == [1]
    assert outdated_group_replicas(members, 3, 2, hashes, clique_of, {0: True, 1: True, 2: False}, 1) == [2]
    assert outdated_group_replicas(members, 3, 2, hashes, clique_of, {0: False, 1: True, 2: True}, 1) == []
    incomplete = {**members, 0: members[0][:1]}
    assert outdated_group_replicas(incomplete, 3, 2, hashes, clique_of, all_available, 1) == []
    assert outdated_group_replicas(members, 3, 2, hashes, clique_of, all_available, 3) == [1]
    fresh = {j: [member(j, "l", "L2"), member(j, "w", "W2")] for j in range(3)}
    assert outdated_group_replicas(fresh, 3, 2, hashes, clique_of, all_available, 1) == []
