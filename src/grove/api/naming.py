"""Every name Grove generates, in one place (upstream ``operator/api/common/namegen.go``).

``pcs`` is the PodCliqueSet name, ``i`` a PodCliqueSet replica index, ``group`` a scaling group template
name, ``j`` a scaling group replica index, ``clique`` a clique template name and ``pclq`` a full PodClique
name.
"""

from __future__ import annotations

import re

from grove.api.constants import CLUSTER_DOMAIN

__all__ = [
    "GENERATED_SUFFIX_LENGTH",
    "base_podgang_name",
    "headless_service_fqdn",
    "headless_service_name",
    "hpa_name",
    "initc_secret_name",
    "pod_fqdn",
    "pod_generate_name",
    "pod_hostname",
    "pod_index_from_hostname",
    "pod_subdomain",
    "podclique_name",
    "rbac_label_name",
    "resource_claim_name",
    "role_binding_name",
    "role_name",
    "scaled_podgang_index",
    "scaled_podgang_name",
    "scaling_group_name",
    "scaling_group_podclique_name",
    "scaling_group_topology_group_name",
    "service_account_name",
]

# Characters the API server appends to a generateName.
GENERATED_SUFFIX_LENGTH = 5


def headless_service_name(pcs: str, i: int) -> str:
    """The headless Service of PodCliqueSet replica ``i``: ``<pcs>-<i>``."""
    return f"{pcs}-{i}"


def headless_service_fqdn(pcs: str, i: int, namespace: str) -> str:
    """DNS name of the headless Service: ``<pcs>-<i>.<ns>.svc.cluster.local``."""
    return f"{headless_service_name(pcs, i)}.{namespace}.svc.{CLUSTER_DOMAIN}"


def podclique_name(pcs: str, i: int, clique: str) -> str:
    """A standalone PodClique: ``<pcs>-<i>-<clique>``."""
    return f"{pcs}-{i}-{clique}"


def scaling_group_name(pcs: str, i: int, group: str) -> str:
    """A PodCliqueScalingGroup: ``<pcs>-<i>-<group>``."""
    return f"{pcs}-{i}-{group}"


def scaling_group_podclique_name(pcsg: str, j: int, clique: str) -> str:
    """A PodClique of scaling group replica ``j``: ``<pcsg>-<j>-<clique>``."""
    return f"{pcsg}-{j}-{clique}"


def pod_generate_name(pclq: str) -> str:
    """generateName of a clique's pods: ``<pclq>-`` (the API server appends 5 random characters)."""
    return f"{pclq}-"


def pod_hostname(pclq: str, index: int) -> str:
    """Hostname of the pod with index ``index``: ``<pclq>-<index>``."""
    return f"{pclq}-{index}"


_HOSTNAME_INDEX = re.compile(r"-(\d+)$")


def pod_index_from_hostname(hostname: str) -> int | None:
    """The pod index encoded in a hostname, or None if it has no numeric suffix."""
    match = _HOSTNAME_INDEX.search(hostname)
    return int(match.group(1)) if match else None


def pod_subdomain(pcs: str, i: int) -> str:
    """Subdomain of every pod of PodCliqueSet replica ``i`` (the headless Service name)."""
    return headless_service_name(pcs, i)


def pod_fqdn(pclq: str, index: int, pcs: str, i: int, namespace: str) -> str:
    """Stable DNS name of a pod: ``<pclq>-<index>.<pcs>-<i>.<ns>.svc.cluster.local``."""
    return f"{pod_hostname(pclq, index)}.{headless_service_fqdn(pcs, i, namespace)}"


def base_podgang_name(pcs: str, i: int) -> str:
    """The base PodGang of PodCliqueSet replica ``i``: ``<pcs>-<i>``."""
    return f"{pcs}-{i}"


def scaled_podgang_index(j: int, min_available: int) -> int:
    """Index of the scaled PodGang of scaling group replica ``j`` (``j >= min_available``)."""
    return j - min_available


def scaled_podgang_name(pcsg: str, j: int, min_available: int) -> str:
    """The PodGang of scaling group replica ``j >= min_available``: ``<pcsg>-<j - minAvailable>``."""
    return f"{pcsg}-{scaled_podgang_index(j, min_available)}"


def scaling_group_topology_group_name(pcsg: str, j: int) -> str:
    """Name of the topology group of scaling group replica ``j`` inside the base PodGang."""
    return f"{pcsg}-{j}"


def hpa_name(target: str) -> str:
    """The HorizontalPodAutoscaler of a standalone PodClique or a scaling group: the target's name."""
    return target


def service_account_name(pcs: str) -> str:
    """ServiceAccount of the PodCliqueSet's pods: ``<pcs>``."""
    return pcs


def role_name(pcs: str) -> str:
    """Role letting the start-up init container read pods: ``grove.io:pcs:<pcs>``."""
    return f"grove.io:pcs:{pcs}"


def role_binding_name(pcs: str) -> str:
    """RoleBinding of :func:`role_name`: ``grove.io:pcs:<pcs>``."""
    return role_name(pcs)


def rbac_label_name(name: str) -> str:
    """``app.kubernetes.io/name`` label value of a Role/RoleBinding (``:`` is not allowed in label values)."""
    return name.replace(":", "-")


def initc_secret_name(pcs: str) -> str:
    """Service account token Secret mounted by the start-up init container: ``<pcs>-ic-sat``."""
    return f"{pcs}-ic-sat"


def resource_claim_name(owner: str, template: str, replica: int | None = None) -> str:
    """A shared ResourceClaim: ``<owner>-all-<template>``, per replica ``<owner>-<replica>-<template>``."""
    return f"{owner}-all-{template}" if replica is None else f"{owner}-{replica}-{template}"
