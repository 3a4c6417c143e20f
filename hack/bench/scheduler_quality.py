"""Placement quality: utilisation reached before the first rejection, and constraints held.

A random stream of gangs (2-128 pods; every pod of a gang asks for the same 1, 2, 4 or 8 GPUs; each gang
requires one rack or one block, rack only when the gang could fit a rack) is fed into an empty cluster of
2 zones x 4 blocks x 8 racks x 8 hosts with 8 GPUs each (rack = 64 GPUs, block = 512) until the first gang
that cannot be placed. Printed per strategy over 32 seeds (mean, standard deviation, worst seed): GPU
utilisation at that point, gangs placed, and the share of placed gangs whose required constraint held.

That figure is decided mostly by the stream, not by the packing: the first rejected gang is usually so large
that it needs more GPUs than the whole cluster has free (no strategy could place it; counted as "forced"), or
more than any block has free under every strategy. So two more figures, where rejected gangs are dropped and
the stream goes on: arrivals only, until the 10th rejection; and a steady state with departures, 1,000
arrivals, mean utilisation over the stream and the share of arrivals placed. For each figure the planner's
gain over first-fit domain is printed per seed pair: mean, standard error, seeds won/lost.

Strategies:
- grove planner: :func:`grove.scheduler.planner.plan_gang` (BestFit: tightest domain, fewest sub-domains).
- first-fit domain: topology-aware but naive: the first domain at the required level (in name order) where
  first-fit of the pods over its nodes succeeds.
- first-fit nodes: topology-unaware, like kube-scheduler without the extender: each pod on the first node
  with room; the gang is rejected only when its pods do not fit anywhere.

Goal: the planner holds 100% of constraints and reaches higher utilisation than first-fit domain.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from grove.scheduler.gang import parse_podgang
from grove.scheduler.planner import Plan, PlanInput, plan_gang
from grove.scheduler.pods import parse_pod
from grove.scheduler.synthetic import (
    BLOCK_KEY,
    GPU,
    RACK_KEY,
    GroupSpec,
    cluster_topology,
    fleet,
    pod,
    podgang,
)
from grove.scheduler.topology import ClusterState, parse_cluster_topology

SHAPE = (2, 4, 8, 8)
GPUS_PER_NODE = 8
RACK_GPUS = SHAPE[3] * GPUS_PER_NODE
BLOCK_GPUS = SHAPE[2] * RACK_GPUS
SEEDS = tuple(range(1, 33))
CHURN = 0.8
STEADY_ARRIVALS = 1000
REJECTIONS = 10


@dataclass(frozen=True)
class GangSpec:
    name: str
    pods: int
    gpus: int
    level: str  # "rack" | "block"


def stream(seed: int) -> list[GangSpec]:
    rng = random.Random(seed)
    out = []
    for i in range(100_000):
        gpus = rng.choice([1, 2, 4, 8])
        n = min(rng.randint(2, 128), BLOCK_GPUS // gpus)
        level = "rack" if n * gpus <= RACK_GPUS and rng.random() < 0.5 else "block"
        out.append(GangSpec(f"g{i}", n, gpus, level))
    return out


NODES = fleet(*SHAPE, cpu="256", memory="2Ti", gpu=GPUS_PER_NODE)
NAMES = sorted(n["metadata"]["name"] for n in NODES)


def _rack(node: str) -> str:
    return node.rsplit("-", 1)[0]


def _block(node: str) -> str:
    return node.rsplit("-", 2)[0]


def held(spec: GangSpec, nodes: list[str]) -> bool:
    domain = _rack if spec.level == "rack" else _block
    return len({domain(n) for n in nodes}) == 1


class Strategy:
    """Places gangs and takes departed gangs' pods away again."""

    def place(self, spec: GangSpec) -> list[str] | None:
        raise NotImplementedError

    def remove(self, spec: GangSpec, nodes: list[str]) -> None:
        raise NotImplementedError

    def used(self) -> int:
        raise NotImplementedError


class GrovePlanner(Strategy):
    def __init__(self) -> None:
        self.state = ClusterState()
        self.state.upsert_topology(parse_cluster_topology(cluster_topology()))
        for n in NODES:
            self.state.upsert_node(n)

    def place(self, spec: GangSpec) -> list[str] | None:
        names = [f"{spec.name}-{i}" for i in range(spec.pods)]
        key = RACK_KEY if spec.level == "rack" else BLOCK_KEY
        gang = parse_podgang(podgang(spec.name, [GroupSpec(spec.name, names)], required=key))
        pods = {p.key: p for p in (parse_pod(pod(n, gang=spec.name, cpu="1", gpu=spec.gpus)) for n in names)}
        result = plan_gang(self.state, PlanInput(gang, pods))
        if not isinstance(result, Plan):
            return None
        for pod_key, node in result.assignments.items():
            self.state.add_usage(node, pods[pod_key].requests, "bound")
        return list(result.assignments.values())

    def remove(self, spec: GangSpec, nodes: list[str]) -> None:
        for node in nodes:
            self.state.add_usage(node, {GPU: spec.gpus, "cpu": 1000, "memory": 2**30, "pods": 1}, "bound", -1)

    def used(self) -> int:
        return sum(self.state.bound_on(n).get(GPU, 0) for n in NAMES)


class FirstFitNodes(Strategy):
    def __init__(self) -> None:
        self.free = dict.fromkeys(NAMES, GPUS_PER_NODE)

    def fit(self, nodes: list[str], spec: GangSpec) -> list[str] | None:
        trial = {n: self.free[n] for n in nodes}
        out = []
        for _ in range(spec.pods):
            node = next((n for n in nodes if trial[n] >= spec.gpus), None)
            if node is None:
                return None
            trial[node] -= spec.gpus
            out.append(node)
        self.free.update(trial)
        return out

    def place(self, spec: GangSpec) -> list[str] | None:
        return self.fit(NAMES, spec)

    def remove(self, spec: GangSpec, nodes: list[str]) -> None:
        for node in nodes:
            self.free[node] += spec.gpus

    def used(self) -> int:
        return len(NAMES) * GPUS_PER_NODE - sum(self.free.values())


class FirstFitDomain(FirstFitNodes):
    def __init__(self) -> None:
        super().__init__()
        self.domains: dict[str, dict[str, list[str]]] = {"rack": {}, "block": {}}
        for n in NAMES:
            self.domains["rack"].setdefault(_rack(n), []).append(n)
            self.domains["block"].setdefault(_block(n), []).append(n)

    def place(self, spec: GangSpec) -> list[str] | None:
        for _, nodes in sorted(self.domains[spec.level].items()):
            placed = self.fit(nodes, spec)
            if placed is not None:
                return placed
        return None


@dataclass(frozen=True)
class Outcome:
    """One run: utilisation when it stopped, mean utilisation after each arrival, gangs placed, arrivals,
    share of placed gangs whose constraint held, and whether the first rejected gang was larger than all
    free GPUs (no strategy could have placed it)."""

    util: float
    mean_util: float
    placed: int
    arrivals: int
    held: float
    forced: bool


def run(
    make: Callable[[], Strategy],
    seed: int,
    churn: float,
    rejections: int | None = 1,
    arrivals: int | None = None,
) -> Outcome:
    """Feed the stream until the ``rejections``-th rejection (rejected gangs are dropped) or ``arrivals``
    arrivals; with ``churn``, each arrival first lets a random running gang leave with that probability."""
    strategy = make()
    capacity = len(NAMES) * GPUS_PER_NODE
    rng = random.Random(seed * 7919)
    running: list[tuple[GangSpec, list[str]]] = []
    placed = kept = rejected = seen = 0
    forced: bool | None = None
    utils: list[float] = []
    for spec in stream(seed):
        if (rejections is not None and rejected >= rejections) or (arrivals is not None and seen >= arrivals):
            break
        seen += 1
        if running and rng.random() < churn:
            gone = running.pop(rng.randrange(len(running)))
            strategy.remove(*gone)
        nodes = strategy.place(spec)
        if nodes is None:
            rejected += 1
            if forced is None:
                forced = spec.pods * spec.gpus > capacity - strategy.used()
        else:
            running.append((spec, nodes))
            placed += 1
            kept += held(spec, nodes)
        utils.append(strategy.used() / capacity)
    return Outcome(
        strategy.used() / capacity,
        statistics.mean(utils),
        placed,
        seen,
        kept / placed if placed else 1.0,
        bool(forced),
    )


def _pct(values: Sequence[float]) -> str:
    return f"{statistics.mean(values) * 100:5.1f}% ±{statistics.stdev(values) * 100:4.1f}"


def _gain(ours: Sequence[float], base: Sequence[float]) -> str:
    diff = [a - b for a, b in zip(ours, base, strict=True)]
    err = statistics.stdev(diff) / math.sqrt(len(diff))
    won, lost = sum(d > 0 for d in diff), sum(d < 0 for d in diff)
    return f"{statistics.mean(diff) * 100:+5.2f} points ±{err * 100:4.2f} (s.e.), seeds won/lost {won}/{lost}"


STRATEGIES: list[tuple[str, Callable[[], Strategy]]] = [
    ("grove planner (BestFit)", GrovePlanner),
    ("first-fit domain (topology-aware)", FirstFitDomain),
    ("first-fit nodes (topology-unaware)", FirstFitNodes),
]


def _figure(title: str, figure: str, churn: float, rejections: int | None, arrivals: int | None) -> None:
    print(title)
    results: dict[str, list[Outcome]] = {}
    for label, make in STRATEGIES:
        outs = [run(make, seed, churn, rejections, arrivals) for seed in SEEDS]
        results[label] = outs
        values = [getattr(o, figure) for o in outs]
        extra = (
            f"   arrivals placed {_pct([o.placed / o.arrivals for o in outs])}"
            if arrivals
            else f"   gangs placed {statistics.mean(o.placed for o in outs):6.1f}"
        )
        if rejections == 1:
            extra += f"   forced {sum(o.forced for o in outs):2d}/{len(outs)}"
        print(
            f"  {label:36s} utilisation {_pct(values)} (worst seed {min(values) * 100:5.1f}%){extra}"
            f"   constraints held {statistics.mean(o.held for o in outs) * 100:5.1f}%"
        )
    ours, base = (results[label] for label, _ in STRATEGIES[:2])
    print(
        "  planner - first-fit domain, utilisation: "
        + _gain([getattr(o, figure) for o in ours], [getattr(o, figure) for o in base])
    )
    if arrivals:
        print(
            "  planner - first-fit domain, arrivals placed: "
            + _gain([o.placed / o.arrivals for o in ours], [o.placed / o.arrivals for o in base])
        )


def main() -> None:
    print(
        f"Cluster {len(NAMES)} nodes x {GPUS_PER_NODE} GPUs (rack {RACK_GPUS}, block {BLOCK_GPUS}); "
        f"gangs of 2-128 pods, required rack or block; {len(SEEDS)} seeds (mean ±std)."
    )
    _figure(
        "Until the first rejection (forced: the rejected gang needs more GPUs than are free):",
        "util",
        0.0,
        1,
        None,
    )
    _figure(
        f"With departures (before each arrival a random running gang leaves with probability {CHURN}),"
        " until the first rejection:",
        "util",
        CHURN,
        1,
        None,
    )
    _figure(
        f"Rejected gangs dropped, arrivals only, until the {REJECTIONS}th rejection:",
        "util",
        0.0,
        REJECTIONS,
        None,
    )
    _figure(
        f"Rejected gangs dropped, with departures ({CHURN}), {STEADY_ARRIVALS} arrivals, mean utilisation:",
        "mean_util",
        CHURN,
        None,
        STEADY_ARRIVALS,
    )


if __name__ == "__main__":
    main()
