"""deploy/scheduler stays consistent with the extender's defaults."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from grove.devcluster.nodes import NodeShape, TopologyLevel
from grove.devstack import dev_topology, scheduler_configuration
from grove.scheduler.command import add_arguments, options_from_args
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


def test_the_deployment_runs_the_extender_where_kube_scheduler_calls_it() -> None:
    (deployment, _service) = _docs("deployment.yaml")
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    args = containers["extender"]["args"]
    assert args[0] == "scheduler-extender"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = options_from_args(parser.parse_args(args[1:]))
    (config,) = _docs("kube-scheduler-config.yaml")
    url = urlsplit(config["extenders"][0]["urlPrefix"])
    assert (url.hostname, url.port, url.path) == (options.host, options.port, options.server.url_prefix)
    assert options.leader_election is not None
    assert options.leader_election.lease_namespace == deployment["metadata"]["namespace"]
    leases = _docs("rbac.yaml")
    (role,) = [d for d in leases if d["kind"] == "Role" and d["metadata"]["name"] == "grove-scheduler-leases"]
    assert options.leader_election.lease_name in role["rules"][1]["resourceNames"]
    ports = {p["name"]: p["containerPort"] for p in containers["extender"]["ports"]}
    assert ports["metrics"] == options.metrics_port
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_grove_dev_configures_its_scheduler_as_deployed_but_local() -> None:
    (deployed,) = _docs("kube-scheduler-config.yaml")
    local = scheduler_configuration("http://127.0.0.1:4242/scheduler")
    for doc in (deployed, local):
        doc.pop("leaderElection", None)
    assert local["extenders"][0].pop("urlPrefix") == "http://127.0.0.1:4242/scheduler"
    deployed["extenders"][0].pop("urlPrefix")
    assert local == deployed


def test_dev_topology_names_the_fake_nodes_labels_then_the_host() -> None:
    shape = NodeShape(
        topology=(TopologyLevel("zone", "z.example/zone", 4), TopologyLevel("rack", "r.example/rack", 2))
    )
    assert dev_topology(shape)["spec"]["levels"] == [
        {"domain": "zone", "key": "z.example/zone"},
        {"domain": "rack", "key": "r.example/rack"},
        {"domain": "host", "key": "kubernetes.io/hostname"},
    ]
    assert dev_topology(NodeShape(topology=()))["spec"]["levels"] == [
        {"domain": "host", "key": "kubernetes.io/hostname"}
    ]
