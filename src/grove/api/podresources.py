"""What a pod asks of a node: ``k8s.io/component-helpers/resource.PodRequests`` over a plain pod spec.

A resource vector is a ``dict[str, int]`` keyed by resource name in the integers kube-scheduler compares
(:func:`grove.api.quantity.amount`): ``cpu`` in millicores, ``memory`` in bytes, extended resources such as
``nvidia.com/gpu`` in units. Used by the scheduler extender and by the dev cluster's scheduler stand-in and
fake kubelets, so that both count a pod the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from grove.api.quantity import CPU, MEMORY, amount

__all__ = [
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "Resources",
    "add_into",
    "pod_requests",
    "requested_resource_names",
    "resource_list",
]

Resources = dict[str, int]

# kube-scheduler's defaults for containers without a request, used only for scoring (NonZeroRequested).
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


def resource_list(raw: object, field: str) -> Resources:
    """A ``ResourceList`` (``{"cpu": "500m", ...}``) as integers; ``ValueError`` naming the field."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{field}: must be a map of resource name to quantity")
    out: Resources = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{field}: resource names must be non-empty strings")
        out[name] = amount(name, value, f"{field}[{name}]")
    return out


def add_into(target: Resources, delta: Mapping[str, int], sign: int = 1) -> None:
    """``target += sign * delta``, in place."""
    for name, value in delta.items():
        target[name] = target.get(name, 0) + sign * value


def _max_into(target: Resources, other: Mapping[str, int]) -> None:
    for name, value in other.items():
        if value > target.get(name, 0):
            target[name] = value


def _containers(spec: Mapping[str, Any], key: str) -> Iterable[tuple[int, Mapping[str, Any]]]:
    containers = spec.get(key) or []
    if not isinstance(containers, list):
        raise ValueError(f"spec.{key}: must be a list")
    for i, c in enumerate(containers):
        if not isinstance(c, Mapping):
            raise ValueError(f"spec.{key}[{i}]: must be an object")
        yield i, c


def _container_requests(container: Mapping[str, Any], field: str, non_zero: bool) -> Resources:
    resources = container.get("resources") or {}
    if not isinstance(resources, Mapping):
        raise ValueError(f"{field}.resources: must be an object")
    requests = resource_list(resources.get("requests"), f"{field}.resources.requests")
    if non_zero:
        requests.setdefault(CPU, DEFAULT_MILLI_CPU_REQUEST)
        requests.setdefault(MEMORY, DEFAULT_MEMORY_REQUEST)
    return requests


def _pod_level(name: str) -> bool:
    # component-helpers' IsSupportedPodLevelResource.
    return name in (CPU, MEMORY) or name.startswith("hugepages-")


def pod_requests(spec: Mapping[str, Any], *, non_zero: bool = False) -> Resources:
    """The effective requests of a pod spec.

    App containers and restartable (sidecar) init containers summed, at least the largest classic init
    container plus the sidecars started before it, pod-level ``spec.resources.requests`` for cpu, memory and
    hugepages when set, plus ``spec.overhead``. ``non_zero`` substitutes kube-scheduler's 100m / 200Mi for
    missing cpu/memory container requests (its scoring view). Raises ``ValueError`` naming the field.
    """
    total: Resources = {}
    for i, c in _containers(spec, "containers"):
        add_into(total, _container_requests(c, f"spec.containers[{i}]", non_zero))
    sidecars: Resources = {}
    init_peak: Resources = {}
    for i, c in _containers(spec, "initContainers"):
        requests = _container_requests(c, f"spec.initContainers[{i}]", non_zero)
        if c.get("restartPolicy") == "Always":
            add_into(total, requests)
            add_into(sidecars, requests)
            _max_into(init_peak, sidecars)
        else:
            step = dict(requests)
            add_into(step, sidecars)
            _max_into(init_peak, step)
    _max_into(total, init_peak)
    pod_level = spec.get("resources") or {}
    if isinstance(pod_level, Mapping):
        for name, value in resource_list(pod_level.get("requests"), "spec.resources.requests").items():
            if _pod_level(name):
                total[name] = value
    add_into(total, resource_list(spec.get("overhead"), "spec.overhead"))
    return total


def requested_resource_names(spec: Mapping[str, Any]) -> set[str]:
    """Every resource named in any container's requests or limits (extenders' ``managedResources``)."""
    names: set[str] = set()
    for key in ("containers", "initContainers"):
        for _, c in _containers(spec, key):
            resources = c.get("resources") or {}
            names.update((resources.get("requests") or {}).keys())
            names.update((resources.get("limits") or {}).keys())
    return names
