"""The runtime client against the cluster over real HTTP: verbs, patch flavours, subresources, typed errors,
preconditions, pagination, retries and REST metrics."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from runtime_it_helpers import configmap, create_configmaps

from grove.runtime.client import Client, PatchType, PropagationPolicy, RetryPolicy
from grove.runtime.errors import AlreadyExists, Conflict, Invalid, NotFound, ServerError
from grove.runtime.meta import mutable_copy
from grove.runtime.resources import CONFIGMAPS, CUSTOM_RESOURCE_DEFINITIONS, PODS, Resource

GADGETS = Resource("runtime.test.io", "v1", "gadgets", "Gadget")

GADGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.runtime.test.io"},
    "spec": {
        "group": "runtime.test.io",
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas",
                        "labelSelectorPath": ".status.selector",
                    },
                },
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "replicas": {"type": "integer", "minimum": 0},
                                    "size": {"type": "string"},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {
                                    "replicas": {"type": "integer"},
                                    "selector": {"type": "string"},
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}

WaitFor = Callable[..., Awaitable[Any]]


async def ensure_gadget_crd(client: Client, wait_for: WaitFor, namespace: str) -> None:
    with contextlib.suppress(AlreadyExists):
        await client.create(CUSTOM_RESOURCE_DEFINITIONS, GADGET_CRD)

    async def served() -> bool:
        try:
            await client.list(GADGETS, namespace)
        except NotFound:
            return False
        return True

    await wait_for(served, message="the gadgets CRD to be served")


def pod(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9"}]},
    }


async def test_crud_roundtrip_and_typed_errors(client: Client, namespace: str) -> None:
    created = await client.create(CONFIGMAPS, configmap("a", namespace, k="1"))
    assert created["metadata"]["uid"]
    got = await client.get(CONFIGMAPS, "a", namespace)
    assert got["data"] == {"k": "1"}

    with pytest.raises(AlreadyExists) as exists:
        await client.create(CONFIGMAPS, configmap("a", namespace))
    assert exists.value.status == 409 and exists.value.reason == "AlreadyExists"

    changed = mutable_copy(got)
    changed["data"]["k"] = "2"
    updated = await client.update(CONFIGMAPS, changed)
    assert updated["data"]["k"] == "2"
    # The stale copy still carries the old resourceVersion.
    with pytest.raises(Conflict):
        await client.update(CONFIGMAPS, got)

    await client.delete(CONFIGMAPS, "a", namespace)
    with pytest.raises(NotFound) as missing:
        await client.get(CONFIGMAPS, "a", namespace)
    assert "not found" in missing.value.message


async def test_invalid_carries_field_causes(client: Client, namespace: str) -> None:
    bad = configmap("Not_A_Valid_Name", namespace)
    with pytest.raises(Invalid) as err:
        await client.create(CONFIGMAPS, bad)
    assert err.value.status == 422
    assert any(c.field == "metadata.name" for c in err.value.causes)


async def test_patch_flavours(client: Client, namespace: str) -> None:
    await client.create(PODS, pod("p", namespace))
    merged = await client.patch(PODS, "p", {"metadata": {"labels": {"tier": "web"}}}, namespace)
    assert merged["metadata"]["labels"] == {"app": "x", "tier": "web"}
    jsonpatched = await client.patch(
        PODS, "p", [{"op": "remove", "path": "/metadata/labels/app"}], namespace, patch_type=PatchType.JSON
    )
    assert jsonpatched["metadata"]["labels"] == {"tier": "web"}
    strategic = await client.patch(
        PODS,
        "p",
        {"spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}]}},
        namespace,
        patch_type=PatchType.STRATEGIC,
    )
    assert [c["image"] for c in strategic["spec"]["containers"]] == ["registry.k8s.io/pause:3.10"]

    applied = await client.apply(
        CONFIGMAPS, configmap("ssa", namespace, owned="yes"), field_manager="runtime-test", force=True
    )
    assert applied["data"] == {"owned": "yes"}
    again = await client.apply(
        CONFIGMAPS, configmap("ssa", namespace, owned="still"), field_manager="runtime-test"
    )
    assert again["data"] == {"owned": "still"}
    with pytest.raises(ValueError, match="field_manager"):
        await client.patch(CONFIGMAPS, "ssa", {}, namespace, patch_type=PatchType.APPLY)


async def test_delete_preconditions_and_propagation(client: Client, namespace: str) -> None:
    cm = await client.create(CONFIGMAPS, configmap("pre", namespace))
    with pytest.raises(Conflict):
        await client.delete(CONFIGMAPS, "pre", namespace, uid="00000000-0000-0000-0000-000000000000")
    with pytest.raises(Conflict):
        await client.delete(CONFIGMAPS, "pre", namespace, resource_version="1")
    await client.delete(
        CONFIGMAPS,
        "pre",
        namespace,
        uid=cm["metadata"]["uid"],
        resource_version=cm["metadata"]["resourceVersion"],
        propagation_policy=PropagationPolicy.FOREGROUND,
    )


async def test_status_and_scale_subresources(client: Client, namespace: str, wait_for: WaitFor) -> None:
    await ensure_gadget_crd(client, wait_for, namespace)
    g = await client.create(
        GADGETS,
        {
            "apiVersion": "runtime.test.io/v1",
            "kind": "Gadget",
            "metadata": {"name": "g", "namespace": namespace},
            "spec": {"size": "small", "replicas": 1},
        },
    )
    status = mutable_copy(g)
    status["status"] = {"replicas": 1, "selector": "app=g"}
    status["spec"]["size"] = "ignored-by-status-endpoint"
    written = await client.update_status(GADGETS, status)
    assert written["status"]["replicas"] == 1
    assert written["spec"]["size"] == "small"

    patched = await client.patch_status(GADGETS, "g", {"status": {"replicas": 2}}, namespace)
    assert patched["status"]["replicas"] == 2

    scale = await client.get_scale(GADGETS, "g", namespace)
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 1
    assert scale["status"]["selector"] == "app=g"
    await client.scale(GADGETS, "g", 5, namespace)
    assert (await client.get(GADGETS, "g", namespace))["spec"]["replicas"] == 5
    with pytest.raises(ValueError, match="replicas"):
        await client.scale(GADGETS, "g", -1, namespace)


async def test_list_follows_continue_tokens(client: Client, namespace: str) -> None:
    await create_configmaps(client, namespace, [f"cm-{i}" for i in range(7)], k="v")
    result = await client.list(CONFIGMAPS, namespace, limit=2)
    # Every page, and only ours: the namespace also holds the root CA publisher's kube-root-ca.crt.
    names = sorted(o["metadata"]["name"] for o in result.items)
    assert [n for n in names if n.startswith("cm-")] == [f"cm-{i}" for i in range(7)]
    assert result.resource_version
    selected = await client.list(CONFIGMAPS, namespace, field_selector="metadata.name=cm-3")
    assert [o["metadata"]["name"] for o in selected.items] == ["cm-3"]


async def test_idempotent_calls_retry_and_creates_do_not(
    client: Client, cluster: Any, namespace: str
) -> None:
    dev = cluster.dev
    if dev is None:
        pytest.skip("needs the embedded dev cluster (fault injection)")
    await client.create(CONFIGMAPS, configmap("r", namespace))
    # Half the requests fail at random; with 30 retries a GET failing for good has odds of 2**-31.
    client.retry = RetryPolicy(max_retries=30, base_delay=0.001, max_delay=0.01)
    dev.fail_requests(0.5, 500)
    try:
        # Every GET eventually succeeds: failures are retried with backoff.
        for _ in range(10):
            assert (await client.get(CONFIGMAPS, "r", namespace))["metadata"]["name"] == "r"
        dev.fail_requests(1.0, 500)
        with pytest.raises(ServerError):
            await client.create(CONFIGMAPS, configmap("never", namespace))
    finally:
        dev.reset_faults()
    registry = client.metrics.registry if client.metrics else None
    assert registry is not None
    host = client._host_label
    assert (
        registry.get_sample_value(
            "rest_client_request_retries_total", {"code": "500", "verb": "GET", "host": host}
        )
        or 0
    ) > 0
    # The create was tried once only.
    assert (
        registry.get_sample_value(
            "rest_client_requests_total", {"code": "500", "method": "POST", "host": host}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "rest_client_requests_total", {"code": "200", "method": "GET", "host": host}
        )
        or 0
    ) >= 10
    assert (
        registry.get_sample_value("rest_client_request_duration_seconds_count", {"verb": "GET", "host": host})
        or 0
    ) > 0


async def test_create_on_a_subresource_binds_a_pod(client: Client, namespace: str) -> None:
    spec = {
        "schedulerName": "grove-test-nobody",
        "containers": [{"name": "c", "image": "registry.example/a:1"}],
    }
    pod = await client.create(PODS, {"metadata": {"name": "p", "namespace": namespace}, "spec": spec})
    uid = pod["metadata"]["uid"]

    def binding(node: str, binding_uid: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "p", "namespace": namespace, "uid": binding_uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }

    with pytest.raises(Conflict):  # the UID precondition: not the pod we meant
        await client.create(
            PODS,
            binding("n1", "00000000-0000-0000-0000-000000000000"),
            namespace,
            name="p",
            subresource="binding",
        )
    answer = await client.create(PODS, binding("n1", uid), namespace, name="p", subresource="binding")
    assert answer.get("status") == "Success"
    assert (await client.get(PODS, "p", namespace))["spec"]["nodeName"] == "n1"
    with pytest.raises(Conflict):  # already assigned
        await client.create(PODS, binding("n2", uid), subresource="binding")
    with pytest.raises(ValueError, match="name"):
        await client.create(PODS, {"kind": "Binding"}, namespace, subresource="binding")
    with pytest.raises(ValueError, match="subresource"):
        await client.create(PODS, binding("n1", uid), namespace, name="p")
