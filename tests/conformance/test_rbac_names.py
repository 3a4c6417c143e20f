"""RBAC object names: kube-apiserver validates them with ``ValidateRBACName`` (a URL path segment: not "."
or "..", no "/" or "%"), so names such as ``system:controller:x`` and ``grove.io:pcs:x`` are valid."""

from __future__ import annotations

import json
import uuid
from typing import Any

RBAC = "/apis/rbac.authorization.k8s.io/v1"


def test_colon_names_work_through_kubectl(kubectl: Any, namespace: str) -> None:
    role = "grove.io:pcs:my-pcs"
    kubectl("create", "role", role, "--verb=get,list", "--resource=pods", "-n", namespace, check=True)
    kubectl(
        "create", "rolebinding", role, f"--role={role}", "--serviceaccount", f"{namespace}:default",
        "-n", namespace, check=True,
    )  # fmt: skip
    got = json.loads(kubectl("get", "rolebinding", role, "-n", namespace, "-o", "json", check=True).stdout)
    assert got["metadata"]["name"] == role
    assert got["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}
    kubectl("delete", "role", role, "-n", namespace, check=True)
    assert "NotFound" in kubectl("get", "role", role, "-n", namespace).stderr


async def test_cluster_scoped_names_with_colons(raw: Any) -> None:
    name = f"system:controller:grove-test-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    created = await raw.ok("POST", f"{RBAC}/clusterroles", body)
    try:
        assert created["metadata"]["name"] == name
        assert (await raw.ok("GET", f"{RBAC}/clusterroles/{name}"))["metadata"]["uid"] == created["metadata"][
            "uid"
        ]
    finally:
        await raw.ok("DELETE", f"{RBAC}/clusterroles/{name}")


async def test_dot_names_are_rejected(raw: Any, namespace: str) -> None:
    body: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": ".."},
        "rules": [],
    }
    status, got, _ = await raw.request("POST", f"{RBAC}/namespaces/{namespace}/roles", body)
    assert status == 422, got
    assert got["message"] == (
        'Role.rbac.authorization.k8s.io ".." is invalid: '
        "metadata.name: Invalid value: \"..\": may not be '..'"
    )
    body["metadata"]["name"] = "a%b"
    status, got, _ = await raw.request("POST", f"{RBAC}/namespaces/{namespace}/roles", body)
    assert status == 422, got
    assert got["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: \"a%b\": may not contain '%'",
            "field": "metadata.name",
        }
    ]
