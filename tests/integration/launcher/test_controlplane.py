"""The launcher on real binaries (``GROVE_K8S_ASSETS``; ``make test-k8s`` runs it in a private network
namespace): a control plane it starts answers with the admin credentials and enforces RBAC, and it leaves
no process behind, whether stopped or killed with ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grove.envtest.controlplane import ASSETS_ENV, ControlPlane, ControlPlaneOptions

ASSETS = os.environ.get(ASSETS_ENV)
pytestmark = pytest.mark.skipif(not ASSETS, reason=f"needs real control plane binaries ({ASSETS_ENV})")

_HOLD = """
import sys, time
from pathlib import Path
from grove.envtest.controlplane import ControlPlane, ControlPlaneOptions
plane = ControlPlane(ControlPlaneOptions(assets=Path(sys.argv[1]), scheduler=False)).start()
print(" ".join(str(pid) for pid in plane.pids.values()), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose; it waits for its parent (or init) to reap it.
    status = Path(f"/proc/{pid}/status").read_text() if Path(f"/proc/{pid}/status").exists() else ""
    return "State:\tZ" not in status


def _wait_gone(pids: list[int], timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def test_started_plane_serves_the_admin_and_stops_everything(tmp_path: Path) -> None:
    assert ASSETS is not None
    plane = ControlPlane(ControlPlaneOptions(assets=Path(ASSETS), workdir=tmp_path, scheduler=False)).start()
    pids = list(plane.pids.values())
    try:
        kubectl = str(Path(sys.executable).with_name("kubectl"))
        whoami = subprocess.run(
            [
                kubectl,
                "--kubeconfig",
                str(plane.kubeconfig_path),
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert whoami.stdout == "kubernetes-admin"
        # RBAC is on: an unknown user may do nothing.
        can = subprocess.run(
            [
                kubectl,
                "--kubeconfig",
                str(plane.kubeconfig_path),
                "auth",
                "can-i",
                "list",
                "pods",
                "--as",
                "nobody",
            ],
            capture_output=True,
            text=True,
        )
        assert can.stdout.strip() == "no"
    finally:
        plane.stop()
    assert _wait_gone(pids) == []


def test_killed_launcher_leaves_no_process() -> None:
    assert ASSETS is not None
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, ASSETS], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) == 3, f"expected etcd, kube-apiserver and kube-controller-manager, got {line!r}"
        assert all(_alive(p) for p in pids)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert _wait_gone(pids) == []
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
