"""OpenAPI v3 schemas of Kubernetes built-in types, derived from kubernetes_asyncio's model metadata.

kubernetes_asyncio ships one generated class per Kubernetes type with ``openapi_types`` (attribute -> type
string such as ``list[V1Container]`` or ``dict(str, str)``), ``attribute_map`` (attribute -> JSON name),
setters that reject ``None`` for required fields, and the API documentation as property docstrings. From that
we derive a structural schema in the form a CRD needs (``k8s_schema("V1PodSpec")``).

The generated client drops a few facts of the Kubernetes OpenAPI that a CRD schema needs; they are listed in
the tables below, each with the reason, and a test fails if the client grows a field they do not cover:

* ``resource.Quantity`` fields are plain ``str`` in the client; Kubernetes accepts integers there too, so
  they become int-or-string with the quantity pattern (as controller-gen emits them).
* ``IntOrString`` and ``RawExtension`` are both ``object`` in the client.
* ``x-kubernetes-list-type: map`` and its keys (the ``+listType=map`` markers of ``k8s.io/api``); keys that
  are neither required nor defaulted get the Kubernetes default (``protocol: TCP``, ``name: ""``).
* Embedded ``ObjectMeta`` keeps only the fields a template may set (as controller-gen does).
"""

from __future__ import annotations

import copy
import functools
import importlib
import re
from typing import Any

__all__ = ["QUANTITY_PATTERN", "k8s_schema", "model_class", "shared_k8s_schema"]

QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

# (class, attribute) -> how the value (or each map value) is a resource.Quantity.
_QUANTITY_FIELDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("V1PodSpec", "overhead"),
        ("V1ResourceRequirements", "limits"),
        ("V1ResourceRequirements", "requests"),
        ("V1VolumeResourceRequirements", "limits"),
        ("V1VolumeResourceRequirements", "requests"),
        ("V1CapacityRequirements", "requests"),
        ("V1EmptyDirVolumeSource", "size_limit"),
        ("V1ResourceFieldSelector", "divisor"),
        ("V2MetricTarget", "value"),
        ("V2MetricTarget", "average_value"),
    }
)

# Every ``object`` attribute must be listed here; a new one fails loudly instead of guessing.
_INT_OR_STRING_FIELDS: frozenset[tuple[str, str]] = frozenset(
    {("V1HTTPGetAction", "port"), ("V1TCPSocketAction", "port")}
)
_RAW_EXTENSION_FIELDS: frozenset[tuple[str, str]] = frozenset({("V1OpaqueDeviceConfiguration", "parameters")})

# ``+listType=map`` lists of the core types (k8s.io/api/core/v1/types.go), JSON key names.
_LIST_MAP_KEYS: dict[tuple[str, str], tuple[str, ...]] = {
    ("V1PodSpec", "containers"): ("name",),
    ("V1PodSpec", "init_containers"): ("name",),
    ("V1PodSpec", "ephemeral_containers"): ("name",),
    ("V1PodSpec", "volumes"): ("name",),
    ("V1PodSpec", "image_pull_secrets"): ("name",),
    ("V1PodSpec", "host_aliases"): ("ip",),
    ("V1PodSpec", "resource_claims"): ("name",),
    ("V1PodSpec", "scheduling_gates"): ("name",),
    ("V1PodSpec", "topology_spread_constraints"): ("topologyKey", "whenUnsatisfiable"),
    ("V1Container", "env"): ("name",),
    ("V1Container", "ports"): ("containerPort", "protocol"),
    ("V1Container", "volume_mounts"): ("mountPath",),
    ("V1Container", "volume_devices"): ("devicePath",),
    ("V1EphemeralContainer", "env"): ("name",),
    ("V1EphemeralContainer", "ports"): ("containerPort", "protocol"),
    ("V1EphemeralContainer", "volume_mounts"): ("mountPath",),
    ("V1EphemeralContainer", "volume_devices"): ("devicePath",),
    ("V1ResourceRequirements", "claims"): ("name",),
}

# Kubernetes defaults of optional fields that serve as list-map keys (``+default=`` markers).
_FIELD_DEFAULTS: dict[tuple[str, str], Any] = {
    ("V1ContainerPort", "protocol"): "TCP",
    ("V1LocalObjectReference", "name"): "",
}

# Embedded ObjectMeta in templates: only what a template may set.
_EMBEDDED_OBJECT_META: dict[str, Any] = {
    "type": "object",
    "properties": {
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "name": {"type": "string"},
        "namespace": {"type": "string"},
    },
}

_SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
}

_NOQA = re.compile(r"\s*# noqa: E501")


@functools.cache
def _models() -> Any:
    return importlib.import_module("kubernetes_asyncio.client.models")


def model_class(name: str) -> Any:
    """The kubernetes_asyncio model class called ``name`` (e.g. ``V1PodSpec``)."""
    cls = getattr(_models(), name, None)
    if cls is None or not hasattr(cls, "openapi_types"):
        raise KeyError(f"kubernetes_asyncio has no model {name!r}")
    return cls


@functools.cache
def _probe_configuration() -> Any:
    cfg = importlib.import_module("kubernetes_asyncio.client.configuration").Configuration()
    cfg.client_side_validation = True
    return cfg


def _required_attributes(cls: Any) -> list[str]:
    """Attributes whose generated setter rejects ``None``: the required fields of the type."""
    obj = cls.__new__(cls)
    obj.local_vars_configuration = _probe_configuration()
    out = []
    for attr in cls.openapi_types:
        try:
            setattr(obj, attr, None)
        except ValueError:
            out.append(attr)
    return out


def _description(cls: Any, attr: str) -> str:
    doc = getattr(getattr(cls, attr, None), "__doc__", None) or ""
    parts = [p.strip() for p in doc.split("\n\n")]
    # "Gets the x of this T.", then the description, then ":return:".
    if len(parts) >= 3 and not parts[1].startswith(":return:"):
        return _NOQA.sub("", parts[1]).strip()
    return ""


def _quantity_schema() -> dict[str, Any]:
    return {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": QUANTITY_PATTERN,
        "x-kubernetes-int-or-string": True,
    }


def _type_schema(type_str: str, owner: str, attr: str, stack: tuple[str, ...]) -> dict[str, Any]:
    key = (owner, attr)
    if type_str.startswith("list["):
        return {"type": "array", "items": _type_schema(type_str[5:-1], owner, attr, stack)}
    if type_str.startswith("dict("):
        value_type = type_str[5:-1].split(",", 1)[1].strip()
        if key in _QUANTITY_FIELDS:
            return {"type": "object", "additionalProperties": _quantity_schema()}
        return {"type": "object", "additionalProperties": _type_schema(value_type, owner, attr, stack)}
    if type_str == "object":
        if key in _INT_OR_STRING_FIELDS:
            return {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
        if key in _RAW_EXTENSION_FIELDS:
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        raise KeyError(f"{owner}.{attr}: untyped field not classified as IntOrString or RawExtension")
    if type_str in _SCALARS:
        if key in _QUANTITY_FIELDS:
            return _quantity_schema()
        return dict(_SCALARS[type_str])
    return _object_schema(type_str, stack)


def _object_schema(name: str, stack: tuple[str, ...]) -> dict[str, Any]:
    if name == "V1ObjectMeta":
        return copy.deepcopy(_EMBEDDED_OBJECT_META)
    if name in stack:
        raise ValueError(f"recursive Kubernetes type {' -> '.join((*stack, name))}")
    cls = model_class(name)
    stack = (*stack, name)
    properties: dict[str, Any] = {}
    required_attrs = set(_required_attributes(cls))
    required: list[str] = []
    for attr, type_str in cls.openapi_types.items():
        json_name = cls.attribute_map[attr]
        prop = _type_schema(type_str, name, attr, stack)
        desc = _description(cls, attr)
        if desc:
            prop["description"] = desc
        keys = _LIST_MAP_KEYS.get((name, attr))
        if keys is not None:
            prop["x-kubernetes-list-type"] = "map"
            prop["x-kubernetes-list-map-keys"] = list(keys)
            _default_list_map_keys(prop["items"], type_str[5:-1], keys)
        properties[json_name] = prop
        if attr in required_attrs:
            required.append(json_name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = sorted(required)
    return schema


def _default_list_map_keys(item_schema: dict[str, Any], item_type: str, keys: tuple[str, ...]) -> None:
    """A list-map key must be required or defaulted (the API server rejects the CRD otherwise)."""
    cls = model_class(item_type)
    by_json = {v: k for k, v in cls.attribute_map.items()}
    for key in keys:
        if key in item_schema.get("required", []):
            continue
        default_key = (item_type, by_json[key])
        if default_key not in _FIELD_DEFAULTS:
            raise KeyError(f"{item_type}.{key} is a list-map key but neither required nor defaulted")
        item_schema["properties"][key]["default"] = _FIELD_DEFAULTS[default_key]


@functools.cache
def shared_k8s_schema(name: str) -> dict[str, Any]:
    """The schema of ``name``, computed once and shared: read it, never modify it (validation hot path)."""
    return _object_schema(name, ())


def k8s_schema(name: str) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of the Kubernetes type ``name`` (a fresh copy each call)."""
    return copy.deepcopy(shared_k8s_schema(name))
