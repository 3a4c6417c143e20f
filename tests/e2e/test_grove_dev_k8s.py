"""``grove dev --k8s-assets`` (real tier only): the same dev experience on a real control plane, with kubectl
applying a sample that becomes Running pods on the fake nodes, Grove's webhook refusing a bad manifest, and
a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

from grove.envtest.controlplane import ASSETS_ENV
from grove_dev_process import grove_dev, kubectl

ASSETS = os.environ.get(ASSETS_ENV)
SAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "samples"
pytestmark = pytest.mark.skipif(not ASSETS, reason=f"needs real control plane binaries ({ASSETS_ENV})")


def test_grove_dev_runs_grove_on_a_real_control_plane(tmp_path: Path) -> None:
    assert ASSETS is not None
    sample = SAMPLES / "single-node-aggregated.yaml"
    with grove_dev(tmp_path, "--k8s-assets", ASSETS, "--nodes", "8", timeout=120) as dev:
        whoami = kubectl(
            dev.kubeconfig, tmp_path, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"
        )
        assert whoami.stdout == "kubernetes-admin", whoami.stderr
        applied = kubectl(dev.kubeconfig, tmp_path, "apply", "-f", str(sample))
        assert applied.returncode == 0, applied.stderr

        deadline = time.monotonic() + 60
        while True:
            selector = "app.kubernetes.io/part-of=single-node-aggregated"
            got = kubectl(dev.kubeconfig, tmp_path, "get", "pods", "-l", selector, "-o", "json")
            pods = json.loads(got.stdout)["items"] if got.returncode == 0 else []
            if len(pods) == 2 and all(p["status"].get("phase") == "Running" for p in pods):
                break
            assert time.monotonic() < deadline, f"pods not Running: {got.stdout[-2000:]}{got.stderr}"
            time.sleep(0.2)
        assert all(p["spec"]["nodeName"].startswith("fake-node-") for p in pods)

        bad = yaml.safe_load(sample.read_text())
        bad["metadata"]["name"] = "bad"
        bad["spec"]["template"]["podCliqueScalingGroups"] = [{"name": "sg", "cliqueNames": ["nope"]}]
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
        refused = kubectl(dev.kubeconfig, tmp_path, "apply", "-f", str(tmp_path / "bad.yaml"))
        assert refused.returncode != 0
        assert refused.stderr.startswith('The PodCliqueSet "bad" is invalid: '), refused.stderr
        assert 'cliqueNames[0]: Invalid value: "nope": no clique named "nope"' in refused.stderr
    assert dev.returncode == 0, dev.output[-4000:]
    assert "Grove is running on a real control plane" in dev.output
    assert "runs under ServiceAccount grove-system/grove-operator" in dev.output
