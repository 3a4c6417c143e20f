"""Every label and annotation Grove sets or reads, in one place (upstream ``api/common/labels.go``)."""

from __future__ import annotations

from typing import Final

from grove.api import naming

__all__ = [
    "ANNOTATION_DISABLE_PROTECTION",
    "ANNOTATION_RECONCILE_TRIGGER",
    "ANNOTATION_TOPOLOGY_NAME",
    "BASE_PODGANG",
    "COMPONENT",
    "COMPONENT_HEADLESS_SERVICE",
    "COMPONENT_HPA",
    "COMPONENT_PCSG",
    "COMPONENT_PCSG_PODCLIQUE",
    "COMPONENT_PODCLIQUE",
    "COMPONENT_PODGANG",
    "COMPONENT_RESOURCE_CLAIM",
    "COMPONENT_ROLE",
    "COMPONENT_ROLE_BINDING",
    "COMPONENT_SA_TOKEN_SECRET",
    "COMPONENT_SERVICE_ACCOUNT",
    "MANAGED_BY",
    "MANAGED_BY_VALUE",
    "NAME",
    "PART_OF",
    "PCSG_REPLICA_INDEX",
    "PCS_REPLICA_INDEX",
    "PODCLIQUE",
    "PODGANG",
    "POD_INDEX",
    "POD_TEMPLATE_HASH",
    "SCALING_GROUP",
    "SCHEDULER_NAME",
    "is_grove_key",
    "managed_labels",
    "pcs_replica_selector",
    "pcs_selector",
    "podclique_selector",
    "scaling_group_selector",
    "selector_string",
]

MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "grove-operator"
PART_OF: Final = "app.kubernetes.io/part-of"
COMPONENT: Final = "app.kubernetes.io/component"
NAME: Final = "app.kubernetes.io/name"

COMPONENT_HEADLESS_SERVICE: Final = "pcs-headless-service"
COMPONENT_ROLE: Final = "pod-role"
COMPONENT_ROLE_BINDING: Final = "pod-role-binding"
COMPONENT_SERVICE_ACCOUNT: Final = "pod-service-account"
COMPONENT_SA_TOKEN_SECRET: Final = "pod-sa-token-secret"
COMPONENT_PCSG: Final = "pcs-podcliquescalinggroup"
COMPONENT_HPA: Final = "pcs-hpa"
COMPONENT_PODGANG: Final = "podgang"
COMPONENT_PODCLIQUE: Final = "pcs-podclique"
COMPONENT_PCSG_PODCLIQUE: Final = "pcsg-podclique"
COMPONENT_RESOURCE_CLAIM: Final = "resource-claim"

PODCLIQUE: Final = "grove.io/podclique"
SCALING_GROUP: Final = "grove.io/podcliquescalinggroup"
PCS_REPLICA_INDEX: Final = "grove.io/podcliqueset-replica-index"
PCSG_REPLICA_INDEX: Final = "grove.io/podcliquescalinggroup-replica-index"
PODGANG: Final = "grove.io/podgang"
BASE_PODGANG: Final = "grove.io/base-podgang"
POD_TEMPLATE_HASH: Final = "grove.io/pod-template-hash"
POD_INDEX: Final = "grove.io/podclique-pod-index"
SCHEDULER_NAME: Final = "grove.io/scheduler-name"

ANNOTATION_TOPOLOGY_NAME: Final = "grove.io/topology-name"
ANNOTATION_RECONCILE_TRIGGER: Final = "grove.io/reconcile-trigger"
ANNOTATION_DISABLE_PROTECTION: Final = "grove.io/disable-managed-resource-protection"


def is_grove_key(key: str) -> bool:
    """True for labels and annotations in Grove's own ``grove.io/`` namespace."""
    return key.startswith("grove.io/")


def managed_labels(pcs: str, component: str | None = None, name: str | None = None) -> dict[str, str]:
    """Labels of every object Grove manages for ``pcs``: managed-by, part-of, component, name."""
    labels = {MANAGED_BY: MANAGED_BY_VALUE, PART_OF: pcs}
    if component is not None:
        labels[COMPONENT] = component
    if name is not None:
        labels[NAME] = naming.rbac_label_name(name)
    return labels


def pcs_selector(pcs: str) -> dict[str, str]:
    """Selects every pod of a PodCliqueSet."""
    return {MANAGED_BY: MANAGED_BY_VALUE, PART_OF: pcs}


def pcs_replica_selector(pcs: str, i: int) -> dict[str, str]:
    """Selects the pods of PodCliqueSet replica ``i`` (the headless Service selector)."""
    return {**pcs_selector(pcs), PCS_REPLICA_INDEX: str(i)}


def podclique_selector(pcs: str, pclq: str) -> dict[str, str]:
    """Selects the pods of one PodClique."""
    return {**pcs_selector(pcs), PODCLIQUE: pclq}


def scaling_group_selector(pcs: str, pcsg: str) -> dict[str, str]:
    """Selects the pods of one scaling group."""
    return {**pcs_selector(pcs), SCALING_GROUP: pcsg}


def selector_string(selector: dict[str, str]) -> str:
    """A label selector in its string form (``k=v,k2=v2``), as status.hpaPodSelector carries it."""
    return ",".join(f"{k}={v}" for k, v in selector.items())
