"""CustomResourceDefinitions: their own rules, and serving the resources they define.

A CRD is served as soon as its create returns (kube-apiserver establishes it a moment later; here the
Established condition is set in the same write). Every served version becomes a :class:`ResourceType`;
objects are stored in the storage version and converted with the ``None`` strategy (apiVersion only).
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


def _now_condition(ctype: str, reason: str, message: str) -> JSON:
    return {
        "type": ctype,
        "status": "True",
        "lastTransitionTime": meta.now_rfc3339(),
        "reason": reason,
        "message": message,
    }


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

    def _status(self, obj: JSON, old_status: JSON | None) -> None:
        spec = obj.get("spec") or {}
        names = _names_with_defaults(spec.get("names") or {})
        old_status = old_status or {}
        conditions = {c.get("type"): c for c in old_status.get("conditions") or [] if isinstance(c, dict)}
        if "NamesAccepted" not in conditions:
            conditions["NamesAccepted"] = _now_condition("NamesAccepted", "NoConflicts", "no conflicts found")
        if "Established" not in conditions:
            conditions["Established"] = _now_condition(
                "Established", "InitialNamesAccepted", "the initial names have been accepted"
            )
        stored = list(old_status.get("storedVersions") or [])
        for v in spec.get("versions") or []:
            if isinstance(v, dict) and v.get("storage") and v.get("name") not in stored:
                stored.append(v["name"])
        obj["status"] = {
            **old_status,
            "conditions": list(conditions.values()),
            "acceptedNames": names,
            "storedVersions": stored,
        }

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
        self._status(obj, None)

    def prepare_update(self, rtype: ResourceType, new: JSON, old: JSON) -> None:
        self._defaults(new)
        self._status(new, old.get("status"))

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
