"""Real kubectl against the cluster: apply (client- and server-side), get, scale, delete, explain."""

from __future__ import annotations

import json
from typing import Any

import yaml

WIDGET = """
apiVersion: example.com/v1
kind: Widget
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: demo}}
spec:
  size: small
  replicas: {replicas}
"""

POD = """
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: demo}}
spec:
  containers:
  - name: main
    image: registry.example/app:1
    env: [{{name: A, value: "1"}}]
"""


def test_apply_get_scale_delete_custom_resource(kubectl: Any, namespace: str, widgets_crd: str) -> None:
    out = kubectl("apply", "-f", "-", input=WIDGET.format(name="w1", ns=namespace, replicas=2), check=True)
    assert "widget.example.com/w1 created" in out.stdout
    out = kubectl("apply", "-f", "-", input=WIDGET.format(name="w1", ns=namespace, replicas=2), check=True)
    assert "unchanged" in out.stdout
    table = kubectl("get", "widgets", "-n", namespace, check=True).stdout.splitlines()
    assert table[0].split() == ["NAME", "REPLICAS", "AGE"]
    assert table[1].split()[:2] == ["w1", "2"]
    kubectl("scale", "widget", "w1", "-n", namespace, "--replicas=5", check=True)
    got = json.loads(kubectl("get", "wd", "w1", "-n", namespace, "-o", "json", check=True).stdout)
    assert got["spec"]["replicas"] == 5
    out = kubectl("apply", "-f", "-", input=WIDGET.format(name="w1", ns=namespace, replicas=3), check=True)
    assert "configured" in out.stdout
    kubectl("delete", "widget", "w1", "-n", namespace, check=True)
    assert kubectl("get", "widget", "w1", "-n", namespace).returncode != 0


def test_server_side_apply_create_update_and_conflict(kubectl: Any, namespace: str, widgets_crd: str) -> None:
    manifest = WIDGET.format(name="ssa", ns=namespace, replicas=1)
    out = kubectl("apply", "--server-side", "-f", "-", input=manifest, check=True)
    assert "serverside-applied" in out.stdout
    got = json.loads(
        kubectl(
            "get", "widget", "ssa", "-n", namespace, "-o", "json", "--show-managed-fields", check=True
        ).stdout
    )
    managers = {(m["manager"], m["operation"]) for m in got["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    assert "kubectl.kubernetes.io/last-applied-configuration" not in got["metadata"].get("annotations", {})
    kubectl("scale", "widget", "ssa", "-n", namespace, "--replicas=4", check=True)
    conflict = kubectl(
        "apply", "--server-side", "-f", "-", input=WIDGET.format(name="ssa", ns=namespace, replicas=2)
    )
    assert conflict.returncode != 0 and "conflict" in conflict.stderr.lower()
    kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        "-",
        input=WIDGET.format(name="ssa", ns=namespace, replicas=2),
        check=True,
    )
    got = json.loads(kubectl("get", "widget", "ssa", "-n", namespace, "-o", "json", check=True).stdout)
    assert got["spec"]["replicas"] == 2


def test_server_side_apply_removes_fields_no_longer_applied(
    kubectl: Any, namespace: str, widgets_crd: str
) -> None:
    doc = yaml.safe_load(WIDGET.format(name="rm", ns=namespace, replicas=1))
    doc["metadata"]["labels"]["extra"] = "yes"
    kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(doc), check=True)
    del doc["metadata"]["labels"]["extra"]
    kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(doc), check=True)
    got = json.loads(kubectl("get", "widget", "rm", "-n", namespace, "-o", "json", check=True).stdout)
    assert got["metadata"]["labels"] == {"app": "demo"}


def test_apply_pod_then_change_env_uses_strategic_merge(kubectl: Any, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=POD.format(name="p", ns=namespace), check=True)
    out = kubectl("apply", "-f", "-", input=POD.format(name="p", ns=namespace), check=True)
    assert "unchanged" in out.stdout
    kubectl("label", "pod", "p", "-n", namespace, "tier=web", check=True)
    got = json.loads(kubectl("get", "pod", "p", "-n", namespace, "-o", "json", check=True).stdout)
    assert got["metadata"]["labels"] == {"app": "demo", "tier": "web"}


def test_get_pods_wide_shows_ip_and_node(kubectl: Any, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=POD.format(name="p", ns=namespace), check=True)
    lines = kubectl("get", "pods", "-n", namespace, "-o", "wide", check=True).stdout.splitlines()
    header = lines[0].split()
    assert header[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "IP" in header and "NODE" in header
    assert lines[1].split()[:3] == ["p", "0/1", "Pending"]


def test_explain_custom_resource(kubectl: Any, widgets_crd: str) -> None:
    out = kubectl("explain", "widgets.spec", check=True).stdout
    assert "KIND:       Widget" in out
    assert "size" in out and "-required-" in out
    assert "How many." in out


def test_delete_cascade_foreground(kubectl: Any, namespace: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner", "namespace": namespace}}
    owner = json.loads(kubectl("apply", "-f", "-", "-o", "json", input=json.dumps(cm), check=True).stdout)
    dep = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dep",
            "namespace": namespace,
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "owner",
                    "uid": owner["metadata"]["uid"],
                    "blockOwnerDeletion": True,
                }
            ],
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(dep), check=True)
    kubectl(
        "delete", "configmap", "owner", "-n", namespace, "--cascade=foreground", "--timeout=30s", check=True
    )
    assert kubectl("get", "configmap", "dep", "-n", namespace).returncode != 0


def test_get_nodes_and_namespaces_tables(kubectl: Any, namespace: str) -> None:
    lines = kubectl("get", "namespaces", check=True).stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE"]
    assert any(line.split()[:2] == [namespace, "Active"] for line in lines[1:])


def test_wrong_type_is_rejected_by_kubectl_apply(kubectl: Any, namespace: str, widgets_crd: str) -> None:
    bad = WIDGET.format(name="bad", ns=namespace, replicas='"two"')
    out = kubectl("apply", "-f", "-", input=bad)
    assert out.returncode != 0
    assert "replicas" in out.stderr


def test_kubectl_create_builtin_kinds(kubectl: Any, namespace: str) -> None:
    """kubectl create <kind> sends protobuf bodies."""
    kubectl("create", "configmap", "cm", "-n", namespace, "--from-literal=a=b", check=True)
    kubectl("create", "secret", "generic", "s", "-n", namespace, "--from-literal=k=v", check=True)
    kubectl("create", "serviceaccount", "sa", "-n", namespace, check=True)
    kubectl("create", "role", "r", "-n", namespace, "--verb=get", "--resource=pods", check=True)
    kubectl("create", "rolebinding", "rb", "-n", namespace, "--role=r", "--user=u", check=True)
    kubectl("create", "service", "clusterip", "svc", "-n", namespace, "--tcp=80:8080", check=True)
    cm = json.loads(kubectl("get", "configmap", "cm", "-n", namespace, "-o", "json", check=True).stdout)
    assert cm["data"] == {"a": "b"}
    svc = json.loads(kubectl("get", "service", "svc", "-n", namespace, "-o", "json", check=True).stdout)
    assert svc["spec"]["ports"][0]["targetPort"] == 8080


def test_kubectl_apply_rejects_unknown_fields_strictly(
    kubectl: Any, namespace: str, widgets_crd: str
) -> None:
    doc = yaml.safe_load(WIDGET.format(name="strict", ns=namespace, replicas=1))
    doc["spec"]["bogus"] = 1
    out = kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
    assert out.returncode != 0
    assert 'unknown field "spec.bogus"' in out.stderr


def test_client_side_to_server_side_apply_migration(kubectl: Any, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=POD.format(name="mig", ns=namespace), check=True)
    changed = POD.format(name="mig", ns=namespace).replace("registry.example/app:1", "registry.example/app:2")
    out = kubectl("apply", "--server-side", "-f", "-", input=changed, check=True)
    assert "serverside-applied" in out.stdout
    assert "Warning" not in out.stderr, out.stderr
    got = json.loads(kubectl("get", "pod", "mig", "-n", namespace, "-o", "json", check=True).stdout)
    assert got["spec"]["containers"][0]["image"] == "registry.example/app:2"
