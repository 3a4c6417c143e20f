"""Topology types: the constraint of PodCliqueSets, scaling groups and cliques; ClusterTopologyBinding."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from grove.api.constants import GROVE_API_VERSION
from grove.api.meta import Condition, GroveModel, TopLevelObject, crd

__all__ = [
    "DOMAIN_PATTERN",
    "ClusterTopologyBinding",
    "ClusterTopologyBindingSpec",
    "ClusterTopologyBindingStatus",
    "SchedulerTopologyBinding",
    "SchedulerTopologyStatus",
    "TopologyConstraint",
    "TopologyLevel",
    "TopologyPackConstraint",
]

DOMAIN_PATTERN = r"^[a-z][a-z0-9-]*$"
_LABEL_KEY_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
_DOMAIN = crd(pattern=DOMAIN_PATTERN, minLength=1, maxLength=63)


class TopologyPackConstraint(GroveModel):
    """Topology domains each replica of a resource is packed into."""

    required: str | None = Field(default=None, json_schema_extra=_DOMAIN)
    """Domain every replica must fit in; the workload is not scheduled if that is impossible."""
    preferred: str | None = Field(default=None, json_schema_extra=_DOMAIN)
    """Domain the scheduler tries to pack each replica into, best effort."""


class TopologyConstraint(GroveModel):
    """Topology placement requirements of a PodCliqueSet, scaling group or clique (per replica)."""

    topology_name: str | None = None
    """Name of the ClusterTopologyBinding to use; inherited from the nearest constrained ancestor if unset."""
    pack: TopologyPackConstraint | None = None
    """Required and preferred packing domains for each replica."""
    pack_domain: str | None = Field(default=None, json_schema_extra=_DOMAIN)
    """Deprecated: same as pack.required; rejected on new objects."""

    def required_domain(self) -> str | None:
        """The required domain, falling back to the legacy packDomain."""
        if self.pack is not None and self.pack.required:
            return self.pack.required
        return self.pack_domain or None

    def preferred_domain(self) -> str | None:
        """The preferred domain, if any."""
        return self.pack.preferred if self.pack is not None and self.pack.preferred else None


class TopologyLevel(GroveModel):
    """One level of a topology hierarchy: a Grove domain name and the node label key that identifies it."""

    domain: str = Field(json_schema_extra=_DOMAIN)
    """Provider-agnostic level name, e.g. zone, block, rack, host."""
    key: str = Field(json_schema_extra=crd(pattern=_LABEL_KEY_PATTERN, minLength=1, maxLength=63))
    """Node label key identifying this level, e.g. topology.kubernetes.io/zone."""


class SchedulerTopologyBinding(GroveModel):
    """A scheduler backend's own topology resource bound to this ClusterTopologyBinding."""

    scheduler_name: str
    """Name of the scheduler backend."""
    topology_reference: str
    """Name of the backend-specific topology resource."""


class SchedulerTopologyStatus(GroveModel):
    """Whether one scheduler backend's topology resource matches the ClusterTopologyBinding."""

    scheduler_name: str
    """Name of the scheduler backend."""
    topology_reference: str
    """Name of the backend-specific topology resource."""
    in_sync: bool
    """True when the backend's topology levels match the binding's levels."""
    scheduler_backend_topology_observed_generation: int | None = Field(
        default=None, json_schema_extra=crd(format="int64")
    )
    """Generation of the backend topology resource last compared."""
    message: str | None = None
    """Detail when not in sync."""


class ClusterTopologyBindingSpec(GroveModel):
    """The topology hierarchy, broadest level first."""

    levels: list[TopologyLevel] = Field(json_schema_extra=crd(minItems=1))
    """Ordered levels, from broadest to narrowest."""
    scheduler_topology_bindings: list[SchedulerTopologyBinding] = Field(default_factory=list)
    """Backends whose topology resource is managed externally (only checked for drift)."""


class ClusterTopologyBindingStatus(GroveModel):
    """Observed state of the backend topology bindings."""

    observed_generation: int | None = Field(default=None, json_schema_extra=crd(format="int64"))
    """Most recent generation observed by the controller."""
    conditions: list[Condition] = Field(default_factory=list)
    """Latest observations (SchedulerTopologyDrift)."""
    scheduler_topology_statuses: list[SchedulerTopologyStatus] = Field(default_factory=list)
    """Per-backend sync state."""


class ClusterTopologyBinding(TopLevelObject):
    """Cluster-scoped topology hierarchy that maps Grove domains to node label keys."""

    API_VERSION: ClassVar[str] = GROVE_API_VERSION
    KIND: ClassVar[str] = "ClusterTopologyBinding"

    spec: ClusterTopologyBindingSpec
    """The topology hierarchy."""
    status: ClusterTopologyBindingStatus = Field(default_factory=ClusterTopologyBindingStatus)
    """Observed state."""

    def domains(self) -> list[str]:
        """Domain names, broadest first."""
        return [level.domain for level in self.spec.levels]

    def key_for(self, domain: str) -> str | None:
        """The node label key of ``domain``, or None if the binding has no such level."""
        return next((level.key for level in self.spec.levels if level.domain == domain), None)
