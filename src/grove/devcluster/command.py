"""``grove dev``: run the embedded dev cluster until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys

from grove.devcluster.cluster import DevCluster
from grove.devcluster.simulation import add_simulation_arguments, simulation_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``grove dev``."""
    parser.add_argument("--nodes", type=int, default=40, help="number of fake nodes (default: 40)")
    parser.add_argument(
        "--port", type=int, default=6443, help="API server port; 0 picks a free one (default: 6443)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--kubeconfig",
        default=os.path.join(os.path.expanduser("~"), ".kube", "grove-dev.yaml"),
        help="where to write the kubeconfig (default: ~/.kube/grove-dev.yaml)",
    )
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate")
    parser.add_argument(
        "--watch-history", type=int, default=10_000, help="watch events kept per resource (default: 10000)"
    )
    add_simulation_arguments(parser)


def _absolute(path: str) -> str:
    return os.path.abspath(path)


def usage(cluster: DevCluster) -> str:
    """What to tell the user once the cluster is up."""
    return (
        f"Grove dev cluster is running at {cluster.url}\n"
        f"\n"
        f"  export KUBECONFIG={cluster.kubeconfig_path}\n"
        f"  kubectl apply --server-side -f deploy/crds/\n"
        f"  kubectl get nodes\n"
        f"\n"
        f"Press Ctrl-C to stop.\n"
    )


async def run(args: argparse.Namespace) -> int:
    """Start the cluster, print how to use it, and serve until interrupted."""
    if args.nodes < 0:
        print(f"grove dev: --nodes must be >= 0, got {args.nodes}", file=sys.stderr)
        return 2
    try:
        simulation = simulation_options(args)
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
    try:
        await cluster.start()
    except OSError as e:
        print(f"grove dev: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(usage(cluster), flush=True)
    try:
        await stop.wait()
    finally:
        await cluster.stop()
    return 0
