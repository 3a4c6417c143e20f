"""Field error rendering, the schema checker, and the Kubernetes schema derivation."""

from __future__ import annotations

from typing import Any

import pytest

from grove.api import k8s_schema as ks
from grove.api.duration import parse_duration
from grove.api.errors import (
    ErrorType,
    GroveValidationError,
    Path,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    render_errors,
    required,
    too_long,
)
from grove.api.schema_check import check_schema


def test_errors_render_like_go_field_errors() -> None:
    p = Path("spec").child("template").child("cliques").index(0).child("labels").key("a/b")
    assert str(p) == "spec.template.cliques[0].labels[a/b]"
    assert str(required("spec.x")) == "spec.x: Required value"
    assert str(required("spec.x", "at least one")) == "spec.x: Required value: at least one"
    assert str(invalid("spec.n", 3, "must be positive")) == "spec.n: Invalid value: 3: must be positive"
    assert str(invalid("spec.b", True, "no")) == "spec.b: Invalid value: true: no"
    assert str(invalid("spec.s", None, "no")) == "spec.s: Invalid value: null: no"
    assert str(invalid("spec.l", ["a"], "no")) == 'spec.l: Invalid value: ["a"]: no'
    assert str(duplicate("spec.x[1]", "a")) == 'spec.x[1]: Duplicate value: "a"'
    assert (
        str(not_supported("spec.t", "X", ["A", "B"]))
        == 'spec.t: Unsupported value: "X": supported values: "A", "B"'
    )
    assert str(forbidden("spec.f", "not allowed")) == "spec.f: Forbidden: not allowed"
    assert (
        str(too_long("spec.n", "may not be more than 63 bytes"))
        == "spec.n: Too long: may not be more than 63 bytes"
    )
    assert invalid("spec.n", 3, "bad").to_cause() == {
        "reason": "FieldValueInvalid",
        "message": "Invalid value: 3: bad",
        "field": "spec.n",
    }
    assert render_errors([required("a"), required("b")]) == "a: Required value\nb: Required value"


def test_validation_error_message_lists_every_error() -> None:
    exc = GroveValidationError([required("a"), required("b")], "PodCliqueSet", "x")
    assert str(exc) == 'PodCliqueSet "x" is invalid: [a: Required value, b: Required value]'
    assert [e.type for e in exc.errors] == [ErrorType.REQUIRED, ErrorType.REQUIRED]


SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 5, "pattern": "^[a-z]+$"},
        "mode": {"type": "string", "enum": ["A", "B"]},
        "count": {"type": "integer", "minimum": 1},
        "ratio": {"type": "number"},
        "tags": {
            "type": "array",
            "items": {"type": "string"},
            "x-kubernetes-list-type": "set",
            "minItems": 1,
        },
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"name": "ab", "ratio": 1, "raw": {"x": {"y": 1}}, "count": None}, []),
        ({}, [(ErrorType.REQUIRED, "name")]),
        ({"name": "toolong"}, [(ErrorType.TOO_LONG, "name")]),
        ({"name": "A1"}, [(ErrorType.INVALID, "name")]),
        ({"name": "a", "mode": "C"}, [(ErrorType.NOT_SUPPORTED, "mode")]),
        ({"name": "a", "count": 0}, [(ErrorType.INVALID, "count")]),
        ({"name": "a", "count": 1.5}, [(ErrorType.INVALID, "count")]),
        ({"name": "a", "count": 2.0}, []),
        ({"name": "a", "tags": []}, [(ErrorType.INVALID, "tags")]),
        ({"name": "a", "tags": ["x", "x"]}, [(ErrorType.DUPLICATE, "tags[1]")]),
        ({"name": "a", "env": {"k": 1}}, [(ErrorType.INVALID, "env[k]")]),
        ({"name": "a", "other": 1}, [(ErrorType.FORBIDDEN, "other")]),
        ([], [(ErrorType.INVALID, "")]),
    ],
)
def test_schema_checker(value: Any, expected: list[tuple[ErrorType, str]]) -> None:
    assert [(e.type, e.path) for e in check_schema(value, SCHEMA, Path())] == expected


def test_durations() -> None:
    assert parse_duration("4h") == 14400
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("250ms") == 0.25
    assert parse_duration("0") == 0
    assert parse_duration("-1m") == -60
    assert parse_duration("4") is None
    assert parse_duration("1d") is None
    assert parse_duration("") is None


def test_podspec_schema_is_derived_from_the_client_metadata() -> None:
    schema = ks.k8s_schema("V1PodSpec")
    assert schema["required"] == ["containers"]
    container = schema["properties"]["containers"]["items"]
    assert container["required"] == ["name"]
    assert container["properties"]["env"]["x-kubernetes-list-map-keys"] == ["name"]
    assert schema["properties"]["nodeSelector"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": schema["properties"]["nodeSelector"]["description"],
    }
    assert "NodeSelector" in schema["properties"]["nodeSelector"]["description"]
    template = schema["properties"]["volumes"]["items"]["properties"]["ephemeral"]["properties"][
        "volumeClaimTemplate"
    ]
    assert set(template["properties"]["metadata"]["properties"]) == {
        "annotations",
        "finalizers",
        "labels",
        "name",
        "namespace",
    }
    assert ks.k8s_schema("V1PodSpec") is not ks.k8s_schema("V1PodSpec")


def test_supplement_tables_name_real_client_fields() -> None:
    tables: list[tuple[str, str]] = [
        *ks._QUANTITY_FIELDS,
        *ks._INT_OR_STRING_FIELDS,
        *ks._RAW_EXTENSION_FIELDS,
        *ks._LIST_MAP_KEYS,
        *ks._FIELD_DEFAULTS,
    ]
    for cls_name, attr in tables:
        assert attr in ks.model_class(cls_name).openapi_types, f"{cls_name}.{attr}"
    for (cls_name, attr), keys in ks._LIST_MAP_KEYS.items():
        type_str = ks.model_class(cls_name).openapi_types[attr]
        assert type_str.startswith("list[")
        item = ks.model_class(type_str[5:-1])
        assert set(keys) <= set(item.attribute_map.values())


def test_unknown_kubernetes_types_are_reported() -> None:
    with pytest.raises(KeyError):
        ks.model_class("V1NoSuchThing")


def test_list_map_key_of_the_wrong_type_is_a_type_error_not_a_crash() -> None:
    schema = ks.shared_k8s_schema("V1PodSpec")
    errors = check_schema({"containers": [{"name": ["a"]}, {"name": ["a"]}]}, schema, Path("podSpec"))
    assert [(e.type, e.path) for e in errors] == [
        (ErrorType.INVALID, "podSpec.containers[0].name"),
        (ErrorType.INVALID, "podSpec.containers[1].name"),
    ]
