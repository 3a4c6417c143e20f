"""Discovery, version, health and OpenAPI endpoints."""

from __future__ import annotations

from typing import Any

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


async def test_core_group_versions(raw: Any) -> None:
    body = await raw.ok("GET", "/api")
    assert body["kind"] == "APIVersions"
    assert "v1" in body["versions"]


async def test_core_resource_list_has_subresources(raw: Any) -> None:
    body = await raw.ok("GET", "/api/v1")
    assert body["kind"] == "APIResourceList"
    by_name = {r["name"]: r for r in body["resources"]}
    pods = by_name["pods"]
    assert pods["namespaced"] is True and pods["kind"] == "Pod"
    assert {"create", "get", "list", "watch", "patch", "update", "delete", "deletecollection"} <= set(
        pods["verbs"]
    )
    assert "po" in pods["shortNames"]
    assert by_name["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert by_name["pods/binding"]["kind"] == "Binding"
    assert by_name["nodes"]["namespaced"] is False


async def test_group_list_and_crd_group(raw: Any, widgets_crd: str) -> None:
    groups = {g["name"]: g for g in (await raw.ok("GET", "/apis"))["groups"]}
    for name in (
        "apiextensions.k8s.io",
        "coordination.k8s.io",
        "events.k8s.io",
        "autoscaling",
        "example.com",
    ):
        assert name in groups, name
    assert groups["example.com"]["preferredVersion"]["groupVersion"] == "example.com/v1"
    resources = {r["name"]: r for r in (await raw.ok("GET", "/apis/example.com/v1"))["resources"]}
    assert resources["widgets"]["shortNames"] == ["wd"]
    assert resources["widgets/scale"]["kind"] == "Scale"
    assert resources["widgets/scale"]["group"] == "autoscaling"
    assert "widgets/status" in resources


async def test_aggregated_discovery(raw: Any, widgets_crd: str) -> None:
    status, body, headers = await raw.request("GET", "/apis", accept=AGGREGATED + ",application/json")
    assert status == 200
    assert headers["Content-Type"].replace(" ", "") == AGGREGATED
    assert body["kind"] == "APIGroupDiscoveryList"
    groups = {g["metadata"]["name"]: g for g in body["items"]}
    widgets = next(r for r in groups["example.com"]["versions"][0]["resources"] if r["resource"] == "widgets")
    assert widgets["scope"] == "Namespaced"
    assert {s["subresource"] for s in widgets["subresources"]} == {"status", "scale"}


async def test_version_and_health(raw: Any) -> None:
    version = await raw.ok("GET", "/version")
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")
    for path in ("/healthz", "/readyz", "/livez"):
        status, body, _ = await raw.request("GET", path, accept="text/plain")
        assert status == 200 and body == "ok"


async def test_openapi_v3_index_and_crd_schema(raw: Any, widgets_crd: str) -> None:
    index = await raw.ok("GET", "/openapi/v3")
    assert "api/v1" in index["paths"] and "apis/example.com/v1" in index["paths"]
    doc = await raw.ok("GET", index["paths"]["apis/example.com/v1"]["serverRelativeURL"].split("?")[0])
    schemas = doc["components"]["schemas"]
    widget = next(
        s
        for s in schemas.values()
        if {"group": "example.com", "version": "v1", "kind": "Widget"}
        in s.get("x-kubernetes-group-version-kind", [])
    )
    assert widget["properties"]["spec"]["properties"]["size"]["enum"] == ["small", "large"]


async def test_paths_nothing_serves_are_plain_text_404(raw: Any, widgets_crd: str) -> None:
    # No handler claims an unknown group, an unknown resource of a group only CRDs define, or a non-API
    # path: kube-apiserver's NotFoundHandler answers them with Go's http.NotFound, not a Status.
    for path in (
        "/apis/nope.example.com/v1/things",
        "/apis/nope.example.com",
        "/apis/example.com/v1/nopes",
        "/apis/example.com/v9",
        "/nope",
    ):
        status, body, headers = await raw.request("GET", path)
        assert (status, body) == (404, "404 page not found\n"), path
        assert headers["Content-Type"] == "text/plain; charset=utf-8", path


async def test_unknown_resource_of_a_built_in_group_version_is_a_404_status(raw: Any) -> None:
    for path in ("/api/v1/nopes", "/apis/coordination.k8s.io/v1/nopes", "/api/v1/namespaces/default/nopes"):
        status, body, _ = await raw.request("GET", path)
        assert status == 404, path
        assert body["kind"] == "Status" and body["reason"] == "NotFound", path
        assert body["message"] == "the server could not find the requested resource", path


async def test_unknown_subresource_of_a_custom_resource_is_not_found(
    raw: Any, namespace: str, widgets_crd: str
) -> None:
    path = f"/apis/example.com/v1/namespaces/{namespace}/widgets"
    await raw.ok(
        "POST",
        path,
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": "small"},
        },
    )
    status, body, _ = await raw.request("GET", f"{path}/w/nope")
    assert status == 404 and body["reason"] == "NotFound"
    assert body["message"] == 'widgets.example.com "w" not found'
    assert body["details"] == {"name": "w", "group": "example.com", "kind": "widgets"}
