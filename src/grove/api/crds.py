"""CustomResourceDefinitions generated from the models.

The schema of each kind is walked from its pydantic model: field types, wire names, docstrings as
descriptions, and the CRD keywords recorded with :func:`grove.api.meta.crd` (defaults, formats, bounds,
list-map keys). Fields holding Kubernetes types (``podSpec``, metrics, resource claim templates) get the
schema derived from kubernetes_asyncio (:mod:`grove.api.k8s_schema`).
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from grove.api.constants import GROVE_GROUP, SCHEDULER_GROUP, VERSION
from grove.api.k8s_schema import k8s_schema
from grove.api.meta import ObjectMeta, TopLevelObject
from grove.api.podclique import PodClique
from grove.api.podcliqueset import PodCliqueSet
from grove.api.podgang import PodGang
from grove.api.scalinggroup import PodCliqueScalingGroup
from grove.api.topology import ClusterTopologyBinding

__all__ = [
    "CRD_KINDS",
    "CrdKind",
    "crd_file_name",
    "crd_manifest",
    "crd_manifests",
    "crds_yaml",
    "dump_yaml",
    "model_schema",
]


@dataclass(frozen=True)
class CrdKind:
    """How one of Grove's kinds is served: names, scope, subresources and printer columns."""

    model: type[TopLevelObject]
    group: str
    plural: str
    short_names: tuple[str, ...]
    namespaced: bool = True
    scale_selector_path: str | None = None
    printer_columns: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def _col(name: str, path: str, kind: str = "integer", priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


_AGE = _col("Age", ".metadata.creationTimestamp", "date")
_MIN_BREACHED = _col(
    "MinBreached", '.status.conditions[?(@.type=="MinAvailableBreached")].status', "string", 1
)

CRD_KINDS: tuple[CrdKind, ...] = (
    CrdKind(
        PodCliqueSet,
        GROVE_GROUP,
        "podcliquesets",
        ("pcs",),
        scale_selector_path=".status.hpaPodSelector",
        printer_columns=(
            _col("Replicas", ".spec.replicas"),
            _col("Available", ".status.availableReplicas"),
            _col("Updated", ".status.updatedReplicas"),
            _col("PCLQs-Updated", ".status.updateProgress.updatedPodCliquesCount"),
            _col("PCLQs-Total", ".status.updateProgress.totalPodCliquesCount"),
            _col("PCSGs-Updated", ".status.updateProgress.updatedPodCliqueScalingGroupsCount"),
            _col("PCSGs-Total", ".status.updateProgress.totalPodCliqueScalingGroupsCount"),
            _AGE,
        ),
    ),
    CrdKind(
        PodClique,
        GROVE_GROUP,
        "podcliques",
        ("pclq",),
        scale_selector_path=".status.hpaPodSelector",
        printer_columns=(
            _col("MinAvail", ".spec.minAvailable"),
            _col("Replicas", ".spec.replicas"),
            _col("Ready", ".status.readyReplicas"),
            _col("Scheduled", ".status.scheduledReplicas"),
            _col("Updated", ".status.updatedReplicas"),
            _col("Gated", ".status.scheduleGatedReplicas", priority=1),
            _MIN_BREACHED,
            _AGE,
        ),
    ),
    CrdKind(
        PodCliqueScalingGroup,
        GROVE_GROUP,
        "podcliquescalinggroups",
        ("pcsg",),
        scale_selector_path=".status.selector",
        printer_columns=(
            _col("MinAvail", ".spec.minAvailable"),
            _col("Replicas", ".spec.replicas"),
            _col("Available", ".status.availableReplicas"),
            _col("Scheduled", ".status.scheduledReplicas"),
            _col("Updated", ".status.updatedReplicas"),
            _col("PCLQs-Updated", ".status.updateProgress.updatedPodCliquesCount"),
            _col("PCLQs-Total", ".status.updateProgress.totalPodCliquesCount"),
            _MIN_BREACHED,
            _AGE,
        ),
    ),
    CrdKind(
        ClusterTopologyBinding,
        GROVE_GROUP,
        "clustertopologybindings",
        ("ct",),
        namespaced=False,
        # Only the first result of a column path is shown (kube-apiserver), so a list cannot be a column.
        printer_columns=(_col("Top-Domain", ".spec.levels[0].domain", "string"), _AGE),
    ),
    CrdKind(
        PodGang,
        SCHEDULER_GROUP,
        "podgangs",
        ("pg",),
        printer_columns=(_col("Phase", ".status.phase", "string"), _AGE),
    ),
)

_SCALARS: dict[type, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer", "format": "int32"},
    float: {"type": "number", "format": "double"},
    bool: {"type": "boolean"},
}
# Keywords of crd(...) copied into the schema as they are.
_COPIED = ("default", "format", "minimum", "pattern", "minLength", "maxLength", "minItems")


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _type_schema(annotation: Any, extra: dict[str, Any]) -> dict[str, Any]:
    annotation = _strip_optional(annotation)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return {"type": "string", "enum": list(typing.get_args(annotation))}
    if origin is list:
        (item,) = typing.get_args(annotation)
        items = k8s_schema(extra["k8s"]) if "k8s" in extra else _type_schema(item, {})
        return {"type": "array", "items": items}
    if origin is dict:
        if "k8s" in extra:
            return k8s_schema(extra["k8s"])
        _, value = typing.get_args(annotation)
        return {"type": "object", "additionalProperties": _type_schema(value, {})}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_schema(annotation)
    if annotation in _SCALARS:
        return dict(_SCALARS[annotation])
    raise TypeError(f"no CRD schema for {annotation!r}")


def _field_schema(info: FieldInfo) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if isinstance(info.json_schema_extra, dict):
        extra = dict(typing.cast(dict[str, Any], info.json_schema_extra.get("crd", {})))
    schema = _type_schema(info.annotation, extra)
    for key in _COPIED:
        if key in extra:
            schema[key] = extra[key]
    if "listType" in extra:
        schema["x-kubernetes-list-type"] = extra["listType"]
    if "listMapKeys" in extra:
        schema["x-kubernetes-list-map-keys"] = list(extra["listMapKeys"])
    if info.description:
        schema["description"] = _clean(info.description)
    return schema


def _clean(text: str) -> str:
    return " ".join(text.split())


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural schema of one of Grove's models (``metadata`` is left to the API server)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, info in model.model_fields.items():
        wire = info.alias or name
        if info.annotation is ObjectMeta:
            properties[wire] = {"type": "object"}
            continue
        properties[wire] = _field_schema(info)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        crd_extra = typing.cast(dict[str, Any], extra.get("crd", {}))
        if info.is_required() or crd_extra.get("required"):
            required.append(wire)
    schema: dict[str, Any] = {"type": "object", "properties": dict(sorted(properties.items()))}
    if model.__doc__:
        schema["description"] = _clean(model.__doc__)
    if required:
        schema["required"] = sorted(required)
    return schema


def _root_schema(kind: CrdKind) -> dict[str, Any]:
    schema = model_schema(kind.model)
    schema["properties"] = {
        "apiVersion": {
            "type": "string",
            "description": "APIVersion defines the versioned schema of this object.",
        },
        "kind": {"type": "string", "description": "Kind is the REST resource this object represents."},
        **schema["properties"],
    }
    return schema


def crd_file_name(kind: CrdKind) -> str:
    """File name of a CRD in deploy/crds (``<group>_<plural>.yaml``, as controller-gen names them)."""
    return f"{kind.group}_{kind.plural}.yaml"


def crd_manifest(kind: CrdKind) -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition of ``kind``."""
    model = kind.model
    subresources: dict[str, Any] = {"status": {}}
    if kind.scale_selector_path:
        subresources["scale"] = {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": kind.scale_selector_path,
        }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{kind.group}"},
        "spec": {
            "group": kind.group,
            "names": {
                "kind": model.KIND,
                "listKind": f"{model.KIND}List",
                "plural": kind.plural,
                "singular": model.KIND.lower(),
                "shortNames": list(kind.short_names),
                "categories": ["grove"],
            },
            "scope": "Namespaced" if kind.namespaced else "Cluster",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": _root_schema(kind)},
                    "subresources": subresources,
                    "additionalPrinterColumns": [dict(c) for c in kind.printer_columns],
                }
            ],
        },
    }


def crd_manifests() -> list[dict[str, Any]]:
    """Every CRD, PodCliqueSet first."""
    return [crd_manifest(kind) for kind in CRD_KINDS]


_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump_yaml(manifest: dict[str, Any]) -> str:
    """One manifest as YAML (deterministic)."""
    text: str = yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
    return text


@functools.cache
def crds_yaml() -> dict[str, str]:
    """File name -> YAML text of every CRD."""
    return {crd_file_name(kind): "---\n" + dump_yaml(crd_manifest(kind)) for kind in CRD_KINDS}
