"""Merge patch, JSON patch and strategic merge patch."""

from __future__ import annotations

from typing import Any

import pytest

from grove.devcluster.builtins import POD_MERGE_KEYS
from grove.devcluster.errors import ApiError
from grove.devcluster.patch import json_patch, merge_patch, strategic_merge_patch
from grove.devcluster.resources import ResourceType


def test_merge_patch_rfc7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "l": [3], "n": {"x": None, "y": 1}}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "l": [3], "n": {"y": 1}}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}, "input untouched"


def test_json_patch_operations() -> None:
    doc = {"a": {"b": [1, 2]}, "c": 1}
    ops = [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "add", "path": "/a/b/0", "value": 0},
        {"op": "replace", "path": "/c", "value": 2},
        {"op": "move", "from": "/c", "path": "/d"},
        {"op": "copy", "from": "/d", "path": "/e"},
        {"op": "remove", "path": "/a/b/1"},
        {"op": "add", "path": "/x~1y", "value": True},
    ]
    assert json_patch(doc, ops) == {"a": {"b": [0, 2, 3]}, "d": 2, "e": 2, "x/y": True}
    assert doc == {"a": {"b": [1, 2]}, "c": 1}
    with pytest.raises(ApiError) as exc:
        json_patch(doc, [{"op": "test", "path": "/c", "value": 5}])
    assert exc.value.code == 422
    with pytest.raises(ApiError):
        json_patch(doc, [{"op": "remove", "path": "/nope"}])


POD = ResourceType("", "v1", "Pod", "pods", "pod", True, merge_keys=POD_MERGE_KEYS)


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "finalizers": ["a"]}, "spec": spec}


def test_smp_merges_lists_by_key() -> None:
    cur = pod(
        containers=[
            {"name": "a", "image": "1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "1"},
        ]
    )
    out = strategic_merge_patch(
        cur,
        {
            "spec": {
                "containers": [
                    {"name": "a", "env": [{"name": "Y", "value": "2"}]},
                    {"name": "c", "image": "3"},
                ]
            }
        },
        POD,
    )
    containers = out["spec"]["containers"]
    assert [c["name"] for c in containers] == ["a", "b", "c"]
    assert containers[0]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]


def test_smp_directives() -> None:
    cur = pod(
        containers=[{"name": "a", "image": "1"}, {"name": "b", "image": "1"}], tolerations=[{"key": "x"}]
    )
    out = strategic_merge_patch(cur, {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}, POD)
    assert [c["name"] for c in out["spec"]["containers"]] == ["b"]
    out = strategic_merge_patch(cur, {"spec": {"tolerations": [{"key": "y"}]}}, POD)
    assert out["spec"]["tolerations"] == [{"key": "y"}], "lists without a merge key are replaced"
    out = strategic_merge_patch(cur, {"metadata": {"finalizers": ["b"]}}, POD)
    assert out["metadata"]["finalizers"] == ["a", "b"], "finalizers merge as a set"
    out = strategic_merge_patch(cur, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, POD)
    assert out["metadata"]["finalizers"] == []
    out = strategic_merge_patch(
        cur,
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "a", "image": "2"}],
            }
        },
        POD,
    )
    assert [(c["name"], c["image"]) for c in out["spec"]["containers"]] == [("b", "1"), ("a", "2")]
    out = strategic_merge_patch(
        cur, {"spec": {"$patch": "replace", "containers": [{"name": "z", "image": "9"}]}}, POD
    )
    assert out["spec"] == {"containers": [{"name": "z", "image": "9"}]}
    out = strategic_merge_patch(
        pod(volumes=[{"name": "v", "emptyDir": {}}]),
        {
            "spec": {
                "volumes": [{"name": "v", "hostPath": {"path": "/x"}, "$retainKeys": ["name", "hostPath"]}]
            }
        },
        POD,
    )
    assert out["spec"]["volumes"] == [{"name": "v", "hostPath": {"path": "/x"}}]
