"""kube-scheduler's filters, scores, node sampling and messages."""

from __future__ import annotations

from typing import Any

from grove.devcluster.placement import (
    NodeInfo,
    PodInfo,
    filter_node,
    fit_error_message,
    num_feasible_nodes_to_find,
    score_nodes,
    zone_interleaved,
)


def node(
    name: str, cpu: str = "8", pods: int = 110, zone: str = "z0", taints: list[Any] | None = None, **spec: Any
) -> NodeInfo:
    return NodeInfo(
        {
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone},
            },
            "spec": {"taints": taints or [], **spec},
            "status": {"allocatable": {"cpu": cpu, "memory": "32Gi", "pods": str(pods)}},
        }
    )


def pod(name: str, cpu: str | None = None, **spec: Any) -> PodInfo:
    c: dict[str, Any] = {"name": "c", "image": "i"}
    if cpu:
        c["resources"] = {"requests": {"cpu": cpu}}
    return PodInfo(
        {"metadata": {"name": name, "namespace": "ns", "uid": name}, "spec": {"containers": [c], **spec}}
    )


def test_filters_stop_at_the_first_failing_plugin_in_kube_scheduler_order() -> None:
    cordoned = node("n", taints=[{"key": "t", "effect": "NoSchedule"}], unschedulable=True)
    st = filter_node(pod("p", cpu="100"), cordoned)
    assert st is not None and st.reasons == ("node(s) were unschedulable",) and st.unresolvable
    tainted = node("n", taints=[{"key": "t", "effect": "NoExecute"}])
    st = filter_node(pod("p"), tainted)
    assert st is not None and st.reasons == ("node(s) had untolerated taint(s)",)
    st = filter_node(pod("p", nodeSelector={"zone": "x"}), node("n"))
    assert st is not None and st.reasons == ("node(s) didn't match Pod's node affinity/selector",)


def test_resource_fit_counts_bound_pods_and_marks_requests_above_allocatable_unresolvable() -> None:
    ni = node("n", cpu="4", pods=2)
    ni.add_pod(pod("a", cpu="3"))
    st = filter_node(pod("p", cpu="2"), ni)
    assert st is not None and st.reasons == ("Insufficient cpu",) and not st.unresolvable
    st = filter_node(pod("p", cpu="5"), ni)
    assert st is not None and st.unresolvable
    ni.add_pod(pod("b"))
    st = filter_node(pod("p"), ni)
    assert st is not None and st.reasons == ("Too many pods",)
    ni.remove_pod("ns/a")
    ni.remove_pod("ns/b")
    assert filter_node(pod("p", cpu="4"), ni) is None


def test_fit_error_message_is_a_sorted_histogram_followed_by_the_postfilter_messages() -> None:
    from grove.devcluster.placement import NodeStatus

    statuses = {
        "a": NodeStatus(("Insufficient cpu",), False, "NodeResourcesFit"),
        "b": NodeStatus(("Insufficient cpu", "Insufficient memory"), False, "NodeResourcesFit"),
        "c": NodeStatus(("node(s) had untolerated taint(s)",), True, "TaintToleration"),
    }
    assert fit_error_message(3, statuses, None) == (
        "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint(s), "
        "2 Insufficient cpu. "
        "no new claims to deallocate, preemption: 0/3 nodes are available: "
        "1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
    )
    assert fit_error_message(3, statuses, "Never").endswith(
        "preemption: not eligible due to preemptionPolicy=Never."
    )


def test_number_of_feasible_nodes_to_find() -> None:
    assert num_feasible_nodes_to_find(None, 40) == 40
    assert num_feasible_nodes_to_find(None, 150) == 100
    assert num_feasible_nodes_to_find(None, 1000) == 420  # 50 - 8 = 42%
    assert num_feasible_nodes_to_find(None, 5000) == 500  # 50 - 40 = 10%
    assert num_feasible_nodes_to_find(None, 10000) == 500  # floored at 5%
    assert num_feasible_nodes_to_find(100, 5000) == 5000
    assert num_feasible_nodes_to_find(1, 5000) == 100


def test_nodes_are_ordered_one_zone_at_a_time() -> None:
    nodes = [node("a1", zone="a"), node("a2", zone="a"), node("b1", zone="b"), node("a3", zone="a")]
    assert [n.name for n in zone_interleaved(nodes)] == ["a1", "b1", "a2", "a3"]


def test_least_allocated_prefers_emptier_nodes_and_preferred_affinity_adds_weight() -> None:
    busy, empty = node("busy"), node("empty")
    busy.add_pod(pod("x", cpu="6"))
    scores = score_nodes(pod("p", cpu="1"), [busy, empty])
    assert scores[1] > scores[0]
    preferring = pod(
        "q",
        affinity={
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 1,
                        "preference": {
                            "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["busy"]}]
                        },
                    }
                ]
            }
        },
    )
    a, _ = score_nodes(preferring, [busy, empty])
    assert a - score_nodes(pod("q"), [busy, empty])[0] == 200  # NodeAffinity: 100 x weight 2
