"""The pure gang planner: all-or-nothing, pack constraints at every level, BestFit, node predicates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from grove.scheduler.gang import parse_podgang
from grove.scheduler.planner import Plan, PlanFailure, PlanInput, PlanResult, plan_gang
from grove.scheduler.pods import parse_pod
from grove.scheduler.synthetic import (
    BLOCK_KEY,
    RACK_KEY,
    ZONE_KEY,
    GroupSpec,
    cluster_topology,
    fleet,
    node,
    pod,
    podgang,
)
from grove.scheduler.topology import ClusterState, parse_cluster_topology


def _state(
    nodes: Iterable[dict[str, Any]], busy: Mapping[str, Mapping[str, int]] | None = None
) -> ClusterState:
    s = ClusterState()
    s.upsert_topology(parse_cluster_topology(cluster_topology()))
    for n in nodes:
        s.upsert_node(n)
    for name, usage in (busy or {}).items():
        s.add_usage(name, usage, "bound")
    return s


def _plan(
    state: ClusterState,
    gang: dict[str, Any],
    pods: Iterable[dict[str, Any]],
    fixed: Mapping[str, str] | None = None,
    excluded: Mapping[str, frozenset[str]] | None = None,
) -> PlanResult:
    infos = {p.key: p for p in map(parse_pod, pods)}
    return plan_gang(state, PlanInput(parse_podgang(gang), infos, fixed or {}, excluded or {}))


def _ok(result: PlanResult) -> Plan:
    assert isinstance(result, Plan), result
    return result


def _rack(node_name: str) -> str:
    return node_name.rsplit("-", 1)[0]


def _block(node_name: str) -> str:
    return node_name.rsplit("-", 2)[0]


def _simple_gang(
    name: str, n: int, *, required: str | None = None, preferred: str | None = None, **pod_args: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    names = [f"{name}-p{i}" for i in range(n)]
    gang = podgang(name, [GroupSpec(f"{name}-g", names)], required=required, preferred=preferred)
    return gang, [pod(p, gang=name, **pod_args) for p in names]


def test_gang_that_fits_only_in_one_rack_lands_entirely_in_it() -> None:
    # 3 racks x 2 hosts with 8 GPUs; racks 0 and 2 each have a host half used.
    nodes = fleet(1, 1, 3, 2, gpu=8)
    state = _state(nodes, {"z0-b0-r0-h0": {"nvidia.com/gpu": 4}, "z0-b0-r2-h1": {"nvidia.com/gpu": 4}})
    gang, pods = _simple_gang("mn-0", 4, required=RACK_KEY, gpu=4)
    plan = _ok(_plan(state, gang, pods))
    assert len(plan.assignments) == 4
    assert {_rack(n) for n in plan.assignments.values()} == {"z0-b0-r1"}
    assert plan.domain == "rack z0/z0-b0/z0-b0-r1"


def test_gang_too_large_for_any_rack_stays_entirely_unplanned_with_one_message() -> None:
    nodes = fleet(1, 2, 2, 3, cpu="2", memory="8Gi")
    state = _state(nodes)
    gang, pods = _simple_gang("mn-0", 5, required=RACK_KEY, cpu="2", memory="4Gi")
    result = _plan(state, gang, pods)
    assert result == PlanFailure(
        "gang default/mn-0 needs 5 pods (10 cpu, 20Gi) in one rack; the largest free rack fits 3"
    )


def test_planner_is_pure() -> None:
    state = _state(fleet(1, 1, 2, 2, cpu="4"))
    before = {n: dict(i.free) for n, i in state.nodes.items()}
    root_free = dict(state.trees["default"].root.free)
    gang, pods = _simple_gang("g", 3, required=RACK_KEY, cpu="1")
    _ok(_plan(state, gang, pods))
    assert {n: dict(i.free) for n, i in state.nodes.items()} == before
    assert state.trees["default"].root.free == root_free


def test_preferred_rack_is_honoured_when_possible() -> None:
    nodes = fleet(1, 2, 3, 2, cpu="4")
    gang, pods = _simple_gang("g", 6, required=BLOCK_KEY, preferred=RACK_KEY, cpu="1")
    plan = _ok(_plan(_state(nodes), gang, pods))
    assert len({_rack(n) for n in plan.assignments.values()}) == 1
    assert plan.preferred_dropped == ()


def test_preferred_rack_is_dropped_when_no_rack_fits_but_required_block_holds() -> None:
    nodes = fleet(1, 2, 3, 2, cpu="4")
    gang, pods = _simple_gang("g", 12, required=BLOCK_KEY, preferred=RACK_KEY, cpu="1")
    plan = _ok(_plan(_state(nodes), gang, pods))
    assert len({_block(n) for n in plan.assignments.values()}) == 1
    # 12 pods of 1 cpu need two racks of 8 cpu: the fewest racks are used.
    assert len({_rack(n) for n in plan.assignments.values()}) == 2
    assert plan.preferred_dropped == ("gang default/g",)


def test_preferred_only_spreads_when_nothing_fits() -> None:
    nodes = fleet(1, 1, 2, 1, cpu="2")
    gang, pods = _simple_gang("g", 4, preferred=RACK_KEY, cpu="1")
    plan = _ok(_plan(_state(nodes), gang, pods))
    assert len(plan.assignments) == 4
    assert plan.preferred_dropped == ("gang default/g",)


def test_bestfit_picks_the_tightest_rack_so_big_racks_stay_whole() -> None:
    nodes = fleet(1, 1, 2, 4, cpu="1")
    # Rack 0 has 4 free hosts, rack 1 only 2.
    state = _state(nodes, {"z0-b0-r1-h0": {"cpu": 1000}, "z0-b0-r1-h1": {"cpu": 1000}})
    small, small_pods = _simple_gang("small", 2, required=RACK_KEY, cpu="1")
    plan = _ok(_plan(state, small, small_pods))
    assert {_rack(n) for n in plan.assignments.values()} == {"z0-b0-r1"}


def test_bestfit_uses_the_tightest_nodes_inside_a_domain() -> None:
    nodes = fleet(1, 1, 1, 3, gpu=8)
    state = _state(nodes, {"z0-b0-r0-h1": {"nvidia.com/gpu": 6}})
    gang, pods = _simple_gang("g", 1, gpu=2)
    plan = _ok(_plan(state, gang, pods))
    assert plan.assignments == {"default/g-p0": "z0-b0-r0-h1"}


def test_bestfit_measures_tightness_in_the_gangs_dominant_resource() -> None:
    nodes = fleet(1, 1, 2, 2, gpu=8)
    # Rack 0: every GPU free but almost no cpu; rack 1: plenty of cpu but one host's GPUs in use.
    busy = {
        "z0-b0-r0-h0": {"cpu": 30000},
        "z0-b0-r0-h1": {"cpu": 30000},
        "z0-b0-r1-h0": {"nvidia.com/gpu": 8},
    }
    gang, pods = _simple_gang("g", 2, required=RACK_KEY, cpu="1", gpu=4)
    plan = _ok(_plan(_state(nodes, busy), gang, pods))
    assert set(plan.assignments.values()) == {"z0-b0-r1-h1"}


def test_equally_tight_racks_go_to_the_fullest_block_so_empty_blocks_stay_whole() -> None:
    nodes = fleet(1, 2, 2, 2, gpu=8)
    # Block 1 has one rack full; block 0 is empty. Every free rack is equally tight for a 16-GPU gang.
    state = _state(nodes, {"z0-b1-r0-h0": {"nvidia.com/gpu": 8}, "z0-b1-r0-h1": {"nvidia.com/gpu": 8}})
    gang, pods = _simple_gang("g", 2, required=RACK_KEY, gpu=8)
    plan = _ok(_plan(state, gang, pods))
    assert {_rack(n) for n in plan.assignments.values()} == {"z0-b1-r1"}


def test_a_tighter_rack_still_beats_a_fuller_block() -> None:
    nodes = fleet(1, 2, 2, 2, gpu=8)
    # Block 0: rack 0 has one host busy (tight rack), rack 1 empty; block 1: rack 0 full, rack 1 empty.
    busy = {
        "z0-b0-r0-h0": {"nvidia.com/gpu": 8},
        "z0-b1-r0-h0": {"nvidia.com/gpu": 8},
        "z0-b1-r0-h1": {"nvidia.com/gpu": 8},
    }
    gang, pods = _simple_gang("g", 1, required=RACK_KEY, gpu=8)
    plan = _ok(_plan(_state(nodes, busy), gang, pods))
    assert plan.assignments == {"default/g-p0": "z0-b0-r0-h1"}


def test_pods_fill_the_fullest_nodes_first_so_whole_nodes_stay_free() -> None:
    nodes = fleet(1, 1, 1, 4, gpu=8)
    # Hosts 0 and 1 have 3 GPUs free each, hosts 2 and 3 are empty: 12 one-GPU pods fit in 3+3+6,
    # leaving host 3 whole for an 8-GPU pod (the roomiest-first order would use 8+4 and leave none whole).
    busy = {"z0-b0-r0-h0": {"nvidia.com/gpu": 5}, "z0-b0-r0-h1": {"nvidia.com/gpu": 5}}
    gang, pods = _simple_gang("g", 12, required=RACK_KEY, gpu=1)
    plan = _ok(_plan(_state(nodes, busy), gang, pods))
    per_node = Counter(plan.assignments.values())
    assert per_node == {"z0-b0-r0-h0": 3, "z0-b0-r0-h1": 3, "z0-b0-r0-h2": 6}


def test_group_configs_pack_each_pcsg_replica_in_its_own_rack() -> None:
    # 2 blocks x 3 racks x 2 hosts, 1 pod per host (2 cpu each).
    nodes = fleet(1, 2, 3, 2, cpu="2")
    groups = []
    configs = []
    pods = []
    for r in range(3):
        leader = [f"mn-sg-{r}-leader-0"]
        workers = [f"mn-sg-{r}-worker-0"]
        groups += [GroupSpec(f"mn-sg-{r}-leader", leader), GroupSpec(f"mn-sg-{r}-worker", workers)]
        configs.append((f"mn-sg-{r}", [f"mn-sg-{r}-leader", f"mn-sg-{r}-worker"], RACK_KEY, None))
        pods += [pod(p, gang="mn", cpu="2") for p in leader + workers]
    gang = podgang("mn", groups, required=BLOCK_KEY, configs=configs)
    plan = _ok(_plan(_state(nodes), gang, pods))
    assert len(plan.assignments) == 6
    assert len({_block(n) for n in plan.assignments.values()}) == 1
    for r in range(3):
        racks = {_rack(plan.assignments[f"default/mn-sg-{r}-{role}-0"]) for role in ("leader", "worker")}
        assert len(racks) == 1


def test_group_config_that_cannot_fit_a_rack_fails_the_whole_gang() -> None:
    nodes = fleet(1, 1, 2, 2, cpu="2")
    groups = [GroupSpec("sg-0-w", ["w0", "w1", "w2"])]
    gang = podgang("mn", groups, configs=[("sg-0", ["sg-0-w"], RACK_KEY, None)])
    result = _plan(_state(nodes), gang, [pod(p, gang="mn", cpu="2") for p in ("w0", "w1", "w2")])
    assert isinstance(result, PlanFailure)
    assert result.message == (
        "gang default/mn: group config sg-0 needs 3 pods (6 cpu, 3Gi) in one rack;"
        " the largest free rack fits 2"
    )


def test_pod_group_level_required_constraint() -> None:
    nodes = fleet(1, 1, 2, 2, cpu="2")
    gang = podgang("g", [GroupSpec("w", ["a", "b"], required=RACK_KEY), GroupSpec("fe", ["c", "d"])])
    pods = [pod(p, gang="g", cpu="2") for p in "abcd"]
    plan = _ok(_plan(_state(nodes), gang, pods))
    assert _rack(plan.assignments["default/a"]) == _rack(plan.assignments["default/b"])
    assert len(set(plan.assignments.values())) == 4


def test_leader_and_workers_stay_together_without_a_preference() -> None:
    nodes = fleet(1, 1, 4, 4, cpu="4")
    gang = podgang(
        "g", [GroupSpec("leader", ["l"]), GroupSpec("worker", ["w0", "w1", "w2"])], required=BLOCK_KEY
    )
    pods = [pod("l", gang="g", cpu="1", memory="2Gi")] + [pod(f"w{i}", gang="g", cpu="4") for i in range(3)]
    plan = _ok(_plan(_state(nodes), gang, pods))
    assert len({_rack(n) for n in plan.assignments.values()}) == 1


def test_taints_keep_pods_off_untolerated_nodes() -> None:
    taint = [{"key": "dedicated", "value": "infer", "effect": "NoSchedule"}]
    nodes = [
        node("t0", {RACK_KEY: "r"}, taints=taint),
        node("t1", {RACK_KEY: "r"}),
        node("t2", {RACK_KEY: "r"}),
    ]
    for n in nodes:
        n["metadata"]["labels"].update({ZONE_KEY: "z", BLOCK_KEY: "b"})
    state = _state(nodes)
    gang, pods = _simple_gang("g", 2, cpu="30")
    plan = _ok(_plan(state, gang, pods))
    assert sorted(plan.assignments.values()) == ["t1", "t2"]
    gang3, pods3 = _simple_gang("h", 3, cpu="30")
    result = _plan(state, gang3, pods3)
    assert isinstance(result, PlanFailure)
    assert result.message == "gang default/h: pod group h-g needs 3 pods (90 cpu, 3Gi); only 2 fit"
    tolerating = [
        pod(
            p["metadata"]["name"],
            gang="h",
            cpu="30",
            tolerations=[{"key": "dedicated", "operator": "Exists"}],
        )
        for p in pods3
    ]
    assert len(_ok(_plan(state, gang3, tolerating)).assignments) == 3


def test_node_selector_and_affinity() -> None:
    nodes = fleet(1, 1, 2, 2)
    nodes[3]["metadata"]["labels"]["pool"] = "special"
    state = _state(nodes)
    gang, pods = _simple_gang("g", 1, node_selector={"pool": "special"})
    assert _ok(_plan(state, gang, pods)).assignments == {"default/g-p0": "z0-b0-r1-h1"}
    term = {"matchExpressions": [{"key": RACK_KEY, "operator": "NotIn", "values": ["z0-b0-r0"]}]}
    gang2, pods2 = _simple_gang("a", 2, affinity_terms=[term], cpu="32")
    assert {_rack(n) for n in _ok(_plan(state, gang2, pods2)).assignments.values()} == {"z0-b0-r1"}
    by_name = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["z0-b0-r0-h1"]}]}
    gang3, pods3 = _simple_gang("f", 1, affinity_terms=[by_name])
    assert _ok(_plan(state, gang3, pods3)).assignments == {"default/f-p0": "z0-b0-r0-h1"}
    gang4, pods4 = _simple_gang("x", 1, node_selector={"pool": "none"})
    result = _plan(state, gang4, pods4)
    assert isinstance(result, PlanFailure)
    assert "no node there passes its tolerations, nodeSelector and node affinity" in result.message


def test_pods_beyond_min_replicas_are_planned_when_they_fit_else_left_unplanned() -> None:
    nodes = fleet(1, 1, 1, 3, cpu="1")
    names = ["p0", "p1", "p2", "p3"]
    gang = podgang("g", [GroupSpec("g-w", names, min_replicas=2)], required=RACK_KEY)
    plan = _ok(_plan(_state(nodes), gang, [pod(n, gang="g", cpu="1") for n in names]))
    assert len(plan.assignments) == 3
    assert plan.unplanned == ("default/p3",)


def test_min_replicas_that_do_not_fit_fail_with_the_minimum_in_the_message() -> None:
    nodes = fleet(1, 1, 1, 3, cpu="1")
    names = [f"p{i}" for i in range(6)]
    gang = podgang("g", [GroupSpec("g-w", names, min_replicas=4)], required=RACK_KEY)
    result = _plan(_state(nodes), gang, [pod(n, gang="g", cpu="1") for n in names])
    assert result == PlanFailure(
        "gang default/g needs 4 pods (4 cpu, 4Gi) in one rack; the largest free rack fits 3"
    )


def test_missing_pods_make_the_gang_incomplete() -> None:
    gang = podgang("g", [GroupSpec("g-w", ["a", "b"], min_replicas=2)])
    result = _plan(_state(fleet(1, 1, 1, 2)), gang, [pod("a", gang="g")])
    assert result == PlanFailure("gang default/g: pod group g-w needs 2 pods, 1 exist", incomplete=True)


def test_bound_pods_pin_the_domain_of_the_rest() -> None:
    nodes = fleet(1, 1, 3, 2, cpu="2")
    state = _state(nodes, {"z0-b0-r2-h0": {"cpu": 1000, "pods": 1}})
    gang, pods = _simple_gang("g", 3, required=RACK_KEY, cpu="1")
    plan = _ok(_plan(state, gang, pods, fixed={"default/g-p0": "z0-b0-r2-h0"}))
    assert set(plan.assignments) == {"default/g-p1", "default/g-p2"}
    assert {_rack(n) for n in plan.assignments.values()} == {"z0-b0-r2"}


def test_pinned_domain_too_full_is_reported() -> None:
    nodes = fleet(1, 1, 2, 1, cpu="1")
    state = _state(nodes, {"z0-b0-r1-h0": {"cpu": 1000, "pods": 1}})
    gang, pods = _simple_gang("g", 2, required=RACK_KEY, cpu="1")
    result = _plan(state, gang, pods, fixed={"default/g-p0": "z0-b0-r1-h0"})
    assert result == PlanFailure(
        "gang default/g needs 1 pod (1 cpu, 1Gi) in one rack;"
        " its bound pods hold it to rack z0/z0-b0/z0-b0-r1, which fits 0"
    )


def test_excluded_nodes_are_avoided() -> None:
    state = _state(fleet(1, 1, 1, 2))
    gang, pods = _simple_gang("g", 1)
    plan = _ok(_plan(state, gang, pods, excluded={"default/g-p0": frozenset({"z0-b0-r0-h0"})}))
    assert plan.assignments == {"default/g-p0": "z0-b0-r0-h1"}


def test_unknown_pack_key_fails() -> None:
    gang, pods = _simple_gang("g", 1, required="example.com/pod")
    result = _plan(_state(fleet(1, 1, 1, 1)), gang, pods)
    assert result == PlanFailure(
        "gang default/g: pack key(s) example.com/pod are not levels of any ClusterTopologyBinding"
    )


def test_unknown_preferred_key_is_ignored() -> None:
    gang, pods = _simple_gang("g", 1, preferred="example.com/pod")
    assert len(_ok(_plan(_state(fleet(1, 1, 1, 1)), gang, pods)).assignments) == 1


def test_cluster_without_topology_places_unconstrained_gangs() -> None:
    state = ClusterState()
    for n in fleet(1, 1, 1, 3, cpu="2"):
        state.upsert_node(n)
    gang, pods = _simple_gang("g", 3, cpu="2")
    plan = _ok(_plan(state, gang, pods))
    assert len(set(plan.assignments.values())) == 3
    assert plan.domain == "the cluster"


def test_mixed_shapes_in_one_group_and_heterogeneous_gang() -> None:
    nodes = fleet(1, 1, 2, 2, cpu="8", gpu=8)
    gang = podgang("g", [GroupSpec("g-a", ["a0", "a1"]), GroupSpec("g-b", ["b0", "b1"])], required=RACK_KEY)
    pods = [
        pod("a0", gang="g", gpu=8),
        pod("a1", gang="g", gpu=4),
        pod("b0", gang="g", cpu="4"),
        pod("b1", gang="g", cpu="4"),
    ]
    plan = _ok(_plan(_state(nodes), gang, pods))
    assert len({_rack(n) for n in plan.assignments.values()}) == 1
    assert plan.assignments["default/a0"] != plan.assignments["default/a1"]


def test_group_config_preferred_rack_honoured_then_dropped() -> None:
    nodes = fleet(1, 1, 2, 2, cpu="2")
    gang = podgang(
        "g",
        [GroupSpec("sg-0-w", ["a", "b"])],
        required=BLOCK_KEY,
        configs=[("sg-0", ["sg-0-w"], None, RACK_KEY)],
    )
    plan = _ok(_plan(_state(nodes), gang, [pod(p, gang="g", cpu="2") for p in "ab"]))
    assert len({_rack(n) for n in plan.assignments.values()}) == 1
    assert plan.preferred_dropped == ()
    big = podgang(
        "h",
        [GroupSpec("sg-0-w", ["a", "b", "c"])],
        required=BLOCK_KEY,
        configs=[("sg-0", ["sg-0-w"], None, RACK_KEY)],
    )
    plan = _ok(_plan(_state(nodes), big, [pod(p, gang="h", cpu="2") for p in "abc"]))
    assert len(plan.assignments) == 3
    assert plan.preferred_dropped == ("group config sg-0",)


def test_failure_names_the_inner_reason_when_the_domain_has_room_but_parts_do_not_fit() -> None:
    # Each block has 2 racks x 3 hosts (one pod each): room for 6 pods, but only one 2-pod replica per rack.
    nodes = fleet(1, 2, 2, 3, cpu="2")
    groups = [GroupSpec(f"sg-{r}-w", [f"w{r}a", f"w{r}b"]) for r in range(3)]
    configs = [(f"sg-{r}", [f"sg-{r}-w"], RACK_KEY, None) for r in range(3)]
    gang = podgang("mn", groups, required=BLOCK_KEY, configs=configs)
    pods = [pod(p, gang="mn", cpu="2") for g in groups for p in g.pods]
    result = _plan(_state(nodes), gang, pods)
    assert isinstance(result, PlanFailure)
    assert result.message.startswith(
        "gang default/mn needs 6 pods (12 cpu, 6Gi) in one block; no block holds it:"
    )
    assert "group config sg-2 needs 2 pods (4 cpu, 2Gi) in one rack of block z0/z0-b1" in result.message
    assert "(after placing 2 of the 3 parts of gang default/mn in block z0/z0-b" in result.message
