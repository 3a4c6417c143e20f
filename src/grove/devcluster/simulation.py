"""What runs on the dev cluster besides the API server: fake nodes, their kubelets, the taint eviction
controller and the kube-scheduler stand-in, started and stopped together as one component.

``DevCluster(nodes=N)`` adds one (``cluster.simulation``). Tests reach it through the thread-safe handle::

    sim = dev.cluster.simulation
    dev.call(sim.fail_node, "fake-node-003")               # the node shuts down, its pods fail
    dev.call(sim.fail_node, "fake-node-004", unreachable=True)
    dev.call(sim.recover_node, "fake-node-003")
    dev.call(sim.add_init_container_gate, gate)            # gate(pod, init_container) -> bool | Awaitable
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from grove.devcluster.eviction import TaintEviction
from grove.devcluster.kubelet import FakeKubelet, InitContainerGate
from grove.devcluster.nodes import DEFAULT_TOPOLOGY, FakeNodes, NodeShape, parse_topology
from grove.devcluster.schedconfig import SchedulerConfig, load_scheduler_config
from grove.devcluster.scheduler import Scheduler

if TYPE_CHECKING:
    from grove.devcluster.cluster import DevCluster

log = structlog.get_logger("grove.devcluster.simulation")


@dataclass(frozen=True)
class SimulationOptions:
    """Node shape, scheduler configuration and kubelet/heartbeat timing (seconds)."""

    shape: NodeShape = field(default_factory=NodeShape)
    scheduler_config: SchedulerConfig | None = None
    start_delay: float = 0.5
    init_container_duration: float = 0.1
    exit_on_sigterm_after: float | None = None
    gate_recheck_interval: float = 1.0
    lease_renew_interval: float = 10.0
    status_report_interval: float = 300.0
    record_events: bool = True


class Simulation:
    """``nodes`` fake nodes with kubelets, taint eviction and the scheduler, as one cluster component."""

    def __init__(self, nodes: int, options: SimulationOptions | None = None) -> None:
        opts = options or SimulationOptions()
        self.options = opts
        self.nodes = FakeNodes(
            nodes,
            opts.shape,
            lease_renew_interval=opts.lease_renew_interval,
            status_report_interval=opts.status_report_interval,
        )
        self.kubelet = FakeKubelet(
            self.nodes,
            start_delay=opts.start_delay,
            init_container_duration=opts.init_container_duration,
            exit_on_sigterm_after=opts.exit_on_sigterm_after,
            gate_recheck_interval=opts.gate_recheck_interval,
        )
        self.eviction = TaintEviction()
        self.scheduler = Scheduler(opts.scheduler_config, record_events=opts.record_events)
        self._parts: list[FakeNodes | FakeKubelet | TaintEviction | Scheduler] = [
            self.nodes,
            self.kubelet,
            self.eviction,
            self.scheduler,
        ]
        self._started: list[FakeNodes | FakeKubelet | TaintEviction | Scheduler] = []

    async def start(self, cluster: DevCluster) -> None:
        """Register the nodes, then start kubelets, taint eviction and the scheduler."""
        for part in self._parts:
            await part.start(cluster)
            self._started.append(part)

    async def stop(self) -> None:
        """Stop everything (safe to call twice)."""
        while self._started:
            part = self._started.pop()
            try:
                await part.stop()
            except Exception:
                log.exception("simulation.stop_failed", part=type(part).__name__)

    def fail_node(self, name: str, *, unreachable: bool = False) -> None:
        """Fail a node (see :meth:`FakeNodes.fail_node`). Call on the cluster's loop."""
        self.nodes.fail_node(name, unreachable=unreachable)

    def recover_node(self, name: str) -> None:
        """Bring a failed node back. Call on the cluster's loop."""
        self.nodes.recover_node(name)

    def add_init_container_gate(self, gate: InitContainerGate) -> Callable[[], None]:
        """Hold init containers until ``gate(pod, init_container)`` is true (see
        :meth:`FakeKubelet.add_init_container_gate`); returns an unregister callable."""
        return self.kubelet.add_init_container_gate(gate)


def _topology_text() -> str:
    return ",".join(f"{lv.domain}={lv.key}:{lv.size}" for lv in DEFAULT_TOPOLOGY)


def add_simulation_arguments(parser: argparse.ArgumentParser) -> None:
    """``grove dev`` flags for the node shape, the scheduler configuration and kubelet timing."""
    shape = NodeShape()
    parser.add_argument(
        "--node-cpu", default=shape.cpu, help=f"allocatable cpu per node (default: {shape.cpu})"
    )
    parser.add_argument(
        "--node-memory", default=shape.memory, help=f"allocatable memory per node (default: {shape.memory})"
    )
    parser.add_argument(
        "--node-pods", type=int, default=shape.pods, help=f"pods per node (default: {shape.pods})"
    )
    parser.add_argument("--node-gpus", type=int, default=0, help="nvidia.com/gpu per node (default: 0)")
    parser.add_argument(
        "--topology",
        default=_topology_text(),
        help="topology labels, broad to narrow: domain=label-key:nodes-per-domain,... or 'none' "
        f"(default: {_topology_text()})",
    )
    parser.add_argument(
        "--scheduler-config",
        metavar="FILE",
        help="KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) with profiles and extenders",
    )
    parser.add_argument(
        "--pod-start-delay",
        type=float,
        default=SimulationOptions.start_delay,
        help="seconds from a pod's binding to its containers running "
        f"(default: {SimulationOptions.start_delay})",
    )


def simulation_options(args: argparse.Namespace) -> SimulationOptions:
    """The options the flags describe; ``ValueError`` naming the flag and the rule when they are invalid."""
    shape = NodeShape(
        cpu=args.node_cpu,
        memory=args.node_memory,
        pods=args.node_pods,
        gpus=args.node_gpus,
        topology=parse_topology(args.topology),
    )
    shape.validate()
    config = load_scheduler_config(args.scheduler_config) if args.scheduler_config else None
    if args.pod_start_delay < 0:
        raise ValueError(f"--pod-start-delay must be >= 0, got {args.pod_start_delay}")
    return SimulationOptions(shape=shape, scheduler_config=config, start_delay=args.pod_start_delay)
