"""``grove demo`` (what ``make demo`` runs) walks the whole tutorial on its own embedded cluster, and, with
``--k8s-assets`` on the real tier, on a real control plane of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grove.envtest.controlplane import ASSETS_ENV
from grove.envtest.netns import interfaces

GROVE = str(Path(sys.executable).with_name("grove"))
ASSETS = os.environ.get(ASSETS_ENV)


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param([], id="emulator"),
        pytest.param(
            ["--k8s-assets", ASSETS or ""],
            id="real-control-plane",
            marks=pytest.mark.skipif(not ASSETS, reason=f"needs real control plane binaries ({ASSETS_ENV})"),
        ),
    ],
)
def test_grove_demo_walks_the_tutorial(flags: list[str]) -> None:
    result = subprocess.run([GROVE, "demo", *flags], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    out = result.stdout
    for title in (
        "Example 1: Single-Node Aggregated Inference",
        "Example 2: Single-Node Disaggregated Inference",
        "Example 3: Multi-Node Aggregated Inference",
        "Example 4: Multi-Node Disaggregated Inference",
        "Example 5: Complete Inference Pipeline",
    ):
        assert f"== {title}" in out
    assert "$ kubectl scale pclq multinode-aggregated-0-model-instance-0-worker --replicas=4" in out
    assert "NAME   " in out and "NOMINATED NODE   READINESS GATES" in out
    assert (
        out.rstrip()
        .splitlines()[-1]
        .startswith("OK: all 16 steps of the tutorial reached the state it shows")
    )


def test_grove_demo_rejects_bad_flags() -> None:
    result = subprocess.run(
        [GROVE, "demo", "--samples", "/nonexistent", "--nodes", "0"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "grove demo: --samples: /nonexistent has no single-node-aggregated.yaml" in result.stderr
    assert "grove demo: --nodes: must be >= 1, got 0" in result.stderr


def test_grove_demo_on_real_binaries_says_what_stops_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [GROVE, "demo", "--k8s-assets", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    if interfaces() == ["lo"]:
        # Inside a private network namespace (the real tier): the empty directory is what is wrong.
        assert f"grove demo: --k8s-assets: {ASSETS_ENV}={tmp_path}: no executable etcd" in result.stderr
    else:
        assert "grove demo: --k8s-assets: refusing to start a Kubernetes control plane" in result.stderr
        assert "unshare --net" in result.stderr
