"""Object semantics: create/get/list/update/patch/delete, metadata, errors."""

from __future__ import annotations

import re
from typing import Any

from conformance_helpers import pod, widget

NS_PODS = "/api/v1/namespaces/{ns}/pods"
NS_WIDGETS = "/apis/example.com/v1/namespaces/{ns}/widgets"


async def test_create_sets_system_metadata(raw: Any, namespace: str) -> None:
    created = await raw.ok("POST", NS_PODS.format(ns=namespace), pod("a"))
    md = created["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", md["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", md["creationTimestamp"])
    assert int(md["resourceVersion"]) > 0
    assert md["namespace"] == namespace
    assert created["status"]["phase"] == "Pending"


async def test_resource_version_is_global_and_increasing(raw: Any, namespace: str) -> None:
    a = await raw.ok("POST", NS_PODS.format(ns=namespace), pod("a"))
    cm = await raw.ok("POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "c"}})
    b = await raw.ok("POST", NS_PODS.format(ns=namespace), pod("b"))
    rvs = [int(o["metadata"]["resourceVersion"]) for o in (a, cm, b)]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3


async def test_generate_name(raw: Any, namespace: str) -> None:
    created = await raw.ok("POST", NS_PODS.format(ns=namespace), pod("", metadata={"generateName": "web-"}))
    name = created["metadata"]["name"]
    assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{5}", name), name


async def test_generate_name_is_validated_as_a_name_prefix(raw: Any, namespace: str) -> None:
    # kube-apiserver validates generateName as the name with characters appended: a trailing '-' is fine,
    # a trailing '.' is not, even though the generated name ("x.abcde") would be valid.
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    status, body, _ = await raw.request("POST", path, {"metadata": {"generateName": "x."}})
    assert status == 422 and body["reason"] == "Invalid", body
    assert body["details"]["causes"][0]["field"] == "metadata.generateName"
    assert re.fullmatch(
        r'ConfigMap "x\.[a-z0-9]{5}" is invalid: metadata\.generateName: Invalid value: "x\.": '
        r"a lowercase RFC 1123 subdomain must consist of .*",
        body["message"],
    ), body["message"]
    ns_status, ns_body, _ = await raw.request(
        "POST", "/api/v1/namespaces", {"metadata": {"generateName": "a.b-"}}
    )
    assert ns_status == 422, ns_body
    assert 'metadata.generateName: Invalid value: "a.b-": must not contain dots' in ns_body["message"]
    status, body, _ = await raw.request("POST", "/api/v1/namespaces", {"metadata": {"generateName": "A-"}})
    # "A-" masks to "a": the prefix passes and only the generated name ("Axxxxx") fails.
    assert status == 422 and [c["field"] for c in body["details"]["causes"]] == ["metadata.name"], body
    created = await raw.ok("POST", path, {"metadata": {"generateName": "x-"}})
    assert re.fullmatch(r"x-[a-z0-9]{5}", created["metadata"]["name"])


async def test_get_missing_is_404(raw: Any, namespace: str) -> None:
    status, body, _ = await raw.request("GET", NS_PODS.format(ns=namespace) + "/nope")
    assert status == 404
    assert body["reason"] == "NotFound"
    assert body["details"] == {"name": "nope", "kind": "pods"}
    assert body["message"] == 'pods "nope" not found'


async def test_create_twice_is_409_already_exists(raw: Any, namespace: str) -> None:
    await raw.ok("POST", NS_PODS.format(ns=namespace), pod("a"))
    status, body, _ = await raw.request("POST", NS_PODS.format(ns=namespace), pod("a"))
    assert status == 409 and body["reason"] == "AlreadyExists"


async def test_namespace_must_exist(raw: Any) -> None:
    status, body, _ = await raw.request("POST", NS_PODS.format(ns="does-not-exist-ns"), pod("a"))
    assert status == 404
    assert body["details"]["kind"] == "namespaces"


async def test_invalid_name_is_422(raw: Any, namespace: str) -> None:
    status, body, _ = await raw.request("POST", NS_PODS.format(ns=namespace), pod("Bad_Name"))
    assert status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"


async def test_namespace_name_must_be_dns_label(raw: Any) -> None:
    status, _body, _ = await raw.request("POST", "/api/v1/namespaces", {"metadata": {"name": "a.b"}})
    assert status == 422


async def test_annotations_larger_than_256k_are_rejected(raw: Any, namespace: str) -> None:
    big = {"metadata": {"name": "big", "annotations": {"x": "y" * (256 * 1024)}}}
    status, body, _ = await raw.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", big)
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "metadata.annotations"
    assert "Too long" in body["message"]


async def test_put_with_stale_resource_version_is_409(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    cm = await raw.ok("POST", path, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    cm["data"] = {"a": "2"}
    updated = await raw.ok("PUT", f"{path}/c", cm)
    assert updated["metadata"]["resourceVersion"] != cm["metadata"]["resourceVersion"]
    cm["data"] = {"a": "3"}
    status, body, _ = await raw.request("PUT", f"{path}/c", cm)
    assert status == 409 and body["reason"] == "Conflict"


async def test_patch_with_stale_resource_version_is_409(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    cm = await raw.ok("POST", path, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    await raw.ok("PATCH", f"{path}/c", {"data": {"a": "2"}}, content_type="application/merge-patch+json")
    stale = {"metadata": {"resourceVersion": cm["metadata"]["resourceVersion"]}, "data": {"a": "3"}}
    status, body, _ = await raw.request(
        "PATCH", f"{path}/c", stale, content_type="application/merge-patch+json"
    )
    assert status == 409 and body["reason"] == "Conflict"


async def test_unsupported_patch_type_is_415(raw: Any, namespace: str) -> None:
    await raw.ok("POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "c"}})
    status, body, _ = await raw.request(
        "PATCH", f"/api/v1/namespaces/{namespace}/configmaps/c", b'{"data": {}}', content_type="text/plain"
    )
    assert status == 415 and body["reason"] == "UnsupportedMediaType"


async def test_strategic_merge_patch_on_custom_resource_is_415(
    raw: Any, namespace: str, widgets_crd: str
) -> None:
    await raw.ok("POST", NS_WIDGETS.format(ns=namespace), widget("w"))
    status, _body, _ = await raw.request(
        "PATCH",
        NS_WIDGETS.format(ns=namespace) + "/w",
        {"spec": {"size": "large"}},
        content_type="application/strategic-merge-patch+json",
    )
    assert status == 415


async def test_method_not_allowed_is_405(raw: Any, namespace: str) -> None:
    status, body, _ = await raw.request("POST", NS_PODS.format(ns=namespace) + "/x", pod("x"))
    assert status == 405 and body["reason"] == "MethodNotAllowed"


async def test_generation_bumps_only_on_spec_change(raw: Any, namespace: str, widgets_crd: str) -> None:
    path = NS_WIDGETS.format(ns=namespace)
    w = await raw.ok("POST", path, widget("w"))
    assert w["metadata"]["generation"] == 1
    w = await raw.ok(
        "PATCH",
        f"{path}/w",
        {"metadata": {"labels": {"a": "b"}}},
        content_type="application/merge-patch+json",
    )
    assert w["metadata"]["generation"] == 1
    w = await raw.ok(
        "PATCH", f"{path}/w", {"spec": {"replicas": 3}}, content_type="application/merge-patch+json"
    )
    assert w["metadata"]["generation"] == 2
    w = await raw.ok(
        "PATCH", f"{path}/w/status", {"status": {"replicas": 3}}, content_type="application/merge-patch+json"
    )
    assert w["metadata"]["generation"] == 2


async def test_status_subresource_separation(raw: Any, namespace: str, widgets_crd: str) -> None:
    path = NS_WIDGETS.format(ns=namespace)
    created = await raw.ok("POST", path, {**widget("w"), "status": {"replicas": 9}})
    assert "status" not in created, "create ignores status when the status subresource is enabled"
    main = await raw.ok(
        "PATCH",
        f"{path}/w",
        {"spec": {"replicas": 2}, "status": {"replicas": 7}},
        content_type="application/merge-patch+json",
    )
    assert main["spec"]["replicas"] == 2 and "status" not in main
    st = await raw.ok(
        "PATCH",
        f"{path}/w/status",
        {"spec": {"replicas": 5}, "status": {"replicas": 4}},
        content_type="application/merge-patch+json",
    )
    assert st["status"]["replicas"] == 4 and st["spec"]["replicas"] == 2


async def test_no_op_update_keeps_resource_version(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    cm = await raw.ok("POST", path, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    again = await raw.ok(
        "PATCH", f"{path}/c", {"data": {"a": "1"}}, content_type="application/merge-patch+json"
    )
    assert again["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]


async def test_dry_run_create_and_patch_do_not_persist(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    status, _, _ = await raw.request("POST", path, {"metadata": {"name": "d"}}, query={"dryRun": "All"})
    assert status == 201
    status, _, _ = await raw.request("GET", f"{path}/d")
    assert status == 404
    await raw.ok("POST", path, {"metadata": {"name": "d"}, "data": {"a": "1"}})
    out = await raw.ok(
        "PATCH",
        f"{path}/d",
        {"data": {"a": "2"}},
        query={"dryRun": "All"},
        content_type="application/merge-patch+json",
    )
    assert out["data"]["a"] == "2"
    assert (await raw.ok("GET", f"{path}/d"))["data"]["a"] == "1"


async def test_list_limit_and_continue(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(5):
        await raw.ok("POST", path, {"metadata": {"name": f"c{i}"}})
    names: list[str] = []
    page = await raw.ok("GET", path, query={"limit": 2})
    assert page["metadata"]["remainingItemCount"] >= 3
    names += [i["metadata"]["name"] for i in page["items"]]
    while page["metadata"].get("continue"):
        page = await raw.ok("GET", path, query={"limit": 2, "continue": page["metadata"]["continue"]})
        names += [i["metadata"]["name"] for i in page["items"]]
    assert [n for n in names if n.startswith("c")] == [f"c{i}" for i in range(5)]


async def test_custom_resource_schema_defaults_and_validation(
    raw: Any, namespace: str, widgets_crd: str
) -> None:
    path = NS_WIDGETS.format(ns=namespace)
    w = await raw.ok("POST", path, {**widget("w"), "spec": {"size": "small", "unknown": 1}})
    assert w["spec"]["replicas"] == 1 and w["spec"]["color"] == "blue"
    assert "unknown" not in w["spec"], "unknown fields are pruned"
    status, body, _ = await raw.request("POST", path, {**widget("x"), "spec": {"size": "medium"}})
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.size"
    status, body, _ = await raw.request(
        "POST", path, {**widget("y"), "spec": {"replicas": "two", "size": "small"}}
    )
    assert status == 422 and "must be of type integer" in body["message"]
    status, body, _ = await raw.request("POST", path, {**widget("z"), "spec": {}})
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.size"


async def test_scale_subresource(raw: Any, namespace: str, widgets_crd: str) -> None:
    path = NS_WIDGETS.format(ns=namespace)
    await raw.ok("POST", path, widget("w", replicas=2))
    await raw.ok(
        "PATCH",
        f"{path}/w/status",
        {"status": {"replicas": 2, "selector": "app=w"}},
        content_type="application/merge-patch+json",
    )
    scale = await raw.ok("GET", f"{path}/w/scale")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 2 and scale["status"] == {"replicas": 2, "selector": "app=w"}
    scale["spec"]["replicas"] = 4
    out = await raw.ok("PUT", f"{path}/w/scale", scale)
    assert out["spec"]["replicas"] == 4
    out = await raw.ok(
        "PATCH", f"{path}/w/scale", {"spec": {"replicas": 6}}, content_type="application/merge-patch+json"
    )
    assert (await raw.ok("GET", f"{path}/w"))["spec"]["replicas"] == 6
    scale["spec"]["replicas"] = 1
    status, _body, _ = await raw.request("PUT", f"{path}/w/scale", scale)
    assert status == 409, "a Scale carrying an old resourceVersion conflicts"
