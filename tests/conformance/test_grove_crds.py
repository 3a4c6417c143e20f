"""Grove's own CRDs and samples (``deploy/``) served by the cluster, through real kubectl."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_samples_apply_get_scale_and_delete(kubectl: Any, grove_crds_installed: Path) -> None:
    samples = sorted((DEPLOY / "samples").glob("*.yaml"))
    assert samples
    names: list[tuple[str, str]] = []
    try:
        for sample in samples:
            out = json.loads(kubectl("apply", "-f", str(sample), "-o", "json", check=True).stdout)
            names.append((out["metadata"]["namespace"], out["metadata"]["name"]))
        ns, name = names[0]
        kubectl("scale", "pcs", name, "-n", ns, "--replicas=2", check=True)
        got = json.loads(kubectl("get", "pcs", name, "-n", ns, "-o", "json", check=True).stdout)
        assert got["spec"]["replicas"] == 2
        table = kubectl("get", "pcs", "-n", ns, check=True).stdout.splitlines()
        assert table[0].split()[0] == "NAME"
        assert {line.split()[0] for line in table[1:]} >= {n for s, n in names if s == ns}
    finally:
        for sample in samples:
            kubectl("delete", "-f", str(sample), "--ignore-not-found", "--timeout=30s")


def test_explain_podcliqueset_spec(kubectl: Any, grove_crds_installed: Path) -> None:
    out = kubectl("explain", "pcs.spec", check=True).stdout
    assert "KIND:       PodCliqueSet" in out
    assert "template" in out
