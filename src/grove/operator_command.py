"""``grove operator``: run the Grove operator until SIGTERM (exits 1 if it loses its leader lease)."""

from __future__ import annotations

import argparse
import os
import sys

import structlog

from grove.controllers.context import DEFAULT_INITC_IMAGE
from grove.controllers.operator import LEADER_ELECTION_ID, OperatorHandle, OperatorOptions, run_operator
from grove.runtime.logging import configure_logging
from grove.runtime.manager import LeaderElectionLost
from grove.webhook import WebhookOptions, WebhookServer

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
    webhook = WebhookOptions()
    parser.add_argument(
        "--webhook",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve the admission webhooks (default: on; see docs/webhook.md)",
    )
    parser.add_argument(
        "--webhook-port",
        type=int,
        default=webhook.port,
        help="HTTPS port of the admission webhooks (default: %(default)s; 0 picks a free port)",
    )
    parser.add_argument("--webhook-host", default=webhook.host, help="address to serve the webhooks on")
    parser.add_argument(
        "--webhook-cert-mode",
        choices=("auto", "manual"),
        default=webhook.cert_provision_mode,
        help="auto: generate the certificate, keep it in a Secret and patch caBundle; "
        "manual: serve --webhook-cert-dir as mounted (default: %(default)s)",
    )
    parser.add_argument(
        "--webhook-cert-dir", help="tls.crt and tls.key (manual); where to write them (auto, optional)"
    )
    parser.add_argument(
        "--webhook-namespace",
        default=os.environ.get("POD_NAMESPACE", webhook.namespace),
        help="namespace of the webhook Service and certificate Secret "
        "(default: $POD_NAMESPACE or %(default)s)",
    )
    parser.add_argument(
        "--webhook-service",
        default=webhook.service_name,
        help="name of the webhook Service (default: %(default)s)",
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


def webhook_options_from_args(args: argparse.Namespace) -> WebhookOptions | None:
    """The webhook server options the flags describe; None with ``--no-webhook``. ValueError on bad ones."""
    if not args.webhook:
        return None
    return WebhookOptions(
        port=args.webhook_port,
        host=args.webhook_host,
        cert_provision_mode=args.webhook_cert_mode,
        cert_dir=args.webhook_cert_dir,
        namespace=args.webhook_namespace,
        service_name=args.webhook_service,
    )


def namespaces_to_ensure(options: OperatorOptions, webhook: WebhookOptions | None) -> tuple[str, ...]:
    """The namespaces an operator run outside the cluster creates when missing: the Lease's, and the
    webhook Secret's in auto mode. In a pod ($POD_NAMESPACE set) they exist already: nothing to create."""
    if os.environ.get("POD_NAMESPACE"):
        return ()
    wanted = [options.lease_namespace()] if options.leader_election else []
    if webhook is not None and webhook.cert_provision_mode == "auto":
        wanted.append(webhook.namespace)
    return tuple(dict.fromkeys(wanted))


async def start_webhook(webhook: WebhookServer, handle: OperatorHandle) -> bool:
    """Starts the webhook server; False if the operator was stopped meanwhile. A SIGTERM during start-up
    stops the manager, which closes the client the server starts with: its failure then is no error."""
    try:
        await webhook.start()
    except Exception:
        if handle.manager.stopping:
            log.info("webhook.start_abandoned", reason="operator stopping")
            return False
        raise
    return True


async def run(args: argparse.Namespace) -> int:
    """Runs the operator until SIGTERM/SIGINT; 1 if it lost its lease or failed, 2 on bad flags."""
    try:
        configure_logging(args.log_level)
        options = options_from_args(args)
        webhook_options = webhook_options_from_args(args)
        options.ensure_namespaces = namespaces_to_ensure(options, webhook_options)
    except ValueError as exc:
        print(f"grove operator: {exc}", file=sys.stderr)
        return 2
    try:
        handle = await run_operator(args.kubeconfig, options)
    except Exception as exc:
        print(f"grove operator: cannot start: {exc}", file=sys.stderr)
        return 1
    webhook: WebhookServer | None = None
    try:
        if webhook_options is not None:
            # Every replica serves admission (not only the leader), with the manager's client and metrics.
            webhook = WebhookServer(handle.client, webhook_options, registry=handle.manager.metrics.registry)
            await start_webhook(webhook, handle)
        await handle.wait()
    except LeaderElectionLost:
        log.error("operator.leader_election_lost")
        return 1
    except Exception:
        log.exception("operator.failed")
        await handle.stop()
        return 1
    finally:
        if webhook is not None:
            await webhook.stop()
    return 0
