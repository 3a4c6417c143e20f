"""deploy/scheduler stays consistent with the extender's defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from grove.scheduler.server import ServerConfig

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "scheduler"


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def test_scheduler_configuration_uses_the_extender_as_served() -> None:
    (config,) = _docs("kube-scheduler-config.yaml")
    assert config["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    (profile,) = config["profiles"]
    assert profile["schedulerName"] == "grove-scheduler"
    assert profile["percentageOfNodesToScore"] == 100
    (ext,) = config["extenders"]
    defaults = ServerConfig()
    assert ext["urlPrefix"].endswith(defaults.url_prefix)
    assert (ext["filterVerb"], ext["prioritizeVerb"], ext["bindVerb"]) == (
        defaults.filter_verb,
        defaults.prioritize_verb,
        defaults.bind_verb,
    )
    assert ext["nodeCacheCapable"] is True
    assert ext["ignorable"] is False


def test_rbac_covers_what_the_extender_does() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _docs("rbac.yaml")}
    rules = docs[("ClusterRole", "grove-scheduler-extender")]["rules"]
    granted = {
        (g, r, v)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    for needed in [
        ("", "nodes", "watch"),
        ("", "pods", "watch"),
        ("", "pods/binding", "create"),
        ("scheduler.grove.io", "podgangs", "watch"),
        ("grove.io", "clustertopologybindings", "watch"),
        ("events.k8s.io", "events", "create"),
    ]:
        assert needed in granted
    assert (
        docs[("RoleBinding", "grove-scheduler-extension-apiserver-authentication-reader")]["metadata"][
            "namespace"
        ]
        == "kube-system"
    )
