"""PodGangs of a PodCliqueSet replica: the base gang and one scaled gang per group replica above minAvailable.

Upstream ``podcliqueset/components/podgang/syncflow.go`` and §4 of the reference: pod groups are the
PodCliques (minReplicas = clique minAvailable); topology domains are translated to node label keys through
the ClusterTopologyBinding; a scaled gang takes its group's constraint, falling back to the PodCliqueSet's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grove.api import labels, naming
from grove.api.meta import OwnerReference
from grove.api.podcliqueset import PodCliqueSet
from grove.api.podgang import (
    NamespacedName,
    PodGang,
    PodGangSpec,
    PodGangTopologyConstraint,
    PodGroup,
    TopologyConstraintGroupConfig,
    TopologyPackConstraintKeys,
)
from grove.api.topology import ClusterTopologyBinding, TopologyConstraint
from grove.api.validation.template import effective_scheduler
from grove.controllers.desired.meta import object_meta
from grove.controllers.desired.podclique import PodCliqueRef

__all__ = ["build_podgangs", "expected_podgang_names", "translate_constraint"]


def translate_constraint(
    constraint: TopologyConstraint | None, topology: ClusterTopologyBinding | None
) -> PodGangTopologyConstraint | None:
    """Domain names -> node label keys; None without a binding, constraint, or any known domain."""
    if constraint is None or topology is None:
        return None
    required = constraint.required_domain()
    preferred = constraint.preferred_domain()
    keys = TopologyPackConstraintKeys(
        required=topology.key_for(required) if required else None,
        preferred=topology.key_for(preferred) if preferred else None,
    )
    if keys.required is None and keys.preferred is None:
        return None
    return PodGangTopologyConstraint(pack_constraint=keys)


def _group_counts(pcs: PodCliqueSet, group_replicas: Mapping[str, int] | None) -> dict[str, tuple[int, int]]:
    """group name -> (replicas, minAvailable)."""
    return {
        g.name: ((group_replicas or {}).get(g.name, g.replicas or 1), g.min_available or 1)
        for g in pcs.spec.template.pod_clique_scaling_groups
    }


def expected_podgang_names(
    pcs: PodCliqueSet, i: int, group_replicas: Mapping[str, int] | None = None
) -> list[str]:
    """Names of the PodGangs of replica ``i``: base first, then scaled gangs per group."""
    names = [naming.base_podgang_name(pcs.metadata.name, i)]
    for group, (replicas, min_available) in _group_counts(pcs, group_replicas).items():
        pcsg = naming.scaling_group_name(pcs.metadata.name, i, group)
        names += [naming.scaled_podgang_name(pcsg, j, min_available) for j in range(min_available, replicas)]
    return names


def build_podgangs(
    pcs: PodCliqueSet,
    i: int,
    group_replicas: Mapping[str, int] | None = None,
    pod_references: Mapping[str, Sequence[NamespacedName]] | None = None,
    topology: ClusterTopologyBinding | None = None,
    owner: OwnerReference | None = None,
) -> list[PodGang]:
    """The PodGangs of PodCliqueSet replica ``i``.

    ``group_replicas``: observed replicas per group template name (template values if absent).
    ``pod_references``: existing pods per PodClique name (sorted by name in the result; empty if absent).
    ``topology``: the ClusterTopologyBinding the constraints name; without it no constraint is set.
    """
    t = pcs.spec.template
    pcs_name = pcs.metadata.name
    refs = pod_references or {}
    translated = False

    def constraint(tc: TopologyConstraint | None) -> PodGangTopologyConstraint | None:
        nonlocal translated
        out = translate_constraint(tc, topology)
        translated = translated or out is not None
        return out

    def pod_group(ref: PodCliqueRef) -> PodGroup:
        template = t.clique(ref.clique)
        assert template is not None
        group = PodGroup(
            name=ref.name,
            pod_references=sorted(refs.get(ref.name, []), key=lambda r: r.name),
            min_replicas=template.spec.min_available or template.spec.replicas or 1,
        )
        tc = constraint(template.topology_constraint)
        if tc is not None:
            group.topology_constraint = tc
        return group

    counts = _group_counts(pcs, group_replicas)
    base_groups = [pod_group(PodCliqueRef(pcs_name, i, c.name)) for c in t.standalone_cliques()]
    group_configs: list[TopologyConstraintGroupConfig] = []
    scaled: list[tuple[str, list[PodGroup], PodGangTopologyConstraint | None]] = []
    for group in t.pod_clique_scaling_groups:
        replicas, min_available = counts[group.name]
        pcsg = naming.scaling_group_name(pcs_name, i, group.name)
        for j in range(replicas):
            members = [pod_group(PodCliqueRef(pcs_name, i, c, group.name, j)) for c in group.clique_names]
            if j < min_available:
                base_groups += members
                tc = constraint(group.topology_constraint)
                if tc is not None:
                    group_configs.append(
                        TopologyConstraintGroupConfig(
                            name=naming.scaling_group_topology_group_name(pcsg, j),
                            pod_group_names=[m.name for m in members],
                            topology_constraint=tc,
                        )
                    )
            else:
                name = naming.scaled_podgang_name(pcsg, j, min_available)
                scaled.append((name, members, constraint(group.topology_constraint or t.topology_constraint)))
    gangs = [
        _gang(
            pcs,
            i,
            naming.base_podgang_name(pcs_name, i),
            base_groups,
            constraint(t.topology_constraint),
            owner,
        )
    ]
    if group_configs:
        gangs[0].spec.topology_constraint_group_configs = group_configs
    gangs += [_gang(pcs, i, name, members, tc, owner) for name, members, tc in scaled]
    if translated and topology is not None:
        for gang in gangs:
            gang.metadata.annotations = {
                **gang.metadata.annotations,
                labels.ANNOTATION_TOPOLOGY_NAME: topology.metadata.name,
            }
    return gangs


def _gang(
    pcs: PodCliqueSet,
    i: int,
    name: str,
    groups: list[PodGroup],
    tc: PodGangTopologyConstraint | None,
    owner: OwnerReference | None,
) -> PodGang:
    t = pcs.spec.template
    scheduler = effective_scheduler(t.cliques[0].spec.pod_spec) if t.cliques else ""
    gang_labels = {
        **{k: v for k, v in pcs.metadata.labels.items() if not labels.is_grove_key(k)},
        **labels.managed_labels(pcs.metadata.name, labels.COMPONENT_PODGANG, name),
        labels.PCS_REPLICA_INDEX: str(i),
        labels.SCHEDULER_NAME: scheduler,
    }
    annotations = {k: v for k, v in pcs.metadata.annotations.items() if not labels.is_grove_key(k)}
    spec = PodGangSpec(podgroups=groups)
    if tc is not None:
        spec.topology_constraint = tc
    if t.priority_class_name:
        spec.priority_class_name = t.priority_class_name
    return PodGang(
        metadata=object_meta(name, pcs.metadata.namespace, gang_labels, annotations, owner), spec=spec
    )
