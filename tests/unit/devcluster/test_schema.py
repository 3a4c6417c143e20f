"""CRD structural schemas: defaults, pruning, validation."""

from __future__ import annotations

from grove.devcluster.schema import default_and_prune, list_merge_keys, unknown_fields, validate

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "maxLength": 5, "pattern": "^[a-z]+$"},
                "replicas": {"type": "integer", "minimum": 0, "default": 1},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "port": {"x-kubernetes-int-or-string": True},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "size": {"type": "integer", "default": 2}},
                    },
                },
            },
        }
    },
}


def test_defaults_and_pruning() -> None:
    obj = {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "n"},
        "spec": {"name": "a", "junk": 1, "free": {"any": 1}, "items": [{"name": "i"}]},
        "top": 1,
    }
    out = default_and_prune(SCHEMA, obj)
    assert out["spec"] == {
        "name": "a",
        "free": {"any": 1},
        "items": [{"name": "i", "size": 2}],
        "replicas": 1,
    }
    assert "top" not in out and out["metadata"] == {"name": "n"}
    assert unknown_fields(SCHEMA, obj) == ["spec.junk", "top"]


def test_validation_messages() -> None:
    causes = validate(SCHEMA, {"spec": {"name": "TOOLONG", "replicas": -1, "mode": "c", "port": 1.5}})
    by_field: dict[str, str] = {}
    for c in causes:
        by_field[c.field] = by_field.get(c.field, "") + c.message + "; "
    assert "Too long" in by_field["spec.name"] and "should match" in by_field["spec.name"]
    assert "should be greater than or equal to 0" in by_field["spec.replicas"]
    assert by_field["spec.mode"] == 'Unsupported value: "c": supported values: "a", "b"; '
    assert "integer,string" in by_field["spec.port"]
    assert [c.field for c in validate(SCHEMA, {"spec": {}})] == ["spec.name"]


def test_type_errors_show_the_value_and_its_json_type() -> None:
    (null,) = validate(SCHEMA, {"spec": {"name": None}})
    assert null.message == 'Invalid value: "null": spec.name in body must be of type string: "null"'
    (obj,) = validate(SCHEMA, {"spec": {"name": "a", "replicas": {"x": 1}}})
    assert obj.message == 'Invalid value: "object": spec.replicas in body must be of type integer: "object"'
    assert validate(SCHEMA, {"spec": {"name": "a", "replicas": 2.0}}) == []
    assert validate(SCHEMA, {"spec": {"name": "ab", "port": "http", "labels": {"a": "b"}}}) == []
    dup = validate(SCHEMA, {"spec": {"name": "ab", "items": [{"name": "x"}, {"name": "x"}]}})
    assert dup and dup[0].reason == "FieldValueDuplicate"


def test_list_merge_keys() -> None:
    assert list_merge_keys(SCHEMA) == {"spec.items": "name"}
