"""Deletion: finalizers, deletionTimestamp, propagation policies, garbage collection, namespaces."""

from __future__ import annotations

import uuid
from typing import Any

from conformance_helpers import pod

CM = "/api/v1/namespaces/{ns}/configmaps"
MERGE = "application/merge-patch+json"


def owner_ref(obj: dict[str, Any], *, block: bool = False, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind", "ConfigMap"),
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": block,
    }


async def _exists(raw: Any, path: str) -> bool:
    status, _, _ = await raw.request("GET", path)
    return bool(status == 200)


async def test_finalizer_keeps_object_until_removed(raw: Any, namespace: str, wait_for: Any) -> None:
    path = CM.format(ns=namespace)
    await raw.ok("POST", path, {"metadata": {"name": "f", "finalizers": ["example.com/hold"]}})
    deleted = await raw.ok("DELETE", f"{path}/f")
    assert deleted["metadata"]["deletionTimestamp"]
    got = await raw.ok("GET", f"{path}/f")
    assert got["metadata"]["deletionTimestamp"] and got["metadata"]["finalizers"] == ["example.com/hold"]
    status, _, _ = await raw.request(
        "PATCH",
        f"{path}/f",
        {"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}},
        content_type=MERGE,
    )
    assert status == 422, "no new finalizers while deleting"
    await raw.ok("PATCH", f"{path}/f", {"metadata": {"finalizers": None}}, content_type=MERGE)
    assert not await _exists(raw, f"{path}/f")


async def test_background_gc_deletes_dependents(raw: Any, namespace: str, wait_for: Any) -> None:
    path = CM.format(ns=namespace)
    owner = await raw.ok("POST", path, {"metadata": {"name": "owner"}})
    await raw.ok("POST", path, {"metadata": {"name": "dep", "ownerReferences": [owner_ref(owner)]}})
    await raw.ok("DELETE", f"{path}/owner")
    assert not await _exists(raw, f"{path}/owner")
    await wait_for(lambda: _gone(raw, f"{path}/dep"), message="dependent collected")


async def _gone(raw: Any, path: str) -> bool:
    return not await _exists(raw, path)


async def test_orphan_keeps_dependents_and_drops_owner_reference(
    raw: Any, namespace: str, wait_for: Any
) -> None:
    path = CM.format(ns=namespace)
    owner = await raw.ok("POST", path, {"metadata": {"name": "owner"}})
    await raw.ok("POST", path, {"metadata": {"name": "dep", "ownerReferences": [owner_ref(owner)]}})
    await raw.ok("DELETE", f"{path}/owner", {"propagationPolicy": "Orphan"})
    await wait_for(lambda: _gone(raw, f"{path}/owner"), message="owner deleted after orphaning")

    async def orphaned() -> bool:
        dep = await raw.ok("GET", f"{path}/dep")
        return not dep["metadata"].get("ownerReferences")

    await wait_for(orphaned, message="owner reference removed")


async def test_foreground_waits_for_blocking_dependents(raw: Any, namespace: str, wait_for: Any) -> None:
    path = CM.format(ns=namespace)
    owner = await raw.ok("POST", path, {"metadata": {"name": "owner"}})
    await raw.ok(
        "POST",
        path,
        {
            "metadata": {
                "name": "dep",
                "finalizers": ["example.com/hold"],
                "ownerReferences": [owner_ref(owner, block=True)],
            }
        },
    )
    deleted = await raw.ok("DELETE", f"{path}/owner", {"propagationPolicy": "Foreground"})
    assert "foregroundDeletion" in deleted["metadata"]["finalizers"]

    async def dep_terminating() -> bool:
        dep = await raw.ok("GET", f"{path}/dep")
        return bool(dep["metadata"].get("deletionTimestamp"))

    await wait_for(dep_terminating, message="dependent deleted by the GC")
    assert await _exists(raw, f"{path}/owner"), "owner waits for its blocking dependent"
    await raw.ok("PATCH", f"{path}/dep", {"metadata": {"finalizers": None}}, content_type=MERGE)
    await wait_for(lambda: _gone(raw, f"{path}/owner"), message="owner removed once dependents are gone")


async def test_dependent_with_another_live_owner_survives(raw: Any, namespace: str, wait_for: Any) -> None:
    path = CM.format(ns=namespace)
    a = await raw.ok("POST", path, {"metadata": {"name": "a"}})
    b = await raw.ok("POST", path, {"metadata": {"name": "b"}})
    refs = [owner_ref(a), owner_ref(b, controller=False)]
    await raw.ok("POST", path, {"metadata": {"name": "dep", "ownerReferences": refs}})
    await raw.ok("DELETE", f"{path}/a")

    async def only_b() -> bool:
        dep = await raw.ok("GET", f"{path}/dep")
        return [r["name"] for r in dep["metadata"].get("ownerReferences", [])] == ["b"]

    await wait_for(only_b, message="dangling reference removed, dependent kept")


async def test_dependent_of_missing_owner_is_collected(raw: Any, namespace: str, wait_for: Any) -> None:
    path = CM.format(ns=namespace)
    ghost = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ghost", "uid": "00000000-0000-0000-0000-000000000001"},
    }
    await raw.ok("POST", path, {"metadata": {"name": "dep", "ownerReferences": [owner_ref(ghost)]}})
    await wait_for(lambda: _gone(raw, f"{path}/dep"), message="dependent of a missing owner collected")


async def test_dependent_created_after_its_owner_was_deleted_is_collected(
    raw: Any, namespace: str, wait_for: Any
) -> None:
    # A controller acting on a stale cache creates children for an owner already deleted; the garbage
    # collector removes them, also when a new object of the owner's name (another UID) exists by then.
    path = CM.format(ns=namespace)
    first = await raw.ok("POST", path, {"metadata": {"name": "owner"}})
    await raw.ok("DELETE", f"{path}/owner")
    await raw.ok(
        "POST", path, {"metadata": {"name": "late", "ownerReferences": [owner_ref(first, block=True)]}}
    )
    await wait_for(lambda: _gone(raw, f"{path}/late"), message="dependent of a deleted owner collected")
    second = await raw.ok("POST", path, {"metadata": {"name": "owner"}})
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    await raw.ok("POST", path, {"metadata": {"name": "stale", "ownerReferences": [owner_ref(first)]}})
    await raw.ok("POST", path, {"metadata": {"name": "current", "ownerReferences": [owner_ref(second)]}})
    await wait_for(
        lambda: _gone(raw, f"{path}/stale"), message="dependent of an earlier incarnation collected"
    )
    assert await _exists(raw, f"{path}/current") and await _exists(raw, f"{path}/owner")


async def test_delete_precondition_uid(raw: Any, namespace: str) -> None:
    path = CM.format(ns=namespace)
    await raw.ok("POST", path, {"metadata": {"name": "c"}})
    status, body, _ = await raw.request("DELETE", f"{path}/c", {"preconditions": {"uid": "wrong"}})
    assert status == 409 and body["reason"] == "Conflict"


async def test_delete_returns_status_for_configmap_and_object_for_pod(raw: Any, namespace: str) -> None:
    path = CM.format(ns=namespace)
    await raw.ok("POST", path, {"metadata": {"name": "c"}})
    body = await raw.ok("DELETE", f"{path}/c")
    assert body["kind"] == "Status" and body["status"] == "Success"
    ppath = f"/api/v1/namespaces/{namespace}/pods"
    await raw.ok("POST", ppath, pod("p"))
    body = await raw.ok("DELETE", f"{ppath}/p")
    assert body["kind"] == "Pod"


async def test_unbound_pod_is_deleted_at_once(raw: Any, namespace: str) -> None:
    ppath = f"/api/v1/namespaces/{namespace}/pods"
    await raw.ok("POST", ppath, pod("p"))
    await raw.ok("DELETE", f"{ppath}/p")
    assert not await _exists(raw, f"{ppath}/p")


async def test_bound_pod_stays_terminating_until_kubelet_confirms(raw: Any, namespace: str) -> None:
    ppath = f"/api/v1/namespaces/{namespace}/pods"
    await raw.ok("POST", ppath, pod("p"))
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "p"},
        "target": {"kind": "Node", "name": "n1"},
    }
    await raw.ok("POST", f"{ppath}/p/binding", binding)
    deleted = await raw.ok("DELETE", f"{ppath}/p")
    assert deleted["metadata"]["deletionGracePeriodSeconds"] == 30
    assert (await raw.ok("GET", f"{ppath}/p"))["metadata"]["deletionTimestamp"]
    await raw.ok("DELETE", f"{ppath}/p", {"gracePeriodSeconds": 0})
    assert not await _exists(raw, f"{ppath}/p")


async def test_binding_sets_node_and_condition(raw: Any, namespace: str) -> None:
    ppath = f"/api/v1/namespaces/{namespace}/pods"
    # A scheduler nobody runs: a real kube-scheduler would race the test's own binding.
    await raw.ok("POST", ppath, pod("p", spec={"schedulerName": "nobody-schedules-this"}))
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "p"},
        "target": {"kind": "Node", "name": "n1"},
    }
    status, body, _ = await raw.request("POST", f"{ppath}/p/binding", binding)
    assert status == 201 and body["status"] == "Success"
    got = await raw.ok("GET", f"{ppath}/p")
    assert got["spec"]["nodeName"] == "n1"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in got["status"]["conditions"])
    status, body, _ = await raw.request("POST", f"{ppath}/p/binding", binding)
    assert status == 409
    await raw.ok("DELETE", f"{ppath}/p", {"gracePeriodSeconds": 0})


async def test_deleting_namespace_removes_its_content(raw: Any, wait_for: Any) -> None:
    name = f"t-del-{uuid.uuid4().hex[:8]}"
    await raw.ok("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    path = CM.format(ns=name)
    await raw.ok("POST", path, {"metadata": {"name": "c"}})
    await raw.ok("POST", path, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    ns = await raw.ok("DELETE", f"/api/v1/namespaces/{name}")
    assert ns["status"]["phase"] == "Terminating"
    status, body, _ = await raw.request("POST", path, {"metadata": {"name": "d"}})
    assert status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        f'configmaps "d" is forbidden: unable to create new content in namespace {name} '
        "because it is being terminated"
    )
    assert body["details"]["causes"] == [
        {
            "reason": "NamespaceTerminating",
            "message": f"namespace {name} is being terminated",
            "field": "metadata.namespace",
        }
    ]
    await wait_for(lambda: _gone(raw, f"{path}/c"), message="content deleted")

    async def held_terminating() -> bool:
        held = await raw.ok("GET", f"{path}/held")
        return bool(held["metadata"].get("deletionTimestamp"))

    await wait_for(held_terminating, message="finalized content marked for deletion")
    assert await _exists(raw, f"/api/v1/namespaces/{name}"), "namespace waits for its content"
    await raw.ok("PATCH", f"{path}/held", {"metadata": {"finalizers": None}}, content_type=MERGE)
    await wait_for(lambda: _gone(raw, f"/api/v1/namespaces/{name}"), timeout=30, message="namespace removed")


async def test_pod_gc_deletes_pods_of_missing_nodes(
    cluster: Any, raw: Any, namespace: str, wait_for: Any
) -> None:
    if cluster.dev is None:
        # kube-controller-manager's pod GC: a pod bound to a Node that no longer exists is deleted once the
        # Node has been missing for its quarantine (40 s), checked every 20 s.
        node = f"gone-{namespace}"
        await raw.ok("POST", "/api/v1/nodes", {"metadata": {"name": node}})
        ppath = f"/api/v1/namespaces/{namespace}/pods"
        await raw.ok("POST", ppath, pod("p"))
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}}
        await raw.ok("POST", f"{ppath}/p/binding", {**binding, "target": {"kind": "Node", "name": node}})
        await raw.ok("DELETE", f"{ppath}/p")
        assert (await raw.ok("GET", f"{ppath}/p"))["metadata"]["deletionTimestamp"]
        await raw.ok("DELETE", f"/api/v1/nodes/{node}")
        await wait_for(
            lambda: _gone(raw, f"{ppath}/p"),
            timeout=120,
            interval=1.0,
            message="pod of a deleted node collected",
        )
        return
    from grove.devcluster import DevCluster

    cluster = DevCluster(pod_gc_quarantine=0.05)
    await cluster.start()
    try:
        store = cluster.store
        store.create("nodes", {"metadata": {"name": "n1"}})
        store.create("pods", pod("p"), "default")
        store.bind_pod("p", "default", {"target": {"kind": "Node", "name": "n1"}})
        store.delete("pods", "p", "default")
        assert store.get("pods", "p", "default")["metadata"]["deletionTimestamp"]
        store.delete("nodes", "n1")

        def gone() -> bool:
            return store.by_key("pods", "p", "default") is None

        await wait_for(gone, message="pod of a deleted node collected")
    finally:
        await cluster.stop()
