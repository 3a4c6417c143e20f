"""Server-side apply field ownership."""

from __future__ import annotations

from typing import Any

import pytest

from grove.devcluster.builtins import builtin_types
from grove.devcluster.errors import ApiError
from grove.devcluster.resources import Registry
from grove.devcluster.store import Store


@pytest.fixture
def store() -> Store:
    return Store(Registry(builtin_types()))


def cm(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}


def test_apply_creates_then_updates_and_removes_dropped_fields(store: Store) -> None:
    created = store.patch(
        "configmaps", "c", cm(a="1", b="2"), "default", patch_type="apply", field_manager="m1"
    )
    assert created["data"] == {"a": "1", "b": "2"}
    assert created["metadata"]["managedFields"][0]["operation"] == "Apply"
    updated = store.patch("configmaps", "c", cm(a="1"), "default", patch_type="apply", field_manager="m1")
    assert updated["data"] == {"a": "1"}


def test_apply_conflicts_with_other_manager_unless_forced(store: Store) -> None:
    store.patch("configmaps", "c", cm(a="1"), "default", patch_type="apply", field_manager="m1")
    store.patch(
        "configmaps", "c", {"data": {"a": "2"}}, "default", patch_type="merge", field_manager="editor"
    )
    with pytest.raises(ApiError) as exc:
        store.patch("configmaps", "c", cm(a="3"), "default", patch_type="apply", field_manager="m1")
    assert exc.value.code == 409 and 'conflict with "editor"' in exc.value.message
    out = store.patch(
        "configmaps", "c", cm(a="3"), "default", patch_type="apply", field_manager="m1", force=True
    )
    assert out["data"] == {"a": "3"}
    managers = {m["manager"] for m in out["metadata"]["managedFields"]}
    assert managers == {"m1"}


def test_shared_ownership_keeps_field_when_one_manager_drops_it(store: Store) -> None:
    store.patch("configmaps", "c", cm(a="1"), "default", patch_type="apply", field_manager="m1")
    store.patch("configmaps", "c", cm(a="1"), "default", patch_type="apply", field_manager="m2")
    out = store.patch(
        "configmaps", "c", {**cm(), "data": {}}, "default", patch_type="apply", field_manager="m1"
    )
    assert out["data"] == {"a": "1"}


def test_no_op_apply_does_not_write(store: Store) -> None:
    a = store.patch("configmaps", "c", cm(a="1"), "default", patch_type="apply", field_manager="m1")
    b = store.patch("configmaps", "c", cm(a="1"), "default", patch_type="apply", field_manager="m1")
    assert a["metadata"]["resourceVersion"] == b["metadata"]["resourceVersion"]


def test_apply_list_items_by_key(store: Store) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]},
    }
    store.patch("pods", "p", body, "default", patch_type="apply", field_manager="m1")
    body["spec"]["containers"] = [{"name": "a", "image": "x:2"}, {"name": "b", "image": "y:1"}]
    out = store.patch("pods", "p", body, "default", patch_type="apply", field_manager="m1")
    assert [(c["name"], c["image"]) for c in out["spec"]["containers"]] == [("a", "x:2"), ("b", "y:1")]
