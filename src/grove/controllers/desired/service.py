"""The headless Service of each PodCliqueSet replica (upstream ``components/service/service.go``)."""

from __future__ import annotations

from typing import Any

from grove.api import labels, naming
from grove.api.meta import OwnerReference
from grove.api.podcliqueset import PodCliqueSet

__all__ = ["build_headless_service"]


def build_headless_service(pcs: PodCliqueSet, i: int, owner: OwnerReference | None = None) -> dict[str, Any]:
    """Service ``<pcs>-<i>``: clusterIP None, selecting the pods of replica ``i``, giving them DNS names."""
    name = naming.headless_service_name(pcs.metadata.name, i)
    config = pcs.spec.template.headless_service_config
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": pcs.metadata.namespace,
        "labels": {
            **labels.managed_labels(pcs.metadata.name, labels.COMPONENT_HEADLESS_SERVICE, name),
            labels.PCS_REPLICA_INDEX: str(i),
        },
    }
    if owner is not None:
        metadata["ownerReferences"] = [owner.to_dict()]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "clusterIP": "None",
            "selector": labels.pcs_replica_selector(pcs.metadata.name, i),
            "publishNotReadyAddresses": True if config is None else config.publish_not_ready_addresses,
        },
    }
