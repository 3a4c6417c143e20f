"""The apiextensions.k8s.io/v1 rules a real API server enforces when a CRD is created.

From ``k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation`` and the structural schema
checks (``pkg/apiserver/schema``): names, versions, structural schemas, list types, defaults,
subresource paths and printer columns. Returns a list of problems (empty when the CRD is acceptable).
"""

from __future__ import annotations

import re
from typing import Any

from grove.api.errors import Path
from grove.api.schema_check import check_schema

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_FORMATS = {
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "date",
    "date-time",
    "duration",
    "uri",
    "email",
    "uuid",
}
_SCALAR_TYPES = {"string", "integer", "number", "boolean"}
_FORBIDDEN_KEYS = {
    "$ref",
    "$schema",
    "definitions",
    "id",
    "patternProperties",
    "dependencies",
    "additionalItems",
}
_VALUE_VALIDATIONS = {"anyOf", "allOf", "oneOf", "not"}
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]
_COLUMN_TYPES = {"integer", "number", "string", "boolean", "date"}


def crd_problems(crd: dict[str, Any]) -> list[str]:
    """Every rule the CRD breaks."""
    problems: list[str] = []
    spec = crd["spec"]
    names = spec["names"]
    group, plural = spec["group"], names["plural"]
    if crd["metadata"]["name"] != f"{plural}.{group}":
        problems.append(f"metadata.name must be {plural}.{group}")
    if "." not in group:
        problems.append("spec.group must contain a dot")
    for key in ("plural", "singular"):
        if not _DNS_LABEL.match(names.get(key, "")) or names[key] != names[key].lower():
            problems.append(f"spec.names.{key} must be a lowercase DNS label")
    for key in ("kind", "listKind"):
        if not _KIND.match(names.get(key, "")):
            problems.append(f"spec.names.{key} must be CamelCase")
    if names.get("listKind") != names["kind"] + "List":
        problems.append("spec.names.listKind must be kind + List")
    for short in names.get("shortNames", []):
        if not _DNS_LABEL.match(short):
            problems.append(f"spec.names.shortNames: {short!r} is not a lowercase DNS label")
    for category in names.get("categories", []):
        if not _DNS_LABEL.match(category):
            problems.append(f"spec.names.categories: {category!r} is not a lowercase DNS label")
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append("spec.scope must be Namespaced or Cluster")
    versions = spec["versions"]
    if sum(1 for v in versions if v.get("storage")) != 1:
        problems.append("exactly one version must be the storage version")
    for v in versions:
        schema = v["schema"]["openAPIV3Schema"]
        vp = f"spec.versions[{v['name']}]"
        if schema.get("type") != "object":
            problems.append(f"{vp}: the root schema must be of type object")
        problems += _structural(schema, f"{vp}.schema.openAPIV3Schema", root=True)
        problems += _subresources(v.get("subresources", {}), schema, vp)
        problems += _columns(v.get("additionalPrinterColumns", []), schema, vp)
    return problems


def _structural(node: dict[str, Any], path: str, root: bool = False) -> list[str]:
    out: list[str] = []
    for key in _FORBIDDEN_KEYS & node.keys():
        out.append(f"{path}: {key} is forbidden")
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if preserve is False:
        out.append(f"{path}: x-kubernetes-preserve-unknown-fields must be true or absent")
    kind = node.get("type")
    if int_or_string:
        if kind:
            out.append(f"{path}: type must be empty with x-kubernetes-int-or-string")
        if "anyOf" in node and node["anyOf"] != _INT_OR_STRING_ANY_OF:
            out.append(f"{path}: anyOf must be [integer, string] with x-kubernetes-int-or-string")
    elif not kind and not preserve:
        out.append(f"{path}: type is required")
    for key in _VALUE_VALIDATIONS & node.keys():
        if not (int_or_string and key == "anyOf"):
            out.append(f"{path}: {key} is only used for int-or-string here")
    if kind and kind not in (*_SCALAR_TYPES, "object", "array"):
        out.append(f"{path}: unknown type {kind!r}")
    if "format" in node and node["format"] not in _FORMATS:
        out.append(f"{path}: unknown format {node['format']!r}")
    if "pattern" in node:
        try:
            re.compile(node["pattern"])
        except re.error as exc:
            out.append(f"{path}: pattern does not compile: {exc}")
    if node.get("uniqueItems") is True:
        out.append(f"{path}: uniqueItems must not be true")
    if "properties" in node and "additionalProperties" in node:
        out.append(f"{path}: properties and additionalProperties are mutually exclusive")
    additional = node.get("additionalProperties")
    if additional is not None and not isinstance(additional, dict):
        out.append(f"{path}: additionalProperties must be a schema (not a boolean)")
    if kind == "array":
        if not isinstance(node.get("items"), dict):
            out.append(f"{path}: arrays must have a single items schema")
    elif "items" in node:
        out.append(f"{path}: items is only allowed for arrays")
    if kind != "object" and ("properties" in node or additional is not None):
        out.append(f"{path}: properties are only allowed for objects")
    for name in node.get("required", []):
        if name not in node.get("properties", {}):
            out.append(f"{path}: required property {name!r} is not in properties")
    if "enum" in node and kind in _SCALAR_TYPES:
        for value in node["enum"]:
            if check_schema(value, {"type": kind}, Path()):
                out.append(f"{path}: enum value {value!r} is not of type {kind}")
    out += _list_rules(node, path)
    if "x-kubernetes-map-type" in node and (
        kind != "object" or node["x-kubernetes-map-type"] not in ("granular", "atomic")
    ):
        out.append(f"{path}: x-kubernetes-map-type must be granular or atomic on an object")
    if "default" in node:
        if root:
            out.append(f"{path}: default is not allowed at the root")
        errors = check_schema(
            node["default"], {k: v for k, v in node.items() if k != "default"}, Path("default")
        )
        out += [f"{path}: default does not validate: {e}" for e in errors]
    if root:
        meta = node.get("properties", {}).get("metadata")
        if meta is not None and set(meta) - {"type", "properties"}:
            out.append(
                f"{path}.properties[metadata]: only type and name/generateName restrictions are allowed"
            )
    for name, child in node.get("properties", {}).items():
        out += _structural(child, f"{path}.properties[{name}]")
    if isinstance(additional, dict):
        out += _structural(additional, f"{path}.additionalProperties")
    if isinstance(node.get("items"), dict):
        out += _structural(node["items"], f"{path}.items")
    return out


def _list_rules(node: dict[str, Any], path: str) -> list[str]:
    out: list[str] = []
    list_type = node.get("x-kubernetes-list-type")
    keys = node.get("x-kubernetes-list-map-keys")
    if list_type is None:
        if keys is not None:
            out.append(f"{path}: x-kubernetes-list-map-keys requires x-kubernetes-list-type map")
        return out
    if node.get("type") != "array":
        out.append(f"{path}: x-kubernetes-list-type is only allowed on arrays")
        return out
    items = node.get("items", {})
    if list_type == "set" and items.get("type") not in _SCALAR_TYPES:
        out.append(f"{path}: list-type set needs scalar items")
    elif list_type == "map":
        if items.get("type") != "object":
            out.append(f"{path}: list-type map needs object items")
        if not keys:
            out.append(f"{path}: list-type map needs x-kubernetes-list-map-keys")
        for key in keys or []:
            prop = items.get("properties", {}).get(key)
            if prop is None:
                out.append(f"{path}: list-map key {key!r} is not a property of the items")
                continue
            if prop.get("type") not in _SCALAR_TYPES and not prop.get("x-kubernetes-int-or-string"):
                out.append(f"{path}: list-map key {key!r} must be a scalar")
            if key not in items.get("required", []) and "default" not in prop:
                out.append(f"{path}: list-map key {key!r} must be required or have a default")
    elif list_type != "atomic":
        out.append(f"{path}: unknown x-kubernetes-list-type {list_type!r}")
    elif keys is not None:
        out.append(f"{path}: x-kubernetes-list-map-keys requires x-kubernetes-list-type map")
    return out


def resolve(schema: dict[str, Any], json_path: str) -> dict[str, Any] | None:
    """The schema node a simple JSON path (``.a.b``, ``.a[*].b``, ``.a[?(...)].b``) points at."""
    node: dict[str, Any] | None = schema
    for part in re.findall(r"\.([A-Za-z0-9_]+)|\[[^\]]*\]", json_path):
        if node is None:
            return None
        node = node.get("properties", {}).get(part) if part else node.get("items")
    return node


def _subresources(sub: dict[str, Any], schema: dict[str, Any], vp: str) -> list[str]:
    out: list[str] = []
    if "status" in sub and "status" not in schema.get("properties", {}):
        out.append(f"{vp}.subresources.status: the schema has no status")
    scale = sub.get("scale")
    if scale is None:
        return out
    for key, prefix, kind in (
        ("specReplicasPath", ".spec.", "integer"),
        ("statusReplicasPath", ".status.", "integer"),
        ("labelSelectorPath", None, "string"),
    ):
        value = scale.get(key)
        if value is None:
            if key != "labelSelectorPath":
                out.append(f"{vp}.subresources.scale.{key} is required")
            continue
        if prefix is not None and not value.startswith(prefix):
            out.append(f"{vp}.subresources.scale.{key} must be a path under {prefix}")
        if prefix is None and not value.startswith((".spec.", ".status.")):
            out.append(f"{vp}.subresources.scale.{key} must be a path under .spec or .status")
        target = resolve(schema, value)
        if target is None:
            out.append(f"{vp}.subresources.scale.{key}: {value} is not in the schema")
        elif target.get("type") != kind:
            out.append(f"{vp}.subresources.scale.{key}: {value} must be of type {kind}")
    return out


def _columns(columns: list[dict[str, Any]], schema: dict[str, Any], vp: str) -> list[str]:
    out: list[str] = []
    names: set[str] = set()
    for c in columns:
        cp = f"{vp}.additionalPrinterColumns[{c.get('name')}]"
        if not c.get("name") or c["name"] in names:
            out.append(f"{cp}: names must be non-empty and unique")
        names.add(c.get("name", ""))
        if c.get("type") not in _COLUMN_TYPES:
            out.append(f"{cp}: type must be one of {sorted(_COLUMN_TYPES)}")
        if not str(c.get("jsonPath", "")).startswith("."):
            out.append(f"{cp}: jsonPath must start with a dot")
        elif not c["jsonPath"].startswith(".metadata.") and resolve(schema, c["jsonPath"]) is None:
            out.append(f"{cp}: {c['jsonPath']} is not in the schema")
        if c.get("priority", 0) < 0:
            out.append(f"{cp}: priority must be non-negative")
    return out
