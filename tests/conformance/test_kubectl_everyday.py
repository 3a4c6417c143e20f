"""Everyday kubectl commands beyond CRUD: auth can-i/whoami, drain (eviction), logs and exec."""

from __future__ import annotations

import json
from typing import Any

import pytest

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


@pytest.mark.devonly
def test_auth_whoami_names_the_user(kubectl: Any) -> None:
    review = json.loads(kubectl("auth", "whoami", "-o", "json", check=True).stdout)
    assert review["kind"] == "SelfSubjectReview"
    assert review["status"]["userInfo"]["username"] == "system:admin"
    assert "system:authenticated" in review["status"]["userInfo"]["groups"]


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


@pytest.mark.devonly
def test_logs_and_exec_fail_with_a_clear_message(kubectl: Any, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=BOUND_POD.format(name="p", ns=namespace, node="n1"), check=True)
    kubectl(
        "patch",
        "pod",
        "p",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(
            {
                "status": {
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
            }
        ),
        check=True,
    )
    logs = kubectl("logs", "p", "-n", namespace, timeout=20)
    assert logs.returncode == 1
    assert "do not run containers" in logs.stderr and "Traceback" not in logs.stderr
    exec_ = kubectl("exec", "p", "-n", namespace, "--", "ls", timeout=20)
    assert exec_.returncode == 1
    assert "cannot exec into containers" in exec_.stderr
    wrong = kubectl("logs", "p", "-n", namespace, "-c", "nope", timeout=20)
    assert "container nope is not valid for pod p" in wrong.stderr
