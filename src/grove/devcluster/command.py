"""The dev cluster's command-line flags and start-up message, for the ``grove dev`` composition
(:mod:`grove.dev_command`), which decides what else runs on the cluster and what to suggest."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from grove.devcluster.cluster import DevCluster
from grove.devcluster.simulation import add_simulation_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the dev cluster (API server, fake nodes, kubelets and scheduler)."""
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


def usage(cluster: DevCluster, commands: Sequence[str]) -> str:
    """What to tell the user once the cluster is up: where it is, the kubeconfig, then ``commands``."""
    lines = [
        f"Grove dev cluster is running at {cluster.url}",
        "",
        f"  export KUBECONFIG={cluster.kubeconfig_path}",
    ]
    lines += [f"  {c}" for c in commands]
    return "\n".join([*lines, "", "Press Ctrl-C to stop.", ""])
