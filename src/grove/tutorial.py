"""The core-concepts tutorial as data: its five examples, the kubectl commands they run, and the exact state
each command must lead to.

The expected states restate the tutorial's own words (pod counts per clique, the naming rules
``<pcs>-<i>-<clique>`` and ``<pcs>-<i>-<group>-<j>-<clique>``), not the operator's code, so ``grove demo``
checks the operator against what the tutorial promises. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "EXAMPLES",
    "Apply",
    "Delete",
    "Example",
    "Expected",
    "ListPodCliques",
    "Scale",
    "Shape",
    "Step",
]


@dataclass(frozen=True)
class Expected:
    """Everything one PodCliqueSet should own, by name."""

    pcs: str
    pods: Mapping[str, int]
    """PodClique name -> pods (Running and Ready)."""
    pcsgs: Mapping[str, int]
    """PodCliqueScalingGroup name -> replicas."""
    podgangs: frozenset[str]
    services: frozenset[str]

    @property
    def pod_count(self) -> int:
        """Pods in total."""
        return sum(self.pods.values())


@dataclass(frozen=True)
class Shape:
    """A tutorial sample as the tutorial describes it: standalone cliques (name -> pods) and scaling groups
    (name -> (replicas, {clique: pods per group replica}))."""

    pcs: str
    cliques: Mapping[str, int] = field(default_factory=dict)
    groups: Mapping[str, tuple[int, Mapping[str, int]]] = field(default_factory=dict)

    def expect(
        self,
        replicas: int = 1,
        *,
        pcsg_replicas: Mapping[str, int] | None = None,
        pclq_pods: Mapping[str, int] | None = None,
    ) -> Expected:
        """The state with ``replicas`` PodCliqueSet replicas, and groups (by PCSG name) and PodCliques (by
        name) scaled as ``kubectl scale pcsg|pclq`` leaves them; every other count from the template.

        Every scaling group of the samples has the default minAvailable 1: its replica 0 is in the base
        PodGang ``<pcs>-<i>``, each replica ``j >= 1`` in its own scaled PodGang ``<pcsg>-<j-1>``.
        """
        pods: dict[str, int] = {}
        pcsgs: dict[str, int] = {}
        gangs: set[str] = set()
        for i in range(replicas):
            prefix = f"{self.pcs}-{i}"
            gangs.add(prefix)
            for clique, count in self.cliques.items():
                pods[f"{prefix}-{clique}"] = count
            for group, (group_count, members) in self.groups.items():
                pcsg = f"{prefix}-{group}"
                pcsgs[pcsg] = (pcsg_replicas or {}).get(pcsg, group_count)
                gangs.update(f"{pcsg}-{j - 1}" for j in range(1, pcsgs[pcsg]))
                for j in range(pcsgs[pcsg]):
                    for clique, count in members.items():
                        pods[f"{pcsg}-{j}-{clique}"] = count
        for name, count in (pclq_pods or {}).items():
            if name not in pods:
                raise ValueError(f"pclq_pods: {name} is not a PodClique of {self.pcs}")
            pods[name] = count
        services = frozenset(f"{self.pcs}-{i}" for i in range(replicas))
        return Expected(self.pcs, pods, pcsgs, frozenset(gangs), services)


@dataclass(frozen=True)
class Apply:
    """``kubectl apply -f <sample>``; then the PodCliqueSet's pods are listed."""

    sample: str
    expect: Expected


@dataclass(frozen=True)
class Scale:
    """``kubectl scale <kind> <name> --replicas=<n>``; then the PodCliqueSet's pods are listed."""

    kind: str
    name: str
    replicas: int
    expect: Expected
    note: str = ""

    @property
    def args(self) -> tuple[str, ...]:
        """The kubectl arguments."""
        return ("scale", self.kind, self.name, f"--replicas={self.replicas}")


@dataclass(frozen=True)
class ListPodCliques:
    """``kubectl get pclq``: exactly these PodCliques exist in the namespace."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Delete:
    """``kubectl delete pcs <pcs>``: the PodCliqueSet and everything it owned disappear."""

    pcs: str


Step = Apply | Scale | ListPodCliques | Delete


@dataclass(frozen=True)
class Example:
    """One section of the tutorial."""

    title: str
    steps: tuple[Step, ...]


SINGLE_NODE_AGGREGATED = Shape("single-node-aggregated", cliques={"model-worker": 2})
SINGLE_NODE_DISAGGREGATED = Shape("single-node-disaggregated", cliques={"prefill": 3, "decode": 2})
MULTINODE_AGGREGATED = Shape(
    "multinode-aggregated", groups={"model-instance": (2, {"leader": 1, "worker": 3})}
)
MULTINODE_DISAGGREGATED = Shape(
    "multinode-disaggregated",
    groups={"prefill": (2, {"pleader": 1, "pworker": 4}), "decode": (1, {"dleader": 1, "dworker": 2})},
)
COMPLETE_INFERENCE_PIPELINE = Shape(
    "comp-inf-ppln",
    cliques={"frontend": 2, "vision-encoder": 1},
    groups={
        "prefill": (1, {"pleader": 1, "pworker": 4}),
        "decode-cluster": (1, {"dleader": 1, "dworker": 2}),
    },
)

_SNA_WORKER = "single-node-aggregated-0-model-worker"
_MNA_GROUP = "multinode-aggregated-0-model-instance"
_MNA_WORKER = "multinode-aggregated-0-model-instance-0-worker"

EXAMPLES: tuple[Example, ...] = (
    Example(
        "Example 1: Single-Node Aggregated Inference",
        (
            Apply("single-node-aggregated.yaml", SINGLE_NODE_AGGREGATED.expect()),
            Scale("pclq", _SNA_WORKER, 4, SINGLE_NODE_AGGREGATED.expect(pclq_pods={_SNA_WORKER: 4})),
            Scale(
                "pcs",
                "single-node-aggregated",
                3,
                SINGLE_NODE_AGGREGATED.expect(3, pclq_pods={_SNA_WORKER: 4}),
            ),
            Delete("single-node-aggregated"),
        ),
    ),
    Example(
        "Example 2: Single-Node Disaggregated Inference",
        (
            Apply("single-node-disaggregated.yaml", SINGLE_NODE_DISAGGREGATED.expect()),
            Scale(
                "pcs",
                "single-node-disaggregated",
                2,
                SINGLE_NODE_DISAGGREGATED.expect(2),
                note="The tutorial's command reads `kubectl scale pcs single-node-aggregated --replicas=2`, "
                "but that PodCliqueSet was deleted in Example 1 and its output shows "
                "single-node-disaggregated scaled: scaling single-node-disaggregated.",
            ),
            Delete("single-node-disaggregated"),
        ),
    ),
    Example(
        "Example 3: Multi-Node Aggregated Inference",
        (
            Apply("multi-node-aggregated.yaml", MULTINODE_AGGREGATED.expect()),
            Scale("pcsg", _MNA_GROUP, 3, MULTINODE_AGGREGATED.expect(pcsg_replicas={_MNA_GROUP: 3})),
            ListPodCliques(
                tuple(f"{_MNA_GROUP}-{j}-{clique}" for j in range(3) for clique in ("leader", "worker"))
            ),
            Scale(
                "pclq",
                _MNA_WORKER,
                4,
                MULTINODE_AGGREGATED.expect(pcsg_replicas={_MNA_GROUP: 3}, pclq_pods={_MNA_WORKER: 4}),
            ),
            Delete("multinode-aggregated"),
        ),
    ),
    Example(
        "Example 4: Multi-Node Disaggregated Inference",
        (
            Apply("multi-node-disaggregated.yaml", MULTINODE_DISAGGREGATED.expect()),
            Delete("multinode-disaggregated"),
        ),
    ),
    Example(
        "Example 5: Complete Inference Pipeline",
        (
            Apply("complete-inference-pipeline.yaml", COMPLETE_INFERENCE_PIPELINE.expect()),
            Delete("comp-inf-ppln"),
        ),
    ),
)
