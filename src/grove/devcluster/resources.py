"""The registry of served resource types: built-in kinds and those defined by CustomResourceDefinitions.

A :class:`ResourceType` describes one group/version/resource as discovery shows it, plus the behaviour the
store applies to it (its :class:`Strategy`: defaults, validation, what an update may change). Several served
versions of one resource share one storage bucket (``storage``); objects are stored in the storage version
and converted on the way in and out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from grove.devcluster.errors import Cause, bad_request
from grove.devcluster.meta import check_dns1123_subdomain, name_field
from grove.devcluster.selectors import FieldGetter, path_getter

JSON = dict[str, Any]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """A scale subresource: JSON paths (``.spec.replicas``) into the object."""

    spec_replicas_path: str
    status_replicas_path: str
    label_selector_path: str | None = None


@dataclass(frozen=True, slots=True)
class PrinterColumn:
    """An ``additionalPrinterColumns`` entry (or a built-in Table column)."""

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0
    format: str = ""


class Strategy:
    """Per-kind behaviour of writes, modelled on kube-apiserver's REST strategies.

    ``prepare_create`` receives an object the store owns entirely and may mutate it anywhere. The update
    hooks receive a new object whose top-level dict and ``metadata`` dict are owned but whose other subtrees
    may be shared with the stored object (patches share unchanged subtrees): replace nested values, never
    mutate them in place.
    """

    def validate_name(self, rtype: ResourceType, name: str, prefix: bool = False) -> list[Cause]:
        """Field errors of ``metadata.name`` (a DNS-1123 subdomain for most kinds), or with ``prefix`` of
        ``metadata.generateName`` (kube-apiserver's ``ValidateNameFunc(name, prefix)``)."""
        return check_dns1123_subdomain(name_field(prefix), name, prefix)

    def grace_period(self, obj: JSON, requested: int | None) -> int:
        """Seconds a delete waits before the object goes (pods bound to a node wait for their kubelet)."""
        return 0

    def defer_delete(self, rtype: ResourceType, obj: JSON) -> bool:
        """Whether a delete only marks the object terminating (namespaces with finalizers); may edit it."""
        return False

    def holds(self, obj: JSON) -> bool:
        """Whether anything besides ``metadata.finalizers`` keeps a terminating object (namespaces)."""
        return False

    def prepare_create(self, rtype: ResourceType, obj: JSON) -> None:
        """Reset fields a create may not set and apply defaults (``PrepareForCreate`` + defaulting)."""

    def admit_create(self, rtype: ResourceType, obj: JSON) -> None:
        """Mutations admission plugins make on create (after field ownership is recorded, as in kube)."""

    def validate_create(self, rtype: ResourceType, obj: JSON) -> list[Cause]:
        """Field errors of a new object."""
        return []

    def prepare_update(self, rtype: ResourceType, new: JSON, old: JSON) -> None:
        """Carry over fields an update through the main endpoint may not change (``PrepareForUpdate``)."""

    def validate_update(self, rtype: ResourceType, new: JSON, old: JSON) -> list[Cause]:
        """Field errors of an update."""
        return self.validate_create(rtype, new)

    def prepare_status_update(self, rtype: ResourceType, new: JSON, old: JSON) -> None:
        """Carry over everything the status endpoint may not change (default: all but status)."""
        for k in list(new):
            if k not in ("status", "metadata", "apiVersion", "kind"):
                del new[k]
        for k, v in old.items():
            if k not in ("status", "metadata", "apiVersion", "kind"):
                new[k] = v
        if "status" not in new and "status" in old:
            new["status"] = old["status"]
        new_meta = new["metadata"]
        old_meta = old["metadata"]
        if "ownerReferences" in old_meta:
            new_meta["ownerReferences"] = old_meta["ownerReferences"]
        else:
            new_meta.pop("ownerReferences", None)

    def validate_status_update(self, rtype: ResourceType, new: JSON, old: JSON) -> list[Cause]:
        """Field errors of a status update."""
        return []

    def spec_of(self, obj: JSON) -> JSON:
        """The part of the object whose change bumps ``metadata.generation``."""
        return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


DEFAULT_STRATEGY = Strategy()


def default_field_getters(namespaced: bool) -> dict[str, FieldGetter]:
    """``metadata.name`` and ``metadata.namespace``, which every resource supports."""
    g = {"metadata.name": path_getter("metadata", "name")}
    if namespaced:
        g["metadata.namespace"] = path_getter("metadata", "namespace")
    else:
        g["metadata.namespace"] = lambda _o: ""
    return g


Converter = Callable[[JSON, str], JSON]


def _set_api_version(obj: JSON, api_version: str) -> JSON:
    if obj.get("apiVersion") == api_version:
        return obj
    out = dict(obj)
    out["apiVersion"] = api_version
    return out


@dataclass(eq=False)
class ResourceType:
    """One served group/version/resource."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    status_subresource: bool = False
    scale: ScaleSpec | None = None
    # Subresources beyond status/scale with their kind and verbs: ("binding", "Binding", ("create",)).
    extra_subresources: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    has_generation: bool = False
    strategy: Strategy = DEFAULT_STRATEGY
    field_getters: dict[str, FieldGetter] = field(default_factory=dict)
    printer_columns: tuple[PrinterColumn, ...] = ()
    # List fields that merge (strategic merge patch, server-side apply): "spec.containers" -> "name";
    # comma-separated keys for multi-key lists; "" for lists of primitives merged as sets.
    merge_keys: dict[str, str] = field(default_factory=dict)
    schema: JSON | None = None
    crd_name: str | None = None
    return_deleted_object: bool = False
    allow_create_on_update: bool = False
    # Converters between this version and the storage version (identity + apiVersion by default).
    to_storage: Converter | None = None
    from_storage: Converter | None = None
    storage_version: str = ""
    # Storage bucket shared with another group's resource (events.k8s.io events live with core events).
    storage_name: str = ""
    storage_group: str | None = None
    preferred: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if not self.field_getters:
            self.field_getters = default_field_getters(self.namespaced)
        if not self.storage_version:
            self.storage_version = self.version

    @property
    def api_version(self) -> str:
        """``group/version`` (just ``version`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage(self) -> str:
        """Storage bucket key: ``plural.group`` (``plural`` for the core group)."""
        if self.storage_name:
            return self.storage_name
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_api_version(self) -> str:
        """apiVersion of stored objects."""
        group = self.group if self.storage_group is None else self.storage_group
        return f"{group}/{self.storage_version}" if group else self.storage_version

    @property
    def list_kind(self) -> str:
        """Kind of list responses."""
        return self.kind + "List"

    @property
    def qualified(self) -> str:
        """``plural.group`` for messages."""
        return self.storage

    def encode(self, stored: JSON) -> JSON:
        """A stored object as this version presents it."""
        if self.from_storage is not None:
            return self.from_storage(stored, self.api_version)
        return _set_api_version(stored, self.api_version)

    def decode(self, obj: JSON) -> JSON:
        """An object of this version in storage form."""
        if self.to_storage is not None:
            return self.to_storage(obj, self.storage_api_version)
        return _set_api_version(obj, self.storage_api_version)

    def subresources(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(name, kind, verbs) of every subresource, for discovery."""
        out: list[tuple[str, str, tuple[str, ...]]] = []
        if self.status_subresource:
            out.append(("status", self.kind, ("get", "patch", "update")))
        if self.scale is not None:
            out.append(("scale", "Scale", ("get", "patch", "update")))
        out.extend(self.extra_subresources)
        return out


Listener = Callable[[], None]


class Registry:
    """Every served resource type, indexed the ways requests address them."""

    def __init__(self, types: Iterable[ResourceType] = ()) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        self._resolved: dict[str, ResourceType] = {}
        self._listeners: list[Listener] = []
        self.generation = 0
        for t in types:
            self._add(t)

    def _add(self, rtype: ResourceType) -> None:
        self._by_gvr[(rtype.group, rtype.version, rtype.plural)] = rtype

    def add(self, types: Iterable[ResourceType]) -> None:
        """Serve ``types`` (replacing any with the same group/version/plural)."""
        for t in types:
            self._add(t)
        self._changed()

    def remove_crd(self, crd_name: str) -> None:
        """Stop serving every version defined by the CRD ``crd_name``."""
        for key in [k for k, t in self._by_gvr.items() if t.crd_name == crd_name]:
            del self._by_gvr[key]
        self._changed()

    def on_change(self, listener: Listener) -> None:
        """Call ``listener`` whenever the set of served types changes (discovery caches)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        self.generation += 1
        self._resolved.clear()
        for listener in self._listeners:
            listener()

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at ``group/version/plural``."""
        return self._by_gvr.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        """Every served type."""
        return list(self._by_gvr.values())

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions, preferred first."""
        out: dict[str, list[str]] = {}
        for t in self._by_gvr.values():
            versions = out.setdefault(t.group, [])
            if t.version not in versions:
                if t.preferred:
                    versions.insert(0, t.version)
                else:
                    versions.append(t.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        """Types of one group/version, in registration order."""
        return [t for t in self._by_gvr.values() if t.group == group and t.version == version]

    def resolve(self, resource: str | ResourceType) -> ResourceType:
        """Look a type up the way in-process callers name it.

        Accepts a ResourceType, ``plural`` (core or unique), ``plural.group``, ``plural.version.group``,
        a kind, or a short name. Preferred versions win.
        """
        if isinstance(resource, ResourceType):
            return resource
        cached = self._resolved.get(resource)
        if cached is not None:
            return cached
        candidates: list[ResourceType] = []
        for t in self._by_gvr.values():
            # plural.group, not the storage key: events.k8s.io events are stored with the core ones.
            qualified = f"{t.plural}.{t.group}" if t.group else t.plural
            if (
                resource in (t.plural, qualified, f"{t.plural}.{t.version}.{t.group}", t.kind, t.singular)
                or resource in t.short_names
            ):
                candidates.append(t)
        if not candidates:
            raise bad_request(f"the server doesn't have a resource type {resource!r}")
        candidates.sort(key=lambda t: (t.group != "", not t.preferred))
        self._resolved[resource] = candidates[0]
        return candidates[0]

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The type of an ownerReference or object: apiVersion + kind."""
        group, _, version = api_version.rpartition("/")
        for t in self._by_gvr.values():
            if t.group == group and t.kind == kind and t.version == version:
                return t
        for t in self._by_gvr.values():
            if t.group == group and t.kind == kind:
                return t
        return None

    def storage_types(self) -> dict[str, ResourceType]:
        """One type per storage bucket (the storage version's)."""
        out: dict[str, ResourceType] = {}
        for t in self._by_gvr.values():
            if t.storage not in out or t.api_version == t.storage_api_version:
                out[t.storage] = t
        return out


def get_path(obj: Any, path: str) -> Any:
    """The value at a simple JSON path like ``.spec.replicas`` (None when absent)."""
    cur = obj
    for part in path.lstrip(".").split("."):
        if not part:
            continue
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def set_path(obj: JSON, path: str, value: Any) -> JSON:
    """A copy of ``obj`` with ``value`` at ``path``; only the dicts along the path are copied."""
    parts = [p for p in path.lstrip(".").split(".") if p]
    out = dict(obj)
    cur = out
    for p in parts[:-1]:
        nxt = cur.get(p)
        nxt = dict(nxt) if isinstance(nxt, dict) else {}
        cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value
    return out
