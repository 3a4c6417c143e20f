"""Structural schemas of the built-in kinds, derived from kubernetes_asyncio's generated models.

kube-apiserver decodes built-in objects into Go structs, so fields the type does not have are dropped
(and reported under ``fieldValidation=Strict|Warn``). These schemas give the store the same knowledge:
which properties exist, which values are lists or maps. They carry no type constraints, because the
generated models cannot tell a string from a Quantity or IntOrString (both accept numbers).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from kubernetes_asyncio.client import models

JSON = dict[str, Any]

_SCALARS = ("str", "int", "float", "bool", "datetime", "date")
_ANY: JSON = {"x-kubernetes-preserve-unknown-fields": True}

# Model class of each built-in kind, by (group, version, kind).
MODELS = {
    ("", "v1", "Namespace"): "V1Namespace",
    ("", "v1", "Pod"): "V1Pod",
    ("", "v1", "Node"): "V1Node",
    ("", "v1", "Service"): "V1Service",
    ("", "v1", "Endpoints"): "V1Endpoints",
    ("", "v1", "ServiceAccount"): "V1ServiceAccount",
    ("", "v1", "Secret"): "V1Secret",
    ("", "v1", "ConfigMap"): "V1ConfigMap",
    ("", "v1", "Event"): "CoreV1Event",
    ("events.k8s.io", "v1", "Event"): "EventsV1Event",
    ("coordination.k8s.io", "v1", "Lease"): "V1Lease",
    ("rbac.authorization.k8s.io", "v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"): "V1RoleBinding",
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("autoscaling", "v2", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
}


def _type_schema(type_name: str, seen: frozenset[str]) -> JSON:
    if type_name.startswith("list["):
        return {"type": "array", "items": _type_schema(type_name[5:-1], seen)}
    if type_name.startswith("dict("):
        return {
            "type": "object",
            "additionalProperties": _type_schema(type_name.split(",", 1)[1][:-1].strip(), seen),
        }
    if type_name in _SCALARS:
        return {}
    if type_name == "object" or type_name in seen or not hasattr(models, type_name):
        return _ANY
    return _model_schema(type_name, seen)


def _model_schema(name: str, seen: frozenset[str]) -> JSON:
    cls = getattr(models, name)
    inner = seen | {name}
    props = {cls.attribute_map[attr]: _type_schema(t, inner) for attr, t in cls.openapi_types.items()}
    return {"type": "object", "properties": props}


@cache
def schema_for(group: str, version: str, kind: str) -> JSON | None:
    """The structural schema of a built-in kind (shared and read-only), or None for kinds without one."""
    name = MODELS.get((group, version, kind))
    return _model_schema(name, frozenset()) if name else None
