"""The core-concepts tutorial, every step, through real kubectl.

Each test is one example of ``core-concepts-tutorial.md``: the same kubectl commands, and after each one the
state the tutorial shows, read back with kubectl: the pod names (``<pcs>-<i>-<clique>-<5 characters>`` or
``<pcs>-<i>-<group>-<j>-<clique>-<5 characters>``) and how many of each, every pod READY 1/1 Running with
an IP and a NODE in ``kubectl get pods -o wide``, exactly the PodCliques, PodCliqueScalingGroups, PodGangs
and headless Services expected (nothing more), and, after ``kubectl delete pcs``, nothing left.

Namespaces: the samples say ``namespace: default``, and kubectl refuses ``-n`` for a manifest that names
another namespace. The tests apply a copy of each sample with the namespace rewritten to the test's own
fresh namespace and pass ``-n <namespace>`` to every other command; the commands are otherwise the
tutorial's. This keeps the tests independent of each other and of whatever else the cluster runs (with
``GROVE_TEST_KUBECONFIG`` it may be a shared cluster whose ``default`` namespace is in use), lets each test's
in-process operator watch only its namespace, and cleans up by deleting the namespace. ``grove demo`` runs
the tutorial verbatim in ``default``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .kubectl_tutorial import PART_OF, KubectlTutorial, table_rows


@pytest.fixture
def tutorial(operator: Any, namespace: str, kubectl: Any, tmp_path: Path, timeout: float) -> KubectlTutorial:
    """kubectl in a fresh namespace served by the operator."""
    return KubectlTutorial(kubectl, namespace, tmp_path, timeout)


def test_example_1_single_node_aggregated(tutorial: KubectlTutorial) -> None:
    pcs = "single-node-aggregated"
    assert tutorial.apply("single-node-aggregated.yaml") == f"podcliqueset.grove.io/{pcs} created\n"
    rows = tutorial.wait_for_state(
        pcs, pods={f"{pcs}-0-model-worker": 2}, podgangs={f"{pcs}-0"}, services={f"{pcs}-0"}
    )
    assert len(rows) == 2

    out = tutorial.run("scale", "pclq", f"{pcs}-0-model-worker", "--replicas=4")
    assert out == f"podclique.grove.io/{pcs}-0-model-worker scaled\n"
    before = {r["NAME"] for r in rows}
    rows = tutorial.wait_for_state(
        pcs, pods={f"{pcs}-0-model-worker": 4}, podgangs={f"{pcs}-0"}, services={f"{pcs}-0"}
    )
    assert before <= {r["NAME"] for r in rows}, "scaling out keeps the pods that were there"

    assert tutorial.run("scale", "pcs", pcs, "--replicas=3") == f"podcliqueset.grove.io/{pcs} scaled\n"
    # Replicas 1 and 2 come from the template (2 pods each); replica 0 keeps the 4 it was scaled to.
    tutorial.wait_for_state(
        pcs,
        pods={f"{pcs}-0-model-worker": 4, f"{pcs}-1-model-worker": 2, f"{pcs}-2-model-worker": 2},
        podgangs={f"{pcs}-0", f"{pcs}-1", f"{pcs}-2"},
        services={f"{pcs}-0", f"{pcs}-1", f"{pcs}-2"},
    )

    assert tutorial.run("delete", "pcs", pcs).startswith(f'podcliqueset.grove.io "{pcs}" deleted')
    tutorial.wait_deleted(pcs)


def test_example_2_single_node_disaggregated(tutorial: KubectlTutorial) -> None:
    pcs = "single-node-disaggregated"
    tutorial.apply("single-node-disaggregated.yaml")
    rows = tutorial.wait_for_state(
        pcs, pods={f"{pcs}-0-prefill": 3, f"{pcs}-0-decode": 2}, podgangs={f"{pcs}-0"}, services={f"{pcs}-0"}
    )
    assert len(rows) == 5

    # The tutorial's command names single-node-aggregated (deleted in Example 1); its output shows this one.
    assert tutorial.run("scale", "pcs", pcs, "--replicas=2") == f"podcliqueset.grove.io/{pcs} scaled\n"
    rows = tutorial.wait_for_state(
        pcs,
        pods={f"{pcs}-{i}-{clique}": n for i in range(2) for clique, n in (("prefill", 3), ("decode", 2))},
        podgangs={f"{pcs}-0", f"{pcs}-1"},
        services={f"{pcs}-0", f"{pcs}-1"},
    )
    assert len(rows) == 10

    tutorial.run("delete", "pcs", pcs)
    tutorial.wait_deleted(pcs)


def test_example_3_multinode_aggregated(tutorial: KubectlTutorial) -> None:
    pcs, group = "multinode-aggregated", "multinode-aggregated-0-model-instance"
    tutorial.apply("multi-node-aggregated.yaml")
    rows = tutorial.wait_for_state(
        pcs,
        pods={f"{group}-{j}-{clique}": n for j in range(2) for clique, n in (("leader", 1), ("worker", 3))},
        pcsgs={group: 2},
        # Replica 0 of the group is in the base gang, replica 1 (above minAvailable 1) in a scaled gang.
        podgangs={f"{pcs}-0", f"{group}-0"},
        services={f"{pcs}-0"},
    )
    assert len(rows) == 8

    out = tutorial.run("scale", "pcsg", group, "--replicas=3")
    assert out == f"podcliquescalinggroup.grove.io/{group} scaled\n"
    tutorial.wait_for_state(
        pcs,
        pods={f"{group}-{j}-{clique}": n for j in range(3) for clique, n in (("leader", 1), ("worker", 3))},
        pcsgs={group: 3},
        podgangs={f"{pcs}-0", f"{group}-0", f"{group}-1"},
        services={f"{pcs}-0"},
    )

    pclqs = table_rows(tutorial.run("get", "pclq"))
    assert [r["NAME"] for r in pclqs] == [
        f"{group}-0-leader",
        f"{group}-0-worker",
        f"{group}-1-leader",
        f"{group}-1-worker",
        f"{group}-2-leader",
        f"{group}-2-worker",
    ]

    out = tutorial.run("scale", "pclq", f"{group}-0-worker", "--replicas=4")
    assert out == f"podclique.grove.io/{group}-0-worker scaled\n"
    pods = {f"{group}-{j}-{clique}": n for j in range(3) for clique, n in (("leader", 1), ("worker", 3))}
    pods[f"{group}-0-worker"] = 4
    rows = tutorial.wait_for_state(
        pcs,
        pods=pods,
        pcsgs={group: 3},
        podgangs={f"{pcs}-0", f"{group}-0", f"{group}-1"},
        services={f"{pcs}-0"},
    )
    assert len(rows) == 13

    tutorial.run("delete", "pcs", pcs)
    tutorial.wait_deleted(pcs)


def test_example_4_multinode_disaggregated(tutorial: KubectlTutorial) -> None:
    pcs = "multinode-disaggregated"
    tutorial.apply("multi-node-disaggregated.yaml")
    pods = {f"{pcs}-0-prefill-{j}-{c}": n for j in range(2) for c, n in (("pleader", 1), ("pworker", 4))}
    pods |= {f"{pcs}-0-decode-0-dleader": 1, f"{pcs}-0-decode-0-dworker": 2}
    rows = tutorial.wait_for_state(
        pcs,
        pods=pods,
        pcsgs={f"{pcs}-0-prefill": 2, f"{pcs}-0-decode": 1},
        podgangs={f"{pcs}-0", f"{pcs}-0-prefill-0"},
        services={f"{pcs}-0"},
    )
    # "one replica of the decode PodCliqueScalingGroup and two replicas of the prefill" - 13 pods.
    assert len(rows) == 13

    tutorial.run("delete", "pcs", pcs)
    tutorial.wait_deleted(pcs)


def test_example_5_complete_inference_pipeline(tutorial: KubectlTutorial) -> None:
    pcs = "comp-inf-ppln"
    tutorial.apply("complete-inference-pipeline.yaml")
    rows = tutorial.wait_for_state(
        pcs,
        pods={
            f"{pcs}-0-frontend": 2,
            f"{pcs}-0-vision-encoder": 1,
            f"{pcs}-0-prefill-0-pleader": 1,
            f"{pcs}-0-prefill-0-pworker": 4,
            f"{pcs}-0-decode-cluster-0-dleader": 1,
            f"{pcs}-0-decode-cluster-0-dworker": 2,
        },
        pcsgs={f"{pcs}-0-prefill": 1, f"{pcs}-0-decode-cluster": 1},
        podgangs={f"{pcs}-0"},
        services={f"{pcs}-0"},
    )
    assert len(rows) == 11, "Total: 11 pods providing a complete inference pipeline"

    tutorial.run("delete", "pcs", pcs)
    tutorial.wait_deleted(pcs)
    assert tutorial.run("get", "pods", "-l", f"{PART_OF}={pcs}") == ""
