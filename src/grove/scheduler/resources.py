"""Resource amounts of pods and nodes as kube-scheduler counts them, in integer scheduler units.

A resource vector (:data:`grove.api.podresources.Resources`) is keyed by resource name (``cpu`` in
millicores, ``memory`` in bytes, ``pods`` in pods, extended resources such as ``nvidia.com/gpu`` in units).
Every pod also consumes one ``pods``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grove.api import podresources
from grove.api.podresources import Resources, resource_list
from grove.api.quantity import PODS

__all__ = ["node_allocatable", "pod_requests"]


def pod_requests(pod: Mapping[str, Any]) -> Resources:
    """Effective requests of a pod, the way kube-scheduler's NodeResourcesFit computes them.

    :func:`grove.api.podresources.pod_requests` of its spec without zero amounts, plus one ``pods``.
    Raises ``ValueError`` naming the field.
    """
    spec = pod.get("spec") or {}
    if not isinstance(spec, Mapping):
        raise ValueError("spec: must be an object")
    total = {name: amount for name, amount in podresources.pod_requests(spec).items() if amount}
    total[PODS] = 1
    return total


def node_allocatable(node: Mapping[str, Any]) -> Resources:
    """``status.allocatable`` of a node (``status.capacity`` when it is absent), in scheduler units."""
    status = node.get("status") or {}
    if not isinstance(status, Mapping):
        raise ValueError("status: must be an object")
    if status.get("allocatable") is not None:
        return resource_list(status["allocatable"], "status.allocatable")
    return resource_list(status.get("capacity"), "status.capacity")
