"""Structural OpenAPI v3 schemas of CustomResourceDefinitions: defaulting, pruning and validation.

Follows ``k8s.io/apiextensions-apiserver/pkg/apiserver/schema``: defaults apply to absent properties of
objects that are present, unknown fields are pruned unless ``x-kubernetes-preserve-unknown-fields``, and
validation reports every violation with the field path and wording kube-apiserver uses. CEL rules
(``x-kubernetes-validations``) are not evaluated.
"""

from __future__ import annotations

import re
from typing import Any

from grove.api.schema_check import json_type_matches, json_type_name
from grove.devcluster import errors
from grove.devcluster.errors import Cause, go_repr
from grove.devcluster.meta import deep_copy

JSON = dict[str, Any]

_ROOT_KEEP = ("apiVersion", "kind", "metadata")


def _props(schema: JSON) -> JSON:
    props = schema.get("properties")
    return props if isinstance(props, dict) else {}


def default_and_prune(schema: JSON | None, value: Any, *, root: bool = True) -> Any:
    """``value`` with schema defaults filled in and unknown fields removed (a new value; input untouched)."""
    if schema is None:
        return value
    if isinstance(value, dict):
        props = _props(schema)
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = root or schema.get("x-kubernetes-embedded-resource") is True
        out: JSON = {}
        for k, v in value.items():
            # apiVersion/kind/metadata of a resource (the root, or an embedded one) are never pruned by the
            # schema: a CRD may only narrow metadata.name/generateName.
            if embedded and k in _ROOT_KEEP:
                out[k] = v
            elif k in props:
                out[k] = default_and_prune(props[k], v, root=False)
            elif isinstance(additional, dict):
                out[k] = default_and_prune(additional, v, root=False)
            elif additional is True or preserve:
                out[k] = v
        for k, sub in props.items():
            if k not in out and isinstance(sub, dict) and "default" in sub:
                out[k] = default_and_prune(sub, deep_copy(sub["default"]), root=False)
        return out
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            return [default_and_prune(items, v, root=False) for v in value]
        return value
    return value


def validate(schema: JSON | None, value: Any, path: str = "") -> list[Cause]:
    """Every schema violation of ``value`` (``path`` is the dotted field path, empty at the root)."""
    if schema is None:
        return []
    out: list[Cause] = []
    _validate(schema, value, path, out, root=not path)
    return out


def _type_invalid(field: str, value: Any, expected: str) -> Cause:
    shown = '"null"' if value is None else go_repr(value)
    return Cause(
        field,
        "FieldValueTypeInvalid",
        f'Invalid value: {shown}: {field} in body must be of type {expected}: "{json_type_name(value)}"',
    )


def _validate(schema: JSON, value: Any, path: str, out: list[Cause], *, root: bool = False) -> None:
    field = path or "<root>"
    if value is None:
        if schema.get("type") and not schema.get("nullable"):
            out.append(_type_invalid(field, value, schema["type"]))
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            out.append(_type_invalid(field, value, "integer,string"))
        return
    expected = schema.get("type")
    if expected and not json_type_matches(expected, value):
        out.append(_type_invalid(field, value, expected))
        return
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        out.append(errors.unsupported_value(field, value, [str(e) for e in enum]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(schema, value, field, out)
    elif isinstance(value, str):
        _check_string(schema, value, field, out)
    elif isinstance(value, list):
        _check_array(schema, value, path, out)
    elif isinstance(value, dict):
        _check_object(schema, value, path, out, root=root)
    for sub in schema.get("allOf") or []:
        _validate(sub, value, path, out)
    any_of = schema.get("anyOf")
    if any_of and not any(not validate(s, value, path) for s in any_of):
        out.append(errors.invalid_value(field, value, "must validate at least one schema (anyOf)"))
    one_of = schema.get("oneOf")
    if one_of and sum(1 for s in one_of if not validate(s, value, path)) != 1:
        out.append(errors.invalid_value(field, value, "must validate one and only one schema (oneOf)"))
    neg = schema.get("not")
    if isinstance(neg, dict) and not validate(neg, value, path):
        out.append(errors.invalid_value(field, value, "must not validate the schema (not)"))


def _check_number(schema: JSON, value: float, field: str, out: list[Cause]) -> None:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if lo is not None:
        if schema.get("exclusiveMinimum") and value <= lo:
            out.append(errors.invalid_value(field, value, f"{field} in body should be greater than {lo}"))
        elif value < lo:
            out.append(
                errors.invalid_value(field, value, f"{field} in body should be greater than or equal to {lo}")
            )
    if hi is not None:
        if schema.get("exclusiveMaximum") and value >= hi:
            out.append(errors.invalid_value(field, value, f"{field} in body should be less than {hi}"))
        elif value > hi:
            out.append(
                errors.invalid_value(field, value, f"{field} in body should be less than or equal to {hi}")
            )
    mult = schema.get("multipleOf")
    if mult and value % mult:
        out.append(errors.invalid_value(field, value, f"{field} in body should be a multiple of {mult}"))


def _check_string(schema: JSON, value: str, field: str, out: list[Cause]) -> None:
    max_len, min_len = schema.get("maxLength"), schema.get("minLength")
    if max_len is not None and len(value) > max_len:
        out.append(Cause(field, "FieldValueTooLong", f"Too long: may not be more than {max_len} bytes"))
    if min_len is not None and len(value) < min_len:
        out.append(
            errors.invalid_value(field, value, f"{field} in body should be at least {min_len} chars long")
        )
    pattern = schema.get("pattern")
    if pattern and not re.search(pattern, value):
        out.append(errors.invalid_value(field, value, f"{field} in body should match '{pattern}'"))


def _check_array(schema: JSON, value: list[Any], path: str, out: list[Cause]) -> None:
    field = path or "<root>"
    max_items, min_items = schema.get("maxItems"), schema.get("minItems")
    if max_items is not None and len(value) > max_items:
        out.append(
            Cause(field, "FieldValueTooMany", f"Too many: {len(value)}: must have at most {max_items} items")
        )
    if min_items is not None and len(value) < min_items:
        out.append(
            errors.invalid_value(field, len(value), f"{field} in body should have at least {min_items} items")
        )
    items = schema.get("items")
    if isinstance(items, dict):
        for i, v in enumerate(value):
            _validate(items, v, f"{path}[{i}]", out)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set" or schema.get("uniqueItems"):
        seen: list[Any] = []
        for i, v in enumerate(value):
            if v in seen:
                out.append(Cause(f"{path}[{i}]", "FieldValueDuplicate", f"Duplicate value: {go_repr(v)}"))
            seen.append(v)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen_keys: list[tuple[Any, ...]] = []
        for i, v in enumerate(value):
            if isinstance(v, dict):
                k = tuple(v.get(key) for key in keys)
                if k in seen_keys:
                    out.append(
                        Cause(
                            f"{path}[{i}]",
                            "FieldValueDuplicate",
                            "Duplicate value: map[string]interface {}{"
                            + ", ".join(f'"{kk}":{go_repr(v.get(kk))}' for kk in keys)
                            + "}",
                        )
                    )
                seen_keys.append(k)


def _check_object(schema: JSON, value: JSON, path: str, out: list[Cause], *, root: bool) -> None:
    props = _props(schema)
    for req in schema.get("required") or []:
        if req not in value:
            out.append(errors.required(f"{path}.{req}" if path else req))
    for k, v in value.items():
        if root and k in _ROOT_KEEP:
            continue
        sub = props.get(k)
        child = f"{path}.{k}" if path else k
        if sub is not None:
            _validate(sub, v, child, out)
        elif isinstance(schema.get("additionalProperties"), dict):
            _validate(schema["additionalProperties"], v, child, out)
    max_p, min_p = schema.get("maxProperties"), schema.get("minProperties")
    field = path or "<root>"
    if max_p is not None and len(value) > max_p:
        out.append(
            Cause(field, "FieldValueTooMany", f"Too many: {len(value)}: must have at most {max_p} items")
        )
    if min_p is not None and len(value) < min_p:
        out.append(
            errors.invalid_value(
                field, len(value), f"{field} in body should have at least {min_p} properties"
            )
        )


def unknown_fields(schema: JSON | None, value: Any, path: str = "") -> list[str]:
    """Paths of fields the schema would prune (for ``fieldValidation=Strict``/``Warn``)."""
    if schema is None:
        return []
    out: list[str] = []
    if isinstance(value, dict):
        props = _props(schema)
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        for k, v in value.items():
            child = f"{path}.{k}" if path else k
            if not path and k in _ROOT_KEEP:
                continue
            if k in props:
                out.extend(unknown_fields(props[k], v, child))
            elif isinstance(additional, dict):
                out.extend(unknown_fields(additional, v, child))
            elif not (additional is True or preserve):
                out.append(child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            out.extend(unknown_fields(schema["items"], v, f"{path}[{i}]"))
    return out


def list_merge_keys(schema: JSON | None, path: str = "") -> dict[str, str]:
    """``x-kubernetes-list-type`` map/set lists of a schema as ResourceType.merge_keys entries."""
    out: dict[str, str] = {}
    if not isinstance(schema, dict):
        return out
    for k, sub in _props(schema).items():
        if isinstance(sub, dict):
            out.update(list_merge_keys(sub, f"{path}.{k}" if path else k))
    if schema.get("type") == "array" or "items" in schema:
        lt = schema.get("x-kubernetes-list-type")
        if lt == "map":
            out[path] = ",".join(schema.get("x-kubernetes-list-map-keys") or [])
        elif lt == "set":
            out[path] = ""
        items = schema.get("items")
        if isinstance(items, dict):
            out.update(list_merge_keys(items, path + "[]"))
    add = schema.get("additionalProperties")
    if isinstance(add, dict):
        out.update(list_merge_keys(add, path + ".*"))
    return out
