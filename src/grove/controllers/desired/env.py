"""The GROVE_* environment variables of pods (upstream ``constants.go``, ``pod.go``)."""

from __future__ import annotations

from typing import Any, Final

from grove.api import labels, naming

__all__ = ["GROVE_ENV_NAMES", "inject_env", "pod_env", "scaling_group_env"]

PCS_NAME: Final = "GROVE_PCS_NAME"
PCS_INDEX: Final = "GROVE_PCS_INDEX"
PCLQ_NAME: Final = "GROVE_PCLQ_NAME"
HEADLESS_SERVICE: Final = "GROVE_HEADLESS_SERVICE"
PCLQ_POD_INDEX: Final = "GROVE_PCLQ_POD_INDEX"
PCSG_NAME: Final = "GROVE_PCSG_NAME"
PCSG_TEMPLATE_NUM_PODS: Final = "GROVE_PCSG_TEMPLATE_NUM_PODS"
PCSG_INDEX: Final = "GROVE_PCSG_INDEX"
GROVE_ENV_NAMES: Final = (
    PCS_NAME,
    PCS_INDEX,
    PCLQ_NAME,
    HEADLESS_SERVICE,
    PCLQ_POD_INDEX,
    PCSG_NAME,
    PCSG_TEMPLATE_NUM_PODS,
    PCSG_INDEX,
)


def _label_ref(key: str) -> dict[str, Any]:
    return {"fieldRef": {"fieldPath": f"metadata.labels['{key}']"}}


def pod_env(pcs: str, i: int, pclq: str, namespace: str) -> list[dict[str, Any]]:
    """Variables of every pod: PodCliqueSet name and replica, PodClique name, Service DNS name, pod index."""
    return [
        {"name": PCS_NAME, "value": pcs},
        {"name": PCS_INDEX, "value": str(i)},
        {"name": PCLQ_NAME, "value": pclq},
        {"name": HEADLESS_SERVICE, "value": naming.headless_service_fqdn(pcs, i, namespace)},
        {"name": PCLQ_POD_INDEX, "valueFrom": _label_ref(labels.POD_INDEX)},
    ]


def scaling_group_env(template_num_pods: int) -> list[dict[str, Any]]:
    """Variables of scaling group members: group name and replica (pod labels), pods per group replica."""
    return [
        {"name": PCSG_NAME, "valueFrom": _label_ref(labels.SCALING_GROUP)},
        {"name": PCSG_TEMPLATE_NUM_PODS, "value": str(template_num_pods)},
        {"name": PCSG_INDEX, "valueFrom": _label_ref(labels.PCSG_REPLICA_INDEX)},
    ]


def inject_env(pod_spec: dict[str, Any], env: list[dict[str, Any]]) -> None:
    """Prepend ``env`` to every container and init container of ``pod_spec`` (in place).

    Variables of the container with the same names are dropped, so Grove's values win and user variables
    that follow may refer to them as ``$(GROVE_...)``.
    """
    names = {e["name"] for e in env}
    for kind in ("initContainers", "containers"):
        for container in pod_spec.get(kind) or []:
            own = [e for e in container.get("env") or [] if e.get("name") not in names]
            container["env"] = [dict(e) for e in env] + own
