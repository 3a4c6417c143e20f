"""``DevCluster``: the embedded cluster (store + API server + controllers + pluggable components).

::

    cluster = DevCluster(port=0)
    await cluster.start()            # listening; kubeconfig written
    cluster.url, cluster.kubeconfig_path, cluster.store, cluster.faults
    cluster.add_component(component) # anything with async start(cluster) / async stop()
    await cluster.stop()

Components (fake nodes and kubelets, the scheduler stand-in, later the operator for ``grove dev``) are
started after the API server, in the order they were added, and stopped in reverse order.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path
from typing import Protocol

import structlog
import yaml

from grove.devcluster.builtins import builtin_types
from grove.devcluster.crds import serve_crds
from grove.devcluster.faults import Faults
from grove.devcluster.gc import Controllers
from grove.devcluster.resources import Registry
from grove.devcluster.rootca import generate_ca_pem
from grove.devcluster.server import ApiServer
from grove.devcluster.simulation import Simulation, SimulationOptions
from grove.devcluster.store import Store
from grove.devcluster.webhooks import WebhookDispatcher

log = structlog.get_logger("grove.devcluster")


class Component(Protocol):
    """An in-process part of the cluster started and stopped with it."""

    async def start(self, cluster: DevCluster) -> None:
        """Start (the API server is already listening)."""

    async def stop(self) -> None:
        """Stop and release everything."""


class DevCluster:
    """The embedded Kubernetes API emulator and its in-process components.

    ``nodes`` is the number of fake nodes the node component (if one is added) creates; ``watch_history``
    bounds each resource's event history (older resourceVersions get 410 Gone); ``bookmark_interval`` is
    how often watches that allow bookmarks get one; ``pod_gc_quarantine`` how long pods bound to a missing
    node survive before the pod GC deletes them.
    """

    def __init__(
        self,
        nodes: int = 0,
        port: int = 0,
        host: str = "127.0.0.1",
        tls: bool = False,
        *,
        watch_history: int = 10_000,
        bookmark_interval: float = 60.0,
        kubeconfig_path: str | None = None,
        pod_gc_quarantine: float = 40.0,
        simulation: SimulationOptions | None = None,
    ) -> None:
        if nodes < 0:
            raise ValueError(f"nodes must be >= 0, got {nodes}")
        if watch_history < 1:
            raise ValueError(f"watch_history must be >= 1, got {watch_history}")
        self.nodes = nodes
        self.host = host
        self.port = port
        self.tls = tls
        self.registry = Registry(builtin_types())
        self.store = Store(self.registry, watch_history=watch_history)
        self.store.subscribe(serve_crds(self.registry, self.store.drop_resource))
        self.faults = Faults(self.store)
        self.controllers = Controllers(self.store, pod_gc_quarantine=pod_gc_quarantine)
        self.webhooks = WebhookDispatcher(self.store)
        self.server = ApiServer(
            self.store, self.faults, bookmark_interval=bookmark_interval, admission=self.webhooks
        )
        self._components: list[Component] = []
        self._started: list[Component] = []
        # Fake nodes, kubelets and the scheduler stand-in (see grove.devcluster.simulation).
        self.simulation = Simulation(nodes, simulation) if nodes else None
        if self.simulation is not None:
            self._components.append(self.simulation)
        self._kubeconfig_path = kubeconfig_path
        self._tmpdir: str | None = None
        self._ca_data: bytes | None = None
        self.running = False

    @property
    def url(self) -> str:
        """The API server URL (valid once started)."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def kubeconfig_path(self) -> str:
        """Path of the kubeconfig written at start."""
        if self._kubeconfig_path is None:
            raise RuntimeError("the dev cluster has not been started")
        return self._kubeconfig_path

    def add_component(self, component: Component) -> None:
        """Register an in-process component, started by ``start()`` (use ``start_component`` once running)."""
        self._components.append(component)

    async def start(self) -> None:
        """Start the API server and controllers, write the kubeconfig, then start components."""
        ssl_context = self._tls_context() if self.tls else None
        self.port = await self.server.start(self.host, self.port, ssl_context)
        # With TLS the self-signed serving certificate is the CA that verifies this API server.
        self.controllers.start(self._ca_data.decode() if self._ca_data is not None else generate_ca_pem())
        self._write_kubeconfig()
        self.running = True
        log.info("devcluster.started", url=self.url, kubeconfig=self.kubeconfig_path)
        for c in self._components:
            await c.start(self)
            self._started.append(c)

    async def start_component(self, component: Component) -> None:
        """Add and start a component on a running cluster."""
        self._components.append(component)
        await component.start(self)
        self._started.append(component)

    async def stop(self) -> None:
        """Stop components (reverse order), controllers and the API server."""
        while self._started:
            c = self._started.pop()
            try:
                await c.stop()
            except Exception:
                log.exception("devcluster.component_stop_failed", component=type(c).__name__)
        await self.controllers.stop()
        await self.server.stop()
        await self.webhooks.close()
        self.running = False
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        log.info("devcluster.stopped")

    def _workdir(self) -> str:
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="grove-dev-")
        return self._tmpdir

    def _tls_context(self) -> ssl.SSLContext:
        if shutil.which("openssl") is None:
            raise RuntimeError("tls=True needs the openssl command to create a self-signed certificate")
        d = Path(self._workdir())
        cert, key = d / "apiserver.crt", d / "apiserver.key"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "30",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-subj",
                "/CN=grove-dev-apiserver",
                "-addext",
                f"subjectAltName=IP:{self.host},DNS:localhost,IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(cert), str(key))
        self._ca_data = cert.read_bytes()
        return ctx

    def kubeconfig(self) -> dict[str, object]:
        """The kubeconfig document for this cluster."""
        import base64

        cluster: dict[str, object] = {"server": self.url}
        if self._ca_data is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self._ca_data).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "grove-dev", "cluster": cluster}],
            "users": [{"name": "grove-dev", "user": {"token": "grove-dev"}}],
            "contexts": [
                {
                    "name": "grove-dev",
                    "context": {"cluster": "grove-dev", "user": "grove-dev", "namespace": "default"},
                }
            ],
            "current-context": "grove-dev",
            "preferences": {},
        }

    def _write_kubeconfig(self) -> None:
        if self._kubeconfig_path is None:
            self._kubeconfig_path = os.path.join(self._workdir(), "kubeconfig")
        path = Path(self._kubeconfig_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(yaml.safe_dump(self.kubeconfig(), sort_keys=False))
        os.chmod(tmp, 0o600)
        tmp.replace(path)
