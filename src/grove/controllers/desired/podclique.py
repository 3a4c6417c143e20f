"""PodCliques: standalone ones (owned by the PodCliqueSet) and members of scaling group replicas."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from grove.api import labels, naming
from grove.api.hashing import pod_template_hash
from grove.api.meta import OwnerReference
from grove.api.podclique import PodClique, PodCliqueSpec
from grove.api.podcliqueset import PodCliqueSet, PodCliqueTemplateSpec
from grove.api.startup import clique_parents
from grove.controllers.desired.env import inject_env, scaling_group_env
from grove.controllers.desired.meta import object_meta

__all__ = [
    "PodCliqueRef",
    "build_podclique",
    "podclique_ref",
    "podclique_refs",
    "podgang_of",
    "startup_parents",
]


@dataclass(frozen=True)
class PodCliqueRef:
    """Where a PodClique sits in its PodCliqueSet.

    ``group``/``group_replica`` are set for members of a scaling group replica, None for standalone cliques.
    """

    pcs: str
    replica: int
    clique: str
    group: str | None = None
    group_replica: int | None = None

    @property
    def scaling_group_name(self) -> str | None:
        """Name of the owning PodCliqueScalingGroup, or None for a standalone PodClique."""
        return None if self.group is None else naming.scaling_group_name(self.pcs, self.replica, self.group)

    @property
    def name(self) -> str:
        """The PodClique's name."""
        pcsg = self.scaling_group_name
        if pcsg is None or self.group_replica is None:
            return naming.podclique_name(self.pcs, self.replica, self.clique)
        return naming.scaling_group_podclique_name(pcsg, self.group_replica, self.clique)


def _template(pcs: PodCliqueSet, clique: str) -> PodCliqueTemplateSpec:
    found = pcs.spec.template.clique(clique)
    if found is None:
        raise KeyError(f"PodCliqueSet {pcs.metadata.name!r} has no clique {clique!r}")
    return found


def _group_min_available(pcs: PodCliqueSet, group: str) -> int:
    config = pcs.spec.template.scaling_group(group)
    return (config.min_available or 1) if config is not None else 1


def podclique_refs(
    pcs: PodCliqueSet, i: int, group_replicas: dict[str, int] | None = None
) -> list[PodCliqueRef]:
    """Every PodClique of PodCliqueSet replica ``i``: standalone ones, then each group's replicas.

    ``group_replicas`` maps a group template name to its observed replicas (template value if absent).
    """
    t = pcs.spec.template
    refs = [PodCliqueRef(pcs.metadata.name, i, c.name) for c in t.standalone_cliques()]
    for group in t.pod_clique_scaling_groups:
        count = (group_replicas or {}).get(group.name, group.replicas or 1)
        for j in range(count):
            refs += [PodCliqueRef(pcs.metadata.name, i, c, group.name, j) for c in group.clique_names]
    return refs


def podclique_ref(pcs: PodCliqueSet, pclq: PodClique) -> PodCliqueRef | None:
    """Recover where an existing PodClique sits from its labels and name (None if it is not this PCS's)."""
    lbl = pclq.metadata.labels
    if lbl.get(labels.PART_OF) != pcs.metadata.name or labels.PCS_REPLICA_INDEX not in lbl:
        return None
    i = int(lbl[labels.PCS_REPLICA_INDEX])
    pcsg = lbl.get(labels.SCALING_GROUP)
    if pcsg is None:
        prefix = naming.podclique_name(pcs.metadata.name, i, "")
        clique = pclq.metadata.name.removeprefix(prefix)
        return PodCliqueRef(pcs.metadata.name, i, clique) if pcs.spec.template.clique(clique) else None
    j = int(lbl.get(labels.PCSG_REPLICA_INDEX, "0"))
    for group in pcs.spec.template.pod_clique_scaling_groups:
        if naming.scaling_group_name(pcs.metadata.name, i, group.name) != pcsg:
            continue
        clique = pclq.metadata.name.removeprefix(naming.scaling_group_podclique_name(pcsg, j, ""))
        if clique in group.clique_names:
            return PodCliqueRef(pcs.metadata.name, i, clique, group.name, j)
    return None


def podgang_of(pcs: PodCliqueSet, ref: PodCliqueRef) -> str:
    """The PodGang the PodClique's pods belong to: the base gang, or a scaled gang for group replicas
    at or above the group's minAvailable."""
    pcsg = ref.scaling_group_name
    if ref.group is None or pcsg is None or ref.group_replica is None:
        return naming.base_podgang_name(ref.pcs, ref.replica)
    min_available = _group_min_available(pcs, ref.group)
    if ref.group_replica < min_available:
        return naming.base_podgang_name(ref.pcs, ref.replica)
    return naming.scaled_podgang_name(pcsg, ref.group_replica, min_available)


def startup_parents(pcs: PodCliqueSet, ref: PodCliqueRef) -> list[tuple[str, int]]:
    """The PodCliques this one starts after, as (name, minAvailable) pairs (upstream §3.5).

    A standalone parent is ``<pcs>-<i>-<parent>``; a parent in a scaling group expands to its PodCliques in
    the group's base replicas ``[0, minAvailable)``. Scaled group replicas keep only parents in their own
    group replica (their gang starts on its own).
    """
    t = pcs.spec.template
    out: list[tuple[str, int]] = []
    scaled = ref.group is not None and (ref.group_replica or 0) >= _group_min_available(pcs, ref.group)
    for parent in clique_parents(t).get(ref.clique, []):
        template = _template(pcs, parent)
        min_available = template.spec.min_available or template.spec.replicas or 1
        group = t.group_of(parent)
        if scaled:
            if group is not None and group.name == ref.group:
                out.append(
                    (
                        PodCliqueRef(ref.pcs, ref.replica, parent, ref.group, ref.group_replica).name,
                        min_available,
                    )
                )
            continue
        if group is None:
            out.append((naming.podclique_name(ref.pcs, ref.replica, parent), min_available))
            continue
        for j in range(group.min_available or 1):
            out.append((PodCliqueRef(ref.pcs, ref.replica, parent, group.name, j).name, min_available))
    return out


def build_podclique(
    pcs: PodCliqueSet, ref: PodCliqueRef, replicas: int | None = None, owner: OwnerReference | None = None
) -> PodClique:
    """The PodClique at ``ref``. ``replicas`` (observed on an existing PodClique) wins over the template.

    Members of a scaling group carry the group's labels and its GROVE_PCSG_* variables in their podSpec.
    """
    t = pcs.spec.template
    template = _template(pcs, ref.clique)
    name = ref.name
    gang = podgang_of(pcs, ref)
    pod_spec = copy.deepcopy(template.spec.pod_spec)
    if t.priority_class_name:
        pod_spec["priorityClassName"] = t.priority_class_name
    own: dict[str, str] = {
        labels.PCS_REPLICA_INDEX: str(ref.replica),
        labels.PODGANG: gang,
        labels.POD_TEMPLATE_HASH: pod_template_hash(template, t.priority_class_name),
    }
    if ref.group is None:
        component = labels.COMPONENT_PODCLIQUE
    else:
        component = labels.COMPONENT_PCSG_PODCLIQUE
        group = t.scaling_group(ref.group)
        if group is None:
            raise KeyError(f"PodCliqueSet {pcs.metadata.name!r} has no podCliqueScalingGroup {ref.group!r}")
        own[labels.SCALING_GROUP] = ref.scaling_group_name or ""
        own[labels.PCSG_REPLICA_INDEX] = str(ref.group_replica or 0)
        base = naming.base_podgang_name(ref.pcs, ref.replica)
        if gang != base:
            own[labels.BASE_PODGANG] = base
        num_pods = sum(_template(pcs, c).spec.replicas for c in group.clique_names)
        inject_env(pod_spec, scaling_group_env(num_pods))
    pclq_labels = {**template.labels, **labels.managed_labels(ref.pcs, component, name), **own}
    spec = PodCliqueSpec(
        role_name=template.spec.role_name or template.name,
        pod_spec=pod_spec,
        replicas=replicas if replicas is not None else template.spec.replicas,
        min_available=template.spec.min_available
        if template.spec.min_available is not None
        else template.spec.replicas,
    )
    parents = [p for p, _ in startup_parents(pcs, ref)]
    if parents:
        spec.starts_after = parents
    if ref.group is None and template.spec.auto_scaling_config is not None:
        spec.auto_scaling_config = template.spec.auto_scaling_config.model_copy(deep=True)
    return PodClique(
        metadata=object_meta(name, pcs.metadata.namespace, pclq_labels, template.annotations, owner),
        spec=spec,
    )
