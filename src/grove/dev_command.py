"""``grove dev``: the embedded dev cluster (API server, fake nodes, kubelets, scheduler) with the operator.

The composition lives here, above both: the dev cluster knows nothing of Grove, the operator nothing of the
dev cluster. Grove's CRDs are installed, the operator runs in the same process (``--no-operator`` leaves it
out), and the fake kubelets hold ``grove-initc`` init containers with the same rule ``grove initc`` applies
in a real cluster, so start-up ordering behaves as on a cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from typing import Any

import structlog

from grove.controllers.operator import OperatorHandle, OperatorOptions, run_operator
from grove.devcluster.cluster import DevCluster
from grove.devcluster.command import add_arguments as add_cluster_arguments
from grove.devcluster.command import usage
from grove.devcluster.errors import Cause, invalid_value
from grove.devcluster.resources import ResourceType, Strategy
from grove.devcluster.simulation import simulation_options
from grove.initc.rule import make_initc_gate

log = structlog.get_logger("grove.dev")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``grove dev``: the dev cluster's, plus the operator's."""
    add_cluster_arguments(parser)
    parser.add_argument(
        "--operator",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the Grove operator in the dev cluster (default: on)",
    )
    parser.add_argument(
        "--operator-metrics-port",
        type=int,
        default=0,
        help="port of the operator's /metrics, /healthz, /readyz (default: a free port)",
    )


def _absolute(path: str) -> str:
    return os.path.abspath(path)


class _RbacNameStrategy(Strategy):
    """kube-apiserver validates RBAC object names as path segments (``ValidateRBACName``), not as DNS
    subdomains: ``system:controller:...`` and Grove's ``grove.io:pcs:<pcs>`` are valid. The dev cluster
    checks them as subdomains; until it is fixed there, this strategy restores the real rule."""

    def validate_name(self, rtype: ResourceType, name: str) -> list[Cause]:
        if name in (".", ".."):
            return [invalid_value("metadata.name", name, 'may not be "." or ".."')]
        return [
            invalid_value("metadata.name", name, f"may not contain {ch!r}") for ch in ("/", "%") if ch in name
        ]


def prepare_dev_cluster(cluster: DevCluster) -> None:
    """What Grove needs from a dev cluster before it starts: RBAC names as kube-apiserver accepts them
    (the operator creates Role ``grove.io:pcs:<pcs>``), and the ``grove-initc`` kubelet gate."""
    for rtype in cluster.registry.all():
        if rtype.group == "rbac.authorization.k8s.io" and type(rtype.strategy) is Strategy:
            rtype.strategy = _RbacNameStrategy()
    register_initc_gate(cluster)


def register_initc_gate(cluster: DevCluster) -> None:
    """Make the cluster's fake kubelets hold ``grove-initc`` until its parent PodCliques are ready."""
    if cluster.simulation is None:
        return
    store = cluster.store

    def list_pods(namespace: str, selector: str) -> list[dict[str, Any]]:
        return list(store.list("pods", namespace=namespace, label_selector=selector).items)

    cluster.simulation.add_init_container_gate(make_initc_gate(list_pods))


class OperatorComponent:
    """The operator as a dev cluster component: CRDs installed, then the operator started on the cluster
    (by default without leader election, metrics on a free port)."""

    def __init__(self, options: OperatorOptions | None = None) -> None:
        self.options = options or OperatorOptions(leader_election=False, install_crds=True, metrics_port=0)
        self.handle: OperatorHandle | None = None

    async def start(self, cluster: DevCluster) -> None:
        """Start the operator against the running cluster."""
        self.handle = await run_operator(cluster.kubeconfig_path, self.options)

    async def stop(self) -> None:
        """Stop the operator gracefully."""
        if self.handle is not None:
            await self.handle.stop()
            self.handle = None


def _operator_usage(host: str, component: OperatorComponent) -> str:
    port = component.handle.manager.port if component.handle is not None else None
    metrics = f" (metrics: http://{host}:{port}/metrics)" if port else ""
    return f"The Grove operator is running{metrics}; Grove's CRDs are installed.\n"


async def run(args: argparse.Namespace) -> int:
    """Start the cluster and the operator, print how to use them, and serve until interrupted."""
    if args.nodes < 0:
        print(f"grove dev: --nodes must be >= 0, got {args.nodes}", file=sys.stderr)
        return 2
    try:
        simulation = simulation_options(args)
        options = OperatorOptions(
            leader_election=False, install_crds=True, metrics_port=args.operator_metrics_port
        )
        options.validate()
    except ValueError as e:
        print(f"grove dev: {e}", file=sys.stderr)
        return 2
    cluster = DevCluster(
        nodes=args.nodes,
        port=args.port,
        host=args.host,
        tls=args.tls,
        watch_history=args.watch_history,
        kubeconfig_path=_absolute(args.kubeconfig),
        simulation=simulation,
    )
    prepare_dev_cluster(cluster)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await cluster.start()
    except OSError as e:
        print(f"grove dev: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        await cluster.stop()
        return 1
    print(usage(cluster), flush=True)
    code = 0
    try:
        if args.operator:
            # The CRDs and the operator come up while the cluster already serves (and can be stopped).
            component = OperatorComponent(options)
            starting = asyncio.create_task(cluster.start_component(component))
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if starting.done():
                starting.result()
                print(_operator_usage(args.host, component), flush=True)
            else:
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
        await stop.wait()
    except Exception:
        log.exception("dev.operator_failed")
        code = 1
    finally:
        await cluster.stop()
    return code
