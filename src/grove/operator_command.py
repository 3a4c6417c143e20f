"""``grove operator``: run the Grove operator until SIGTERM (exits 1 if it loses its leader lease)."""

from __future__ import annotations

import argparse
import os
import sys

import structlog

from grove.controllers.context import DEFAULT_INITC_IMAGE
from grove.controllers.operator import LEADER_ELECTION_ID, OperatorOptions, run_operator
from grove.runtime.logging import configure_logging
from grove.runtime.manager import LeaderElectionLost

log = structlog.get_logger("grove.operator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``grove operator``."""
    defaults = OperatorOptions()
    parser.add_argument("--kubeconfig", help="kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
    parser.add_argument("--namespace", help="manage only this namespace (default: all namespaces)")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=defaults.metrics_port,
        help="port of /metrics, /healthz, /readyz (default: %(default)s; 0 picks a free port)",
    )
    parser.add_argument("--metrics-host", default=defaults.metrics_host, help="address to serve metrics on")
    for kind, default in (
        ("pcs", defaults.concurrency_pcs),
        ("pclq", defaults.concurrency_pclq),
        ("pcsg", defaults.concurrency_pcsg),
    ):
        parser.add_argument(
            f"--concurrency-{kind}",
            type=int,
            default=default,
            help=f"concurrent reconciles of the {kind.upper()} controller (default: %(default)s)",
        )
    parser.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="hold the Lease before reconciling, so only one replica acts (default: on)",
    )
    parser.add_argument(
        "--leader-election-namespace",
        help="namespace of the Lease (default: --namespace, else $POD_NAMESPACE, else grove-system)",
    )
    parser.add_argument("--leader-election-id", default=LEADER_ELECTION_ID, help="name of the Lease")
    for flag, seconds, meaning in (
        ("--lease-duration", defaults.lease_duration, "how long a lease not renewed stays held"),
        (
            "--renew-deadline",
            defaults.renew_deadline,
            "how long the leader retries renewing before giving up",
        ),
        ("--retry-period", defaults.retry_period, "interval between acquire/renew attempts"),
    ):
        parser.add_argument(
            flag, type=float, default=seconds, help=f"{meaning}, seconds (default: %(default)s)"
        )
    parser.add_argument(
        "--initc-image",
        default=os.environ.get("GROVE_INIT_CONTAINER_IMAGE", DEFAULT_INITC_IMAGE),
        help="image of the grove-initc init container (default: $GROVE_INIT_CONTAINER_IMAGE or %(default)s)",
    )
    parser.add_argument(
        "--install-crds", action="store_true", help="server-side apply Grove's CRDs before starting"
    )
    parser.add_argument("--log-level", default="info", help="log level (default: info)")


def options_from_args(args: argparse.Namespace) -> OperatorOptions:
    """The operator options the flags describe (raises ValueError on bad values)."""
    options = OperatorOptions(
        namespace=args.namespace,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        concurrency_pcs=args.concurrency_pcs,
        concurrency_pclq=args.concurrency_pclq,
        concurrency_pcsg=args.concurrency_pcsg,
        leader_election=args.leader_elect,
        leader_election_namespace=args.leader_election_namespace,
        leader_election_id=args.leader_election_id,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
        initc_image=args.initc_image,
        install_crds=args.install_crds,
        handle_signals=True,
    )
    options.validate()
    return options


async def run(args: argparse.Namespace) -> int:
    """Runs the operator until SIGTERM/SIGINT; 1 if it lost its lease or failed, 2 on bad flags."""
    try:
        configure_logging(args.log_level)
        options = options_from_args(args)
    except ValueError as exc:
        print(f"grove operator: {exc}", file=sys.stderr)
        return 2
    try:
        handle = await run_operator(args.kubeconfig, options)
    except Exception as exc:
        print(f"grove operator: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        await handle.wait()
    except LeaderElectionLost:
        log.error("operator.leader_election_lost")
        return 1
    except Exception:
        log.exception("operator.failed")
        return 1
    return 0
