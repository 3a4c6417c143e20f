"""Pods as the scheduler sees them: identity, binding, requests, node constraints, gang membership."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grove.api.podresources import Resources
from grove.scheduler.gang import PODGANG_LABEL
from grove.scheduler.predicates import PodPlacement, parse_pod_placement
from grove.scheduler.resources import pod_requests

__all__ = ["PodInfo", "Shape", "parse_pod"]

_TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True, slots=True)
class Shape:
    """What decides where a pod fits: its requests and node constraints. Pods of a PodClique share one."""

    requests: tuple[tuple[str, int], ...]
    placement: PodPlacement
    excluded: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PodInfo:
    """A parsed pod."""

    namespace: str
    name: str
    uid: str
    node_name: str | None
    gang: str | None
    requests: Resources
    placement: PodPlacement
    terminal: bool
    deleting: bool
    shape: Shape = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", Shape(tuple(sorted(self.requests.items())), self.placement))

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def gang_key(self) -> str | None:
        """``namespace/<podgang>`` from the ``grove.io/podgang`` label, ``None`` for non-gang pods."""
        return f"{self.namespace}/{self.gang}" if self.gang else None

    @property
    def consumes(self) -> bool:
        """Whether the pod occupies node resources: bound and neither finished nor gone."""
        return self.node_name is not None and not self.terminal


def parse_pod(obj: Mapping[str, Any]) -> PodInfo:
    """Parse a Pod JSON object; ``ValueError`` names the offending field."""
    meta = obj.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise ValueError("metadata: must be an object")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("metadata.name: required")
    namespace = meta.get("namespace") or "default"
    labels = meta.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise ValueError("metadata.labels: must be a map")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    node_name = spec.get("nodeName") if isinstance(spec, Mapping) else None
    gang = labels.get(PODGANG_LABEL)
    return PodInfo(
        namespace=str(namespace),
        name=name,
        uid=str(meta.get("uid") or ""),
        node_name=node_name if isinstance(node_name, str) and node_name else None,
        gang=gang if isinstance(gang, str) and gang else None,
        requests=pod_requests(obj),
        placement=parse_pod_placement(obj),
        terminal=isinstance(status, Mapping) and status.get("phase") in _TERMINAL_PHASES,
        deleting=meta.get("deletionTimestamp") is not None,
    )
