"""``grove dev --nodes N`` runs fake nodes, kubelets and the scheduler; bad flags get a clear error."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from grove_dev_process import GROVE, grove_dev, kubectl


def test_grove_dev_with_nodes_serves_them_with_the_requested_shape(tmp_path: Path) -> None:
    shape = ("--nodes", "3", "--node-cpu", "4", "--node-gpus", "2")
    with grove_dev(tmp_path, *shape, "--topology", "zone=topology.kubernetes.io/zone:2") as dev:
        out = kubectl(dev.kubeconfig, tmp_path, "get", "nodes", "-o", "json")
        assert out.returncode == 0, out.stderr
        nodes = json.loads(out.stdout)["items"]
        assert [n["metadata"]["name"] for n in nodes] == ["fake-node-000", "fake-node-001", "fake-node-002"]
        assert nodes[0]["status"]["allocatable"]["cpu"] == "4"
        assert nodes[0]["status"]["allocatable"]["nvidia.com/gpu"] == "2"
        zones = [n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes]
        assert zones == ["zone-0", "zone-0", "zone-1"]
        assert nodes[0]["spec"]["taints"] == [{"key": "fake-node", "value": "true", "effect": "NoSchedule"}]
    assert dev.returncode == 0, dev.output


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
