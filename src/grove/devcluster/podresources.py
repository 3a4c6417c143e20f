"""What a pod asks of a node: ``k8s.io/component-helpers/resource.PodRequests`` for the scheduler stand-in
and the fake kubelets' admission check.

Amounts are integers as :func:`grove.devcluster.quantity.amount` gives them (cpu in millicores).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from grove.devcluster.quantity import CPU, amount

JSON = dict[str, Any]

MEMORY = "memory"
PODS = "pods"
# kube-scheduler's defaults for containers without a request, used only for scoring (NonZeroRequested).
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


def resource_list(values: Mapping[str, Any] | None, field: str) -> dict[str, int]:
    """A ``ResourceList`` as integers; ``ValueError`` naming the field for a malformed quantity."""
    out: dict[str, int] = {}
    for name, value in (values or {}).items():
        out[name] = amount(name, value, f"{field}[{name}]")
    return out


def _add(into: dict[str, int], other: Mapping[str, int]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


def _max(into: dict[str, int], other: Mapping[str, int]) -> None:
    for k, v in other.items():
        if v > into.get(k, 0):
            into[k] = v


def _container_requests(c: JSON, field: str, non_zero: bool) -> dict[str, int]:
    req = resource_list(((c.get("resources") or {}).get("requests")), f"{field}.resources.requests")
    if non_zero:
        req.setdefault(CPU, DEFAULT_MILLI_CPU_REQUEST)
        req.setdefault(MEMORY, DEFAULT_MEMORY_REQUEST)
    return req


def pod_requests(spec: JSON, *, non_zero: bool = False) -> dict[str, int]:
    """The pod's effective requests: containers summed, restartable (sidecar) init containers added, the
    largest regular init container (plus the sidecars started before it) as a floor, pod-level requests
    for cpu/memory when set, then ``overhead``. ``non_zero`` substitutes kube-scheduler's 100m / 200Mi
    for missing cpu/memory container requests (its scoring view)."""
    total: dict[str, int] = {}
    for i, c in enumerate(spec.get("containers") or ()):
        _add(total, _container_requests(c, f"spec.containers[{i}]", non_zero))
    sidecars: dict[str, int] = {}
    init_floor: dict[str, int] = {}
    for i, c in enumerate(spec.get("initContainers") or ()):
        req = _container_requests(c, f"spec.initContainers[{i}]", non_zero)
        if c.get("restartPolicy") == "Always":
            _add(total, req)
            _add(sidecars, req)
            _max(init_floor, sidecars)
        else:
            step = dict(req)
            _add(step, sidecars)
            _max(init_floor, step)
    _max(total, init_floor)
    pod_level = resource_list(((spec.get("resources") or {}).get("requests")), "spec.resources.requests")
    for name in (CPU, MEMORY):
        if name in pod_level:
            total[name] = pod_level[name]
    _add(total, resource_list(spec.get("overhead"), "spec.overhead"))
    return total


def requested_resource_names(spec: JSON) -> set[str]:
    """Every resource named in any container's requests or limits (extenders' ``managedResources``)."""
    names: set[str] = set()
    containers: Iterable[JSON] = [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]
    for c in containers:
        res = c.get("resources") or {}
        names.update((res.get("requests") or {}).keys())
        names.update((res.get("limits") or {}).keys())
    return names
