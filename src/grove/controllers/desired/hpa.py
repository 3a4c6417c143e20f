"""HorizontalPodAutoscalers Grove manages (upstream ``podcliqueset/components/hpa/hpa.go``).

One per PodCliqueSet replica for each standalone clique with ``autoScalingConfig`` and each scaling group with
``scaleConfig``, targeting the PodClique's or the group's scale subresource.
"""

from __future__ import annotations

from typing import Any

from grove.api import labels, naming
from grove.api.constants import GROVE_API_VERSION
from grove.api.meta import OwnerReference
from grove.api.podclique import AutoScalingConfig
from grove.api.podcliqueset import PodCliqueSet

__all__ = ["build_hpas"]


def _hpa(
    pcs: PodCliqueSet,
    i: int,
    target_kind: str,
    target: str,
    config: AutoScalingConfig,
    replicas: int,
    owner: OwnerReference | None,
) -> dict[str, Any]:
    name = naming.hpa_name(target)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": pcs.metadata.namespace,
        "labels": {
            **labels.managed_labels(pcs.metadata.name, labels.COMPONENT_HPA, name),
            labels.PCS_REPLICA_INDEX: str(i),
        },
    }
    if owner is not None:
        metadata["ownerReferences"] = [owner.to_dict()]
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": GROVE_API_VERSION, "kind": target_kind, "name": target},
        "minReplicas": config.min_replicas if config.min_replicas is not None else replicas,
        "maxReplicas": config.max_replicas,
    }
    if config.metrics:
        spec["metrics"] = [dict(m) for m in config.metrics]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": spec,
    }


def build_hpas(pcs: PodCliqueSet, i: int, owner: OwnerReference | None = None) -> list[dict[str, Any]]:
    """The HPAs of PodCliqueSet replica ``i`` (none without autoscaling configuration).

    Without ``metrics`` the HPA controller's default applies (80% average CPU utilisation).
    """
    t = pcs.spec.template
    out: list[dict[str, Any]] = []
    for clique in t.standalone_cliques():
        if clique.spec.auto_scaling_config is not None:
            target = naming.podclique_name(pcs.metadata.name, i, clique.name)
            out.append(
                _hpa(
                    pcs, i, "PodClique", target, clique.spec.auto_scaling_config, clique.spec.replicas, owner
                )
            )
    for group in t.pod_clique_scaling_groups:
        if group.scale_config is not None:
            target = naming.scaling_group_name(pcs.metadata.name, i, group.name)
            out.append(
                _hpa(pcs, i, "PodCliqueScalingGroup", target, group.scale_config, group.replicas or 1, owner)
            )
    return out
