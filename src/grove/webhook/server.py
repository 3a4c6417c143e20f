"""The admission webhook server: HTTPS, admission.k8s.io/v1 AdmissionReview, Grove's three webhooks.

::

    server = WebhookServer(client, WebhookOptions(port=9443, namespace="grove-system"), registry=...)
    await server.start()      # certificates ready, listening, caBundle injected (auto mode)
    ...
    await server.stop()

Paths (upstream's): ``/webhooks/default-podcliqueset`` (mutating), ``/webhooks/validate-podcliqueset`` and
``/webhooks/validate-clustertopology`` (validating). Any answer is an AdmissionReview with HTTP 200, as
controller-runtime does; a request the server cannot read gets a response with status code 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from grove.api.errors import GroveValidationError
from grove.api.topology import ClusterTopologyBinding
from grove.runtime.client import Client
from grove.runtime.errors import NotFound
from grove.runtime.resources import Resource
from grove.webhook import provision
from grove.webhook.certs import CertBundle, serving_names
from grove.webhook.defaulting import handle_default
from grove.webhook.metrics import WebhookMetrics
from grove.webhook.review import JSON, AdmissionRequest, BadReview, errored, parse_review, review_response
from grove.webhook.validation import handle_validate_clustertopology, handle_validate_podcliqueset

__all__ = [
    "CLUSTER_TOPOLOGY_BINDINGS",
    "DEFAULT_PODCLIQUESET_PATH",
    "VALIDATE_CLUSTERTOPOLOGY_PATH",
    "VALIDATE_PODCLIQUESET_PATH",
    "WebhookOptions",
    "WebhookServer",
]

log = structlog.get_logger("grove.webhook")

DEFAULT_PODCLIQUESET_PATH = "/webhooks/default-podcliqueset"
VALIDATE_PODCLIQUESET_PATH = "/webhooks/validate-podcliqueset"
VALIDATE_CLUSTERTOPOLOGY_PATH = "/webhooks/validate-clustertopology"

CLUSTER_TOPOLOGY_BINDINGS = Resource(
    "grove.io", "v1alpha1", "clustertopologybindings", "ClusterTopologyBinding", namespaced=False
)

CERT_MODES = ("auto", "manual")


@dataclass(frozen=True)
class WebhookOptions:
    """How the webhook server listens and where its certificate comes from.

    ``cert_provision_mode``: ``auto`` generates a CA and serving certificate (kept in Secret
    ``secret_name`` in ``namespace``, written to ``cert_dir`` or a private temporary directory) and patches
    the CA into the named webhook configurations; ``manual`` serves ``cert_dir``/``tls.crt`` and
    ``tls.key`` as mounted (``caBundle`` is then yours to set). The certificate covers
    ``<service_name>.<namespace>.svc`` (what kube-apiserver verifies) plus ``extra_names``.
    """

    port: int = 9443
    host: str = "0.0.0.0"
    cert_provision_mode: str = "auto"
    cert_dir: str | None = None
    namespace: str = "grove-system"
    service_name: str = "grove-operator-webhook"
    secret_name: str = "grove-webhook-server-cert"
    mutating_configurations: tuple[str, ...] = ("podcliqueset-defaulting-webhook",)
    validating_configurations: tuple[str, ...] = (
        "podcliqueset-validating-webhook",
        "clustertopology-validating-webhook",
    )
    extra_names: tuple[str, ...] = field(default_factory=tuple)
    ca_injection_interval: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"webhook port: must be 0..65535 (0 picks a free port), got {self.port}")
        if self.cert_provision_mode not in CERT_MODES:
            raise ValueError(
                f"cert provision mode: must be one of {', '.join(CERT_MODES)}, "
                f"got {self.cert_provision_mode!r}"
            )
        if self.cert_provision_mode == "manual" and not self.cert_dir:
            raise ValueError("cert dir: required with cert provision mode manual (tls.crt and tls.key)")
        if self.ca_injection_interval <= 0:
            raise ValueError(f"caBundle check interval: must be > 0, got {self.ca_injection_interval}")


Handler = Callable[[AdmissionRequest], Awaitable[JSON]]


class WebhookServer:
    """Grove's admission webhooks over HTTPS, startable inside another process (the operator)."""

    def __init__(
        self,
        client: Client,
        options: WebhookOptions | None = None,
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.client = client
        self.options = options or WebhookOptions()
        self.metrics = WebhookMetrics(registry)
        self.port = self.options.port
        self.ca_bundle: bytes | None = None
        self._runner: web.AppRunner | None = None
        self._injector: asyncio.Task[None] | None = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None

    def make_app(self) -> web.Application:
        """The aiohttp application with the three webhook routes."""
        app = web.Application()
        routes: dict[str, Handler] = {
            DEFAULT_PODCLIQUESET_PATH: self._default_pcs,
            VALIDATE_PODCLIQUESET_PATH: self._validate_pcs,
            VALIDATE_CLUSTERTOPOLOGY_PATH: self._validate_ct,
        }
        for path, handler in routes.items():
            self.metrics.initialize(path)
            app.router.add_post(path, self._endpoint(path, handler))
        return app

    async def start(self) -> None:
        """Provision the certificate, listen, and (auto mode) inject the CA into the configurations."""
        cert_file, key_file = await self._certificates()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert_file, key_file)
        self._runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port, ssl_context=ctx)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("webhook.started", port=self.port, cert_mode=self.options.cert_provision_mode)
        if self.options.cert_provision_mode == "auto" and self.ca_bundle is not None:
            await self.inject_ca_bundle()
            self._injector = asyncio.create_task(self._keep_ca_injected())

    async def stop(self) -> None:
        """Stop listening (in-flight requests are answered first) and the caBundle checks."""
        if self._injector is not None:
            self._injector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._injector
            self._injector = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
        log.info("webhook.stopped")

    async def inject_ca_bundle(self) -> None:
        """Patch the CA into every named webhook configuration that exists (missing ones are logged)."""
        assert self.ca_bundle is not None
        targets = [
            (provision.MUTATING_WEBHOOK_CONFIGURATIONS, n) for n in self.options.mutating_configurations
        ]
        targets += [
            (provision.VALIDATING_WEBHOOK_CONFIGURATIONS, n) for n in self.options.validating_configurations
        ]
        for resource, name in targets:
            if await provision.inject_ca_bundle(self.client, resource, name, self.ca_bundle) is None:
                log.warning("webhook.configuration_missing", kind=resource.kind, name=name)

    async def _keep_ca_injected(self) -> None:
        while True:
            await asyncio.sleep(self.options.ca_injection_interval)
            try:
                await self.inject_ca_bundle()
            except Exception:
                log.exception("webhook.ca_injection_failed")

    async def _certificates(self) -> tuple[str, str]:
        opts = self.options
        if opts.cert_provision_mode == "manual":
            assert opts.cert_dir is not None
            d = Path(opts.cert_dir)
            cert, key = d / "tls.crt", d / "tls.key"
            for f in (cert, key):
                if not f.is_file():
                    raise FileNotFoundError(f"cert dir: {f} does not exist (certProvisionMode manual)")
            ca = d / "ca.crt"
            self.ca_bundle = ca.read_bytes() if ca.is_file() else None
            return str(cert), str(key)
        names = serving_names(opts.service_name, opts.namespace, opts.extra_names)
        bundle = await provision.ensure_bundle(
            self.client, opts.namespace, opts.secret_name, opts.service_name, names
        )
        self.ca_bundle = bundle.ca_cert
        return self._write(bundle)

    def _write(self, bundle: CertBundle) -> tuple[str, str]:
        if self.options.cert_dir:
            d = Path(self.options.cert_dir)
            d.mkdir(parents=True, exist_ok=True)
        else:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="grove-webhook-")
            d = Path(self._tmpdir.name)
        files = {"ca.crt": bundle.ca_cert, "tls.crt": bundle.cert, "tls.key": bundle.key}
        for name, data in files.items():
            path = d / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        return str(d / "tls.crt"), str(d / "tls.key")

    # ------------------------------------------------------------------ requests

    def _endpoint(self, path: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            self.metrics.in_flight.labels(path).inc()
            started = time.perf_counter()
            code = 500
            try:
                resp = await self._answer(request, handler)
                code = resp.status
                return resp
            finally:
                self.metrics.in_flight.labels(path).dec()
                self.metrics.requests.labels(path, str(code)).inc()
                self.metrics.latency.labels(path, str(code)).observe(time.perf_counter() - started)

        return serve

    async def _answer(self, request: web.Request, handler: Handler) -> web.Response:
        uid, response = await self._judge(request, handler)
        status = response.get("status") or {}
        result = "allowed" if response.get("allowed") else "denied" if status.get("reason") else "error"
        self.metrics.responses.labels(request.path, result).inc()
        return web.json_response(review_response(uid, response))

    async def _judge(self, request: web.Request, handler: Handler) -> tuple[str, JSON]:
        if request.content_type != "application/json":
            return "", errored(400, f"contentType={request.content_type}, expected application/json")
        try:
            req = parse_review(await request.read())
        except BadReview as e:
            log.info("webhook.bad_request", path=request.path, error=str(e))
            return "", errored(400, str(e))
        try:
            return req.uid, await handler(req)
        except Exception as e:
            # controller-runtime's RecoverPanic: a bug answers 500 instead of dropping the connection.
            log.exception("webhook.handler_failed", path=request.path, uid=req.uid)
            return req.uid, errored(500, f"internal error in {request.path}: {type(e).__name__}: {e}")

    async def _default_pcs(self, req: AdmissionRequest) -> JSON:
        return handle_default(req)

    async def _validate_pcs(self, req: AdmissionRequest) -> JSON:
        return await handle_validate_podcliqueset(req, self._topology)

    async def _validate_ct(self, req: AdmissionRequest) -> JSON:
        return handle_validate_clustertopology(req)

    async def _topology(self, name: str) -> ClusterTopologyBinding | None:
        try:
            obj = await self.client.get(CLUSTER_TOPOLOGY_BINDINGS, name)
        except NotFound:
            return None
        try:
            return ClusterTopologyBinding.from_dict(obj)
        except GroveValidationError:
            log.warning("webhook.topology_unreadable", name=name)
            return None
