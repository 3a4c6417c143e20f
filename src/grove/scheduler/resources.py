"""Resource amounts of pods and nodes as kube-scheduler counts them, in integer scheduler units.

A resource vector is a ``dict[str, int]`` keyed by resource name (``cpu`` in millicores, ``memory`` in bytes,
``pods`` in pods, extended resources such as ``nvidia.com/gpu`` in units). Every pod also consumes one
``pods``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from grove.scheduler.quantity import PODS, parse_quantity, to_scheduler_units

__all__ = [
    "Resources",
    "add_into",
    "node_allocatable",
    "parse_resource_list",
    "pod_requests",
]

Resources = dict[str, int]

# Resources a pod may set at pod level (spec.resources); hugepages-* are matched by prefix.
_POD_LEVEL = ("cpu", "memory")


def parse_resource_list(raw: object, field: str) -> Resources:
    """Parse a ``ResourceList`` (``{"cpu": "500m", ...}``) into scheduler units; errors name ``field``."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{field}: must be a map of resource name to quantity")
    out: Resources = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{field}: resource names must be non-empty strings")
        out[name] = to_scheduler_units(name, parse_quantity(value, f"{field}.{name}"))
    return out


def add_into(target: Resources, delta: Mapping[str, int], sign: int = 1) -> None:
    """``target += sign * delta``, in place."""
    for name, amount in delta.items():
        target[name] = target.get(name, 0) + sign * amount


def _max_into(target: Resources, other: Mapping[str, int]) -> None:
    for name, amount in other.items():
        if amount > target.get(name, 0):
            target[name] = amount


def _containers(spec: Mapping[str, Any], key: str) -> Iterable[tuple[int, Mapping[str, Any]]]:
    containers = spec.get(key) or []
    if not isinstance(containers, list):
        raise ValueError(f"spec.{key}: must be a list")
    for i, c in enumerate(containers):
        if not isinstance(c, Mapping):
            raise ValueError(f"spec.{key}[{i}]: must be an object")
        yield i, c


def _requests_of(container: Mapping[str, Any], field: str) -> Resources:
    resources = container.get("resources") or {}
    if not isinstance(resources, Mapping):
        raise ValueError(f"{field}.resources: must be an object")
    return parse_resource_list(resources.get("requests"), f"{field}.resources.requests")


def pod_requests(pod: Mapping[str, Any]) -> Resources:
    """Effective requests of a pod, the way kube-scheduler's NodeResourcesFit computes them.

    Sum of app containers and restartable (sidecar) init containers, at least the largest classic init
    container plus the sidecars started before it, pod-level ``spec.resources.requests`` for cpu, memory and
    hugepages when set, plus ``spec.overhead``, plus one ``pods``. Raises ``ValueError`` naming the field.
    """
    spec = pod.get("spec") or {}
    if not isinstance(spec, Mapping):
        raise ValueError("spec: must be an object")
    total: Resources = {}
    for i, c in _containers(spec, "containers"):
        add_into(total, _requests_of(c, f"spec.containers[{i}]"))
    sidecars: Resources = {}
    init_peak: Resources = {}
    for i, c in _containers(spec, "initContainers"):
        reqs = _requests_of(c, f"spec.initContainers[{i}]")
        if c.get("restartPolicy") == "Always":
            add_into(total, reqs)
            add_into(sidecars, reqs)
            _max_into(init_peak, sidecars)
        else:
            step = dict(reqs)
            add_into(step, sidecars)
            _max_into(init_peak, step)
    _max_into(total, init_peak)
    pod_level = spec.get("resources") or {}
    if isinstance(pod_level, Mapping) and pod_level.get("requests"):
        for name, amount in parse_resource_list(pod_level["requests"], "spec.resources.requests").items():
            if name in _POD_LEVEL or name.startswith("hugepages-"):
                total[name] = amount
    add_into(total, parse_resource_list(spec.get("overhead"), "spec.overhead"))
    total = {name: amount for name, amount in total.items() if amount}
    total[PODS] = 1
    return total


def node_allocatable(node: Mapping[str, Any]) -> Resources:
    """``status.allocatable`` of a node (``status.capacity`` when it is absent), in scheduler units."""
    status = node.get("status") or {}
    if not isinstance(status, Mapping):
        raise ValueError("status: must be an object")
    if status.get("allocatable") is not None:
        return parse_resource_list(status["allocatable"], "status.allocatable")
    return parse_resource_list(status.get("capacity"), "status.capacity")
