"""Defaulting of PodCliqueSets."""

from __future__ import annotations

from api_samples import load_sample

from grove.api.defaults import default_podcliqueset
from grove.api.podcliqueset import PodCliqueSet


def _pcs(**template: object) -> PodCliqueSet:
    data = load_sample("multi-node-aggregated")
    data["metadata"].pop("namespace")
    data["spec"]["template"].update(template)
    return PodCliqueSet.from_dict(data)


def test_defaults_fill_every_field_of_the_webhook() -> None:
    pcs = _pcs()
    d = default_podcliqueset(pcs)
    assert d.metadata.namespace == "default"
    t = d.spec.template
    assert t.clique_startup_type == "CliqueStartupTypeAnyOrder"
    assert t.termination_delay == "4h"
    assert t.headless_service_config is not None and t.headless_service_config.publish_not_ready_addresses
    worker = t.cliques[1].spec
    assert (worker.role_name, worker.replicas, worker.min_available) == ("worker", 3, 3)
    assert worker.pod_spec["restartPolicy"] == "Always"
    assert worker.pod_spec["terminationGracePeriodSeconds"] == 30
    group = t.pod_clique_scaling_groups[0]
    assert (group.replicas, group.min_available) == (2, 1)
    dumped = d.to_dict()["spec"]["template"]
    assert dumped["terminationDelay"] == "4h"
    assert dumped["podCliqueScalingGroups"][0]["minAvailable"] == 1


def test_defaulting_returns_a_copy() -> None:
    pcs = _pcs()
    before = pcs.to_dict()
    default_podcliqueset(pcs)
    assert pcs.to_dict() == before


def test_role_name_defaults_to_clique_name_and_explicit_values_are_kept() -> None:
    pcs = PodCliqueSet.from_dict(load_sample("single-node-aggregated"))
    assert default_podcliqueset(pcs).spec.template.cliques[0].spec.role_name == "model-worker"
    pcs.spec.template.cliques[0].spec.role_name = "custom"
    assert default_podcliqueset(pcs).spec.template.cliques[0].spec.role_name == "custom"


def test_zero_replicas_become_one_and_min_available_follows_defaulted_replicas() -> None:
    data = load_sample("single-node-aggregated")
    del data["spec"]["template"]["cliques"][0]["spec"]["replicas"]
    spec = default_podcliqueset(PodCliqueSet.from_dict(data)).spec.template.cliques[0].spec
    assert (spec.replicas, spec.min_available) == (1, 1)


def test_autoscaling_min_replicas_default_to_replicas() -> None:
    data = load_sample("multi-node-aggregated")
    data["spec"]["template"]["cliques"].append(
        {
            "name": "frontend",
            "spec": {
                "replicas": 2,
                "podSpec": {"containers": [{"name": "c"}]},
                "autoScalingConfig": {"maxReplicas": 5},
            },
        }
    )
    data["spec"]["template"]["podCliqueScalingGroups"][0]["scaleConfig"] = {"maxReplicas": 4}
    t = default_podcliqueset(PodCliqueSet.from_dict(data)).spec.template
    scaling = t.cliques[2].spec.auto_scaling_config
    assert scaling is not None and scaling.min_replicas == 2
    group_scaling = t.pod_clique_scaling_groups[0].scale_config
    assert group_scaling is not None and group_scaling.min_replicas == 2


def test_explicit_values_are_not_overwritten() -> None:
    pcs = _pcs(terminationDelay="10m", headlessServiceConfig={"publishNotReadyAddresses": False})
    pcs.spec.template.cliques[0].spec.pod_spec["restartPolicy"] = "Never"
    t = default_podcliqueset(pcs).spec.template
    assert t.termination_delay == "10m"
    assert t.headless_service_config is not None and not t.headless_service_config.publish_not_ready_addresses
    assert t.cliques[0].spec.pod_spec["restartPolicy"] == "Never"


def test_update_strategy_type_defaults_when_present() -> None:
    data = load_sample("single-node-aggregated")
    data["spec"]["updateStrategy"] = {}
    d = default_podcliqueset(PodCliqueSet.from_dict(data))
    assert d.to_dict()["spec"]["updateStrategy"] == {"type": "RollingRecreate"}
