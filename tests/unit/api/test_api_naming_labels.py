"""Generated names, labels and hashes (reference §2)."""

from __future__ import annotations

import copy

from api_samples import load_sample

from grove.api import labels, naming
from grove.api.hashing import pod_template_hash, podcliqueset_generation_hash, stable_hash
from grove.api.podcliqueset import PodCliqueSet


def test_names_follow_the_upstream_scheme() -> None:
    assert naming.headless_service_name("pcs", 1) == "pcs-1"
    assert naming.headless_service_fqdn("pcs", 1, "ns") == "pcs-1.ns.svc.cluster.local"
    assert naming.podclique_name("pcs", 0, "frontend") == "pcs-0-frontend"
    assert naming.scaling_group_name("pcs", 0, "prefill") == "pcs-0-prefill"
    assert naming.scaling_group_podclique_name("pcs-0-prefill", 2, "pworker") == "pcs-0-prefill-2-pworker"
    assert naming.pod_generate_name("pcs-0-frontend") == "pcs-0-frontend-"
    assert naming.pod_hostname("pcs-0-frontend", 3) == "pcs-0-frontend-3"
    assert naming.pod_subdomain("pcs", 2) == "pcs-2"
    assert (
        naming.pod_fqdn("pcs-0-frontend", 3, "pcs", 0, "ns") == "pcs-0-frontend-3.pcs-0.ns.svc.cluster.local"
    )
    assert naming.base_podgang_name("pcs", 0) == "pcs-0"
    assert naming.scaled_podgang_name("pcs-0-prefill", 3, 2) == "pcs-0-prefill-1"
    assert naming.scaling_group_topology_group_name("pcs-0-prefill", 1) == "pcs-0-prefill-1"
    assert naming.hpa_name("pcs-0-frontend") == "pcs-0-frontend"
    assert naming.service_account_name("pcs") == "pcs"
    assert naming.role_name("pcs") == naming.role_binding_name("pcs") == "grove.io:pcs:pcs"
    assert naming.rbac_label_name("grove.io:pcs:pcs") == "grove.io-pcs-pcs"
    assert naming.initc_secret_name("pcs") == "pcs-ic-sat"
    assert naming.resource_claim_name("pcs-0-a", "gpu") == "pcs-0-a-all-gpu"
    assert naming.resource_claim_name("pcs-0-a", "gpu", 2) == "pcs-0-a-2-gpu"


def test_pod_index_is_parsed_from_the_hostname() -> None:
    assert naming.pod_index_from_hostname("pcs-0-frontend-12") == 12
    assert naming.pod_index_from_hostname("pcs-0-frontend") is None


def test_label_keys_and_values() -> None:
    assert labels.managed_labels("pcs", labels.COMPONENT_PODCLIQUE, "pcs-0-a") == {
        "app.kubernetes.io/managed-by": "grove-operator",
        "app.kubernetes.io/part-of": "pcs",
        "app.kubernetes.io/component": "pcs-podclique",
        "app.kubernetes.io/name": "pcs-0-a",
    }
    assert (
        labels.managed_labels("pcs", labels.COMPONENT_ROLE, "grove.io:pcs:pcs")[labels.NAME]
        == "grove.io-pcs-pcs"
    )
    assert labels.PODCLIQUE == "grove.io/podclique"
    assert labels.SCALING_GROUP == "grove.io/podcliquescalinggroup"
    assert labels.PCS_REPLICA_INDEX == "grove.io/podcliqueset-replica-index"
    assert labels.PCSG_REPLICA_INDEX == "grove.io/podcliquescalinggroup-replica-index"
    assert labels.PODGANG == "grove.io/podgang"
    assert labels.BASE_PODGANG == "grove.io/base-podgang"
    assert labels.POD_INDEX == "grove.io/podclique-pod-index"
    assert labels.POD_TEMPLATE_HASH == "grove.io/pod-template-hash"
    assert labels.SCHEDULER_NAME == "grove.io/scheduler-name"
    assert [
        labels.COMPONENT_HEADLESS_SERVICE,
        labels.COMPONENT_PCSG,
        labels.COMPONENT_PODGANG,
        labels.COMPONENT_PCSG_PODCLIQUE,
        labels.COMPONENT_HPA,
    ] == ["pcs-headless-service", "pcs-podcliquescalinggroup", "podgang", "pcsg-podclique", "pcs-hpa"]


def test_selectors() -> None:
    sel = labels.podclique_selector("pcs", "pcs-0-a")
    assert labels.selector_string(sel) == (
        "app.kubernetes.io/managed-by=grove-operator,app.kubernetes.io/part-of=pcs,grove.io/podclique=pcs-0-a"
    )
    assert labels.pcs_replica_selector("pcs", 1)[labels.PCS_REPLICA_INDEX] == "1"
    assert labels.scaling_group_selector("pcs", "pcs-0-g")[labels.SCALING_GROUP] == "pcs-0-g"


def test_pod_template_hash_changes_with_the_pod_template_only() -> None:
    pcs = PodCliqueSet.from_dict(load_sample("single-node-disaggregated"))
    clique = pcs.spec.template.cliques[0]
    before = pod_template_hash(clique, None)
    assert pod_template_hash(clique, None) == before
    scaled = copy.deepcopy(clique)
    scaled.spec.replicas = 9
    scaled.spec.min_available = 2
    assert pod_template_hash(scaled, None) == before
    changed = copy.deepcopy(clique)
    changed.spec.pod_spec["containers"][0]["image"] = "nginx:2"
    assert pod_template_hash(changed, None) != before
    assert pod_template_hash(clique, "high") != before
    generation = podcliqueset_generation_hash(pcs)
    pcs.spec.replicas = 5
    assert podcliqueset_generation_hash(pcs) == generation


def test_stable_hash_is_label_safe() -> None:
    value = stable_hash({"a": [1, 2]})
    assert value == stable_hash({"a": [1, 2]})
    assert len(value) <= 63 and value.isalnum()
