"""Randomised invariants of the planner: every plan it returns is valid, whatever the gang looks like."""

from __future__ import annotations

import itertools
import random
from typing import Any

from grove.scheduler.gang import PodGang, parse_podgang
from grove.scheduler.planner import Plan, PlanInput, plan_gang
from grove.scheduler.pods import PodInfo, parse_pod
from grove.scheduler.synthetic import BLOCK_KEY, RACK_KEY, GroupSpec, cluster_topology, fleet, pod, podgang
from grove.scheduler.topology import ClusterState, parse_cluster_topology

TAINT = {"key": "dedicated", "value": "x", "effect": "NoSchedule"}


def _cluster(rng: random.Random) -> ClusterState:
    state = ClusterState()
    state.upsert_topology(parse_cluster_topology(cluster_topology()))
    for n in fleet(1, 2, 3, 3):
        n["status"]["allocatable"].update(
            {"cpu": str(rng.choice([2, 4, 8])), "nvidia.com/gpu": str(rng.choice([0, 4, 8]))}
        )
        if rng.random() < 0.15:
            n["spec"]["taints"] = [TAINT]
        state.upsert_node(n)
    return state


def _random_gang(rng: random.Random, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    def key() -> str | None:
        return rng.choice([None, None, RACK_KEY, BLOCK_KEY])

    groups: list[GroupSpec] = []
    pods: list[dict[str, Any]] = []
    for g in range(rng.randint(1, 3)):
        n = rng.randint(1, 4)
        names = [f"{name}-{g}-{i}" for i in range(n)]
        groups.append(GroupSpec(f"{name}-{g}", names, rng.randint(0, n), key(), key()))
        tol = [{"key": "dedicated", "operator": "Exists"}] if rng.random() < 0.3 else []
        gpu = rng.choice([0, 0, 1, 4])
        pods += [
            pod(p, gang=name, cpu=rng.choice(["500m", "1", "2"]), gpu=gpu, tolerations=tol) for p in names
        ]
    configs = []
    if len(groups) >= 2 and rng.random() < 0.5:
        configs.append((f"{name}-cfg", [groups[0].name, groups[1].name], key(), key()))
    return podgang(name, groups, required=key(), preferred=key(), configs=configs), pods


def _check(state: ClusterState, gang: PodGang, pods: dict[str, PodInfo], plan: Plan) -> None:
    tree = state.tree_for(None, [RACK_KEY])
    assert tree is not None
    assigned = plan.assignments
    assert set(assigned) | set(plan.unplanned) == set(pods)
    for key, node_name in assigned.items():
        assert pods[key].placement.allows(state.nodes[node_name].facts)
    for group in gang.podgroups:
        assert sum(1 for k in group.pods if k in assigned) >= group.min_replicas

    def same_domain(keys: list[str], label: str | None) -> None:
        if label is None:
            return
        depth = tree.depth_of_key(label)
        assert depth is not None
        domains = {tree.domain_of(assigned[k], depth) for k in keys if k in assigned}
        assert len(domains) <= 1 and None not in domains

    same_domain(list(gang.pod_keys()), gang.constraint.required)
    for group in gang.podgroups:
        same_domain(list(group.pods), group.constraint.required)
    by_name = {g.name: g for g in gang.podgroups}
    for cfg in gang.group_configs:
        same_domain([k for n in cfg.pod_group_names for k in by_name[n].pods], cfg.constraint.required)


def test_every_plan_is_valid_and_capacity_is_never_exceeded() -> None:
    rng = random.Random(20261129)
    planned = failed = 0
    for round_ in range(6):
        state = _cluster(rng)
        for i in range(60):
            gang_obj, pod_objs = _random_gang(rng, f"r{round_}g{i}")
            gang = parse_podgang(gang_obj)
            pods = {p.key: p for p in map(parse_pod, pod_objs)}
            result = plan_gang(state, PlanInput(gang, pods))
            if not isinstance(result, Plan):
                failed += 1
                continue
            planned += 1
            _check(state, gang, pods, result)
            for key, node_name in result.assignments.items():
                state.add_usage(node_name, pods[key].requests, "bound")
            assert not any(state.overcommitted(n) for n in state.nodes)
    assert planned > 100 and failed > 10  # both paths exercised


def _exists_valid_placement(state: ClusterState, gang: PodGang, pods: dict[str, PodInfo]) -> bool:
    """Brute force over every assignment (a pod may also stay unplaced) on a tiny cluster."""
    tree = state.trees["default"]
    keys = list(pods)
    options: list[str | None] = [*state.nodes, None]
    by_name = {g.name: g for g in gang.podgroups}
    units = [(list(gang.pod_keys()), gang.constraint.required)]
    units += [(list(g.pods), g.constraint.required) for g in gang.podgroups]
    units += [
        ([k for n in c.pod_group_names for k in by_name[n].pods], c.constraint.required)
        for c in gang.group_configs
    ]

    def valid(assign: dict[str, str]) -> bool:
        free = {n: dict(info.free) for n, info in state.nodes.items()}
        for k, n in assign.items():
            if not pods[k].placement.allows(state.nodes[n].facts):
                return False
            for r, v in pods[k].requests.items():
                free[n][r] = free[n].get(r, 0) - v
                if free[n][r] < 0:
                    return False
        if any(sum(1 for k in g.pods if k in assign) < g.min_replicas for g in gang.podgroups):
            return False
        for members, label in units:
            if label is not None:
                depth = tree.depth_of_key(label)
                assert depth is not None
                doms = [tree.domain_of(assign[k], depth) for k in members if k in assign]
                if any(d is None for d in doms) or len({id(d) for d in doms}) > 1:
                    return False
        return True

    return any(
        valid({k: n for k, n in zip(keys, combo, strict=True) if n is not None})
        for combo in itertools.product(options, repeat=len(keys))
    )


def test_planner_finds_almost_every_feasible_placement() -> None:
    """The planner is greedy (bin packing is NP-hard); on random tiny instances it must miss almost none."""
    rng = random.Random(5)
    feasible = missed = 0
    for _ in range(400):
        state = ClusterState()
        state.upsert_topology(parse_cluster_topology(cluster_topology()))
        for n in fleet(1, 2, 2, 1):
            n["status"]["allocatable"].update(
                {"cpu": str(rng.choice([1, 2, 4])), "nvidia.com/gpu": str(rng.choice([0, 4, 8]))}
            )
            if rng.random() < 0.15:
                n["spec"]["taints"] = [TAINT]
            state.upsert_node(n)
        gang_obj, pod_objs = _random_gang(rng, "g")
        gang = parse_podgang(gang_obj)
        pods = {p.key: p for p in map(parse_pod, pod_objs)}
        if len(pods) > 5 or not _exists_valid_placement(state, gang, pods):
            continue
        feasible += 1
        missed += not isinstance(plan_gang(state, PlanInput(gang, pods)), Plan)
    assert feasible > 180, feasible
    assert missed <= feasible // 50, (missed, feasible)
