"""PodGangs of a PodCliqueSet replica as the PodCliqueSet controller maintains them (reference §3.4).

A gang's pod groups are its PodCliques (group name = PodClique name, ``minReplicas`` = the clique's
minAvailable) and reference the gang's existing, non-terminating pods (sorted by name). A PodGang is
created once every pod of the gang exists (each PodClique has at least ``spec.replicas`` pods labelled with
the gang), and marked ``Initialized`` in the same pass: the PodClique controller lifts the pods' scheduling
gates only then, so nothing of a gang is scheduled before all of it can be. Later changes (scale-out of a
PodClique, a replaced pod) update the pod references; the gang stays Initialized.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grove.api import labels
from grove.api.podcliqueset import PodCliqueSet
from grove.api.podgang import NamespacedName
from grove.api.topology import ClusterTopologyBinding
from grove.controllers import conditions as cond
from grove.controllers.context import PODGANG_INDEX, Caches
from grove.controllers.desired import build_podgangs, expected_podgang_names
from grove.controllers.pods import is_active
from grove.controllers.status import condition, find_condition, merge_conditions
from grove.runtime.meta import Obj, labels_of, name_of

__all__ = ["GangPlan", "initialized_status", "plan_gangs"]


@dataclass(frozen=True)
class GangPlan:
    """One desired PodGang and whether all its pods exist."""

    manifest: Obj
    complete: bool


def _references(caches: Caches, namespace: str, gang: str) -> dict[str, list[NamespacedName]]:
    """The gang's active pods, per PodClique."""
    out: dict[str, list[NamespacedName]] = {}
    for pod in caches.pods.store.by_index(PODGANG_INDEX, gang):
        pclq = labels_of(pod).get(labels.PODCLIQUE)
        if pclq and is_active(pod) and pod["metadata"].get("namespace") == namespace:
            out.setdefault(pclq, []).append(NamespacedName(namespace=namespace, name=name_of(pod)))
    return out


def plan_gangs(
    caches: Caches,
    pcs: PodCliqueSet,
    replica: int,
    group_replicas: Mapping[str, int],
    topology: ClusterTopologyBinding | None,
    owner: Mapping[str, Any],
) -> list[GangPlan]:
    """The PodGangs of PodCliqueSet replica ``replica`` with the pods that exist now."""
    ns = pcs.metadata.namespace
    refs: dict[str, list[NamespacedName]] = {}
    for name in expected_podgang_names(pcs, replica, group_replicas):
        refs.update(_references(caches, ns, name))
    gangs = build_podgangs(pcs, replica, group_replicas, refs, topology)
    out: list[GangPlan] = []
    for gang in gangs:
        complete = True
        for group in gang.spec.podgroups:
            pclq = caches.pclq.store.get_by_name(ns, group.name)
            want = int(((pclq or {}).get("spec") or {}).get("replicas") or 0)
            if pclq is None or len(group.pod_references) < want:
                complete = False
                break
        manifest = gang.to_dict()
        manifest["metadata"]["ownerReferences"] = [dict(owner)]
        out.append(GangPlan(manifest, complete))
    return out


def initialized_status(gang: Obj, now: str) -> dict[str, Any] | None:
    """The status patch marking ``gang`` Initialized (phase Pending unless someone moved it on), or None if
    it already is. The scheduler writes this status too, so the patch carries the resourceVersion it was
    computed from: a concurrent write makes it fail with Conflict instead of being overwritten."""
    status = gang.get("status") or {}
    c = find_condition(status.get("conditions"), cond.CONDITION_PODGANG_INITIALIZED)
    if c is not None and c.get("status") == "True":
        return None
    wanted = [
        condition(
            cond.CONDITION_PODGANG_INITIALIZED,
            True,
            cond.REASON_PODGANG_PODS_CREATED,
            "All pods of the PodGang have been created",
        )
    ]
    patch: dict[str, Any] = {"conditions": merge_conditions(status.get("conditions"), wanted, now)}
    if not status.get("phase"):
        patch["phase"] = "Pending"
    rv = (gang.get("metadata") or {}).get("resourceVersion")
    return {"metadata": {"resourceVersion": rv}, "status": patch} if rv else {"status": patch}
