"""The pure builders of the operator's desired state."""

from __future__ import annotations

from typing import Any

from desired_samples import clique, pcs, sample

from grove.api import labels
from grove.api.meta import ObjectMeta, controller_reference
from grove.api.podgang import NamespacedName
from grove.api.topology import ClusterTopologyBinding
from grove.controllers.desired import (
    PodCliqueRef,
    build_headless_service,
    build_pod,
    build_podclique,
    build_podgangs,
    build_scaling_group,
    expected_podgang_names,
    podclique_ref,
    podclique_refs,
    podgang_of,
    startup_parents,
)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_headless_service_per_replica() -> None:
    p = sample("single-node-aggregated")
    svc = build_headless_service(p, 2)
    assert svc["metadata"]["name"] == "single-node-aggregated-2"
    assert svc["metadata"]["labels"][labels.COMPONENT] == "pcs-headless-service"
    assert svc["spec"] == {
        "clusterIP": "None",
        "selector": {
            "app.kubernetes.io/managed-by": "grove-operator",
            "app.kubernetes.io/part-of": "single-node-aggregated",
            "grove.io/podcliqueset-replica-index": "2",
        },
        "publishNotReadyAddresses": True,
    }


def test_standalone_podclique() -> None:
    p = pcs({"cliques": [clique("fe", 2, autoScalingConfig={"maxReplicas": 4})], "priorityClassName": "high"})
    p.spec.template.cliques[0].labels = {"tier": "web"}
    pclq = build_podclique(p, PodCliqueRef("svc", 1, "fe"))
    assert pclq.metadata.name == "svc-1-fe"
    assert pclq.metadata.namespace == "ns"
    lbl = pclq.metadata.labels
    assert lbl["tier"] == "web"
    assert lbl[labels.COMPONENT] == "pcs-podclique"
    assert lbl[labels.PODGANG] == "svc-1"
    assert lbl[labels.PCS_REPLICA_INDEX] == "1"
    assert labels.POD_TEMPLATE_HASH in lbl and labels.SCALING_GROUP not in lbl
    assert (pclq.spec.role_name, pclq.spec.replicas, pclq.spec.min_available) == ("fe", 2, 2)
    assert pclq.spec.pod_spec["priorityClassName"] == "high"
    assert pclq.spec.auto_scaling_config is not None and pclq.spec.auto_scaling_config.max_replicas == 4
    assert "env" not in pclq.spec.pod_spec["containers"][0]


def test_observed_replicas_win_over_the_template() -> None:
    p = sample("multi-node-aggregated")
    assert (
        build_podclique(
            p, PodCliqueRef(p.metadata.name, 0, "worker", "model-instance", 0), replicas=7
        ).spec.replicas
        == 7
    )
    assert build_scaling_group(p, 0, "model-instance", replicas=5).spec.replicas == 5
    assert build_scaling_group(p, 0, "model-instance").spec.replicas == 2


def test_owner_reference_is_set_when_given() -> None:
    p = sample("single-node-aggregated")
    p.metadata = ObjectMeta(name=p.metadata.name, namespace="default", uid="u-1")
    owner = controller_reference(p)
    pclq = build_podclique(p, PodCliqueRef(p.metadata.name, 0, "model-worker"), owner=owner)
    assert pclq.to_dict()["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "grove.io/v1alpha1",
            "kind": "PodCliqueSet",
            "name": "single-node-aggregated",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert build_headless_service(p, 0, owner)["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert (
        "ownerReferences"
        not in build_podclique(p, PodCliqueRef(p.metadata.name, 0, "model-worker")).to_dict()["metadata"]
    )


def test_scaling_group_and_member_podcliques() -> None:
    p = pcs(
        {
            "cliques": [clique("leader", 1), clique("worker", 3)],
            "podCliqueScalingGroups": [
                {
                    "name": "grp",
                    "cliqueNames": ["leader", "worker"],
                    "replicas": 3,
                    "minAvailable": 2,
                    "annotations": {"a": "b"},
                }
            ],
        }
    )
    pcsg = build_scaling_group(p, 0, "grp")
    assert pcsg.metadata.name == "svc-0-grp"
    assert pcsg.metadata.annotations == {"a": "b"}
    assert pcsg.metadata.labels[labels.COMPONENT] == "pcs-podcliquescalinggroup"
    assert (pcsg.spec.replicas, pcsg.spec.min_available, pcsg.spec.clique_names) == (
        3,
        2,
        ["leader", "worker"],
    )
    base = build_podclique(p, PodCliqueRef("svc", 0, "worker", "grp", 1))
    assert base.metadata.name == "svc-0-grp-1-worker"
    assert base.metadata.labels[labels.PODGANG] == "svc-0"
    assert labels.BASE_PODGANG not in base.metadata.labels
    scaled = build_podclique(p, PodCliqueRef("svc", 0, "worker", "grp", 2))
    assert scaled.metadata.labels[labels.PODGANG] == "svc-0-grp-0"
    assert scaled.metadata.labels[labels.BASE_PODGANG] == "svc-0"
    assert scaled.metadata.labels[labels.SCALING_GROUP] == "svc-0-grp"
    assert scaled.metadata.labels[labels.PCSG_REPLICA_INDEX] == "2"
    assert scaled.metadata.labels[labels.COMPONENT] == "pcsg-podclique"
    env = _env(scaled.spec.pod_spec["containers"][0])
    assert env["GROVE_PCSG_TEMPLATE_NUM_PODS"] == "4"
    assert env["GROVE_PCSG_NAME"] == {
        "fieldRef": {"fieldPath": "metadata.labels['grove.io/podcliquescalinggroup']"}
    }
    assert env["GROVE_PCSG_INDEX"] == {
        "fieldRef": {"fieldPath": "metadata.labels['grove.io/podcliquescalinggroup-replica-index']"}
    }


def test_podclique_refs_and_recovering_a_ref_from_a_podclique() -> None:
    p = sample("complete-inference-pipeline")
    refs = podclique_refs(p, 0, group_replicas={"prefill": 2})
    names = [r.name for r in refs]
    assert names == [
        "comp-inf-ppln-0-frontend",
        "comp-inf-ppln-0-vision-encoder",
        "comp-inf-ppln-0-prefill-0-pleader",
        "comp-inf-ppln-0-prefill-0-pworker",
        "comp-inf-ppln-0-prefill-1-pleader",
        "comp-inf-ppln-0-prefill-1-pworker",
        "comp-inf-ppln-0-decode-cluster-0-dleader",
        "comp-inf-ppln-0-decode-cluster-0-dworker",
    ]
    for ref in refs:
        assert podclique_ref(p, build_podclique(p, ref)) == ref


def test_podgangs_base_and_scaled() -> None:
    p = pcs(
        {
            "cliques": [clique("fe", 2, minAvailable=1), clique("leader", 1), clique("worker", 3)],
            "podCliqueScalingGroups": [{"name": "grp", "cliqueNames": ["leader", "worker"], "replicas": 2}],
            "priorityClassName": "high",
        },
        labels={"team": "a", "grove.io/x": "y"},
    )
    refs = {
        "svc-0-fe": [
            NamespacedName(namespace="ns", name="svc-0-fe-zz"),
            NamespacedName(namespace="ns", name="svc-0-fe-aa"),
        ]
    }
    gangs = build_podgangs(p, 0, group_replicas={"grp": 3}, pod_references=refs)
    assert [g.metadata.name for g in gangs] == ["svc-0", "svc-0-grp-0", "svc-0-grp-1"]
    assert expected_podgang_names(p, 0, {"grp": 3}) == ["svc-0", "svc-0-grp-0", "svc-0-grp-1"]
    base = gangs[0]
    assert [(g.name, g.min_replicas) for g in base.spec.podgroups] == [
        ("svc-0-fe", 1),
        ("svc-0-grp-0-leader", 1),
        ("svc-0-grp-0-worker", 3),
    ]
    assert [r.name for r in base.spec.podgroups[0].pod_references] == ["svc-0-fe-aa", "svc-0-fe-zz"]
    assert base.spec.priority_class_name == "high"
    assert base.metadata.labels["team"] == "a" and "grove.io/x" not in base.metadata.labels
    assert base.metadata.labels[labels.SCHEDULER_NAME] == "default-scheduler"
    assert base.metadata.labels[labels.COMPONENT] == "podgang"
    assert [g.name for g in gangs[2].spec.podgroups] == ["svc-0-grp-2-leader", "svc-0-grp-2-worker"]
    assert base.spec.topology_constraint is None
    assert podgang_of(p, PodCliqueRef("svc", 0, "worker", "grp", 2)) == "svc-0-grp-1"


TOPOLOGY = ClusterTopologyBinding.from_dict(
    {
        "metadata": {"name": "t"},
        "spec": {
            "levels": [
                {"domain": "zone", "key": "k/zone"},
                {"domain": "rack", "key": "k/rack"},
                {"domain": "host", "key": "k/host"},
            ]
        },
    }
)


def _constrained() -> Any:
    return pcs(
        {
            "topologyConstraint": {"topologyName": "t", "pack": {"required": "zone"}},
            "cliques": [
                clique("fe", 1),
                clique("leader", 1),
                {**clique("worker", 2), "topologyConstraint": {"pack": {"required": "host"}}},
            ],
            "podCliqueScalingGroups": [
                {
                    "name": "grp",
                    "cliqueNames": ["leader", "worker"],
                    "replicas": 2,
                    "topologyConstraint": {"pack": {"required": "rack", "preferred": "host"}},
                },
                {"name": "solo", "cliqueNames": ["fe"], "replicas": 2},
            ],
        }
    )


def test_topology_constraints_are_translated_to_node_label_keys() -> None:
    gangs = build_podgangs(_constrained(), 0, topology=TOPOLOGY)
    base = gangs[0].to_dict()
    assert base["metadata"]["annotations"] == {labels.ANNOTATION_TOPOLOGY_NAME: "t"}
    assert base["spec"]["topologyConstraint"] == {"packConstraint": {"required": "k/zone"}}
    assert base["spec"]["topologyConstraintGroupConfigs"] == [
        {
            "name": "svc-0-grp-0",
            "podGroupNames": ["svc-0-grp-0-leader", "svc-0-grp-0-worker"],
            "topologyConstraint": {"packConstraint": {"required": "k/rack", "preferred": "k/host"}},
        }
    ]
    worker = next(g for g in base["spec"]["podgroups"] if g["name"] == "svc-0-grp-0-worker")
    assert worker["topologyConstraint"] == {"packConstraint": {"required": "k/host"}}
    by_name = {g.metadata.name: g.to_dict() for g in gangs}
    assert by_name["svc-0-grp-0"]["spec"]["topologyConstraint"] == {
        "packConstraint": {"required": "k/rack", "preferred": "k/host"}
    }
    assert "topologyConstraintGroupConfigs" not in by_name["svc-0-grp-0"]["spec"]
    # A scaled gang of a group without a constraint falls back to the PodCliqueSet's.
    assert by_name["svc-0-solo-0"]["spec"]["topologyConstraint"] == {"packConstraint": {"required": "k/zone"}}


def test_no_translation_without_a_binding() -> None:
    gang = build_podgangs(_constrained(), 0)[0].to_dict()
    assert "topologyConstraint" not in gang["spec"]
    assert "annotations" not in gang["metadata"]


def test_pod_manifest() -> None:
    p = pcs({"cliques": [clique("fe", 2)]}, name="app")
    p.spec.template.cliques[0].annotations = {"note": "x", labels.ANNOTATION_TOPOLOGY_NAME: "t"}
    p.spec.template.cliques[0].spec.pod_spec["containers"][0]["env"] = [
        {"name": "USER", "value": "1"},
        {"name": "GROVE_PCS_NAME", "value": "mine"},
    ]
    p.spec.template.cliques[0].spec.pod_spec["schedulingGates"] = [{"name": "kueue"}]
    ref = PodCliqueRef("app", 1, "fe")
    pclq = build_podclique(p, ref)
    pod = build_pod(p, pclq, ref, 1, "img:1")
    meta, spec = pod["metadata"], pod["spec"]
    assert (pod["apiVersion"], pod["kind"]) == ("v1", "Pod")
    assert meta["generateName"] == "app-1-fe-"
    assert meta["namespace"] == "ns"
    assert meta["annotations"] == {"note": "x"}
    assert meta["labels"][labels.PODCLIQUE] == "app-1-fe"
    assert meta["labels"][labels.POD_INDEX] == "1"
    assert meta["labels"][labels.PODGANG] == "app-1"
    assert meta["labels"][labels.PCS_REPLICA_INDEX] == "1"
    assert meta["labels"][labels.PART_OF] == "app"
    assert spec["hostname"] == "app-1-fe-1"
    assert spec["subdomain"] == "app-1"
    assert spec["schedulingGates"] == [{"name": "kueue"}, {"name": "grove.io/podgang-pending-creation"}]
    env = spec["containers"][0]["env"]
    assert [e["name"] for e in env] == [
        "GROVE_PCS_NAME",
        "GROVE_PCS_INDEX",
        "GROVE_PCLQ_NAME",
        "GROVE_HEADLESS_SERVICE",
        "GROVE_PCLQ_POD_INDEX",
        "USER",
    ]
    values = _env(spec["containers"][0])
    assert values["GROVE_PCS_NAME"] == "app"
    assert values["GROVE_PCS_INDEX"] == "1"
    assert values["GROVE_PCLQ_NAME"] == "app-1-fe"
    assert values["GROVE_HEADLESS_SERVICE"] == "app-1.ns.svc.cluster.local"
    assert values["GROVE_PCLQ_POD_INDEX"] == {
        "fieldRef": {"fieldPath": "metadata.labels['grove.io/podclique-pod-index']"}
    }
    assert "initContainers" not in spec


def test_pcsg_member_pod_has_pod_then_group_then_user_variables() -> None:
    p = sample("multi-node-aggregated")
    ref = PodCliqueRef(p.metadata.name, 0, "worker", "model-instance", 1)
    pod = build_pod(p, build_podclique(p, ref), ref, 2, "img")
    names = [e["name"] for e in pod["spec"]["containers"][0]["env"]]
    assert names == [
        "GROVE_PCS_NAME",
        "GROVE_PCS_INDEX",
        "GROVE_PCLQ_NAME",
        "GROVE_HEADLESS_SERVICE",
        "GROVE_PCLQ_POD_INDEX",
        "GROVE_PCSG_NAME",
        "GROVE_PCSG_TEMPLATE_NUM_PODS",
        "GROVE_PCSG_INDEX",
    ]
    assert pod["spec"]["hostname"] == "multinode-aggregated-0-model-instance-1-worker-2"


def test_in_order_startup_adds_the_init_container_last() -> None:
    p = pcs({"cliqueStartupType": "CliqueStartupTypeInOrder", "cliques": [clique("a", 2), clique("b", 1)]})
    p.spec.template.cliques[1].spec.pod_spec["initContainers"] = [{"name": "setup", "image": "busybox"}]
    first = build_podclique(p, PodCliqueRef("svc", 0, "a"))
    assert first.spec.starts_after == []
    ref = PodCliqueRef("svc", 0, "b")
    second = build_podclique(p, ref)
    assert second.spec.starts_after == ["svc-0-a"]
    pod = build_pod(p, second, ref, 0, "grove:test")
    init = pod["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["setup", "grove-initc"]
    initc = init[-1]
    assert initc["image"] == "grove:test"
    assert initc["args"] == ["--podcliques=svc-0-a:2"]
    assert [m["mountPath"] for m in initc["volumeMounts"]] == [
        "/var/run/secrets/kubernetes.io/serviceaccount",
        "/var/grove/pod-info",
    ]
    assert initc["env"][0]["name"] == "GROVE_PCS_NAME"
    assert init[0]["env"][0]["name"] == "GROVE_PCS_NAME"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["sa-token-secret-vol"]["secret"] == {"secretName": "svc-ic-sat"}
    assert [i["path"] for i in volumes["pod-info-vol"]["downwardAPI"]["items"]] == [
        "namespace",
        "podgangname",
    ]
    assert "initContainers" not in build_pod(p, first, PodCliqueRef("svc", 0, "a"), 0, "x")["spec"]


def test_explicit_startup_parents_expand_over_base_group_replicas() -> None:
    p = pcs(
        {
            "cliqueStartupType": "CliqueStartupTypeExplicit",
            "cliques": [
                clique("router", 1),
                clique("leader", 1, startsAfter=["router"]),
                clique("worker", 2, minAvailable=1, startsAfter=["leader"]),
                clique("fe", 1, startsAfter=["worker", "router"]),
            ],
            "podCliqueScalingGroups": [
                {"name": "grp", "cliqueNames": ["leader", "worker"], "replicas": 3, "minAvailable": 2}
            ],
        }
    )
    assert startup_parents(p, PodCliqueRef("svc", 0, "fe")) == [
        ("svc-0-grp-0-worker", 1),
        ("svc-0-grp-1-worker", 1),
        ("svc-0-router", 1),
    ]
    assert startup_parents(p, PodCliqueRef("svc", 0, "worker", "grp", 0)) == [
        ("svc-0-grp-0-leader", 1),
        ("svc-0-grp-1-leader", 1),
    ]
    # A scaled group replica only waits for cliques of its own replica.
    assert startup_parents(p, PodCliqueRef("svc", 0, "worker", "grp", 2)) == [("svc-0-grp-2-leader", 1)]
    assert startup_parents(p, PodCliqueRef("svc", 0, "leader", "grp", 2)) == []
    assert build_podclique(p, PodCliqueRef("svc", 0, "leader", "grp", 0)).spec.starts_after == [
        "svc-0-router"
    ]
