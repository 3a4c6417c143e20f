"""``grove demo`` (what ``make demo`` runs) walks the whole tutorial on its own embedded cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GROVE = str(Path(sys.executable).with_name("grove"))


def test_grove_demo_walks_the_tutorial() -> None:
    result = subprocess.run([GROVE, "demo"], capture_output=True, text=True, timeout=240)
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
