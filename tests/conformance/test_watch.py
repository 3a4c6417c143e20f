"""The watch protocol: events, resourceVersions, selectors, bookmarks, timeouts, 410."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from conformance_helpers import pod
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import watch as k8s_watch

CM = "/api/v1/namespaces/{ns}/configmaps"


async def test_watch_added_modified_deleted(raw: Any, namespace: str) -> None:
    path = CM.format(ns=namespace)
    listed = await raw.ok("GET", path)
    rv = listed["metadata"]["resourceVersion"]

    async def mutate() -> None:
        await raw.ok("POST", path, {"metadata": {"name": "c"}})
        await raw.ok("PATCH", f"{path}/c", {"data": {"a": "1"}}, content_type="application/merge-patch+json")
        await raw.ok("DELETE", f"{path}/c")

    task = asyncio.create_task(mutate())
    events = await raw.watch(path, {"resourceVersion": rv}, count=3)
    await task
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3


async def test_watch_without_resource_version_starts_with_current_state(raw: Any, namespace: str) -> None:
    path = CM.format(ns=namespace)
    for i in range(3):
        await raw.ok("POST", path, {"metadata": {"name": f"c{i}"}})
    events = await raw.watch(path, {}, count=4, timeout=0.5)
    names = sorted(e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED")
    assert [n for n in names if n.startswith("c")] == ["c0", "c1", "c2"]


async def test_list_then_watch_has_no_gaps_or_duplicates(raw: Any, namespace: str) -> None:
    path = CM.format(ns=namespace)
    await raw.ok("POST", path, {"metadata": {"name": "before"}})
    listed = await raw.ok("GET", path)
    await raw.ok("POST", path, {"metadata": {"name": "after"}})
    events = await raw.watch(
        path, {"resourceVersion": listed["metadata"]["resourceVersion"]}, count=2, timeout=0.5
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "after")]


async def test_watch_namespace_comes_from_url(raw: Any, namespace: str) -> None:
    path = CM.format(ns=namespace)
    listed = await raw.ok("GET", path)
    await raw.ok("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"generateName": "other-"}})
    await raw.ok("POST", path, {"metadata": {"name": "mine"}})
    events = await raw.watch(
        path, {"resourceVersion": listed["metadata"]["resourceVersion"]}, count=2, timeout=0.5
    )
    assert [e["object"]["metadata"]["namespace"] for e in events] == [namespace]


async def test_label_selector_transitions_become_added_and_deleted(raw: Any, namespace: str) -> None:
    path = CM.format(ns=namespace)
    await raw.ok("POST", path, {"metadata": {"name": "c", "labels": {"app": "x"}}})
    listed = await raw.ok("GET", path)
    rv = listed["metadata"]["resourceVersion"]

    async def mutate() -> None:
        patch = "application/merge-patch+json"
        await raw.ok("PATCH", f"{path}/c", {"metadata": {"labels": {"app": "y"}}}, content_type=patch)
        await raw.ok("PATCH", f"{path}/c", {"metadata": {"labels": {"app": "x"}}}, content_type=patch)

    task = asyncio.create_task(mutate())
    events = await raw.watch(path, {"resourceVersion": rv, "labelSelector": "app=x"}, count=2)
    await task
    assert [e["type"] for e in events] == ["DELETED", "ADDED"]
    assert events[0]["object"]["metadata"]["labels"] == {"app": "x"}, (
        "DELETED carries the last matching state"
    )


async def test_no_event_for_no_op_update(raw: Any, namespace: str) -> None:
    path = CM.format(ns=namespace)
    created = await raw.ok("POST", path, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    patch = "application/merge-patch+json"
    await raw.ok("PATCH", f"{path}/c", {"data": {"a": "1"}}, content_type=patch)
    await raw.ok("PATCH", f"{path}/c", {"data": {"a": "2"}}, content_type=patch)
    await raw.ok("PATCH", f"{path}/c", {"data": {"a": "3"}}, content_type=patch)
    # Only this object's events (the namespace has other ConfigMaps, such as kube-root-ca.crt); the last
    # write bounds the stream, so a no-op event would show up before it.
    query = {"resourceVersion": created["metadata"]["resourceVersion"], "fieldSelector": "metadata.name=c"}
    events = await raw.watch(path, query, count=2)
    assert [(e["type"], e["object"]["data"]["a"]) for e in events] == [("MODIFIED", "2"), ("MODIFIED", "3")]


async def test_field_selector_on_watch(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    rv = (await raw.ok("GET", path))["metadata"]["resourceVersion"]
    # A scheduler name nobody serves: no scheduler binds the pods, so only the test writes them.
    unscheduled = {"schedulerName": "no-such-scheduler"}
    patch = "application/merge-patch+json"
    await raw.ok("POST", path, pod("a", spec=unscheduled))
    await raw.ok("POST", path, pod("b", spec=unscheduled))
    await raw.ok("PATCH", f"{path}/a", {"metadata": {"labels": {"step": "1"}}}, content_type=patch)
    await raw.ok("PATCH", f"{path}/b", {"metadata": {"labels": {"step": "1"}}}, content_type=patch)
    # The last write bounds the stream: an event of pod a would come before it.
    events = await raw.watch(path, {"resourceVersion": rv, "fieldSelector": "metadata.name=b"}, count=2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("MODIFIED", "b"),
    ]


async def test_watch_timeout_seconds_ends_stream(raw: Any, namespace: str) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    events = await raw.watch(
        CM.format(ns=namespace), {"timeoutSeconds": 1, "resourceVersion": "0"}, count=100, timeout=30
    )
    assert loop.time() - start < 25
    assert all(e["type"] != "ERROR" for e in events)


async def test_bookmarks_carry_resource_version(raw: Any, namespace: str) -> None:
    path = CM.format(ns=namespace)
    rv = (await raw.ok("GET", path))["metadata"]["resourceVersion"]
    events = await raw.watch(
        path, {"resourceVersion": rv, "allowWatchBookmarks": "true"}, count=1, timeout=90
    )
    assert events and events[0]["type"] == "BOOKMARK"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(rv)
    assert events[0]["object"]["kind"] == "ConfigMap"


async def test_send_initial_events_ends_with_annotated_bookmark(raw: Any, namespace: str) -> None:
    path = CM.format(ns=namespace)
    await raw.ok("POST", path, {"metadata": {"name": "c"}})
    events = await raw.watch(
        path,
        {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"},
        count=10,
        timeout=2.0,
    )
    types = [e["type"] for e in events]
    bookmark = events[types.index("BOOKMARK")]
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert "c" in [e["object"]["metadata"]["name"] for e in events[: types.index("BOOKMARK")]]


async def test_kubernetes_asyncio_watch(api_client: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api_client)
    listed = await core.list_namespaced_config_map(namespace)
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    seen = []
    async with k8s_watch.Watch() as w:
        async for ev in w.stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=listed.metadata.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=5,
        ):
            seen.append((ev["type"], ev["object"].metadata.name))
            break
    assert seen == [("ADDED", "c")]


@pytest.mark.devonly
async def test_forced_expiry_gives_410_then_relist_works(raw: Any, dev: Any, namespace: str) -> None:
    path = CM.format(ns=namespace)
    rv = (await raw.ok("GET", path))["metadata"]["resourceVersion"]
    await dev.acall(dev.cluster.faults.expire_next_watch)
    events = await raw.watch(path, {"resourceVersion": rv}, count=1)
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
    events = await raw.watch(path, {"resourceVersion": rv}, count=1, timeout=0.5)
    assert events == []


@pytest.mark.devonly
async def test_history_overflow_gives_410(dev: Any) -> None:
    from grove.devcluster import DevCluster
    from grove.devcluster.errors import ApiError

    small = DevCluster(watch_history=5)
    store = small.store
    rv = str(store.resource_version)
    for i in range(10):
        store.create("configmaps", {"metadata": {"name": f"c{i}"}}, "default")
    with pytest.raises(ApiError) as exc:
        async for _ in store.watch("configmaps", "default", resource_version=rv):
            break
    assert exc.value.code == 410


@pytest.mark.devonly
async def test_dropped_watch_ends_stream(raw: Any, dev: Any, namespace: str) -> None:
    path = CM.format(ns=namespace)
    rv = (await raw.ok("GET", path))["metadata"]["resourceVersion"]
    resp = await raw.open_watch(path, {"resourceVersion": rv})
    try:
        await raw.ok("POST", path, {"metadata": {"name": "c"}})
        async with asyncio.timeout(10):
            assert json.loads(await resp.content.readline())["type"] == "ADDED"
            assert await dev.acall(dev.cluster.faults.drop_watches) >= 1
            assert await resp.content.readline() == b"", "the stream ends"
    finally:
        resp.close()
