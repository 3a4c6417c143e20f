"""What ``grove dev`` runs on the dev cluster besides the operator: Grove's CRDs, a ClusterTopologyBinding
``dev-topology`` for the fake nodes' zone/block/rack/host labels, the scheduler extender, with the
kube-scheduler stand-in serving ``schedulerName: grove-scheduler`` through it with the configuration of
``deploy/scheduler/kube-scheduler-config.yaml``, and Grove's admission webhooks registered as
``deploy/webhook`` registers them (:class:`EmbeddedWebhook`).

Composition layer (with :mod:`grove.dev_command`, the only code that imports both ``devcluster`` and what
runs on it). The extender runs as it would in a cluster: its own API client, informers and HTTP server.
Tests build the same stack with :class:`DevStack` on a :class:`~grove.devcluster.ThreadedDevCluster`.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
from dataclasses import dataclass, replace
from typing import Any

from prometheus_client import CollectorRegistry

from grove.api.constants import GROVE_SCHEDULER
from grove.api.crds import crd_manifests
from grove.devcluster.cluster import DevCluster
from grove.devcluster.errors import ApiError
from grove.devcluster.nodes import HOSTNAME_LABEL, NodeShape
from grove.devcluster.schedconfig import API_VERSION, KIND, SchedulerConfig, parse_scheduler_config
from grove.devcluster.simulation import SimulationOptions
from grove.runtime.client import Client
from grove.runtime.errors import AlreadyExists
from grove.runtime.informer import InformerOptions
from grove.runtime.resources import NAMESPACES, SERVICES, Resource
from grove.scheduler.ledger import LedgerConfig
from grove.scheduler.server import ServerConfig
from grove.scheduler.service import USER_AGENT as EXTENDER_USER_AGENT
from grove.scheduler.service import ExtenderOptions, ExtenderService
from grove.webhook import WebhookOptions, WebhookServer
from grove.webhook.manifests import SERVICE_PORT_NAME, webhook_configurations, webhook_service
from grove.webhook.provision import MUTATING_WEBHOOK_CONFIGURATIONS, VALIDATING_WEBHOOK_CONFIGURATIONS

__all__ = [
    "DEV_TOPOLOGY",
    "ENDPOINTS",
    "DevStack",
    "EmbeddedExtender",
    "EmbeddedWebhook",
    "GroveCrds",
    "add_extender_arguments",
    "dev_topology",
    "extender_from_args",
    "extender_usage",
    "route_service",
    "scheduler_configuration",
    "start_webhook_server",
]

DEV_TOPOLOGY = "dev-topology"


def dev_topology(shape: NodeShape, name: str = DEV_TOPOLOGY) -> dict[str, Any]:
    """The ClusterTopologyBinding of the fake nodes: their topology levels, then the host."""
    levels = [{"domain": lv.domain, "key": lv.key} for lv in shape.topology]
    if not any(lv["domain"] == "host" or lv["key"] == HOSTNAME_LABEL for lv in levels):
        levels.append({"domain": "host", "key": HOSTNAME_LABEL})
    return {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "ClusterTopologyBinding",
        "metadata": {"name": name},
        "spec": {"levels": levels},
    }


def scheduler_configuration(url_prefix: str) -> dict[str, Any]:
    """``deploy/scheduler/kube-scheduler-config.yaml`` with the extender at ``url_prefix``."""
    server = ServerConfig()
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "profiles": [{"schedulerName": GROVE_SCHEDULER, "percentageOfNodesToScore": 100}],
        "extenders": [
            {
                "urlPrefix": url_prefix,
                "filterVerb": server.filter_verb,
                "prioritizeVerb": server.prioritize_verb,
                "bindVerb": server.bind_verb,
                "weight": 1,
                "nodeCacheCapable": True,
                "enableHTTPS": False,
                "httpTimeout": "5s",
                "ignorable": False,
            }
        ],
    }


class GroveCrds:
    """Installs Grove's CustomResourceDefinitions when the cluster starts (existing ones are kept)."""

    async def start(self, cluster: DevCluster) -> None:
        """Create every CRD that does not exist yet."""
        for crd in crd_manifests():
            try:
                cluster.store.create("customresourcedefinitions", crd)
            except ApiError as e:
                if e.code != 409:
                    raise

    async def stop(self) -> None:
        """Nothing to release."""


class EmbeddedExtender:
    """The scheduler extender as a dev cluster component, on a port bound at construction (so the
    scheduler stand-in's configuration can name it before the cluster exists); creates the topology
    binding, then runs :class:`ExtenderService` with its own client."""

    def __init__(
        self,
        topology: dict[str, Any] | None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics_port: int | None = 0,
        ledger: LedgerConfig | None = None,
        informer_options: InformerOptions | None = None,
        settle_gc: bool = True,
    ) -> None:
        self.topology = topology
        self.sock = socket.create_server((host, port))
        self.port: int = self.sock.getsockname()[1]
        self.options = ExtenderOptions(
            host=host,
            port=self.port,
            metrics_host=host,
            metrics_port=metrics_port,
            sock=self.sock,
            ledger=ledger or LedgerConfig(),
            informer_options=informer_options,
            process_metrics=False,
            settle_gc=settle_gc,
        )
        self.service: ExtenderService | None = None
        self._client: Client | None = None

    @property
    def url(self) -> str:
        """The ``urlPrefix`` kube-scheduler calls."""
        return f"http://{self.sock.getsockname()[0]}:{self.port}{self.options.server.url_prefix}"

    def scheduler_config(self) -> SchedulerConfig:
        """The stand-in's configuration: profile ``grove-scheduler`` through this extender."""
        return parse_scheduler_config(scheduler_configuration(self.url))

    async def start(self, cluster: DevCluster) -> None:
        """Create the topology binding, then run the extender against ``cluster`` until it serves."""
        if self.topology is not None:
            try:
                cluster.store.create("clustertopologybindings.grove.io", self.topology)
            except ApiError as e:
                if e.code != 409:
                    raise
        self._client = await Client.connect(cluster.kubeconfig_path, user_agent=EXTENDER_USER_AGENT)
        self.service = ExtenderService(self._client, self.options)
        await self.service.start()

    async def stop(self) -> None:
        """Stop the extender (gracefully) and release its client and socket."""
        if self.service is not None:
            await self.service.stop()
            self.service = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        self.sock.close()


ENDPOINTS = Resource("", "v1", "endpoints", "Endpoints")
_FIELD_MANAGER = "grove-dev"


async def _ensure_namespace(client: Client, name: str) -> None:
    with contextlib.suppress(AlreadyExists):
        await client.create(NAMESPACES, {"metadata": {"name": name}})


async def route_service(
    client: Client, namespace: str, service: str, port: int, *, port_name: str = SERVICE_PORT_NAME
) -> None:
    """Point ``service`` at ``127.0.0.1:port`` through its Endpoints object, as an endpoints controller
    would for a pod: the dev cluster has no pod network and resolves webhook services this way."""
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": service, "namespace": namespace},
        "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": port_name, "port": port}]}],
    }
    await client.apply(ENDPOINTS, endpoints, field_manager=_FIELD_MANAGER, force=True)


async def start_webhook_server(
    client: Client, options: WebhookOptions | None = None, registry: CollectorRegistry | None = None
) -> WebhookServer:
    """Grove's webhook server on a free loopback port (certificate provisioned, its CA patched into the
    configurations that exist), with its namespace created and its Service routed to it. The Service and
    the configurations themselves are the caller's to install (``deploy/webhook`` or
    :mod:`grove.webhook.manifests`)."""
    opts = options or WebhookOptions(port=0, host="127.0.0.1")
    await _ensure_namespace(client, opts.namespace)
    server = WebhookServer(client, opts, registry=registry)
    await server.start()
    try:
        await route_service(client, opts.namespace, opts.service_name, server.port)
    except BaseException:
        await server.stop()
        raise
    return server


class EmbeddedWebhook:
    """Grove's admission webhooks as a dev cluster component, registered as on a real cluster with the
    operator deployed: the Service and configurations of ``deploy/webhook`` installed, then the server
    (with its own client) started and the Service routed to it. ``kubectl apply`` of an invalid
    PodCliqueSet then fails with the field errors."""

    def __init__(
        self, options: WebhookOptions | None = None, *, registry: CollectorRegistry | None = None
    ) -> None:
        self.options = options or WebhookOptions(port=0, host="127.0.0.1")
        self.registry = registry
        """Where the server's metrics go (the operator's registry, as in ``grove operator``)."""
        self.server: WebhookServer | None = None
        self._client: Client | None = None

    @property
    def url(self) -> str:
        """Where the server listens (valid once started)."""
        port = self.server.port if self.server is not None else self.options.port
        return f"https://{self.options.host}:{port}"

    async def start(self, cluster: DevCluster) -> None:
        """Install the Service and the configurations, then serve (released again if this fails or is
        cancelled midway)."""
        self._client = await Client.connect(cluster.kubeconfig_path)
        try:
            await self._install_and_serve(self._client)
        except BaseException:
            await self.stop()
            raise

    async def _install_and_serve(self, client: Client) -> None:
        opts = self.options
        await _ensure_namespace(client, opts.namespace)
        await client.apply(
            SERVICES,
            webhook_service(opts.namespace, opts.service_name),
            field_manager=_FIELD_MANAGER,
            force=True,
        )
        for config in webhook_configurations(opts.namespace, opts.service_name):
            resource = (
                MUTATING_WEBHOOK_CONFIGURATIONS
                if config["kind"] == "MutatingWebhookConfiguration"
                else VALIDATING_WEBHOOK_CONFIGURATIONS
            )
            await client.apply(resource, config, field_manager=_FIELD_MANAGER, force=True)
        self.server = await start_webhook_server(client, opts, self.registry)

    async def stop(self) -> None:
        """Stop serving and release the client."""
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self._client is not None:
            await self._client.close()
            self._client = None


@dataclass(frozen=True)
class DevStack:
    """What ``grove dev`` runs on the dev cluster. ``cluster_kwargs()`` goes to ``DevCluster`` (or
    ``ThreadedDevCluster``), ``setup`` adds the components."""

    simulation: SimulationOptions
    extender: EmbeddedExtender

    @classmethod
    def build(
        cls, simulation: SimulationOptions | None = None, *, extender: EmbeddedExtender | None = None
    ) -> DevStack:
        """The stack; unless the simulation brings its own scheduler configuration, the stand-in serves
        ``grove-scheduler`` through ``extender`` (by default one on a free port, with ``dev-topology``)."""
        sim = simulation or SimulationOptions()
        ext = extender if extender is not None else EmbeddedExtender(dev_topology(sim.shape))
        if sim.scheduler_config is None:
            sim = replace(sim, scheduler_config=ext.scheduler_config())
        return cls(sim, ext)

    def cluster_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``DevCluster``: the simulation with the scheduler configuration."""
        return {"simulation": self.simulation}

    def setup(self, cluster: DevCluster) -> None:
        """Add the components to ``cluster`` before it starts: CRDs first, then the extender."""
        cluster.add_component(GroveCrds())
        cluster.add_component(self.extender)


# ---------------------------------------------------------------------------------------------- grove dev


def add_extender_arguments(parser: argparse.ArgumentParser) -> None:
    """``grove dev`` flags of the extender."""
    parser.add_argument(
        "--extender-port", type=int, default=0, help="scheduler extender port (default: 0, a free port)"
    )
    parser.add_argument(
        "--extender-metrics-port",
        type=int,
        default=0,
        help="port of the extender's /metrics (default: 0, a free port)",
    )


def extender_from_args(args: argparse.Namespace, shape: NodeShape) -> EmbeddedExtender:
    """The extender the flags describe; ``ValueError`` naming a bad flag, ``OSError`` if its port is taken."""
    for flag in ("extender_port", "extender_metrics_port"):
        value = getattr(args, flag)
        if not 0 <= value <= 65535:
            raise ValueError(f"--{flag.replace('_', '-')} must be a port number (0-65535), got {value}")
    return EmbeddedExtender(
        dev_topology(shape), port=args.extender_port, metrics_port=args.extender_metrics_port
    )


def extender_usage(stack: DevStack) -> str:
    """What to tell the user about the extender once it runs."""
    ext = stack.extender
    if ext.service is None:
        return ""
    return (
        f"Scheduler extender: {ext.url} (metrics: http://127.0.0.1:{ext.service.manager.port}/metrics)\n"
        f"Pods with schedulerName: {GROVE_SCHEDULER} are placed gang by gang by the stand-in scheduler and\n"
        f"the extender, packed as their topology constraints say (ClusterTopologyBinding {DEV_TOPOLOGY}:\n"
        f"kubectl get clustertopologybindings {DEV_TOPOLOGY} -o yaml).\n"
    )
