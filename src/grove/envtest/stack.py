"""Grove running on a real control plane as it would in a cluster, for ``make test-k8s`` and
``grove dev --k8s-assets``.

On top of a started :class:`~grove.envtest.controlplane.ControlPlane`:

* Grove installed (:func:`~grove.envtest.install.install_grove`), with a token kubeconfig per ServiceAccount;
* fake nodes and kubelets over HTTP (:class:`~grove.envtest.kubelet.HttpKubelets`) with the ``grove-initc``
  gate, and the ``dev-topology`` ClusterTopologyBinding of their labels;
* the scheduler extender under the ``grove-scheduler`` ServiceAccount, and a second kube-scheduler process
  running ``deploy/scheduler/kube-scheduler-config.yaml`` (its extender ``urlPrefix`` and credentials the
  only changes) under the same account;
* Grove's admission webhooks served under the operator's account and registered as ``deploy/webhook``
  registers them, except that the API server reaches a server outside the cluster through a ``url``
  clientConfig (a ``service`` one resolves to a ClusterIP nothing listens on) with a certificate for
  127.0.0.1;
* optionally the operator itself for every namespace (``grove dev``); the tests run one per test namespace
  under the same account instead (``operator_kubeconfig``), so they can stop, kill and restart it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import yaml

from grove.api.constants import GROVE_SCHEDULER
from grove.controllers.operator import OperatorHandle, OperatorOptions, run_operator
from grove.controllers.resources import CLUSTER_TOPOLOGY_BINDINGS
from grove.devcluster.nodes import NodeShape
from grove.devcluster.simulation import SimulationOptions
from grove.devstack import dev_topology
from grove.envtest.controlplane import ControlPlane, free_port
from grove.envtest.install import DEPLOY_DIR, FIELD_MANAGER, install_grove, service_account_token
from grove.envtest.kubelet import HttpKubelets
from grove.initc.rule import make_initc_gate
from grove.runtime.client import Client
from grove.runtime.loopthread import LoopThread
from grove.scheduler.server import ServerConfig
from grove.scheduler.service import USER_AGENT as EXTENDER_USER_AGENT
from grove.scheduler.service import ExtenderOptions, ExtenderService
from grove.webhook import WebhookOptions, WebhookServer
from grove.webhook.manifests import webhook_configurations
from grove.webhook.provision import MUTATING_WEBHOOK_CONFIGURATIONS, VALIDATING_WEBHOOK_CONFIGURATIONS

__all__ = ["KubernetesStack", "StackOptions", "ThreadedKubernetesStack", "url_client_config"]

log = structlog.get_logger("grove.envtest")

SYSTEM_NAMESPACE = "grove-system"
OPERATOR_ACCOUNT = "grove-operator"
SCHEDULER_ACCOUNT = "grove-scheduler"


@dataclass
class StackOptions:
    """What runs beside the control plane."""

    nodes: int = 40
    shape: NodeShape = field(default_factory=NodeShape)
    simulation: SimulationOptions = field(default_factory=SimulationOptions)
    webhook: bool = True
    extender: bool = True
    operator: OperatorOptions | None = None
    """Run an operator for the whole cluster with these options (None: none runs)."""
    deploy_dir: Path = DEPLOY_DIR


def url_client_config(config: dict[str, Any], url_base: str) -> dict[str, Any]:
    """A webhook configuration whose webhooks call ``url_base`` + their Service path instead of the
    Service (what a webhook served outside the cluster needs)."""
    out = dict(config)
    webhooks = []
    for webhook in config.get("webhooks", []):
        service = webhook["clientConfig"]["service"]
        webhooks.append({**webhook, "clientConfig": {"url": url_base + service.get("path", "/")}})
    out["webhooks"] = webhooks
    return out


class KubernetesStack:
    """Grove and fake nodes on ``plane`` (see the module docstring). ``start``/``stop`` on one loop."""

    def __init__(self, plane: ControlPlane, options: StackOptions | None = None) -> None:
        self.plane = plane
        self.options = options or StackOptions()
        self.operator_kubeconfig = ""
        self.scheduler_kubeconfig = ""
        self.kubelets: HttpKubelets | None = None
        self.extender: ExtenderService | None = None
        self.extender_url = ""
        self.webhook: WebhookServer | None = None
        self.operator: OperatorHandle | None = None
        self._clients: list[Client] = []
        self._extender_sock: socket.socket | None = None

    async def _client(self, kubeconfig: str | Path, **kwargs: Any) -> Client:
        client = await Client.connect(str(kubeconfig), **kwargs)
        self._clients.append(client)
        return client

    async def start(self) -> None:
        """Install Grove and start every component; on failure stop what started."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        opts = self.options
        admin = await self._client(self.plane.kubeconfig_path)
        await install_grove(admin, opts.deploy_dir)
        self.operator_kubeconfig = await self._account_kubeconfig(admin, OPERATOR_ACCOUNT)
        self.scheduler_kubeconfig = await self._account_kubeconfig(admin, SCHEDULER_ACCOUNT)
        if opts.nodes:
            self.kubelets = HttpKubelets(
                str(self.plane.kubeconfig_path), nodes=opts.nodes, shape=opts.shape, options=opts.simulation
            )
            self.kubelets.add_init_container_gate(make_initc_gate(self.kubelets.list_pods))
            await self.kubelets.start()
            await admin.apply(
                CLUSTER_TOPOLOGY_BINDINGS, dev_topology(opts.shape), field_manager=FIELD_MANAGER, force=True
            )
        if opts.extender:
            await self._start_extender()
        if opts.webhook or opts.operator is not None:
            operator_client = await self._client(self.operator_kubeconfig)
            if opts.operator is not None:
                self.operator = await run_operator(self.operator_kubeconfig, opts.operator)
            if opts.webhook:
                await self._start_webhook(admin, operator_client)

    async def _account_kubeconfig(self, admin: Client, account: str) -> str:
        """A kubeconfig holding a TokenRequest token of ServiceAccount ``grove-system/<account>``."""
        path = self.plane.write_kubeconfig(
            f"{account}.kubeconfig",
            user=f"system:serviceaccount:{SYSTEM_NAMESPACE}:{account}",
            token=await service_account_token(admin, SYSTEM_NAMESPACE, account),
        )
        return str(path)

    async def _start_extender(self) -> None:
        client = await self._client(self.scheduler_kubeconfig, user_agent=EXTENDER_USER_AGENT)
        self._extender_sock = socket.create_server(("127.0.0.1", 0))
        port = self._extender_sock.getsockname()[1]
        options = ExtenderOptions(
            host="127.0.0.1",
            port=port,
            metrics_host="127.0.0.1",
            metrics_port=0,
            sock=self._extender_sock,
            process_metrics=False,
        )
        self.extender = ExtenderService(client, options)
        await self.extender.start()
        self.extender_url = f"http://127.0.0.1:{port}{ServerConfig().url_prefix}"
        config_path = self.plane.workdir / "grove-scheduler-config.yaml"
        config_path.write_text(yaml.safe_dump(self.scheduler_config()))
        self.plane.spawn(
            "grove-scheduler",
            [
                str(self.plane.bin_dir / "kube-scheduler"),
                f"--config={config_path}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
            ],
        )

    async def restart_extender(self) -> ExtenderService:
        """Stop the extender gracefully and start a new replica on the same port (the second kube-scheduler
        keeps calling the same URL) with a client of its own: a restarted extender pod, whose ledger is
        rebuilt from the cluster."""
        old, sock = self.extender, self._extender_sock
        if old is None or sock is None:
            raise RuntimeError("the extender is not running")
        await old.stop()
        sock.close()  # the server closed it already; the new replica binds the port again
        self._extender_sock = socket.create_server(("127.0.0.1", old.options.port))
        client = await self._client(self.scheduler_kubeconfig, user_agent=EXTENDER_USER_AGENT)
        self.extender = ExtenderService(client, dataclasses.replace(old.options, sock=self._extender_sock))
        await self.extender.start()
        return self.extender

    def scheduler_config(self) -> dict[str, Any]:
        """``deploy/scheduler/kube-scheduler-config.yaml`` with this stack's extender and credentials."""
        config: dict[str, Any] = yaml.safe_load(
            (self.options.deploy_dir / "scheduler" / "kube-scheduler-config.yaml").read_text()
        )
        for extender in config["extenders"]:
            extender["urlPrefix"] = self.extender_url
        config["clientConnection"] = {"kubeconfig": self.scheduler_kubeconfig}
        if not any(p.get("schedulerName") == GROVE_SCHEDULER for p in config["profiles"]):
            raise ValueError(f"kube-scheduler-config.yaml: no profile for {GROVE_SCHEDULER}")
        return config

    async def _start_webhook(self, admin: Client, client: Client) -> None:
        registry = self.operator.manager.metrics.registry if self.operator is not None else None
        port = free_port()
        options = WebhookOptions(port=port, host="127.0.0.1", extra_names=("127.0.0.1",))
        base = f"https://127.0.0.1:{port}"
        # The configurations first: the server patches its CA into those that exist when it starts.
        for config in webhook_configurations(options.namespace, options.service_name):
            resource = (
                MUTATING_WEBHOOK_CONFIGURATIONS
                if config["kind"] == "MutatingWebhookConfiguration"
                else VALIDATING_WEBHOOK_CONFIGURATIONS
            )
            await admin.apply(
                resource, url_client_config(config, base), field_manager=FIELD_MANAGER, force=True
            )
        self.webhook = WebhookServer(client, options, registry=registry)
        await self.webhook.start()

    async def stop(self) -> None:
        """Stop every component this stack started (the control plane is the caller's)."""
        if self.webhook is not None:
            await self.webhook.stop()
            self.webhook = None
        if self.operator is not None:
            await self.operator.stop()
            self.operator = None
        if self.extender is not None:
            await self.extender.stop()
            self.extender = None
        self.plane.stop_process("grove-scheduler")
        if self._extender_sock is not None:
            self._extender_sock.close()
            self._extender_sock = None
        if self.kubelets is not None:
            await self.kubelets.stop()
            self.kubelets = None
        for client in self._clients:
            await client.close()
        self._clients.clear()


class ThreadedKubernetesStack(LoopThread):
    """A :class:`KubernetesStack` on its own event loop in a daemon thread, for blocking code (pytest
    session fixtures), as :class:`~grove.devcluster.ThreadedDevCluster` runs the emulator."""

    def __init__(self, plane: ControlPlane, options: StackOptions | None = None) -> None:
        super().__init__("the Grove stack on the real control plane")
        self.stack = KubernetesStack(plane, options)
        self._stop_requested: asyncio.Event | None = None

    async def _startup(self) -> None:
        self._stop_requested = asyncio.Event()
        await self.stack.start()

    async def _serve(self) -> None:
        assert self._stop_requested is not None
        await self._stop_requested.wait()
        await self.stack.stop()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the stack and join the thread."""
        if self._stop_requested is None or not self.running:
            return
        self.loop.call_soon_threadsafe(self._stop_requested.set)
        self.join(timeout)
