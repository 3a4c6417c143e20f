"""A PodCliqueSet as the controllers see it: parsed, defaulted, validated, with its ClusterTopologyBinding.

The cluster may run without Grove's admission webhook, so every controller checks the stored object against
the API rules before acting on it, and the PodCliqueSet controller reports the errors on the object. The
result is memoised per PodCliqueSet version and ClusterTopologyBinding version.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from grove.api.defaults import default_podcliqueset
from grove.api.errors import FieldError, GroveValidationError
from grove.api.hashing import pod_template_hash, podcliqueset_generation_hash
from grove.api.podcliqueset import PodCliqueSet
from grove.api.topology import ClusterTopologyBinding
from grove.api.validation import validate_existing
from grove.api.validation.topology import constrained_levels
from grove.runtime.informer import Informer
from grove.runtime.meta import Obj, generation_of, resource_version_of, uid_of

__all__ = ["PcsView", "PcsViews"]


@dataclass(frozen=True)
class PcsView:
    """The defaulted model (None if unparseable), every rule it breaks, and its topology binding."""

    model: PodCliqueSet | None
    errors: tuple[FieldError, ...] = ()
    topology_name: str | None = None
    topology: ClusterTopologyBinding | None = None

    @property
    def valid(self) -> bool:
        """Parseable and breaking no rule: the operator acts on it."""
        return self.model is not None and not self.errors

    @cached_property
    def generation_hash(self) -> str | None:
        """The PodCliqueSet generation hash of the model (None if unparseable), computed once per view."""
        return podcliqueset_generation_hash(self.model) if self.model is not None else None

    @cached_property
    def pod_template_hashes(self) -> dict[str, str]:
        """Pod template hash per clique template name, computed once per view."""
        if self.model is None:
            return {}
        t = self.model.spec.template
        return {c.name: pod_template_hash(c, t.priority_class_name) for c in t.cliques}


def _topology_name(pcs: PodCliqueSet) -> str | None:
    for level in constrained_levels(pcs):
        if level.topology_name:
            return level.topology_name
    return None


class PcsViews:
    """Memoised :class:`PcsView` per PodCliqueSet UID (shared, read-only results)."""

    def __init__(self, topologies: Informer) -> None:
        self._topologies = topologies
        self._entries: dict[str, tuple[tuple[str, str], PcsView]] = {}
        self._bindings: dict[str, tuple[str, ClusterTopologyBinding | None]] = {}

    def get(self, obj: Obj) -> PcsView:
        """The view of the cached PodCliqueSet ``obj``."""
        uid = uid_of(obj)
        entry = self._entries.get(uid)
        if entry is not None:
            rv, ct_rv = entry[0]
            if rv == resource_version_of(obj) and ct_rv == self._binding_version(entry[1].topology_name):
                return entry[1]
        view = self._build(obj)
        if uid:
            key = (resource_version_of(obj), self._binding_version(view.topology_name))
            self._entries[uid] = (key, view)
        return view

    def forget(self, obj: Obj) -> None:
        """Drops the entry of a deleted PodCliqueSet."""
        self._entries.pop(uid_of(obj), None)

    def _binding_version(self, name: str | None) -> str:
        if not name:
            return ""
        ct = self._topologies.store.get_by_name(None, name)
        return resource_version_of(ct) if ct is not None else "-"

    def _binding(self, name: str | None) -> ClusterTopologyBinding | None:
        if not name:
            return None
        ct = self._topologies.store.get_by_name(None, name)
        if ct is None:
            return None
        rv = resource_version_of(ct)
        cached = self._bindings.get(name)
        if cached is not None and cached[0] == rv:
            return cached[1]
        try:
            model: ClusterTopologyBinding | None = ClusterTopologyBinding.from_dict(
                {k: v for k, v in ct.items() if k != "status"}
            )
        except GroveValidationError:
            model = None
        self._bindings[name] = (rv, model)
        return model

    def _build(self, obj: Obj) -> PcsView:
        try:
            parsed = PodCliqueSet.from_dict({k: v for k, v in obj.items() if k != "status"})
        except GroveValidationError as exc:
            return PcsView(None, tuple(exc.errors))
        pcs = default_podcliqueset(parsed)
        name = _topology_name(pcs)
        topology = self._binding(name)
        errors = validate_existing(pcs, topology, first_generation=generation_of(obj) <= 1)
        return PcsView(pcs, tuple(errors), name, topology)
