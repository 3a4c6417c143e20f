"""``grove render``: the objects of the tutorial samples, and its error path."""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grove.cli import main

SAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "samples"

# Pod names from the tables of the core concepts tutorial, right after each example is applied.
TUTORIAL_PODS = {
    "single-node-aggregated": """
        single-node-aggregated-0-model-worker-n9gcq
        single-node-aggregated-0-model-worker-zfhbb""",
    "single-node-disaggregated": """
        single-node-disaggregated-0-decode-bvl94
        single-node-disaggregated-0-decode-wlqxj
        single-node-disaggregated-0-prefill-tnw26
        single-node-disaggregated-0-prefill-xvvtk
        single-node-disaggregated-0-prefill-zglvn""",
    "multi-node-aggregated": """
        multinode-aggregated-0-model-instance-0-leader-zq4j5
        multinode-aggregated-0-model-instance-0-worker-7kcv7
        multinode-aggregated-0-model-instance-0-worker-829k9
        multinode-aggregated-0-model-instance-0-worker-vrmrb
        multinode-aggregated-0-model-instance-1-leader-t8ptp
        multinode-aggregated-0-model-instance-1-worker-bscfv
        multinode-aggregated-0-model-instance-1-worker-sgd6r
        multinode-aggregated-0-model-instance-1-worker-vpkwb""",
    "multi-node-disaggregated": """
        multinode-disaggregated-0-decode-0-dleader-khqxf
        multinode-disaggregated-0-decode-0-dworker-6d7cq
        multinode-disaggregated-0-decode-0-dworker-g6ksp
        multinode-disaggregated-0-prefill-0-pleader-f5w5j
        multinode-disaggregated-0-prefill-0-pworker-7spmm
        multinode-disaggregated-0-prefill-0-pworker-jgnkq
        multinode-disaggregated-0-prefill-0-pworker-v49gf
        multinode-disaggregated-0-prefill-0-pworker-xst4z
        multinode-disaggregated-0-prefill-1-pleader-xwf45
        multinode-disaggregated-0-prefill-1-pworker-6jrpz
        multinode-disaggregated-0-prefill-1-pworker-bd5ct
        multinode-disaggregated-0-prefill-1-pworker-fdl7s
        multinode-disaggregated-0-prefill-1-pworker-kpplp""",
    "complete-inference-pipeline": """
        comp-inf-ppln-0-decode-cluster-0-dleader-wr7r2
        comp-inf-ppln-0-decode-cluster-0-dworker-4nm98
        comp-inf-ppln-0-decode-cluster-0-dworker-wqzb9
        comp-inf-ppln-0-frontend-fxxsg
        comp-inf-ppln-0-frontend-shp8h
        comp-inf-ppln-0-prefill-0-pleader-vgz8n
        comp-inf-ppln-0-prefill-0-pworker-95jls
        comp-inf-ppln-0-prefill-0-pworker-k8bck
        comp-inf-ppln-0-prefill-0-pworker-qlsb9
        comp-inf-ppln-0-prefill-0-pworker-wfxdg
        comp-inf-ppln-0-vision-encoder-rwvz5""",
}


def _table(capsys: pytest.CaptureFixture[str], *args: str) -> list[list[str]]:
    assert main(["render", *args, "-o", "table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "DETAILS"]
    return [line.split() for line in lines[1:]]


@pytest.mark.parametrize("sample", TUTORIAL_PODS)
def test_pod_names_and_counts_match_the_tutorial(sample: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _table(capsys, str(SAMPLES / f"{sample}.yaml"))
    rendered = collections.Counter(row[1] for row in rows if row[0] == "Pod")
    # The API server appends 5 random characters to the generateName.
    expected = collections.Counter(name[:-5] for name in TUTORIAL_PODS[sample].split())
    assert rendered == expected


def test_multi_node_disaggregated_table(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _table(capsys, str(SAMPLES / "multi-node-disaggregated.yaml"))
    kinds = collections.Counter(row[0] for row in rows)
    assert kinds == {"Service": 1, "PodCliqueScalingGroup": 2, "PodClique": 6, "PodGang": 2, "Pod": 13}
    hostnames = sorted(row[2] for row in rows if row[0] == "Pod")
    assert hostnames[:3] == [
        "hostname=multinode-disaggregated-0-decode-0-dleader-0",
        "hostname=multinode-disaggregated-0-decode-0-dworker-0",
        "hostname=multinode-disaggregated-0-decode-0-dworker-1",
    ]
    gangs = [row[1] for row in rows if row[0] == "PodGang"]
    assert gangs == ["multinode-disaggregated-0", "multinode-disaggregated-0-prefill-0"]


def test_yaml_output_is_kubernetes_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(SAMPLES / "single-node-disaggregated.yaml")]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["Service", "PodClique", "PodClique", "PodGang"] + ["Pod"] * 5
    pod = docs[4]
    assert pod["metadata"]["generateName"] == "single-node-disaggregated-0-prefill-"
    assert pod["spec"]["hostname"] == "single-node-disaggregated-0-prefill-0"
    assert pod["spec"]["subdomain"] == "single-node-disaggregated-0"
    assert pod["metadata"]["labels"]["grove.io/podclique"] == "single-node-disaggregated-0-prefill"
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["GROVE_HEADLESS_SERVICE"] == "single-node-disaggregated-0.default.svc.cluster.local"
    assert docs[1]["apiVersion"] == "grove.io/v1alpha1"
    assert docs[3]["apiVersion"] == "scheduler.grove.io/v1alpha1"


def test_replicas_multiply_every_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load((SAMPLES / "single-node-aggregated.yaml").read_text())
    data["spec"]["replicas"] = 3
    path = tmp_path / "pcs.yaml"
    path.write_text(yaml.safe_dump(data))
    rows = _table(capsys, str(path))
    assert [row[1] for row in rows if row[0] == "Service"] == [
        f"single-node-aggregated-{i}" for i in range(3)
    ]
    assert sum(1 for row in rows if row[0] == "Pod") == 6


def test_topology_file_translates_constraints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load((SAMPLES / "multi-node-aggregated.yaml").read_text())
    data["spec"]["template"]["topologyConstraint"] = {"topologyName": "t", "pack": {"required": "rack"}}
    (tmp_path / "pcs.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "ct.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "grove.io/v1alpha1",
                "kind": "ClusterTopologyBinding",
                "metadata": {"name": "t"},
                "spec": {"levels": [{"domain": "rack", "key": "example.com/rack"}]},
            }
        )
    )
    assert main(["render", str(tmp_path / "pcs.yaml"), "--topology", str(tmp_path / "ct.yaml")]) == 0
    gangs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d["kind"] == "PodGang"]
    assert gangs[0]["spec"]["topologyConstraint"] == {"packConstraint": {"required": "example.com/rack"}}


def test_invalid_manifest_prints_field_errors_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load((SAMPLES / "multi-node-aggregated.yaml").read_text())
    data["spec"]["template"]["podCliqueScalingGroups"][0]["cliqueNames"] = ["leader", "wrker"]
    data["spec"]["template"]["cliques"][0]["spec"]["minAvailable"] = 2
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["render", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    t = "  spec.template"
    assert captured.err.splitlines() == [
        'PodCliqueSet "multinode-aggregated" is invalid:',
        f"{t}.cliques[0].spec.minAvailable: Invalid value: 2: must not be greater than replicas (1)",
        f'{t}.podCliqueScalingGroups[0].cliqueNames[1]: Invalid value: "wrker": no clique named "wrker"',
    ]


def test_error_path_has_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: grove.io/v1alpha1\nkind: PodCliqueSet\nmetadata: {name: x}\nspec: {replicas: two}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "grove", "render", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert 'spec.replicas: Invalid value: "string": must be of type integer' in proc.stderr
    assert "spec.template: Required value" in proc.stderr


def test_unreadable_input_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(tmp_path / "missing.yaml")]) == 1
    assert "error:" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("a: [")
    assert main(["render", str(tmp_path / "bad.yaml")]) == 1
    (tmp_path / "list.yaml").write_text("- 1\n")
    assert main(["render", str(tmp_path / "list.yaml")]) == 1
    assert "must be an object" in capsys.readouterr().err
