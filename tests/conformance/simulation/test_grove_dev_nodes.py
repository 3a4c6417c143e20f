"""``grove dev --nodes N`` runs fake nodes, kubelets and the scheduler; bad flags get a clear error."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

GROVE = str(Path(sys.executable).with_name("grove"))
KUBECTL = str(Path(sys.executable).with_name("kubectl"))


def test_grove_dev_with_nodes_serves_them_with_the_requested_shape(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [
            GROVE,
            "dev",
            "--port",
            "0",
            "--nodes",
            "3",
            "--node-cpu",
            "4",
            "--node-gpus",
            "2",
            "--topology",
            "zone=topology.kubernetes.io/zone:2",
            "--kubeconfig",
            str(kubeconfig),
        ],
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
            [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"KUBECACHEDIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
        )
        assert out.returncode == 0, out.stderr
        nodes = json.loads(out.stdout)["items"]
        assert [n["metadata"]["name"] for n in nodes] == ["fake-node-000", "fake-node-001", "fake-node-002"]
        assert nodes[0]["status"]["allocatable"]["cpu"] == "4"
        assert nodes[0]["status"]["allocatable"]["nvidia.com/gpu"] == "2"
        zones = [n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes]
        assert zones == ["zone-0", "zone-0", "zone-1"]
        assert nodes[0]["spec"]["taints"] == [{"key": "fake-node", "value": "true", "effect": "NoSchedule"}]
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output


def test_grove_dev_rejects_a_bad_scheduler_config_with_the_reason(tmp_path: Path) -> None:
    config = tmp_path / "scheduler.yaml"
    config.write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
        "extenders:\n- urlPrefix: http://127.0.0.1:1\n  prioritizeVerb: prioritize\n"
    )
    out = subprocess.run(
        [
            GROVE,
            "dev",
            "--port",
            "0",
            "--scheduler-config",
            str(config),
            "--kubeconfig",
            str(tmp_path / "kc"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "extenders[0].weight: Invalid value: 0: must have a positive weight applied to it" in out.stderr
