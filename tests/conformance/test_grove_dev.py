"""``grove dev`` starts quickly, writes a working kubeconfig and shuts down cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

GROVE = str(Path(sys.executable).with_name("grove"))
KUBECTL = str(Path(sys.executable).with_name("kubectl"))


def test_grove_dev_serves_kubectl_and_stops_on_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [GROVE, "dev", "--port", "0", "--nodes", "0", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not kubeconfig.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "kubeconfig not written"
            time.sleep(0.05)
        out = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "namespaces", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"KUBECACHEDIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
        )
        assert out.returncode == 0, out.stderr
        assert "namespace/default" in out.stdout.split()
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "export KUBECONFIG=" in output
    # grove dev installs Grove's CRDs itself: no instruction to apply them.
    assert "deploy/crds" not in output
    assert "kubectl apply -f deploy/samples/single-node-aggregated.yaml" in output


def test_tls_cluster_serves_kubectl(tmp_path: Path) -> None:
    from grove.devcluster import ThreadedDevCluster

    dev = ThreadedDevCluster(tls=True)
    dev.start()
    try:
        assert dev.url.startswith("https://")
        out = subprocess.run(
            [KUBECTL, "--kubeconfig", dev.kubeconfig_path, "get", "namespaces", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"KUBECACHEDIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
        )
        assert out.returncode == 0, out.stderr
        assert "namespace/kube-system" in out.stdout.split()
    finally:
        dev.stop()
