"""PodCliqueScalingGroups of a PodCliqueSet replica."""

from __future__ import annotations

from grove.api import labels, naming
from grove.api.meta import OwnerReference
from grove.api.podcliqueset import PodCliqueSet
from grove.api.scalinggroup import PodCliqueScalingGroup, PodCliqueScalingGroupSpec
from grove.controllers.desired.meta import object_meta

__all__ = ["build_scaling_group"]


def build_scaling_group(
    pcs: PodCliqueSet, i: int, group: str, replicas: int | None = None, owner: OwnerReference | None = None
) -> PodCliqueScalingGroup:
    """PodCliqueScalingGroup ``<pcs>-<i>-<group>``; ``replicas`` (observed) wins over the template."""
    config = pcs.spec.template.scaling_group(group)
    if config is None:
        raise KeyError(f"PodCliqueSet {pcs.metadata.name!r} has no podCliqueScalingGroup {group!r}")
    name = naming.scaling_group_name(pcs.metadata.name, i, group)
    return PodCliqueScalingGroup(
        metadata=object_meta(
            name,
            pcs.metadata.namespace,
            {
                **labels.managed_labels(pcs.metadata.name, labels.COMPONENT_PCSG, name),
                labels.PCS_REPLICA_INDEX: str(i),
            },
            config.annotations,
            owner,
        ),
        spec=PodCliqueScalingGroupSpec(
            replicas=replicas if replicas is not None else (config.replicas or 1),
            min_available=config.min_available or 1,
            clique_names=list(config.clique_names),
        ),
    )
