"""Check a JSON value against a structural OpenAPI v3 schema, the way the API server checks a custom resource.

Supports the subset that CRD schemas use: ``type``, ``properties``, ``required``, ``additionalProperties``,
``items``, ``enum``, ``pattern``, ``minimum``, ``minLength``/``maxLength``, ``minItems``,
``x-kubernetes-int-or-string``, ``x-kubernetes-preserve-unknown-fields`` and list-map key uniqueness.
Unknown fields are reported (as with ``kubectl``'s default strict field validation); ``null`` for an
optional field counts as absent, as the API server prunes it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from grove.api.errors import (
    FieldError,
    Path,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    too_long,
)

__all__ = ["check_schema", "json_type_matches", "json_type_name"]


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def json_type_name(value: Any) -> str:
    """The JSON type of a decoded value, as OpenAPI names it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


def json_type_matches(expected: str, value: Any) -> bool:
    """Whether ``value`` is of OpenAPI type ``expected``: an integer is a number, and a number with no
    fraction (``2.0``) is an integer, as kube-openapi's validator has it."""
    actual = json_type_name(value)
    if expected == "number":
        return actual in ("integer", "number")
    if expected == "integer" and isinstance(value, float):
        return value.is_integer()
    return actual == expected


def check_schema(value: Any, schema: dict[str, Any], path: Path) -> list[FieldError]:
    """Every way ``value`` breaks ``schema``; ``path`` names ``value`` in the messages."""
    errors: list[FieldError] = []
    _check(value, schema, path, errors)
    return errors


def _check(value: Any, schema: dict[str, Any], path: Path, errors: list[FieldError]) -> None:
    if schema.get("x-kubernetes-int-or-string"):
        if json_type_name(value) not in ("integer", "string"):
            errors.append(invalid(path, json_type_name(value), "must be an integer or a string"))
        elif isinstance(value, str) and "pattern" in schema and not _regex(schema["pattern"]).match(value):
            errors.append(invalid(path, value, f"must match the regular expression {schema['pattern']!r}"))
        return
    expected = schema.get("type")
    if expected is None:
        return
    if not json_type_matches(expected, value):
        errors.append(invalid(path, json_type_name(value), f"must be of type {expected}"))
        return
    if expected == "object":
        _check_object(value, schema, path, errors)
    elif expected == "array":
        _check_array(value, schema, path, errors)
    else:
        _check_scalar(value, schema, path, errors)


def _check_object(
    value: dict[str, Any], schema: dict[str, Any], path: Path, errors: list[FieldError]
) -> None:
    properties: dict[str, Any] | None = schema.get("properties")
    for name in schema.get("required", ()):
        if value.get(name) is None:
            errors.append(required(path.child(name)))
    additional = schema.get("additionalProperties")
    for key, item in value.items():
        if item is None:
            continue
        if properties is not None and key in properties:
            _check(item, properties[key], path.child(key), errors)
        elif isinstance(additional, dict):
            _check(item, additional, path.key(key), errors)
        elif not schema.get("x-kubernetes-preserve-unknown-fields") and (
            properties is not None or additional
        ):
            errors.append(forbidden(path.child(key), "unknown field"))


def _check_array(value: list[Any], schema: dict[str, Any], path: Path, errors: list[FieldError]) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(invalid(path, len(value), f"must have at least {schema['minItems']} items"))
    items = schema.get("items")
    if items is not None:
        for i, item in enumerate(value):
            _check(item, items, path.index(i), errors)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        defaults = {k: (items or {}).get("properties", {}).get(k, {}).get("default") for k in keys}
        seen: set[tuple[Any, ...]] = set()
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            ident = tuple(item.get(k, defaults[k]) for k in keys)
            if any(isinstance(v, dict | list) for v in ident):
                continue  # a key of the wrong type is reported by the item's own check
            if ident in seen:
                shown = dict(zip(keys, ident, strict=True)) if len(keys) > 1 else ident[0]
                errors.append(duplicate(path.index(i), shown))
            seen.add(ident)
    elif list_type == "set":
        seen_values: list[Any] = []
        for i, item in enumerate(value):
            if item in seen_values:
                errors.append(duplicate(path.index(i), item))
            seen_values.append(item)


def _check_scalar(value: Any, schema: dict[str, Any], path: Path, errors: list[FieldError]) -> None:
    if "enum" in schema and value not in schema["enum"]:
        errors.append(not_supported(path, value, [str(v) for v in schema["enum"]]))
        return
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(too_long(path, f"may not be more than {schema['maxLength']} bytes"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(invalid(path, value, f"must be at least {schema['minLength']} characters long"))
        if "pattern" in schema and not _regex(schema["pattern"]).search(value):
            errors.append(invalid(path, value, f"must match the regular expression {schema['pattern']!r}"))
    elif "minimum" in schema and value < schema["minimum"]:
        errors.append(invalid(path, value, f"must be greater than or equal to {schema['minimum']}"))
