"""The calls an operator makes through kubernetes_asyncio's typed and custom-object APIs."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import watch as k8s_watch


async def test_custom_objects_api_round_trip(
    api_client: k8s.ApiClient, namespace: str, widgets_crd: str
) -> None:
    co = k8s.CustomObjectsApi(api_client)
    args = ("example.com", "v1", namespace, "widgets")
    body = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": "small"},
    }
    created = await co.create_namespaced_custom_object(*args, body)
    assert created["spec"]["replicas"] == 1
    with pytest.raises(k8s.ApiException) as bad:
        await co.patch_namespaced_custom_object(*args, "w", {"spec": {"replicas": 2}})
    assert bad.value.status == 400, "the client's default patch type is JSON patch, which needs a list"
    patched = await co.patch_namespaced_custom_object(
        *args, "w", {"spec": {"replicas": 2}}, _content_type="application/merge-patch+json"
    )
    assert patched["metadata"]["generation"] == 2
    status = await co.patch_namespaced_custom_object_status(
        *args, "w", {"status": {"replicas": 2}}, _content_type="application/merge-patch+json"
    )
    assert status["status"]["replicas"] == 2
    got = await co.get_namespaced_custom_object(*args, "w")
    got["spec"]["color"] = "red"
    replaced = await co.replace_namespaced_custom_object(*args, "w", got)
    assert replaced["spec"]["color"] == "red"
    listed = await co.list_namespaced_custom_object(*args, label_selector="")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["w"]
    scale = await co.get_namespaced_custom_object_scale(*args, "w")
    assert scale["spec"]["replicas"] == 2
    await co.delete_namespaced_custom_object(*args, "w")
    with pytest.raises(k8s.ApiException) as exc:
        await co.get_namespaced_custom_object(*args, "w")
    assert exc.value.status == 404


async def test_core_api_models(api_client: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api_client)
    pod = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="p", labels={"app": "x"}),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="registry.example/app:1")]),
    )
    created = await core.create_namespaced_pod(namespace, pod)
    assert created.status.phase == "Pending"
    assert created.spec.scheduler_name == "default-scheduler"
    patched = await core.patch_namespaced_pod("p", namespace, {"metadata": {"labels": {"tier": "web"}}})
    assert patched.metadata.labels == {"app": "x", "tier": "web"}
    created.status.conditions = [k8s.V1PodCondition(type="Ready", status="False")]
    created.metadata.resource_version = patched.metadata.resource_version
    updated = await core.replace_namespaced_pod_status("p", namespace, created)
    assert updated.status.conditions[0].type == "Ready"
    assert updated.metadata.labels == {"app": "x"}, "pods/status may change labels"
    await core.delete_namespaced_pod(
        "p", namespace, body=k8s.V1DeleteOptions(propagation_policy="Foreground")
    )


async def test_lease_and_events_apis(api_client: k8s.ApiClient, namespace: str) -> None:
    coord = k8s.CoordinationV1Api(api_client)
    lease = await coord.create_namespaced_lease(
        namespace, k8s.V1Lease(metadata=k8s.V1ObjectMeta(name="l"), spec=k8s.V1LeaseSpec(holder_identity="a"))
    )
    lease.spec.holder_identity = "b"
    assert (await coord.replace_namespaced_lease("l", namespace, lease)).spec.holder_identity == "b"
    events = k8s.EventsV1Api(api_client)
    ev = k8s.EventsV1Event(
        metadata=k8s.V1ObjectMeta(generate_name="x-"),
        event_time="2026-01-01T00:00:00.000000Z",
        reporting_controller="grove.io/test",
        reporting_instance="t",
        action="Test",
        reason="Tested",
        note="hello",
        type="Normal",
        regarding=k8s.V1ObjectReference(kind="Pod", name="p", namespace=namespace),
    )
    created = await events.create_namespaced_event(namespace, ev)
    assert created.note == "hello" and created.metadata.name.startswith("x-")
    core_events = await k8s.CoreV1Api(api_client).list_namespaced_event(namespace)
    assert [e.message for e in core_events.items] == ["hello"]


async def test_informer_style_list_then_watch_with_model_events(
    api_client: k8s.ApiClient, namespace: str
) -> None:
    core = k8s.CoreV1Api(api_client)
    listed = await core.list_namespaced_config_map(namespace, resource_version="0")
    seen: list[tuple[str, str]] = []

    async def consume() -> None:
        async with k8s_watch.Watch() as w:
            async for ev in w.stream(
                core.list_namespaced_config_map,
                namespace,
                resource_version=listed.metadata.resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=10,
            ):
                if ev["type"] == "BOOKMARK":
                    continue
                seen.append((ev["type"], ev["object"].metadata.name))
                if len(seen) == 2:
                    return

    task = asyncio.create_task(consume())
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    await core.delete_namespaced_config_map("a", namespace)
    await asyncio.wait_for(task, 15)
    assert seen == [("ADDED", "a"), ("DELETED", "a")]


async def test_server_side_apply_through_client(
    api_client: k8s.ApiClient, namespace: str, widgets_crd: str
) -> None:
    co = k8s.CustomObjectsApi(api_client)
    body = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "a"},
        "spec": {"size": "large"},
    }
    await co.patch_namespaced_custom_object(
        "example.com",
        "v1",
        namespace,
        "widgets",
        "a",
        body,
        field_manager="grove-operator",
        force=True,
        _content_type="application/apply-patch+yaml",
    )
    out = await co.get_namespaced_custom_object("example.com", "v1", namespace, "widgets", "a")
    assert out["spec"]["size"] == "large"
    assert out["metadata"]["managedFields"][0]["manager"] == "grove-operator"
