"""Pure helpers over pod dicts: lifecycle predicates, pod indices, scale-in victim order, status counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grove.api import constants, labels, naming
from grove.runtime.meta import Obj, labels_of, metadata

__all__ = [
    "PodCounts",
    "count_pods",
    "deletion_order",
    "duplicate_indices",
    "free_indices",
    "has_grove_gate",
    "is_active",
    "is_finished",
    "is_ready",
    "is_scheduled",
    "is_terminating",
    "pod_index",
]


def is_terminating(pod: Mapping[str, Any]) -> bool:
    """The pod has a deletionTimestamp."""
    return bool(metadata(pod).get("deletionTimestamp"))


def is_finished(pod: Mapping[str, Any]) -> bool:
    """The pod reached phase Succeeded or Failed (it will never run again)."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_active(pod: Mapping[str, Any]) -> bool:
    """Neither terminating nor finished: the pod counts towards a PodClique's replicas."""
    return not is_terminating(pod) and not is_finished(pod)


def _condition(pod: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return c  # type: ignore[no-any-return]
    return None


def is_ready(pod: Mapping[str, Any]) -> bool:
    """Condition Ready is True."""
    c = _condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def is_scheduled(pod: Mapping[str, Any]) -> bool:
    """Bound to a node: spec.nodeName set (the binding sets it) or condition PodScheduled True."""
    if (pod.get("spec") or {}).get("nodeName"):
        return True
    c = _condition(pod, "PodScheduled")
    return c is not None and c.get("status") == "True"


def has_grove_gate(pod: Mapping[str, Any]) -> bool:
    """The pod still carries Grove's scheduling gate."""
    return any(
        g.get("name") == constants.PODGANG_SCHEDULING_GATE
        for g in (pod.get("spec") or {}).get("schedulingGates") or ()
    )


def is_gated(pod: Mapping[str, Any]) -> bool:
    """The pod carries any scheduling gate (Grove's or another component's)."""
    return bool((pod.get("spec") or {}).get("schedulingGates"))


def pod_index(pod: Mapping[str, Any]) -> int | None:
    """The pod's index within its PodClique: the index label, else the hostname's numeric suffix."""
    value = labels_of(pod).get(labels.POD_INDEX)
    if value is not None and value.isdigit():
        return int(value)
    hostname = (pod.get("spec") or {}).get("hostname") or ""
    return naming.pod_index_from_hostname(hostname) if hostname else None


def free_indices(used: Iterable[int | None], count: int) -> list[int]:
    """The ``count`` lowest indices from 0 not in ``used`` (holes first)."""
    taken = {i for i in used if i is not None}
    out: list[int] = []
    i = 0
    while len(out) < count:
        if i not in taken:
            out.append(i)
        i += 1
    return out


_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_key(pod: Obj, expected_hash: str | None) -> tuple[Any, ...]:
    created = metadata(pod).get("creationTimestamp") or ""
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    return (
        0 if is_terminating(pod) else 1,
        1 if (pod.get("spec") or {}).get("nodeName") else 0,
        _PHASE_ORDER.get(phase, 0),
        1 if is_ready(pod) else 0,
        0
        if expected_hash is not None and labels_of(pod).get(labels.POD_TEMPLATE_HASH) != expected_hash
        else 1,
        0 if not created else 1,
        # Newest first: invert the timestamp ordering (RFC 3339 strings sort chronologically).
        tuple(-ord(ch) for ch in created),
        metadata(pod).get("name") or "",
    )


def deletion_order(pods: Sequence[Obj], expected_hash: str | None) -> list[Obj]:
    """Pods sorted by preference for deletion (upstream ``DeletionSorter``): terminating, unassigned,
    Pending < Unknown < Running, not ready, outdated template hash, no creation time, newest first."""
    return sorted(pods, key=lambda p: _deletion_key(p, expected_hash))


def duplicate_indices(pods: Sequence[Obj], expected_hash: str | None) -> list[Obj]:
    """Pods whose index another pod also has (or that have none), in deletion order: all but the pod of each
    index that :func:`deletion_order` would delete last. A crash between a create reaching the API server
    and the cache seeing it can leave such a pair; deleting the extra one lets it come back at a free index.
    """
    keep: dict[int, Obj] = {}
    extra: list[Obj] = []
    for pod in reversed(deletion_order(pods, expected_hash)):
        index = pod_index(pod)
        if index is None or index in keep:
            extra.append(pod)
        else:
            keep[index] = pod
    return deletion_order(extra, expected_hash)


@dataclass(frozen=True)
class PodCounts:
    """What a PodClique's status reports about its pods."""

    replicas: int
    ready: int
    scheduled: int
    gated: int
    updated: int
    available: int
    """Scheduled pods minus those that failed or started but are not ready (upstream's breach rule), and
    minus running pods that lost their readiness with their containers started (a node gone silent)."""


def _started_not_ready(pod: Mapping[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    return any(s.get("started") and not s.get("ready") for s in statuses)


def _lost_readiness(pod: Mapping[str, Any]) -> bool:
    """Running with every container started, yet not Ready: the node stopped vouching for the pod (the node
    lifecycle controller's MarkPodsNotReady on an unreachable node leaves the container statuses as they
    were) or a readiness gate is unmet."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or ()
    if status.get("phase") != "Running" or not statuses or not all(s.get("started") for s in statuses):
        return False
    c = _condition(pod, "Ready")
    return c is not None and c.get("status") != "True"


def _last_exit_failed(pod: Mapping[str, Any]) -> bool:
    for s in (pod.get("status") or {}).get("containerStatuses") or ():
        terminated = (s.get("lastState") or {}).get("terminated")
        if terminated and terminated.get("exitCode", 0) != 0:
            return True
    return False


def count_pods(pods: Iterable[Obj], expected_hash: str | None) -> PodCounts:
    """Counts over the non-terminating pods of a PodClique (finished pods are not replicas)."""
    replicas = ready = scheduled = gated = updated = unavailable = 0
    for pod in pods:
        if not is_active(pod):
            continue
        replicas += 1
        if is_ready(pod):
            ready += 1
        if is_scheduled(pod):
            scheduled += 1
            if _last_exit_failed(pod) or _started_not_ready(pod) or _lost_readiness(pod):
                unavailable += 1
        elif is_gated(pod):
            gated += 1
        if expected_hash is not None and labels_of(pod).get(labels.POD_TEMPLATE_HASH) == expected_hash:
            updated += 1
    return PodCounts(replicas, ready, scheduled, gated, updated, scheduled - unavailable)
