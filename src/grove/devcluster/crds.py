"""CustomResourceDefinitions: their own rules, and serving the resources they define.

As in kube-apiserver, a CRD's create answers with an empty status (``conditions: null``, no accepted
names, the storage version stored); the naming and establishing controllers (:func:`accept_names`,
:func:`establish`, run by :class:`grove.devcluster.gc.Controllers`) then set NamesAccepted and Established
in two status writes a moment later, each with its watch event. Clients poll for Established (``kubectl
wait --for condition=established`` fails at once on ``conditions: null``, here as there). The resources
are served as soon as the create returns (kube-apiserver: once NamesAccepted is set, within milliseconds),
so in-process components may create custom resources right after their CRD. Every served version becomes
a :class:`ResourceType`; objects are stored in the storage version and converted with the ``None``
strategy (apiVersion only).
"""

from __future__ import annotations

import re
from typing import Any

from grove.devcluster import errors, meta, schema
from grove.devcluster.errors import Cause
from grove.devcluster.resources import (
    PrinterColumn,
    Registry,
    ResourceType,
    ScaleSpec,
    Strategy,
    default_field_getters,
)
from grove.devcluster.selectors import path_getter
from grove.devcluster.watch import DELETED, WatchEvent

JSON = dict[str, Any]

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key of Kubernetes version names: GA > beta > alpha, higher numbers first, others last."""
    m = _VERSION_RE.match(version)
    if not m:
        return (3, 0, 0, version)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor, version)


def _now_condition(ctype: str, reason: str, message: str, status: str = "True") -> JSON:
    return {
        "type": ctype,
        "status": status,
        "lastTransitionTime": meta.now_rfc3339(),
        "reason": reason,
        "message": message,
    }


def _set_condition(conditions: list[JSON], new: JSON) -> list[JSON]:
    """``SetCRDCondition``: replace the condition of ``new``'s type (keeping its lastTransitionTime when the
    status is unchanged) or append it."""
    out: list[JSON] = []
    found = False
    for c in conditions:
        if c.get("type") == new["type"]:
            found = True
            if c.get("status") == new["status"]:
                new = {**new, "lastTransitionTime": c.get("lastTransitionTime")}
            out.append(new)
        else:
            out.append(c)
    return out if found else [*out, new]


def _condition_true(status: JSON, ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in status.get("conditions") or ())


def _same_conditions(a: list[JSON], b: list[JSON]) -> bool:
    def key(c: JSON) -> tuple[Any, ...]:
        return (c.get("type"), c.get("status"), c.get("reason"), c.get("message"))

    return [key(c) for c in a] == [key(c) for c in b]


def accept_names(crd: JSON) -> JSON | None:
    """The naming controller's status for ``crd`` (``NamingConditionController``), or None when it has
    nothing to change: the requested names accepted (no conflicts are modelled), NamesAccepted True, and
    Established False ``Installing`` until the establishing controller sets it."""
    status: JSON = crd.get("status") or {}
    names = _names_with_defaults((crd.get("spec") or {}).get("names") or {})
    old = list(status.get("conditions") or [])
    conditions = _set_condition(old, _now_condition("NamesAccepted", "NoConflicts", "no conflicts found"))
    if not _condition_true(status, "Established"):
        conditions = _set_condition(
            conditions,
            _now_condition("Established", "Installing", "the initial names have been accepted", "False"),
        )
    if status.get("acceptedNames") == names and _same_conditions(old, conditions):
        return None
    return {**status, "conditions": conditions, "acceptedNames": names}


def establish(crd: JSON) -> JSON | None:
    """The establishing controller's status for ``crd`` (Established True once its names are accepted), or
    None when it has nothing to change."""
    status: JSON = crd.get("status") or {}
    if not _condition_true(status, "NamesAccepted") or _condition_true(status, "Established"):
        return None
    established = _now_condition(
        "Established", "InitialNamesAccepted", "the initial names have been accepted"
    )
    return {**status, "conditions": _set_condition(list(status.get("conditions") or []), established)}


def _stored_versions(spec: JSON, status: JSON) -> list[str]:
    """``storedVersions`` with the storage version added (PrepareForCreate/PrepareForUpdate)."""
    stored = list(status.get("storedVersions") or [])
    for v in spec.get("versions") or []:
        if isinstance(v, dict) and v.get("storage"):
            if v.get("name") not in stored:
                stored.append(v["name"])
            break
    return stored


def _names_with_defaults(names: JSON) -> JSON:
    out = dict(names)
    kind = out.get("kind", "")
    out.setdefault("singular", kind.lower())
    out.setdefault("listKind", kind + "List")
    return out


class CRDStrategy(Strategy):
    """``apiextensions-apiserver`` validation and defaults for CRDs, plus the establishing controller."""

    def _defaults(self, obj: JSON) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        spec = dict(spec)
        if isinstance(spec.get("names"), dict):
            spec["names"] = _names_with_defaults(spec["names"])
        spec.setdefault("conversion", {"strategy": "None"})
        obj["spec"] = spec

    def defer_delete(self, rtype: ResourceType, obj: JSON) -> bool:
        md = obj["metadata"]
        if md.get("deletionTimestamp"):
            return False
        md["finalizers"] = [*(md.get("finalizers") or ()), CLEANUP_FINALIZER]
        conditions = [
            c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") != "Terminating"
        ]
        conditions.append(
            _now_condition(
                "Terminating",
                "InstanceDeletionPending",
                "CustomResourceDefinition marked for deletion; instance deletion pending",
            )
        )
        obj["status"] = {**(obj.get("status") or {}), "conditions": conditions}
        return True

    def prepare_create(self, rtype: ResourceType, obj: JSON) -> None:
        self._defaults(obj)
        # PrepareForCreate resets the status (conditions null, names not yet accepted) but for the storage
        # version; the naming and establishing controllers fill it in after the create returns.
        obj["status"] = {
            "conditions": None,
            "acceptedNames": {"plural": "", "kind": ""},
            "storedVersions": _stored_versions(obj.get("spec") or {}, {}),
        }

    def prepare_update(self, rtype: ResourceType, new: JSON, old: JSON) -> None:
        self._defaults(new)
        status: JSON = dict(old.get("status") or {})
        status["storedVersions"] = _stored_versions(new.get("spec") or {}, status)
        new["status"] = status

    def validate_create(self, rtype: ResourceType, obj: JSON) -> list[Cause]:
        causes: list[Cause] = []
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec")]
        group = spec.get("group") or ""
        names = spec.get("names") or {}
        plural = names.get("plural") or ""
        if not group:
            causes.append(errors.required("spec.group"))
        elif "." not in group:
            causes.append(
                errors.invalid_value("spec.group", group, "should be a domain with at least one dot")
            )
        if not plural:
            causes.append(errors.required("spec.names.plural"))
        if not names.get("kind"):
            causes.append(errors.required("spec.names.kind"))
        name = obj["metadata"].get("name", "")
        if plural and group and name != f"{plural}.{group}":
            causes.append(
                errors.invalid_value("metadata.name", name, 'must be spec.names.plural+"."+spec.group')
            )
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(
                errors.unsupported_value("spec.scope", spec.get("scope"), ["Cluster", "Namespaced"])
            )
        versions = spec.get("versions")
        if not isinstance(versions, list) or not versions:
            causes.append(errors.required("spec.versions"))
            return causes
        storage = [v for v in versions if isinstance(v, dict) and v.get("storage")]
        if len(storage) != 1:
            causes.append(
                errors.invalid_value(
                    "spec.versions", "array", "must have exactly one version marked as storage version"
                )
            )
        for i, v in enumerate(versions):
            if not isinstance(v, dict) or not v.get("name"):
                causes.append(errors.required(f"spec.versions[{i}].name"))
                continue
            s = (v.get("schema") or {}).get("openAPIV3Schema")
            if not isinstance(s, dict):
                causes.append(
                    Cause(
                        f"spec.versions[{i}].schema.openAPIV3Schema",
                        "FieldValueRequired",
                        "Required value: schemas are required",
                    )
                )
            scale = (v.get("subresources") or {}).get("scale")
            if isinstance(scale, dict):
                for key in ("specReplicasPath", "statusReplicasPath"):
                    if not scale.get(key):
                        causes.append(errors.required(f"spec.versions[{i}].subresources.scale.{key}"))
        return causes

    def validate_update(self, rtype: ResourceType, new: JSON, old: JSON) -> list[Cause]:
        causes = self.validate_create(rtype, new)
        old_spec, spec = old.get("spec") or {}, new.get("spec") or {}
        if spec.get("scope") != old_spec.get("scope"):
            causes.append(errors.invalid_value("spec.scope", spec.get("scope"), "field is immutable"))
        if spec.get("group") != old_spec.get("group"):
            causes.append(errors.invalid_value("spec.group", spec.get("group"), "field is immutable"))
        return causes


class CustomResourceStrategy(Strategy):
    """``customResourceStrategy``: schema defaults, pruning and validation; status only via /status."""

    def __init__(self, schema_: JSON | None, status_subresource: bool) -> None:
        self.schema = schema_
        self.status_subresource = status_subresource

    def _normalise(self, obj: JSON) -> None:
        fixed = schema.default_and_prune(self.schema, obj)
        obj.clear()
        obj.update(fixed)

    def prepare_create(self, rtype: ResourceType, obj: JSON) -> None:
        if self.status_subresource:
            obj.pop("status", None)
        self._normalise(obj)

    def validate_create(self, rtype: ResourceType, obj: JSON) -> list[Cause]:
        return schema.validate(self.schema, obj)

    def prepare_update(self, rtype: ResourceType, new: JSON, old: JSON) -> None:
        self._normalise(new)

    def prepare_status_update(self, rtype: ResourceType, new: JSON, old: JSON) -> None:
        status = new.get("status")
        managed = new["metadata"].get("managedFields")
        new.clear()
        new.update(old)
        new["metadata"] = dict(old["metadata"])
        if managed is not None:
            new["metadata"]["managedFields"] = managed
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = status
        self._normalise(new)

    def validate_status_update(self, rtype: ResourceType, new: JSON, old: JSON) -> list[Cause]:
        return schema.validate(self.schema, new)

    def spec_of(self, obj: JSON) -> JSON:
        skip = (
            ("metadata", "status", "apiVersion", "kind")
            if self.status_subresource
            else ("metadata", "apiVersion", "kind")
        )
        return {k: v for k, v in obj.items() if k not in skip}


def types_from_crd(crd: JSON) -> list[ResourceType]:
    """One ResourceType per served version of ``crd``."""
    spec = crd.get("spec") or {}
    names = _names_with_defaults(spec.get("names") or {})
    group = spec["group"]
    namespaced = spec.get("scope") == "Namespaced"
    versions = [v for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("served", True)]
    storage = next(
        (v["name"] for v in spec.get("versions") or [] if v.get("storage")),
        versions[0]["name"] if versions else "",
    )
    ordered = sorted((v["name"] for v in versions), key=version_priority)
    preferred = ordered[0] if ordered else ""
    out: list[ResourceType] = []
    for v in versions:
        subs = v.get("subresources") or {}
        sch = (v.get("schema") or {}).get("openAPIV3Schema")
        scale = subs.get("scale")
        getters = default_field_getters(namespaced)
        for sf in v.get("selectableFields") or []:
            jp = str(sf.get("jsonPath", "")).lstrip(".")
            getters[jp] = path_getter(*jp.split("."))
        cols = tuple(
            PrinterColumn(
                c.get("name", ""),
                c.get("type", "string"),
                c.get("jsonPath", ""),
                c.get("description", ""),
                int(c.get("priority", 0)),
                c.get("format", ""),
            )
            for c in v.get("additionalPrinterColumns") or []
        )
        out.append(
            ResourceType(
                group,
                v["name"],
                names["kind"],
                names["plural"],
                names["singular"],
                namespaced,
                tuple(names.get("shortNames") or ()),
                tuple(names.get("categories") or ()),
                status_subresource="status" in subs,
                scale=ScaleSpec(
                    scale["specReplicasPath"], scale["statusReplicasPath"], scale.get("labelSelectorPath")
                )
                if isinstance(scale, dict)
                else None,
                has_generation=True,
                strategy=CustomResourceStrategy(sch, "status" in subs),
                field_getters=getters,
                printer_columns=cols,
                merge_keys=schema.list_merge_keys(sch),
                schema=sch,
                crd_name=crd["metadata"]["name"],
                return_deleted_object=True,
                storage_version=storage,
                preferred=v["name"] == preferred,
                description=str((sch or {}).get("description", "")),
            )
        )
    return out


def serve_crds(registry: Registry, on_removed: Any) -> Any:
    """A store subscriber that keeps ``registry`` in step with stored CRDs; ``on_removed(rtype)`` runs for
    every type a deleted CRD stops serving."""

    def on_event(rtype: ResourceType, ev: WatchEvent) -> None:
        if rtype.kind != "CustomResourceDefinition" or rtype.group != "apiextensions.k8s.io":
            return
        name = ev.object["metadata"]["name"]
        old = [t for t in registry.all() if t.crd_name == name]
        if ev.type == DELETED:
            registry.remove_crd(name)
            for t in old:
                if t.version == t.storage_version:
                    on_removed(t)
            return
        registry.remove_crd(name)
        registry.add(types_from_crd(ev.object))

    return on_event
