"""Rolling updates (``RollingRecreate``, upstream §3.7): which PodCliqueSet replica is being updated, and
which pods or scaling-group replicas to replace next.

A pod template change (PodCliqueSet generation hash) starts an update, recorded in
``status.updateProgress``. With ``RollingRecreate`` the PodCliqueSet controller updates one replica at a
time (``currentlyUpdating``): replicas with no scheduled pod first, then by index; a replica is done once
every standalone PodClique and scaling group runs the new templates and is available. Within that replica:

- a standalone PodClique replaces its outdated pods (pod ``pod-template-hash`` label differs from the
  PodClique's): those not Ready at once, Ready ones one at a time, oldest first, delete-then-create, only
  while the previous replacement is done and ``readyReplicas >= minAvailable``;
- a scaling group recreates its outdated replicas (member PodCliques created from an older template; members
  are not patched in place under this strategy): unavailable ones at once, available ones one at a time,
  lowest index first, only while every other replica is complete and ``availableReplicas >= minAvailable``.

``OnDelete`` records the update as ended at once: nothing is replaced; new pods get the new templates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grove.api import labels
from grove.api.constants import ON_DELETE
from grove.api.podcliqueset import PodCliqueSet
from grove.controllers.pods import is_active, is_ready, is_terminating
from grove.runtime.meta import Obj, labels_of, metadata

__all__ = [
    "ReplicaState",
    "outdated_group_replicas",
    "pod_replacements",
    "rolling_strategy",
    "update_progress",
    "update_progress_changed",
    "updating_replica",
]


def rolling_strategy(pcs: PodCliqueSet) -> bool:
    """True unless the PodCliqueSet uses ``OnDelete``."""
    strategy = pcs.spec.update_strategy
    return strategy is None or strategy.type != ON_DELETE


def update_progress_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Predicate: a PodCliqueSet's rolling update moved to another replica, or ended."""

    def stage(obj: Mapping[str, Any]) -> tuple[Any, Any]:
        progress = (obj.get("status") or {}).get("updateProgress") or {}
        return progress.get("currentlyUpdating"), progress.get("updateEndedAt")

    return stage(old) != stage(new)


def updating_replica(pcs_obj: Mapping[str, Any], pcs: PodCliqueSet) -> int | None:
    """The replica a RollingRecreate update is replacing now (``status.updateProgress``), or None."""
    if not rolling_strategy(pcs):
        return None
    progress = (pcs_obj.get("status") or {}).get("updateProgress") or {}
    if progress.get("updateEndedAt"):
        return None
    current = progress.get("currentlyUpdating") or []
    return int(current[0]["replicaIndex"]) if current else None


@dataclass(frozen=True)
class ReplicaState:
    """What the PodCliqueSet controller observed of one of its replicas."""

    available: bool
    updated: bool
    """Every standalone PodClique and scaling group runs the current templates on all its pods."""
    scheduled: bool
    """Some pod of the replica is scheduled."""
    pclqs_updated: int
    pclqs_total: int
    pcsgs_updated: int
    pcsgs_total: int


def update_progress(
    status: Mapping[str, Any],
    pcs: PodCliqueSet,
    generation_hash: str,
    states: Sequence[ReplicaState],
    now: str,
) -> dict[str, Any] | None:
    """The ``status.updateProgress`` to write (None: no update ever happened).

    A new generation hash starts an update; counters are recomputed every time; with RollingRecreate the
    replica being updated moves on once it is done, and the update ends when no replica is left.
    """
    previous_hash = status.get("currentGenerationHash")
    progress: dict[str, Any] | None = dict(status.get("updateProgress") or {}) or None
    if previous_hash is not None and previous_hash != generation_hash:
        progress = {"updateStartedAt": now}
        if not rolling_strategy(pcs):
            progress["updateEndedAt"] = now
    if progress is None:
        return None
    progress["updatedPodCliquesCount"] = sum(s.pclqs_updated for s in states)
    progress["totalPodCliquesCount"] = sum(s.pclqs_total for s in states)
    progress["updatedPodCliqueScalingGroupsCount"] = sum(s.pcsgs_updated for s in states)
    progress["totalPodCliqueScalingGroupsCount"] = sum(s.pcsgs_total for s in states)
    if progress.get("updateEndedAt") or not rolling_strategy(pcs):
        progress.pop("currentlyUpdating", None)
        return progress
    done = [s.updated and s.available for s in states]
    current = list(progress.get("currentlyUpdating") or [])
    if current and (current[0].get("replicaIndex", -1) >= len(states) or done[current[0]["replicaIndex"]]):
        current = []
    if not current:
        pending = [i for i, ok in enumerate(done) if not ok]
        if pending:
            nxt = min(pending, key=lambda i: (states[i].scheduled, i))
            current = [{"replicaIndex": nxt, "updateStartedAt": now}]
        else:
            progress["updateEndedAt"] = now
    if current:
        progress["currentlyUpdating"] = current
    else:
        progress.pop("currentlyUpdating", None)
    return progress


def pod_replacements(
    pods: Sequence[Obj], expected_hash: str | None, replicas: int, min_available: int
) -> list[Obj]:
    """The pods of a standalone PodClique to delete now for a rolling update (see the module docstring)."""
    active = [p for p in pods if is_active(p)]
    outdated = [p for p in active if labels_of(p).get(labels.POD_TEMPLATE_HASH) != expected_hash]
    if not outdated:
        return []
    not_ready = [p for p in outdated if not is_ready(p)]
    if not_ready:
        return not_ready
    if len(active) < replicas or any(is_terminating(p) for p in pods):
        return []  # the previous replacement is still on its way
    current = [p for p in active if labels_of(p).get(labels.POD_TEMPLATE_HASH) == expected_hash]
    if not all(is_ready(p) for p in current):
        return []
    if sum(1 for p in active if is_ready(p)) < min_available:
        return []
    oldest = min(
        outdated, key=lambda p: (metadata(p).get("creationTimestamp") or "", metadata(p).get("name"))
    )
    return [oldest]


def outdated_group_replicas(
    members: Mapping[int, Sequence[Obj]],
    replicas: int,
    clique_count: int,
    expected_hashes: Mapping[str, str],
    clique_of: Any,
    available: Mapping[int, bool],
    min_available: int,
) -> list[int]:
    """The scaling group replicas whose member PodCliques to delete now for a rolling update.

    ``clique_of(member)`` gives a member's clique name; ``available[j]`` whether replica j is available.
    """

    def outdated(j: int) -> bool:
        return any(
            labels_of(m).get(labels.POD_TEMPLATE_HASH) != expected_hashes.get(clique_of(m))
            for m in members.get(j, ())
        )

    stale = [j for j in range(replicas) if outdated(j)]
    if not stale:
        return []
    unavailable = [j for j in stale if not available.get(j)]
    if unavailable:
        return unavailable
    complete = all(len(members.get(j, ())) == clique_count for j in range(replicas))
    fresh_available = all(available.get(j) for j in range(replicas) if j not in stale)
    if not complete or not fresh_available:
        return []
    if sum(1 for j in range(replicas) if available.get(j)) < min_available:
        return []
    return [min(stale)]
