"""The operator: one runtime Manager with the three controllers, their informers, events, leader election
and the metrics/health endpoints.

::

    handle = await run_operator("/path/to/kubeconfig", OperatorOptions(namespace="team-a"))
    ...
    await handle.stop()          # graceful: finish in-flight reconciles, release the lease
    # or: await handle.wait()    # until it stops (raises if it failed, e.g. lost its lease)

:func:`build_operator` wires a manager from an existing client (``grove operator`` and tests use
:func:`run_operator`). Caches of the built-in kinds are restricted to objects labelled
``app.kubernetes.io/managed-by=grove-operator`` (as upstream restricts them); pods are indexed by owner UID
and PodGang, PodCliques by PodGang and base PodGang.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from grove import __version__
from grove.api import labels
from grove.api.crds import crd_manifests
from grove.controllers.context import DEFAULT_INITC_IMAGE, INDEXERS, Caches, Context
from grove.controllers.metrics import register_object_metrics
from grove.controllers.podclique import CONTROLLER_NAME as PCLQ_CONTROLLER
from grove.controllers.podclique import PodCliqueController
from grove.controllers.podcliquescalinggroup import CONTROLLER_NAME as PCSG_CONTROLLER
from grove.controllers.podcliquescalinggroup import ScalingGroupController
from grove.controllers.podcliqueset import CONTROLLER_NAME as PCS_CONTROLLER
from grove.controllers.podcliqueset import PodCliqueSetController
from grove.controllers.resources import (
    CLUSTER_TOPOLOGY_BINDINGS,
    HORIZONTAL_POD_AUTOSCALERS,
    PODCLIQUES,
    PODCLIQUESCALINGGROUPS,
    PODCLIQUESETS,
    PODGANGS,
    PODS,
    ROLE_BINDINGS,
    ROLES,
    SECRETS,
    SERVICE_ACCOUNTS,
    SERVICES,
)
from grove.runtime.cache import IndexFunc
from grove.runtime.client import Client
from grove.runtime.errors import AlreadyExists, Forbidden, KubeError, NotFound
from grove.runtime.informer import Informer, InformerOptions
from grove.runtime.leaderelection import LeaderElectionConfig, default_identity
from grove.runtime.manager import Manager, ManagerOptions
from grove.runtime.resources import CUSTOM_RESOURCE_DEFINITIONS, NAMESPACES, Resource

__all__ = [
    "LEADER_ELECTION_ID",
    "USER_AGENT",
    "OperatorHandle",
    "OperatorOptions",
    "build_context",
    "build_operator",
    "install_crds",
    "run_operator",
    "wait_crds_established",
]

log = structlog.get_logger(__name__)

LEADER_ELECTION_ID = "grove-operator-leader-election"
DEFAULT_OPERATOR_NAMESPACE = "grove-system"
FIELD_MANAGER = "grove-operator"
# kube-apiserver names the default field manager after the user agent's program part, and audit logs and
# the dev cluster's request log tell Grove's components apart by it.
USER_AGENT = f"grove-operator/{__version__}"


@dataclass
class OperatorOptions:
    """How an operator runs. Defaults are upstream's (ports, concurrency, lease timings)."""

    namespace: str | None = None
    """Watch and manage only this namespace (default: all namespaces)."""
    metrics_port: int | None = 2752
    """Port of /metrics, /healthz and /readyz; 0 picks a free port, None serves nothing."""
    metrics_host: str = "0.0.0.0"
    concurrency_pcs: int = 10
    concurrency_pclq: int = 10
    concurrency_pcsg: int = 5
    leader_election: bool = True
    leader_election_namespace: str | None = None
    """Namespace of the Lease: the watched namespace, else $POD_NAMESPACE, else grove-system."""
    leader_election_id: str = LEADER_ELECTION_ID
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    initc_image: str = DEFAULT_INITC_IMAGE
    handle_signals: bool = False
    """Stop gracefully on SIGTERM/SIGINT (only in a program's main event loop)."""
    graceful_shutdown_timeout: float = 30.0
    install_crds: bool = False
    """Server-side apply Grove's CRDs before starting (for dev clusters; production applies them once)."""
    informer_options: InformerOptions | None = None
    max_parallel_writes: int = 32
    ensure_namespaces: tuple[str, ...] = ()
    """Namespaces to create first when missing: where the Lease (and the webhook's Secret) live, for an
    operator run outside the cluster, where no Deployment's namespace exists yet."""

    def lease_namespace(self) -> str:
        """Where the leader election Lease lives."""
        return (
            self.leader_election_namespace
            or self.namespace
            or os.environ.get("POD_NAMESPACE")
            or DEFAULT_OPERATOR_NAMESPACE
        )

    def validate(self) -> None:
        """Raises ValueError naming the first bad option."""
        for name in ("concurrency_pcs", "concurrency_pclq", "concurrency_pcsg", "max_parallel_writes"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"{name}: must be >= 1, got {value}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port: must be in [0, 65535], got {self.metrics_port}")
        if self.leader_election and not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError(
                "leader election: need lease_duration > renew_deadline > retry_period > 0, got "
                f"{self.lease_duration} / {self.renew_deadline} / {self.retry_period}"
            )


def _caches(mgr: Manager, namespace: str | None) -> Caches:
    managed = f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"

    def informer(
        resource: Resource, selector: str | None = None, indexers: Mapping[str, IndexFunc] | None = None
    ) -> Informer:
        return mgr.informer(resource, namespace=namespace, label_selector=selector, indexers=indexers)

    return Caches(
        pcs=informer(PODCLIQUESETS),
        pclq=informer(PODCLIQUES, indexers=INDEXERS),
        pcsg=informer(PODCLIQUESCALINGGROUPS),
        podgangs=informer(PODGANGS),
        pods=informer(PODS, managed, INDEXERS),
        services=informer(SERVICES, managed),
        service_accounts=informer(SERVICE_ACCOUNTS, managed),
        roles=informer(ROLES, managed),
        role_bindings=informer(ROLE_BINDINGS, managed),
        secrets=informer(SECRETS, managed),
        hpas=informer(HORIZONTAL_POD_AUTOSCALERS, managed),
        topologies=mgr.informer(CLUSTER_TOPOLOGY_BINDINGS),
    )


def build_context(mgr: Manager, client: Client, options: OperatorOptions) -> Context:
    """What the controllers share: ``mgr``'s informers of every kind they read (restricted to
    ``options.namespace``) and its event recorders for each of them."""
    return Context(
        client,
        _caches(mgr, options.namespace),
        initc_image=options.initc_image,
        max_parallel_writes=options.max_parallel_writes,
        recorders={
            name: mgr.event_recorder(name) for name in (PCS_CONTROLLER, PCSG_CONTROLLER, PCLQ_CONTROLLER)
        },
    )


def build_operator(client: Client, options: OperatorOptions | None = None) -> Manager:
    """A manager running Grove's three controllers with ``client`` (not started)."""
    opts = options or OperatorOptions()
    opts.validate()
    le = None
    if opts.leader_election:
        le = LeaderElectionConfig(
            opts.leader_election_id,
            opts.lease_namespace(),
            identity=opts.identity,
            lease_duration=opts.lease_duration,
            renew_deadline=opts.renew_deadline,
            retry_period=opts.retry_period,
        )
    mgr = Manager(
        client,
        ManagerOptions(
            metrics_host=opts.metrics_host,
            metrics_port=opts.metrics_port,
            leader_election=le,
            graceful_shutdown_timeout=opts.graceful_shutdown_timeout,
            informer_options=opts.informer_options,
            handle_signals=opts.handle_signals,
        ),
    )
    ctx = build_context(mgr, client, opts)
    PodCliqueSetController(ctx).register(mgr, opts.concurrency_pcs)
    ScalingGroupController(ctx).register(mgr, opts.concurrency_pcsg)
    PodCliqueController(ctx).register(mgr, opts.concurrency_pclq)
    register_object_metrics(mgr, ctx.caches)
    return mgr


async def install_crds(client: Client, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - a polling deadline
    """Server-side applies Grove's CRDs (idempotent) and waits until they are established: the API server
    answers a CRD's create before its controllers set Established, so the apply alone is not enough.
    Raises RuntimeError naming the CRDs still not established after ``timeout`` seconds."""
    for crd in crd_manifests():
        await client.apply(CUSTOM_RESOURCE_DEFINITIONS, crd, field_manager=FIELD_MANAGER, force=True)
    await wait_crds_established(client, [crd["metadata"]["name"] for crd in crd_manifests()], timeout)


async def wait_crds_established(
    client: Client,
    names: Sequence[str],
    timeout: float = 30.0,  # noqa: ASYNC109 - a polling deadline
) -> None:
    """Poll until every CRD of ``names`` is Established (``kubectl wait`` fails at once on the
    ``conditions: null`` a just-created CRD has); RuntimeError naming those still pending at ``timeout``."""
    pending = list(names)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        pending = [n for n in pending if not _established(await client.get(CUSTOM_RESOURCE_DEFINITIONS, n))]
        if not pending:
            return
        if loop.time() >= deadline:
            raise RuntimeError(
                f"CustomResourceDefinitions not established after {timeout:g}s: {', '.join(pending)}"
            )
        await asyncio.sleep(0.1)


def _established(crd: Mapping[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


class OperatorHandle:
    """A running operator: its manager, and how to stop or wait for it."""

    def __init__(self, manager: Manager, client: Client, task: asyncio.Task[None]) -> None:
        self.manager = manager
        self.client = client
        self._task = task

    @property
    def done(self) -> bool:
        """True once the operator stopped (gracefully or not)."""
        return self._task.done()

    async def wait(self) -> None:
        """Waits until the operator stops; re-raises what made it fail (e.g. ``LeaderElectionLost``)."""
        await asyncio.shield(self._task)

    async def wait_leading(self) -> None:
        """Waits until this operator holds the lease and its controllers run (bound it with a timeout)."""
        leading = asyncio.ensure_future(self.manager.wait_leading())
        try:
            await asyncio.wait({leading, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            leading.cancel()
        if self._task.done():
            self._task.result()
            raise RuntimeError("the operator stopped before it started leading")

    async def stop(self) -> None:
        """Graceful stop: controllers drain, the lease is released, then the client is closed."""
        self.manager.request_stop()
        with contextlib.suppress(Exception):
            await asyncio.shield(self._task)


async def ensure_namespace(client: Client, name: str) -> None:
    """Creates namespace ``name`` unless it exists; raises RuntimeError saying what to do if it cannot."""
    try:
        await client.get(NAMESPACES, name)
        return
    except NotFound:
        pass
    except Forbidden:
        return  # Not allowed to look: assume it exists; the Lease writes will say otherwise.
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {labels.PART_OF: "grove"}},
    }
    try:
        await client.create(NAMESPACES, body)
    except AlreadyExists:
        return
    except KubeError as exc:
        raise RuntimeError(
            f"namespace {name!r} does not exist and cannot be created ({exc}); create it "
            f"(kubectl create namespace {name}) or choose another with --leader-election-namespace / "
            "--webhook-namespace"
        ) from exc
    log.info("operator.namespace_created", namespace=name)


async def run_operator(kubeconfig: str | None, options: OperatorOptions | None = None) -> OperatorHandle:
    """Starts an operator on the cluster of ``kubeconfig`` (None: $KUBECONFIG, in-cluster, ~/.kube/config)
    in the running event loop and returns its handle once it is started (leading or standing by).

    Raises what prevented the start (no cluster configuration, a busy metrics port, ...).
    """
    opts = options or OperatorOptions()
    opts.validate()
    client = await Client.connect(kubeconfig, user_agent=USER_AGENT)
    try:
        if opts.install_crds:
            await install_crds(client)
        for namespace in opts.ensure_namespaces:
            await ensure_namespace(client, namespace)
        mgr = build_operator(client, opts)
    except BaseException:
        await client.close()
        raise

    started = asyncio.Event()

    async def mark_started() -> None:
        # Runs once the manager has started its server and caches (on every replica, leader or not).
        started.set()
        await asyncio.Event().wait()

    mgr.add_runnable("grove-operator-started", mark_started, need_leader_election=False)

    async def run() -> None:
        try:
            await mgr.run()
        finally:
            await client.close()

    task = asyncio.create_task(run(), name="grove-operator")
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # raises what stopped the start (a busy metrics port, ...)
        raise RuntimeError("the operator stopped while starting")
    log.info("operator.started", namespace=opts.namespace or "*", identity=opts.identity, port=mgr.port)
    return OperatorHandle(mgr, client, task)
