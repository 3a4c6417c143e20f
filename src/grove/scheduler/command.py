"""``grove scheduler-extender``: the topology-aware gang scheduler extender for kube-scheduler."""

from __future__ import annotations

import argparse
import os
import sys

import structlog

from grove.runtime.client import Client
from grove.runtime.leaderelection import LeaderElectionConfig
from grove.runtime.logging import configure_logging
from grove.runtime.manager import LeaderElectionLost
from grove.scheduler.ledger import LedgerConfig
from grove.scheduler.server import ServerConfig
from grove.scheduler.service import USER_AGENT, ExtenderOptions, ExtenderService

log = structlog.get_logger("grove.scheduler.command")

DEFAULT_LEASE = "grove-scheduler-extender"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``grove scheduler-extender``."""
    defaults = ServerConfig()
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, in-cluster, then ~/.kube/config)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the extender listens on (default: 127.0.0.1: kube-scheduler runs beside it)",
    )
    parser.add_argument("--port", type=int, default=8888, help="extender port (default: 8888)")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=8080,
        help="port of /metrics, /healthz and /readyz on all interfaces (default: 8080)",
    )
    parser.add_argument(
        "--url-prefix",
        default=defaults.url_prefix,
        help=f"path prefix of the verbs, as in the extender's urlPrefix (default: {defaults.url_prefix})",
    )
    for verb, default in (
        ("filter", defaults.filter_verb),
        ("prioritize", defaults.prioritize_verb),
        ("bind", defaults.bind_verb),
    ):
        parser.add_argument(
            f"--{verb}-verb",
            default=default,
            help=f"path of the {verb} call; '' disables it (default: {default})",
        )
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        help="run leader election: only the lease holder plans gangs (see docs/scheduler.md)",
    )
    parser.add_argument(
        "--leader-election-namespace",
        default=os.environ.get("POD_NAMESPACE") or "grove-system",
        help="namespace of the lease (default: $POD_NAMESPACE or grove-system)",
    )
    parser.add_argument(
        "--leader-election-id", default=DEFAULT_LEASE, help=f"name of the lease (default: {DEFAULT_LEASE})"
    )
    parser.add_argument(
        "--plan-ttl",
        type=float,
        default=LedgerConfig().plan_ttl,
        help="seconds a gang plan survives without a pod being filtered or bound (default: %(default)s)",
    )
    parser.add_argument("--log-level", default="info", help="debug, info, warning or error (default: info)")


def _check(args: argparse.Namespace) -> str | None:
    for name in ("port", "metrics_port"):
        value = getattr(args, name)
        if not 0 <= value <= 65535:
            return f"--{name.replace('_', '-')}: must be a port number (0-65535), got {value}"
    if args.plan_ttl <= 0:
        return f"--plan-ttl: must be > 0 seconds, got {args.plan_ttl}"
    if args.log_level.lower() not in ("debug", "info", "warning", "error"):
        return f"--log-level: must be debug, info, warning or error, got {args.log_level!r}"
    if args.url_prefix and not args.url_prefix.startswith("/"):
        return f"--url-prefix: must start with '/', got {args.url_prefix!r}"
    return None


def options_from_args(args: argparse.Namespace) -> ExtenderOptions:
    """The service options the flags describe."""
    election = (
        LeaderElectionConfig(args.leader_election_id, args.leader_election_namespace)
        if args.leader_elect
        else None
    )
    return ExtenderOptions(
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        server=ServerConfig(
            url_prefix=args.url_prefix,
            filter_verb=args.filter_verb,
            prioritize_verb=args.prioritize_verb,
            bind_verb=args.bind_verb,
        ),
        ledger=LedgerConfig(plan_ttl=args.plan_ttl),
        leader_election=election,
        handle_signals=True,
    )


async def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM; exit 1 when the lease is lost (Kubernetes restarts the container)."""
    problem = _check(args)
    if problem is not None:
        print(f"grove scheduler-extender: {problem}", file=sys.stderr)
        return 2
    configure_logging(args.log_level)
    try:
        client = await Client.connect(args.kubeconfig, user_agent=USER_AGENT)
    except Exception as e:  # a missing or broken kubeconfig: say so, no traceback
        print(f"grove scheduler-extender: cannot load cluster configuration: {e}", file=sys.stderr)
        return 1
    try:
        await ExtenderService(client, options_from_args(args)).run()
    except LeaderElectionLost:
        log.error("extender.leader_election_lost")
        return 1
    except OSError as e:
        print(f"grove scheduler-extender: cannot listen: {e.strerror or e}", file=sys.stderr)
        return 1
    finally:
        await client.close()
    return 0
