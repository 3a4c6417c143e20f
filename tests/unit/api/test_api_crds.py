"""Generated CRDs: accepted by the apiextensions v1 rules, and identical to what deploy/crds holds."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from crd_rules import crd_problems, resolve

from grove.api.crds import CRD_KINDS, crd_manifest, crd_manifests, crds_yaml
from grove.cli import main

CRD_DIR = Path(__file__).resolve().parents[3] / "deploy" / "crds"


@pytest.fixture(scope="module")
def crds() -> dict[str, dict[str, Any]]:
    return {c["spec"]["names"]["kind"]: c for c in crd_manifests()}


def test_every_crd_passes_the_api_server_rules(crds: dict[str, dict[str, Any]]) -> None:
    for kind, crd in crds.items():
        assert crd_problems(crd) == [], kind


def test_committed_crds_match_the_generator() -> None:
    committed = {p.name: p.read_text() for p in CRD_DIR.glob("*.yaml")}
    assert committed.keys() == crds_yaml().keys(), "run `make crds`"
    for name, text in crds_yaml().items():
        assert committed[name] == text, f"deploy/crds/{name} is stale: run `make crds`"


def test_grove_crds_prints_all_documents(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["metadata"]["name"] for d in docs] == [
        "podcliquesets.grove.io",
        "podcliques.grove.io",
        "podcliquescalinggroups.grove.io",
        "clustertopologybindings.grove.io",
        "podgangs.scheduler.grove.io",
    ]


def test_grove_crds_writes_one_file_per_crd(tmp_path: Path) -> None:
    assert main(["crds", "--write", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(crds_yaml())


def test_names_scale_subresources_and_columns(crds: dict[str, dict[str, Any]]) -> None:
    shorts = {k: c["spec"]["names"]["shortNames"] for k, c in crds.items()}
    assert shorts == {
        "PodCliqueSet": ["pcs"],
        "PodClique": ["pclq"],
        "PodCliqueScalingGroup": ["pcsg"],
        "ClusterTopologyBinding": ["ct"],
        "PodGang": ["pg"],
    }
    assert all(c["spec"]["names"]["categories"] == ["grove"] for c in crds.values())
    assert crds["ClusterTopologyBinding"]["spec"]["scope"] == "Cluster"
    scale = {k: c["spec"]["versions"][0]["subresources"].get("scale") for k, c in crds.items()}
    assert scale["PodCliqueScalingGroup"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    assert scale["PodCliqueSet"]["labelSelectorPath"] == ".status.hpaPodSelector"
    assert scale["PodClique"]["labelSelectorPath"] == ".status.hpaPodSelector"
    assert scale["PodGang"] is None and scale["ClusterTopologyBinding"] is None
    columns = [c["name"] for c in crds["PodClique"]["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["MinAvail", "Replicas", "Ready", "Scheduled", "Updated", "Gated", "MinBreached", "Age"]


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_schema_defaults_and_list_types(crds: dict[str, dict[str, Any]]) -> None:
    pcs = _schema(crds["PodCliqueSet"])
    template = resolve(pcs, ".spec.template")
    assert template is not None
    assert template["properties"]["cliqueStartupType"]["default"] == "CliqueStartupTypeAnyOrder"
    assert template["properties"]["cliques"]["x-kubernetes-list-type"] == "map"
    assert template["properties"]["cliques"]["x-kubernetes-list-map-keys"] == ["name"]
    group = resolve(pcs, ".spec.template.podCliqueScalingGroups[*]")
    assert group is not None
    assert group["properties"]["replicas"]["default"] == 1
    assert group["properties"]["minAvailable"]["default"] == 1
    clique_spec = resolve(pcs, ".spec.template.cliques[*].spec")
    assert clique_spec is not None and "roleName" not in clique_spec["required"]
    containers = resolve(pcs, ".spec.template.cliques[*].spec.podSpec.containers")
    assert containers is not None and containers["x-kubernetes-list-map-keys"] == ["name"]
    ports = resolve(pcs, ".spec.template.cliques[*].spec.podSpec.containers[*].ports")
    assert ports is not None and ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    assert ports["items"]["properties"]["protocol"]["default"] == "TCP"
    cpu = resolve(pcs, ".spec.template.cliques[*].spec.podSpec.containers[*].resources.requests")
    assert cpu is not None and cpu["additionalProperties"]["x-kubernetes-int-or-string"] is True
    port = resolve(pcs, ".spec.template.cliques[*].spec.podSpec.containers[*].livenessProbe.httpGet.port")
    assert port is not None and port["x-kubernetes-int-or-string"] is True
    pcsg = _schema(crds["PodCliqueScalingGroup"])
    assert resolve(pcsg, ".spec.replicas") == {
        "type": "integer",
        "format": "int32",
        "default": 1,
        "minimum": 0,
        "description": "Number of replicas of the group (each a full set of its cliques).",
    }


def test_preserve_unknown_fields_only_where_kubernetes_uses_it(crds: dict[str, dict[str, Any]]) -> None:
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("x-kubernetes-preserve-unknown-fields"):
                found.append(path)
            for key, value in node.items():
                walk(value, f"{path}.{key}")

    for kind, crd in crds.items():
        walk(_schema(crd), kind)
    assert found and all(p.endswith("opaque.properties.parameters") for p in found)


def test_samples_validate_against_the_crd_schema(crds: dict[str, dict[str, Any]]) -> None:
    from api_samples import SAMPLE_NAMES, load_sample

    from grove.api.errors import Path as FieldPath
    from grove.api.schema_check import check_schema

    schema = _schema(crds["PodCliqueSet"])
    for name in SAMPLE_NAMES:
        assert check_schema(load_sample(name), schema, FieldPath()) == [], name


# The rule checker itself must catch what a real API server rejects.
def _broken(kind: str, change: Any) -> list[str]:
    by_kind = {k.model.KIND: k for k in CRD_KINDS}
    crd = copy.deepcopy(crd_manifest(by_kind[kind]))
    change(crd)
    return crd_problems(crd)


def test_checker_rejects_untyped_nodes() -> None:
    def drop_type(crd: dict[str, Any]) -> None:
        del _schema(crd)["properties"]["spec"]["properties"]["cliqueNames"]["type"]

    assert any("type is required" in p for p in _broken("PodCliqueScalingGroup", drop_type))


def test_checker_rejects_list_map_keys_that_are_neither_required_nor_defaulted() -> None:
    def drop_default(crd: dict[str, Any]) -> None:
        ports = resolve(_schema(crd), ".spec.podSpec.containers[*].ports")
        assert ports is not None
        del ports["items"]["properties"]["protocol"]["default"]

    assert any("must be required or have a default" in p for p in _broken("PodClique", drop_default))


def test_checker_rejects_scale_paths_missing_from_the_schema() -> None:
    def bad_selector(crd: dict[str, Any]) -> None:
        crd["spec"]["versions"][0]["subresources"]["scale"]["labelSelectorPath"] = ".status.podSelector"

    assert any("not in the schema" in p for p in _broken("PodCliqueScalingGroup", bad_selector))


def test_checker_rejects_properties_with_additional_properties() -> None:
    def both(crd: dict[str, Any]) -> None:
        _schema(crd)["properties"]["spec"]["additionalProperties"] = {"type": "string"}

    assert any("mutually exclusive" in p for p in _broken("PodGang", both))


def test_checker_rejects_inconsistent_names() -> None:
    def rename(crd: dict[str, Any]) -> None:
        crd["metadata"]["name"] = "podgang.scheduler.grove.io"

    assert any("metadata.name" in p for p in _broken("PodGang", rename))
