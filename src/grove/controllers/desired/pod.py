"""Pod manifests of a PodClique (upstream ``podclique/components/pod/pod.go`` and ``initcontainer.go``)."""

from __future__ import annotations

import copy
from typing import Any

from grove.api import constants, labels, naming
from grove.api.meta import OwnerReference
from grove.api.podclique import PodClique
from grove.api.podcliqueset import PodCliqueSet
from grove.controllers.desired.env import inject_env, pod_env
from grove.controllers.desired.podclique import PodCliqueRef, startup_parents

__all__ = ["build_pod"]


def build_pod(
    pcs: PodCliqueSet,
    pclq: PodClique,
    ref: PodCliqueRef,
    pod_index: int,
    initc_image: str,
    owner: OwnerReference | None = None,
) -> dict[str, Any]:
    """The manifest of the pod with index ``pod_index`` of PodClique ``pclq`` (at ``ref`` in ``pcs``).

    generateName ``<pclq>-``, hostname ``<pclq>-<index>``, subdomain ``<pcs>-<i>``; the PodClique's labels
    plus podclique, podgang, replica and pod index; its annotations (minus grove.io/topology-name); GROVE_*
    variables prepended to every container and init container; the scheduling gate
    ``grove.io/podgang-pending-creation``; and, when the clique starts after others, the ``grove-initc``
    init container (image ``initc_image``, run as ``grove initc --podcliques=<pclq>:<minAvailable> ...``)
    appended last with its token and pod-info volumes.
    """
    name = pclq.metadata.name
    namespace = pclq.metadata.namespace or pcs.metadata.namespace
    gang = pclq.metadata.labels.get(labels.PODGANG, naming.base_podgang_name(ref.pcs, ref.replica))
    pod_labels = {
        **pclq.metadata.labels,
        labels.PODCLIQUE: name,
        labels.PCS_REPLICA_INDEX: str(ref.replica),
        labels.PODGANG: gang,
        labels.POD_INDEX: str(pod_index),
    }
    annotations = {k: v for k, v in pclq.metadata.annotations.items() if k != labels.ANNOTATION_TOPOLOGY_NAME}
    spec = copy.deepcopy(pclq.spec.pod_spec)
    spec["hostname"] = naming.pod_hostname(name, pod_index)
    spec["subdomain"] = naming.pod_subdomain(ref.pcs, ref.replica)
    gates = [
        g for g in spec.get("schedulingGates") or [] if g.get("name") != constants.PODGANG_SCHEDULING_GATE
    ]
    spec["schedulingGates"] = [*gates, {"name": constants.PODGANG_SCHEDULING_GATE}]
    parents = _parents(pcs, pclq, ref)
    if parents:
        _add_init_container(spec, ref.pcs, parents, initc_image)
    inject_env(spec, pod_env(ref.pcs, ref.replica, name, namespace))
    metadata: dict[str, Any] = {
        "generateName": naming.pod_generate_name(name),
        "namespace": namespace,
        "labels": pod_labels,
    }
    if annotations:
        metadata["annotations"] = annotations
    if owner is not None:
        metadata["ownerReferences"] = [owner.to_dict()]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _parents(pcs: PodCliqueSet, pclq: PodClique, ref: PodCliqueRef) -> list[tuple[str, int]]:
    """The PodClique's startsAfter, each with the parent's minAvailable from the template."""
    known = dict(startup_parents(pcs, ref))
    return [(parent, known.get(parent, 1)) for parent in pclq.spec.starts_after]


def _add_init_container(spec: dict[str, Any], pcs: str, parents: list[tuple[str, int]], image: str) -> None:
    spec["volumes"] = [
        *(spec.get("volumes") or []),
        {
            "name": constants.INITC_SA_TOKEN_VOLUME,
            "secret": {"secretName": naming.initc_secret_name(pcs)},
        },
        {
            "name": constants.INITC_POD_INFO_VOLUME,
            "downwardAPI": {
                "items": [
                    {
                        "path": constants.INITC_POD_INFO_NAMESPACE_FILE,
                        "fieldRef": {"fieldPath": "metadata.namespace"},
                    },
                    {
                        "path": constants.INITC_POD_INFO_PODGANG_FILE,
                        "fieldRef": {"fieldPath": f"metadata.labels['{labels.PODGANG}']"},
                    },
                ]
            },
        },
    ]
    spec["initContainers"] = [
        *(spec.get("initContainers") or []),
        {
            "name": constants.INITC_CONTAINER_NAME,
            "image": image,
            "command": ["grove", "initc"],
            "args": [f"--podcliques={parent}:{min_available}" for parent, min_available in parents],
            "volumeMounts": [
                {
                    "name": constants.INITC_SA_TOKEN_VOLUME,
                    "mountPath": constants.INITC_SA_TOKEN_MOUNT_PATH,
                    "readOnly": True,
                },
                {
                    "name": constants.INITC_POD_INFO_VOLUME,
                    "mountPath": constants.INITC_POD_INFO_MOUNT_PATH,
                    "readOnly": True,
                },
            ],
        },
    ]
