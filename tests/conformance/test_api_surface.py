"""Tables, selectors, deletecollection, built-in kinds (events, leases, HPAs, ...), large CRDs."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import yaml
from conformance_helpers import pod, wait_established

TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
    "application/json"
)
TESTDATA = Path(__file__).parent / "testdata"


async def test_pod_table_columns(raw: Any, namespace: str) -> None:
    await raw.ok("POST", f"/api/v1/namespaces/{namespace}/pods", pod("p"))
    table = await raw.ok("GET", f"/api/v1/namespaces/{namespace}/pods", accept=TABLE)
    assert table["kind"] == "Table"
    cols = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert cols[:5] == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0)]
    assert ("IP", 1) in cols and ("Node", 1) in cols
    row = table["rows"][0]
    assert row["cells"][:3] == ["p", "0/1", "Pending"]
    assert row["object"]["kind"] == "PartialObjectMetadata"


async def test_custom_resource_table_uses_printer_columns(raw: Any, namespace: str, widgets_crd: str) -> None:
    path = f"/apis/example.com/v1/namespaces/{namespace}/widgets"
    await raw.ok(
        "POST",
        path,
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": "small", "replicas": 3},
        },
    )
    table = await raw.ok("GET", path, accept=TABLE)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Replicas", "Age"]
    assert table["rows"][0]["cells"][:2] == ["w", 3]


async def test_label_selector_operators(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for name, labels in (("a", {"env": "prod", "tier": "web"}), ("b", {"env": "dev"}), ("c", {})):
        await raw.ok("POST", path, {"metadata": {"name": name, "labels": labels}})

    async def names(selector: str) -> list[str]:
        body = await raw.ok("GET", path, query={"labelSelector": selector})
        return sorted(
            i["metadata"]["name"] for i in body["items"] if i["metadata"]["name"] in ("a", "b", "c")
        )

    assert await names("env=prod") == ["a"]
    assert await names("env==prod") == ["a"]
    assert await names("env!=prod") == ["b", "c"]
    assert await names("env in (prod,dev)") == ["a", "b"]
    assert await names("env notin (prod)") == ["b", "c"]
    assert await names("tier") == ["a"]
    assert await names("!tier") == ["b", "c"]
    assert await names("env=prod,tier=web") == ["a"]
    status, _, _ = await raw.request("GET", path, query={"labelSelector": "env in prod"})
    assert status == 400


async def test_field_selectors(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    await raw.ok("POST", path, pod("a"))
    await raw.ok("POST", path, pod("b", spec={"schedulerName": "grove-scheduler"}))
    body = await raw.ok("GET", path, query={"fieldSelector": "spec.schedulerName=grove-scheduler"})
    assert [i["metadata"]["name"] for i in body["items"]] == ["b"]
    body = await raw.ok("GET", path, query={"fieldSelector": "status.phase=Pending,metadata.name!=b"})
    assert [i["metadata"]["name"] for i in body["items"]] == ["a"]
    body = await raw.ok(
        "GET", "/api/v1/pods", query={"fieldSelector": f"metadata.namespace={namespace},spec.nodeName="}
    )
    assert sorted(i["metadata"]["name"] for i in body["items"]) == ["a", "b"]
    status, body, _ = await raw.request("GET", path, query={"fieldSelector": "spec.nope=x"})
    assert status == 400 and "field label not supported" in body["message"]


async def test_delete_collection_with_selector(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        await raw.ok("POST", path, {"metadata": {"name": name, "labels": {"app": app}}})
    await raw.ok("DELETE", path, query={"labelSelector": "app=x"})
    left = await raw.ok("GET", path, query={"labelSelector": "app"})
    assert [i["metadata"]["name"] for i in left["items"]] == ["c"]


async def test_events_in_both_api_groups(raw: Any, namespace: str) -> None:
    core = {
        "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
        "reason": "Started",
        "message": "hello",
        "type": "Normal",
    }
    await raw.ok("POST", f"/api/v1/namespaces/{namespace}/events", core)
    new = await raw.ok("GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events/e1")
    assert new["apiVersion"] == "events.k8s.io/v1"
    assert new["note"] == "hello" and new["regarding"]["name"] == "p"
    listed = await raw.ok(
        "GET", f"/api/v1/namespaces/{namespace}/events", query={"fieldSelector": "involvedObject.name=p"}
    )
    assert [e["metadata"]["name"] for e in listed["items"]] == ["e1"]


async def test_lease_update_cycle(raw: Any, namespace: str) -> None:
    path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    lease = await raw.ok(
        "POST",
        path,
        {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}},
    )
    lease["spec"]["holderIdentity"] = "b"
    updated = await raw.ok("PUT", f"{path}/leader", lease)
    assert updated["spec"]["holderIdentity"] == "b"
    status, _, _ = await raw.request("PUT", f"{path}/leader", lease)
    assert status == 409


async def test_secret_string_data_becomes_data(raw: Any, namespace: str) -> None:
    secret = await raw.ok(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {"metadata": {"name": "s"}, "stringData": {"k": "v"}},
    )
    assert secret["type"] == "Opaque"
    assert base64.b64decode(secret["data"]["k"]) == b"v"
    assert "stringData" not in secret


async def test_service_gets_cluster_ip(raw: Any, namespace: str) -> None:
    svc = await raw.ok(
        "POST",
        f"/api/v1/namespaces/{namespace}/services",
        {"metadata": {"name": "web"}, "spec": {"selector": {"app": "w"}, "ports": [{"port": 80}]}},
    )
    assert svc["spec"]["type"] == "ClusterIP" and svc["spec"]["clusterIP"]
    assert svc["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    headless = await raw.ok(
        "POST",
        f"/api/v1/namespaces/{namespace}/services",
        {"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}},
    )
    assert headless["spec"]["clusterIP"] == "None"


async def test_hpa_autoscaling_v2(raw: Any, namespace: str) -> None:
    hpa = {
        "metadata": {"name": "h"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w"},
            "minReplicas": 1,
            "maxReplicas": 3,
        },
        "status": {"currentReplicas": 9},
    }
    created = await raw.ok(
        "POST", f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers", hpa
    )
    assert "status" not in created or created["status"].get("currentReplicas") != 9


async def test_pod_spec_is_immutable_except_allowed_fields(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    await raw.ok("POST", path, pod("p", spec={"schedulingGates": [{"name": "example.com/gate"}]}))
    merge = "application/merge-patch+json"
    ok = await raw.ok("PATCH", f"{path}/p", {"spec": {"schedulingGates": None}}, content_type=merge)
    assert "schedulingGates" not in ok["spec"]
    status, body, _ = await raw.request(
        "PATCH", f"{path}/p", {"spec": {"restartPolicy": "Never"}}, content_type=merge
    )
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec"


async def test_strategic_merge_patch_merges_containers_by_name(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    await raw.ok(
        "POST",
        path,
        pod("p", spec={"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}),
    )
    out = await raw.ok(
        "PATCH",
        f"{path}/p",
        {"spec": {"containers": [{"name": "b", "image": "y:2"}]}},
        content_type="application/strategic-merge-patch+json",
    )
    assert [(c["name"], c["image"]) for c in out["spec"]["containers"]] == [("a", "x:1"), ("b", "y:2")]


async def test_json_patch(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    await raw.ok("POST", path, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    out = await raw.ok(
        "PATCH",
        f"{path}/c",
        [
            {"op": "test", "path": "/data/a", "value": "1"},
            {"op": "add", "path": "/data/b", "value": "2"},
            {"op": "remove", "path": "/data/a"},
        ],
        content_type="application/json-patch+json",
    )
    assert out["data"] == {"b": "2"}
    status, _, _ = await raw.request(
        "PATCH",
        f"{path}/c",
        [{"op": "test", "path": "/data/b", "value": "9"}],
        content_type="application/json-patch+json",
    )
    assert status == 422


def test_large_crd_needs_server_side_apply(kubectl: Any, tmp_path: Path) -> None:
    crd = yaml.safe_load((TESTDATA / "widgets-crd.yaml").read_text())
    big = copy.deepcopy(crd)
    big["metadata"]["name"] = "gadgets.example.com"
    big["spec"]["names"] = {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"}
    props = big["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    for i in range(2500):
        props[f"field{i}"] = {"type": "string", "description": "d" * 100}
    manifest = tmp_path / "big.json"
    manifest.write_text(json.dumps(big))
    client_side = kubectl("apply", "-f", str(manifest))
    assert client_side.returncode != 0
    assert "metadata.annotations: Too long: may not be more than 262144 bytes" in client_side.stderr
    kubectl("apply", "--server-side", "-f", str(manifest), check=True)
    wait_established(kubectl, "gadgets.example.com")
    kubectl("delete", "crd", "gadgets.example.com", "--timeout=30s", check=True)


async def test_unknown_fields_of_builtin_kinds(raw: Any, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    body = pod("typo", spec={"containers": [{"name": "c", "image": "i:1", "imagee": "x"}]})
    status, out, _ = await raw.request("POST", path, body, query={"fieldValidation": "Strict"})
    assert status == 400 and 'unknown field "spec.containers[0].imagee"' in out["message"]
    status, out, headers = await raw.request("POST", path, body)
    assert status == 201
    assert "imagee" not in out["spec"]["containers"][0], "unknown fields are dropped"
    assert 'unknown field \\"spec.containers[0].imagee\\"' in headers.get("Warning", "")


async def test_printer_column_with_many_values_shows_the_first(raw: Any, kubectl: Any) -> None:
    # kube-apiserver's table convertor takes only the first JSONPath result of a column (it assumes simple
    # paths): a column over a list shows its first element, never the joined list.
    kubectl("apply", "--server-side", "-f", str(TESTDATA / "racks-crd.yaml"), check=True)
    wait_established(kubectl, "racks.example.com")
    path = "/apis/example.com/v1/racks"
    name = f"r-{uuid.uuid4().hex[:8]}"
    hosts = [{"name": "h1", "size": 4}, {"name": "h2", "size": 8}]
    await raw.ok(
        "POST",
        path,
        {
            "apiVersion": "example.com/v1",
            "kind": "Rack",
            "metadata": {"name": name},
            "spec": {"hosts": hosts},
        },
    )
    try:
        table = await raw.ok("GET", f"{path}/{name}", accept=TABLE)
        assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Hosts", "Sizes"]
        assert table["rows"][0]["cells"] == [name, "h1", 4]
    finally:
        await raw.ok("DELETE", f"{path}/{name}")
