"""Everyday kubectl commands beyond CRUD: auth can-i/whoami, drain (eviction), logs and exec."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conformance_helpers import pod
from cryptography import x509
from cryptography.x509.oid import NameOID

NODE = """
apiVersion: v1
kind: Node
metadata:
  name: {name}
"""

BOUND_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
spec:
  nodeName: {node}
  containers:
  - name: main
    image: registry.example/app:1
"""


def test_auth_can_i_says_yes(kubectl: Any, namespace: str) -> None:
    out = kubectl("auth", "can-i", "create", "pods", "-n", namespace)
    assert (out.returncode, out.stdout.strip()) == (0, "yes"), out.stderr
    rules = kubectl("auth", "can-i", "--list", "-n", namespace, check=True).stdout
    assert "*.*" in rules


def _client_certificate_subject(kubeconfig: str) -> tuple[str, list[str]] | None:
    """(CN, Os) of the current context's client certificate, or None when it authenticates otherwise."""
    config = yaml.safe_load(Path(kubeconfig).read_text())
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    if "client-certificate-data" in user:
        pem = base64.b64decode(user["client-certificate-data"])
    elif "client-certificate" in user:
        pem = (Path(kubeconfig).parent / user["client-certificate"]).read_bytes()
    else:
        return None
    subject = x509.load_pem_x509_certificate(pem).subject
    cn = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return cn[0], [str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def test_auth_whoami_names_the_kubeconfig_user(kubectl: Any) -> None:
    review = json.loads(kubectl("auth", "whoami", "-o", "json", check=True).stdout)
    assert review["kind"] == "SelfSubjectReview"
    user = review["status"]["userInfo"]
    assert user["username"] and "system:authenticated" in user["groups"]
    subject = _client_certificate_subject(kubectl.kubeconfig)
    if subject is not None:
        # kube-apiserver's x509 authenticator: the certificate's CN is the user, its Os are groups. (A
        # bearer token's user, as the dev cluster's, is known to the server only.)
        assert user["username"] == subject[0]
        assert set(subject[1]) <= set(user["groups"])


@pytest.mark.devonly
def test_drain_evicts_pods_through_the_eviction_api(kubectl: Any, namespace: str) -> None:
    node = f"drain-{namespace}"
    kubectl("apply", "-f", "-", input=NODE.format(name=node), check=True)
    try:
        kubectl("apply", "-f", "-", input=BOUND_POD.format(name="p", ns=namespace, node=node), check=True)
        out = kubectl("drain", node, "--force", "--grace-period=0", "--timeout=30s")
        assert out.returncode == 0, out.stderr
        assert "pod/p evicted" in out.stdout
        assert "NotFound" in kubectl("get", "pod", "p", "-n", namespace).stderr
        got = json.loads(kubectl("get", "node", node, "-o", "json", check=True).stdout)
        assert got["spec"]["unschedulable"] is True
    finally:
        kubectl("delete", "node", node, check=True)


def _running(kubectl: Any, namespace: str, pod: str) -> None:
    """Report ``pod``'s container running, as its kubelet would."""
    status = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "main",
                "ready": True,
                "restartCount": 0,
                "image": "i",
                "imageID": "",
                "state": {"running": {}},
            }
        ],
    }
    patch = json.dumps({"status": status})
    kubectl(
        "patch", "pod", pod, "-n", namespace, "--subresource=status", "--type=merge", "-p", patch, check=True
    )


def test_logs_and_exec_without_a_reachable_kubelet_fail_from_the_server(kubectl: Any, namespace: str) -> None:
    # A Node object with no kubelet behind it (the dev cluster's fake kubelets run no containers; a real
    # API server cannot reach one): kube-apiserver fails the request itself.
    node = f"logs-{namespace}"
    kubectl("apply", "-f", "-", input=NODE.format(name=node), check=True)
    try:
        kubectl("apply", "-f", "-", input=BOUND_POD.format(name="p", ns=namespace, node=node), check=True)
        _running(kubectl, namespace, "p")
        logs = kubectl("logs", "p", "-n", namespace, timeout=20)
        assert logs.returncode != 0
        assert logs.stderr.startswith("Error from server"), logs.stderr
        # exec asks for a protocol upgrade; kubectl reports the server's refusal of it as such.
        exec_ = kubectl("exec", "p", "-n", namespace, "--", "ls", timeout=20)
        assert exec_.returncode != 0
        assert exec_.stderr.startswith("error: unable to upgrade connection: "), exec_.stderr
        wrong = kubectl("logs", "p", "-n", namespace, "-c", "nope", timeout=20)
        assert "container nope is not valid for pod p" in wrong.stderr
    finally:
        kubectl("delete", "pod", "p", "-n", namespace, "--grace-period=0", "--force", "--wait=false")
        kubectl("delete", "node", node, check=True)


def test_logs_of_a_pod_on_a_missing_node_are_not_found(kubectl: Any, namespace: str) -> None:
    # The API server looks the kubelet up through the pod's Node object.
    kubectl(
        "apply", "-f", "-", input=BOUND_POD.format(name="p", ns=namespace, node="no-such-node"), check=True
    )
    _running(kubectl, namespace, "p")
    logs = kubectl("logs", "p", "-n", namespace, timeout=20)
    assert logs.returncode != 0
    # kube-apiserver names the pod resource with the node's name.
    assert 'Error from server (NotFound): pods "no-such-node" not found' in logs.stderr


async def test_log_of_a_pod_on_no_node_is_empty_and_exec_is_refused(raw: Any, namespace: str) -> None:
    # kube-apiserver has no kubelet to ask: a log streams nothing (204), exec needs a host.
    path = f"/api/v1/namespaces/{namespace}/pods"
    await raw.ok("POST", path, pod("p", spec={"schedulerName": "no-such-scheduler"}))
    status, body, _ = await raw.request("GET", f"{path}/p/log")
    assert (status, body) == (204, None)
    status, body, _ = await raw.request("POST", f"{path}/p/exec", query={"command": "ls", "stdout": "true"})
    assert status == 400 and body["message"] == "pod p does not have a host assigned", body
