"""CRD lifecycle: establishing, schema updates, multiple versions, deletion removing custom resources."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from typing import Any

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def gizmo_crd(group: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gizmos.{group}"},
        "spec": {
            "group": group,
            "scope": "Cluster",
            "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo", "shortNames": ["gz"]},
            "versions": [
                {"name": "v1beta1", "served": True, "storage": False, "schema": {"openAPIV3Schema": schema}},
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}},
            ],
        },
    }


async def test_crd_lifecycle(raw: Any, wait_for: Any) -> None:
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    crd = await raw.ok("POST", CRD_PATH, gizmo_crd(group))
    # Controllers accept the names and establish the CRD after the create returns.
    assert not crd["status"].get("conditions")
    assert crd["status"]["storedVersions"] == ["v1"]
    await _established(raw, group, wait_for)
    crd = await raw.ok("GET", f"{CRD_PATH}/gizmos.{group}")
    assert crd["status"]["acceptedNames"]["listKind"] == "GizmoList"

    group_doc = await raw.ok("GET", f"/apis/{group}")
    assert group_doc["preferredVersion"]["version"] == "v1"
    await raw.ok(
        "POST",
        f"/apis/{group}/v1/gizmos",
        {"apiVersion": f"{group}/v1", "kind": "Gizmo", "metadata": {"name": "a"}, "spec": {"size": 1}},
    )
    old = await raw.ok("GET", f"/apis/{group}/v1beta1/gizmos/a")
    assert old["apiVersion"] == f"{group}/v1beta1" and old["spec"]["size"] == 1

    crd = await raw.ok("GET", f"{CRD_PATH}/gizmos.{group}")
    updated = copy.deepcopy(crd)
    for v in updated["spec"]["versions"]:
        v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["color"] = {
            "type": "string",
            "default": "red",
        }
    await raw.ok("PUT", f"{CRD_PATH}/gizmos.{group}", updated)
    await raw.ok(
        "POST",
        f"/apis/{group}/v1/gizmos",
        {"apiVersion": f"{group}/v1", "kind": "Gizmo", "metadata": {"name": "b"}, "spec": {}},
    )
    assert (await raw.ok("GET", f"/apis/{group}/v1/gizmos/b"))["spec"]["color"] == "red"

    await raw.ok("DELETE", f"{CRD_PATH}/gizmos.{group}")

    async def gone() -> bool:
        status, _, _ = await raw.request("GET", f"{CRD_PATH}/gizmos.{group}")
        return status == 404

    await wait_for(gone, timeout=30, message="CRD deleted after its custom resources")
    status, _, _ = await raw.request("GET", f"/apis/{group}/v1/gizmos")
    assert status == 404


def _is_established(crd: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Established" and c["status"] == "True" for c in crd["status"].get("conditions") or []
    )


async def _established(raw: Any, group: str, wait_for: Any) -> None:
    async def check() -> bool:
        return _is_established(await raw.ok("GET", f"{CRD_PATH}/gizmos.{group}"))

    await wait_for(check, timeout=30, message="CRD established")


async def test_crd_conditions_arrive_in_status_updates_with_watch_events(raw: Any) -> None:
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    name = f"gizmos.{group}"
    crd = await raw.ok("POST", CRD_PATH, gizmo_crd(group))
    try:
        assert not crd["status"].get("conditions")
        query = {
            "fieldSelector": f"metadata.name={name}",
            "resourceVersion": crd["metadata"]["resourceVersion"],
            "timeoutSeconds": "30",
        }
        resp = await raw.open_watch(CRD_PATH, query)
        seen: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(30):
                while not seen or not _is_established(seen[-1]["object"]):
                    line = await resp.content.readline()
                    assert line, f"watch ended before Established: {seen}"
                    seen.append(json.loads(line))
        finally:
            resp.close()
        assert all(ev["type"] == "MODIFIED" for ev in seen), [ev["type"] for ev in seen]
        final = seen[-1]["object"]["status"]
        conditions = {c["type"]: c for c in final["conditions"]}
        assert conditions["NamesAccepted"]["status"] == "True"
        assert conditions["NamesAccepted"]["reason"] == "NoConflicts"
        assert conditions["Established"]["reason"] == "InitialNamesAccepted"
        assert final["acceptedNames"]["kind"] == "Gizmo" and final["acceptedNames"]["plural"] == "gizmos"
        assert seen[-1]["object"]["metadata"]["generation"] == 1, "status writes leave the generation"
    finally:
        await raw.ok("DELETE", f"{CRD_PATH}/{name}")


async def test_invalid_crd_is_rejected(raw: Any) -> None:
    bad = gizmo_crd("nodots")
    status, body, _ = await raw.request("POST", CRD_PATH, bad)
    assert status == 422
    fields = {c["field"] for c in body["details"]["causes"]}
    assert "spec.group" in fields
