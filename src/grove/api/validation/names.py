"""Exact lengths of every name Grove generates from a PodCliqueSet.

Upstream rejects ``len(pcs)+len(group)+len(clique) > 45``; instead we build the longest name of each kind the
spec allows (largest replica, group replica and pod index, counting autoscaling maxima) and compare it with
the limit that applies to it: 63 for DNS labels (Service names, hostnames) and for label values (PodClique,
scaling group and PodGang names are label values on pods), and 63 for pod names so the API server never
truncates a generateName (upstream issue #810).
"""

from __future__ import annotations

from grove.api import naming
from grove.api.errors import FieldError, Path, too_long
from grove.api.podclique import AutoScalingConfig
from grove.api.podcliqueset import PodCliqueSet
from grove.api.validation.k8s_names import MAX_LABEL_LENGTH
from grove.api.validation.template import TEMPLATE

__all__ = ["name_length_errors"]


def _max_index(replicas: int | None, scaling: AutoScalingConfig | None) -> int:
    top = max(replicas or 1, scaling.max_replicas if scaling is not None else 0, 1)
    return top - 1


def name_length_errors(pcs: PodCliqueSet) -> list[FieldError]:
    """One error per user-chosen name whose longest generated name exceeds its limit."""
    pcs_name = pcs.metadata.name
    if not pcs_name:
        return []
    t = pcs.spec.template
    found: dict[Path, FieldError] = {}

    def check(path: Path, what: str, name: str, limit: int = MAX_LABEL_LENGTH) -> None:
        if len(name) > limit and path not in found:
            found[path] = too_long(
                path,
                f'generated {what} "{name}" would be {len(name)} characters, may not be more than {limit}',
            )

    i = _max_index(pcs.spec.replicas, None)
    meta = Path("metadata", "name")
    check(meta, "headless Service name", naming.headless_service_name(pcs_name, i))
    check(meta, "Role name label", naming.rbac_label_name(naming.role_name(pcs_name)))
    check(meta, "Secret name label", naming.initc_secret_name(pcs_name))

    def check_pclq(path: Path, pclq: str, max_pod: int) -> None:
        check(path, "PodClique name", pclq)
        pod = naming.pod_generate_name(pclq) + "x" * naming.GENERATED_SUFFIX_LENGTH
        check(path, "pod name", pod)
        check(path, "pod hostname", naming.pod_hostname(pclq, max_pod))

    clique_index = {c.name: k for k, c in enumerate(t.cliques)}
    for clique in t.standalone_cliques():
        path = TEMPLATE.child("cliques").index(clique_index[clique.name]).child("name")
        pclq = naming.podclique_name(pcs_name, i, clique.name)
        check_pclq(path, pclq, _max_index(clique.spec.replicas, clique.spec.auto_scaling_config))
    for k, group in enumerate(t.pod_clique_scaling_groups):
        gpath = TEMPLATE.child("podCliqueScalingGroups").index(k).child("name")
        pcsg = naming.scaling_group_name(pcs_name, i, group.name)
        check(gpath, "PodCliqueScalingGroup name", pcsg)
        j = _max_index(group.replicas, group.scale_config)
        min_available = group.min_available or 1
        if j >= min_available:
            check(gpath, "PodGang name", naming.scaled_podgang_name(pcsg, j, min_available))
        for name in group.clique_names:
            member = t.clique(name)
            if member is None:
                continue
            path = TEMPLATE.child("cliques").index(clique_index[name]).child("name")
            pclq = naming.scaling_group_podclique_name(pcsg, j, name)
            check_pclq(path, pclq, _max_index(member.spec.replicas, None))
    return list(found.values())
