"""Store: keys, namespace/owner/custom indexes kept in step with upserts, deletes and atomic replace."""

from __future__ import annotations

from typing import Any

import pytest

from grove.runtime.cache import (
    CONTROLLER_UID_INDEX,
    NAMESPACE_INDEX,
    DeletedFinalStateUnknown,
    Store,
    index_by_label,
    unwrap_tombstone,
)
from grove.runtime.meta import controller_owner, mutable_copy, object_key, owner_reference, split_key


def pod(name: str, ns: str = "ns", owner_uid: str | None = None, **labels: str) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": ns, "uid": f"uid-{name}", "labels": labels}
    if owner_uid:
        md["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": "other", "controller": False},
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "rs",
                "uid": owner_uid,
                "controller": True,
            },
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md}


def test_keys_namespaced_and_cluster_scoped() -> None:
    assert object_key(pod("a")) == "ns/a"
    assert object_key({"metadata": {"name": "node-1"}}) == "node-1"
    assert split_key("ns/a") == ("ns", "a")
    assert split_key("node-1") == ("", "node-1")
    with pytest.raises(ValueError, match=r"metadata\.name"):
        object_key({"metadata": {}})


def test_upsert_get_delete_and_namespace_index() -> None:
    store = Store()
    assert store.upsert(pod("a")) is None
    store.upsert(pod("b", ns="other"))
    assert len(store) == 2
    assert store.get("ns/a") is not None
    assert store.get_by_name("other", "b") is not None
    assert {o["metadata"]["name"] for o in store.list(namespace="ns")} == {"a"}
    assert store.by_index(NAMESPACE_INDEX, "other")[0]["metadata"]["name"] == "b"
    old = store.delete("ns/a")
    assert old is not None and old["metadata"]["name"] == "a"
    assert store.by_index(NAMESPACE_INDEX, "ns") == []
    assert store.index_values(NAMESPACE_INDEX) == ["other"]
    assert store.delete("ns/a") is None


def test_controller_owner_index_follows_updates() -> None:
    store = Store()
    store.upsert(pod("a", owner_uid="rs1"))
    store.upsert(pod("b", owner_uid="rs1"))
    assert sorted(store.index_keys(CONTROLLER_UID_INDEX, "rs1")) == ["ns/a", "ns/b"]
    assert store.by_index(CONTROLLER_UID_INDEX, "other") == []  # non-controller refs are not indexed
    store.upsert(pod("a", owner_uid="rs2"))
    assert store.index_keys(CONTROLLER_UID_INDEX, "rs1") == ["ns/b"]
    assert store.index_keys(CONTROLLER_UID_INDEX, "rs2") == ["ns/a"]
    store.upsert(pod("a"))
    assert store.index_keys(CONTROLLER_UID_INDEX, "rs2") == []


def test_custom_index_added_later_files_existing_objects() -> None:
    store = Store()
    store.upsert(pod("a", app="web"))
    store.upsert(pod("b", app="db"))
    store.upsert(pod("c"))
    by_app = index_by_label("app")
    store.add_indexers({"app": by_app})
    store.add_indexers({"app": by_app})  # same function again: fine
    assert [o["metadata"]["name"] for o in store.by_index("app", "web")] == ["a"]
    store.upsert(pod("c", app="web"))
    assert sorted(store.index_keys("app", "web")) == ["ns/a", "ns/c"]
    with pytest.raises(ValueError, match=r"indexers\.app"):
        store.add_indexers({"app": index_by_label("other")})
    with pytest.raises(KeyError, match="nope"):
        store.by_index("nope", "x")


def test_list_filters_by_labels() -> None:
    store = Store()
    store.upsert(pod("a", app="web", tier="fe"))
    store.upsert(pod("b", app="web"))
    names = {o["metadata"]["name"] for o in store.list(labels={"app": "web", "tier": "fe"})}
    assert names == {"a"}
    assert len(store.list(namespace="ns", labels={"app": "web"})) == 2


def test_replace_is_atomic_and_rebuilds_indexes() -> None:
    store = Store()
    store.upsert(pod("a", owner_uid="rs1"))
    store.upsert(pod("b", owner_uid="rs1"))
    previous = store.replace([pod("b", owner_uid="rs2"), pod("c")])
    assert set(previous) == {"ns/a", "ns/b"}
    assert set(store.keys()) == {"ns/b", "ns/c"}
    assert store.index_keys(CONTROLLER_UID_INDEX, "rs1") == []
    assert store.index_keys(CONTROLLER_UID_INDEX, "rs2") == ["ns/b"]


def test_tombstone_unwrap_and_mutable_copy() -> None:
    obj = pod("a", app="web")
    assert unwrap_tombstone(DeletedFinalStateUnknown("ns/a", obj)) is obj
    assert unwrap_tombstone(obj) is obj
    copy = mutable_copy(obj)
    copy["metadata"]["labels"]["app"] = "changed"
    assert obj["metadata"]["labels"]["app"] == "web"


def test_owner_reference_helpers() -> None:
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "uid": "u1"}}
    ref = owner_reference(owner)
    assert ref == {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "rs",
        "uid": "u1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert controller_owner(pod("a", owner_uid="u1")) is not None
    assert controller_owner(pod("a")) is None
    with pytest.raises(ValueError, match=r"owner\.metadata\.uid"):
        owner_reference({"apiVersion": "v1", "kind": "X", "metadata": {"name": "n"}})
