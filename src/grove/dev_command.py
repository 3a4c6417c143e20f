"""``grove dev``: the embedded dev cluster (API server, fake nodes, kubelets, scheduler) with the operator
and the scheduler extender.

The composition lives here, above both: the dev cluster knows nothing of Grove, the operator nothing of the
dev cluster. Grove's CRDs are installed, the operator runs in the same process (``--no-operator`` leaves it
out), and the fake kubelets hold ``grove-initc`` init containers with the same rule ``grove initc`` applies
in a real cluster, so start-up ordering behaves as on a cluster. The scheduler extender runs too, and the
stand-in scheduler serves ``grove-scheduler`` through it (:mod:`grove.devstack`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
from dataclasses import replace
from typing import Any

import structlog

from grove.controllers.operator import OperatorHandle, OperatorOptions, run_operator
from grove.devcluster.cluster import Component, DevCluster
from grove.devcluster.command import add_arguments as add_cluster_arguments
from grove.devcluster.command import usage
from grove.devcluster.simulation import SimulationOptions, simulation_options
from grove.devstack import (
    DevStack,
    EmbeddedWebhook,
    add_extender_arguments,
    extender_from_args,
    extender_usage,
)
from grove.envtest.command import add_assets_argument, real_cluster
from grove.envtest.controlplane import ControlPlaneError
from grove.envtest.netns import NetworkNamespaceError
from grove.envtest.stack import KubernetesStack, StackOptions
from grove.initc.rule import make_initc_gate
from grove.runtime.logging import configure_logging

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
        "--webhook",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve Grove's admission webhooks with the operator, registered as deploy/webhook does "
        "(default: on)",
    )
    parser.add_argument(
        "--operator-metrics-port",
        type=int,
        default=0,
        help="port of the operator's /metrics, /healthz, /readyz (default: a free port)",
    )
    add_extender_arguments(parser)
    add_assets_argument(parser)
    parser.add_argument("--log-level", default="info", help="log level (default: info)")


def _absolute(path: str) -> str:
    return os.path.abspath(path)


def prepare_dev_cluster(cluster: DevCluster) -> None:
    """What Grove needs from a dev cluster before it starts: its fake kubelets hold ``grove-initc`` until
    the parent PodCliques are ready, with the rule ``grove initc`` applies in a real cluster."""
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


SAMPLE = "deploy/samples/single-node-aggregated.yaml"


def next_steps(args: argparse.Namespace, kubeconfig: str) -> list[str]:
    """Commands to try first. Grove's CRDs are already installed by the dev stack (:class:`GroveCrds`), so
    there is nothing to apply before a PodCliqueSet."""
    steps = ["kubectl get crds                  # Grove's CRDs are installed"]
    if args.nodes:
        steps.append("kubectl get nodes -L topology.grove.io/rack")
    if args.operator:
        steps += [f"kubectl apply -f {SAMPLE}", "kubectl get pcs,pclq,pods -o wide"]
    else:
        steps.append(f"grove operator --kubeconfig {kubeconfig} --no-leader-elect   # not run: --no-operator")
    return steps


def _operator_usage(host: str, component: OperatorComponent) -> str:
    port = component.handle.manager.port if component.handle is not None else None
    metrics = f" (metrics: http://{host}:{port}/metrics)" if port else ""
    return f"The Grove operator is running{metrics}.\n"


def _webhook_usage(webhook: EmbeddedWebhook) -> str:
    return (
        f"Grove's admission webhooks are served at {webhook.url} behind Service "
        f"{webhook.options.namespace}/{webhook.options.service_name}:\n"
        "kubectl apply of an invalid PodCliqueSet fails with its field errors (--no-webhook: not served).\n"
    )


async def _start_unless_stopped(cluster: DevCluster, component: Component, stop: asyncio.Event) -> bool:
    """Start ``component`` on the running cluster; False (and nothing started) if stopped meanwhile."""
    starting = asyncio.create_task(cluster.start_component(component))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if starting.done():
        starting.result()
        return True
    starting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await starting
    return False


async def run(args: argparse.Namespace) -> int:
    """Start the cluster and the operator, print how to use them, and serve until interrupted."""
    if args.nodes < 0:
        print(f"grove dev: --nodes must be >= 0, got {args.nodes}", file=sys.stderr)
        return 2
    try:
        configure_logging(args.log_level)
        simulation = simulation_options(args)
        # The dev stack installs Grove's CRDs before the operator starts.
        options = OperatorOptions(
            leader_election=False, install_crds=False, metrics_port=args.operator_metrics_port
        )
        options.validate()
        extender = extender_from_args(args, simulation.shape)
    except ValueError as e:
        print(f"grove dev: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"grove dev: cannot listen on port {args.extender_port}: {e.strerror or e}", file=sys.stderr)
        return 1
    if args.k8s_assets:
        extender.sock.close()
        return await _run_real(args, simulation, options)
    stack = DevStack.build(simulation, extender=extender)
    cluster = DevCluster(
        nodes=args.nodes,
        port=args.port,
        host=args.host,
        tls=args.tls,
        watch_history=args.watch_history,
        kubeconfig_path=_absolute(args.kubeconfig),
        **stack.cluster_kwargs(),
    )
    prepare_dev_cluster(cluster)
    stack.setup(cluster)
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
        extender.sock.close()
        return 1
    print(usage(cluster, next_steps(args, cluster.kubeconfig_path)), flush=True)
    code = 0
    try:
        if args.operator:
            # The operator, then its webhooks, come up while the cluster already serves (and can be stopped).
            component = OperatorComponent(options)
            if await _start_unless_stopped(cluster, component, stop):
                print(_operator_usage(args.host, component), flush=True)
                if args.webhook:
                    # Its metrics on the operator's /metrics, as grove operator serves them.
                    handle = component.handle
                    webhook = EmbeddedWebhook(registry=handle.manager.metrics.registry if handle else None)
                    if await _start_unless_stopped(cluster, webhook, stop):
                        print(_webhook_usage(webhook), flush=True)
        print(extender_usage(stack), flush=True)
        await stop.wait()
    except Exception:
        log.exception("dev.operator_failed")
        code = 1
    finally:
        await cluster.stop()
        extender.sock.close()
    return code


def _real_usage(args: argparse.Namespace, stack: KubernetesStack) -> str:
    lines = [
        f"Grove is running on a real control plane at {stack.plane.server}",
        "(kube-apiserver, kube-controller-manager, kube-scheduler from --k8s-assets, with "
        f"{args.nodes} fake nodes and kubelets)",
        "",
        "It listens in this private network namespace only: run kubectl in the same one.",
        f"  export KUBECONFIG={_absolute(args.kubeconfig)}",
    ]
    lines += [f"  {c}" for c in next_steps(args, _absolute(args.kubeconfig))]
    if stack.operator is not None:
        lines.append("The Grove operator runs under ServiceAccount grove-system/grove-operator.")
    if stack.webhook is not None:
        lines.append(f"Grove's admission webhooks are served at https://127.0.0.1:{stack.webhook.port}.")
    if stack.extender is not None:
        lines.append(
            f"Scheduler extender: {stack.extender_url}; a second kube-scheduler serves "
            "schedulerName: grove-scheduler through it."
        )
    return "\n".join([*lines, "", "Press Ctrl-C to stop.", ""])


async def _run_real(
    args: argparse.Namespace, simulation: SimulationOptions, operator: OperatorOptions
) -> int:
    """``grove dev --k8s-assets``: the same stack on a real control plane."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    options = StackOptions(
        nodes=args.nodes,
        shape=simulation.shape,
        simulation=simulation,
        webhook=args.operator and args.webhook,
        operator=replace(operator, leader_election=True) if args.operator else None,
    )
    try:
        async with real_cluster(args.k8s_assets, options) as stack:
            kubeconfig = _absolute(args.kubeconfig)
            shutil.copyfile(stack.plane.kubeconfig_path, kubeconfig)
            print(_real_usage(args, stack), flush=True)
            await stop.wait()
    except (ControlPlaneError, NetworkNamespaceError, FileNotFoundError) as e:
        print(f"grove dev: --k8s-assets: {e}", file=sys.stderr)
        return 1
    return 0
