"""The tutorial's expected states (grove.tutorial) and the pod-table check, on the tutorial's own text."""

from __future__ import annotations

import pytest

from grove.tutorial import EXAMPLES, MULTINODE_AGGREGATED, SINGLE_NODE_AGGREGATED, Apply, Scale
from grove.tutorial_state import pod_table_differences

# Verbatim from the tutorial (Example 1 after `kubectl scale pcs single-node-aggregated --replicas=3`).
SCALED_PCS_TABLE = """\
NAME                                          READY   STATUS    RESTARTS   AGE    IP            NODE            NOMINATED NODE   READINESS GATES
single-node-aggregated-0-model-worker-2xl58   1/1     Running   0          99s    10.244.7.0    fake-node-007   <none>           <none>
single-node-aggregated-0-model-worker-5jlfr   1/1     Running   0          2m7s   10.244.20.0   fake-node-020   <none>           <none>
single-node-aggregated-0-model-worker-78974   1/1     Running   0          2m7s   10.244.5.0    fake-node-005   <none>           <none>
single-node-aggregated-0-model-worker-zn888   1/1     Running   0          99s    10.244.13.0   fake-node-013   <none>           <none>
single-node-aggregated-1-model-worker-kkmsq   1/1     Running   0          74s    10.244.10.0   fake-node-010   <none>           <none>
single-node-aggregated-1-model-worker-pn5cm   1/1     Running   0          74s    10.244.15.0   fake-node-015   <none>           <none>
single-node-aggregated-2-model-worker-h5xqk   1/1     Running   0          74s    10.244.3.0    fake-node-003   <none>           <none>
single-node-aggregated-2-model-worker-p4kjj   1/1     Running   0          74s    10.244.16.0   fake-node-016   <none>           <none>
"""  # noqa: E501

SCALED_PCS = SINGLE_NODE_AGGREGATED.expect(3, pclq_pods={"single-node-aggregated-0-model-worker": 4})


def test_tutorial_table_matches_its_expected_state() -> None:
    assert pod_table_differences(SCALED_PCS_TABLE, SCALED_PCS) == []


def test_pod_table_names_missing_pods_and_bad_rows() -> None:
    lines = SCALED_PCS_TABLE.splitlines()
    pending = lines[1].replace("1/1     Running", "0/1     Pending")
    assert pod_table_differences("\n".join([lines[0], pending, *lines[3:]]), SCALED_PCS) == [
        "pod table: single-node-aggregated-0-model-worker-2xl58 is 0/1 Pending, want 1/1 Running",
        "pod table: 3 pods of single-node-aggregated-0-model-worker, want 4",
    ]
    name = "single-node-aggregated-0-model-worker-2xl58"
    stray = lines[1].replace(name, "other-0-model-worker-2xl58".ljust(len(name)))
    assert pod_table_differences("\n".join([*lines, stray]), SCALED_PCS) == [
        "pod table: other-0-model-worker-2xl58 belongs to no expected PodClique"
    ]


def test_expected_states_follow_the_tutorial_counts() -> None:
    totals = [
        (type(step).__name__, step.expect.pod_count)
        for example in EXAMPLES
        for step in example.steps
        if isinstance(step, Apply | Scale)
    ]
    # Example 1: 2, 4, 8 pods; Example 2: 5, 10; Example 3: 8, 12, 13; Example 4: 13; Example 5: 11.
    assert [n for _, n in totals] == [2, 4, 8, 5, 10, 8, 12, 13, 13, 11]


def test_scaling_group_names_and_gangs() -> None:
    want = MULTINODE_AGGREGATED.expect(pcsg_replicas={"multinode-aggregated-0-model-instance": 3})
    assert set(want.pods) == {
        f"multinode-aggregated-0-model-instance-{j}-{c}" for j in range(3) for c in ("leader", "worker")
    }
    assert dict(want.pcsgs) == {"multinode-aggregated-0-model-instance": 3}
    assert want.podgangs == {
        "multinode-aggregated-0",
        "multinode-aggregated-0-model-instance-0",
        "multinode-aggregated-0-model-instance-1",
    }
    assert want.services == {"multinode-aggregated-0"}


def test_scaling_an_unknown_podclique_is_an_error() -> None:
    with pytest.raises(ValueError, match="pclq_pods: nope is not a PodClique of single-node-aggregated"):
        SINGLE_NODE_AGGREGATED.expect(pclq_pods={"nope": 3})
