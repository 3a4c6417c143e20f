"""``grove dev`` starts quickly, writes a working kubeconfig and shuts down cleanly on SIGTERM."""

from __future__ import annotations

from pathlib import Path

from grove_dev_process import grove_dev, kubectl


def test_grove_dev_serves_kubectl_and_stops_on_sigterm(tmp_path: Path) -> None:
    with grove_dev(tmp_path, "--nodes", "0") as dev:
        out = kubectl(dev.kubeconfig, tmp_path, "get", "namespaces", "-o", "name")
        assert out.returncode == 0, out.stderr
        assert "namespace/default" in out.stdout.split()
    assert dev.returncode == 0, dev.output
    assert "export KUBECONFIG=" in dev.output
    # grove dev installs Grove's CRDs itself: no instruction to apply them.
    assert "deploy/crds" not in dev.output
    assert "kubectl apply -f deploy/samples/single-node-aggregated.yaml" in dev.output


def test_tls_cluster_serves_kubectl(tmp_path: Path) -> None:
    from grove.devcluster import ThreadedDevCluster

    dev = ThreadedDevCluster(tls=True)
    dev.start()
    try:
        assert dev.url.startswith("https://")
        out = kubectl(dev.kubeconfig_path, tmp_path, "get", "namespaces", "-o", "name")
        assert out.returncode == 0, out.stderr
        assert "namespace/kube-system" in out.stdout.split()
    finally:
        dev.stop()
