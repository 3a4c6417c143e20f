"""Manifests of built-in kinds, ours (``deploy/``) and the operator's (its children), validate strictly
against the official Kubernetes OpenAPI schemas bundled by ``kubernetes-validate``: unknown or misspelt
fields and wrong types, which a real kube-apiserver rejects (or, for unknown fields, drops with a warning),
fail here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from grove.api.admission import admit_create
from grove.api.meta import controller_reference
from grove.controllers.desired import build_headless_service, build_pod, build_podclique, podclique_refs
from grove.controllers.desired.hpa import build_hpas
from grove.controllers.desired.rbac import (
    build_role,
    build_role_binding,
    build_service_account,
    build_token_secret,
)

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
KUBERNETES_VERSION = "1.36.0"
# Kinds no Kubernetes schema describes: Grove's own, Prometheus operator's, kustomize's, kube-scheduler's.
NOT_BUILT_IN = ("grove.io/", "scheduler.grove.io/", "monitoring.coreos.com/", "kustomize.config.k8s.io/")
NOT_BUILT_IN_KINDS = ("KubeSchedulerConfiguration",)


def _built_in_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if not doc or doc["apiVersion"].startswith(NOT_BUILT_IN) or doc["kind"] in NOT_BUILT_IN_KINDS:
                continue
            docs.append((f"{path.relative_to(DEPLOY)}#{i}:{doc['kind']}", doc))
    return docs


def _valid(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(("where", "doc"), _built_in_documents(), ids=[w for w, _ in _built_in_documents()])
def test_deploy_manifest_matches_the_kubernetes_schema(where: str, doc: dict[str, Any]) -> None:
    _valid(doc)


def test_the_operators_children_match_the_kubernetes_schema() -> None:
    manifest = yaml.safe_load((DEPLOY / "samples" / "complete-inference-pipeline.yaml").read_text())
    manifest["metadata"]["namespace"] = "ns"
    template = manifest["spec"]["template"]
    template["cliqueStartupType"] = "CliqueStartupTypeInOrder"
    template["cliques"][0]["spec"]["autoScalingConfig"] = {"maxReplicas": 4}
    template["podCliqueScalingGroups"][0]["scaleConfig"] = {"maxReplicas": 3}
    pcs = admit_create(manifest)
    pcs.metadata.uid = "0b6c3f1e-1111-2222-3333-444455556666"
    owner = controller_reference(pcs)
    name = pcs.metadata.name
    children: list[dict[str, Any]] = [
        build_headless_service(pcs, 0, owner),
        *build_hpas(pcs, 0, owner),
        build_service_account(name, "ns", owner),
        build_role(name, "ns", owner),
        build_role_binding(name, "ns", owner),
        build_token_secret(name, "ns", owner),
    ]
    for ref in podclique_refs(pcs, 0):
        children.append(build_pod(pcs, build_podclique(pcs, ref), ref, 0, "grove:test", owner))
    assert {c["kind"] for c in children} >= {"Pod", "HorizontalPodAutoscaler", "Role", "Secret"}
    assert any("initContainers" in c["spec"] for c in children if c["kind"] == "Pod")
    for child in children:
        _valid(child)
