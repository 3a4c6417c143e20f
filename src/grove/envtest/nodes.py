"""Fake nodes on any API server over HTTP, as KWOK registers them: the nodes of ``grove dev``
(:class:`~grove.devcluster.nodes.NodeFleet`: same names, labels, taints, capacity, addresses, pod CIDRs and
conditions) posted through a kubeconfig instead of written into the emulator's store.

* Registration: each Node is created with its status (field manager ``kubelet``), or, when it exists
  (kubelets restarted), taken over as a restarted kubelet does: our labels added, our spec, our status.
  Its Lease ``kube-node-lease/<node>`` (duration 40 s, owned by the Node) is created or renewed.
* Heartbeats: every ``lease_renew_interval`` (10 s, as a kubelet) the Leases of Ready nodes are renewed,
  every ``status_report_interval`` (5 min) their conditions re-posted through ``nodes/status`` with fresh
  heartbeat times. On a real cluster kube-controller-manager's node lifecycle controller marks a node
  whose Lease is not renewed Unknown and taints it about 50 s after the last renewal
  (``--node-monitor-grace-period``); the writes go first in the write queue so that does not happen under
  load.
* Failure (:meth:`HttpNodes.fail_node`): a node that shuts down posts Ready=False (``KubeletNotReady``)
  and stops renewing; an unreachable one goes silent. On a real cluster the node lifecycle controller then
  adds the ``node.kubernetes.io/not-ready`` taints within seconds, or, for the silent one, sets every
  condition Unknown, taints it ``node.kubernetes.io/unreachable`` and turns its pods NotReady when the
  grace period runs out. ``node_lifecycle=True`` does that part at once, as the emulator's ``fail_node``
  does: for API servers without kube-controller-manager (the emulator with ``nodes=0``) or tests that
  cannot wait. :meth:`HttpNodes.recover_node` posts Ready again and renews at once (and, with
  ``node_lifecycle``, removes the taints; otherwise the node lifecycle controller does).
* A Node deleted by someone else is left alone (its kubelet only logs, as a real one until restarted).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time

import structlog
from kubernetes_asyncio import client as k8s

from grove.devcluster import meta
from grove.devcluster.nodes import (
    LEASE_NAMESPACE,
    NOT_READY,
    READY,
    UNKNOWN,
    FleetNode,
    NodeFleet,
    NodeShape,
    replace_failure_taints,
    taken_over,
)
from grove.envtest.writes import Write, WriteQueue
from grove.runtime.client import Client
from grove.runtime.errors import AlreadyExists, Conflict, NotFound
from grove.runtime.informer import Informer, strip_managed_fields
from grove.runtime.meta import Obj
from grove.runtime.resources import LEASES, NODES

__all__ = ["HttpNodes"]

log = structlog.get_logger("grove.envtest.nodes")

FIELD_MANAGER = "kubelet"
NODE_LIFECYCLE_FIELD_MANAGER = "node-lifecycle-controller"
_REGISTER_CONCURRENCY = 32
# A fresh kube-apiserver creates kube-node-lease a moment after it turns ready.
_LEASE_NAMESPACE_WAIT = 30.0


class HttpNodes(NodeFleet):
    """The fleet's nodes registered on the API server the client given to :meth:`start` talks to, kept
    alive through ``writes`` (see the module doc). ``start``/``stop`` and the failure methods run on one
    event loop."""

    def __init__(
        self,
        writes: WriteQueue,
        count: int,
        shape: NodeShape | None = None,
        *,
        lease_duration_seconds: int = 40,
        lease_renew_interval: float = 10.0,
        status_report_interval: float = 300.0,
        node_lifecycle: bool = False,
    ) -> None:
        super().__init__(
            count,
            shape,
            lease_duration_seconds=lease_duration_seconds,
            lease_renew_interval=lease_renew_interval,
            status_report_interval=status_report_interval,
        )
        self.writes = writes
        self.node_lifecycle = node_lifecycle
        self._client: Client | None = None
        self._informer: Informer | None = None

    @property
    def client(self) -> Client:
        """The API client (valid once started)."""
        if self._client is None:
            raise RuntimeError("the HTTP fake nodes have not been started")
        return self._client

    def node(self, name: str) -> Obj | None:
        """The Node as last seen by this fleet's watch, or None."""
        return self._informer.store.get(name) if self._informer is not None else None

    # ----------------------------------------------------------------- lifecycle

    async def start(self, client: Client) -> None:
        """Register every node and its Lease through ``client``, then start the heartbeats."""
        self._client = client
        version = await k8s.VersionApi(client.api_client).get_code()
        self.kubelet_version = version.git_version
        informer = self._informer = Informer(client, NODES, transform=strip_managed_fields)
        informer.start()
        now = time.time()
        stamp = meta.rfc3339(now)
        limit = asyncio.Semaphore(_REGISTER_CONCURRENCY)

        async def register(node: FleetNode) -> None:
            async with limit:
                await self._register(node, now, stamp)

        await asyncio.gather(*(register(node) for node in self._nodes.values()))
        await informer.wait_for_sync()
        self._start_heartbeats("http-node")
        log.info("nodes.registered", count=len(self._nodes), shape=self.shape.allocatable())

    async def stop(self) -> None:
        """Stop the heartbeats (the Node objects stay, as when kubelets stop)."""
        await self._stop_heartbeats()
        if self._informer is not None:
            await self._informer.stop()
            self._informer = None

    async def _register(self, node: FleetNode, now: float, stamp: str) -> None:
        node.since = stamp
        obj = self.node_object(node.name, stamp)
        try:
            created = await self.client.create(NODES, obj, field_manager=FIELD_MANAGER)
        except AlreadyExists:
            created = await self._take_over(obj)
        node.uid = created["metadata"]["uid"]
        # kube-apiserver may drop a Node's status on create; the kubelet posts it separately.
        await self.client.patch_status(
            NODES, node.name, {"status": obj["status"]}, field_manager=FIELD_MANAGER
        )
        deadline = time.monotonic() + _LEASE_NAMESPACE_WAIT
        while True:
            try:
                await self.client.create(
                    LEASES, self.lease(node.name, now), LEASE_NAMESPACE, field_manager=FIELD_MANAGER
                )
                return
            except AlreadyExists:
                await self._renew(node, now)
                return
            except NotFound:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def _take_over(self, obj: Obj) -> Obj:
        """A node of that name exists: our labels added, our spec, as a restarted kubelet re-registers."""
        name = obj["metadata"]["name"]
        while True:
            current = await self.client.get(NODES, name)
            try:
                return await self.client.update(NODES, taken_over(current, obj), field_manager=FIELD_MANAGER)
            except Conflict:
                continue

    # ----------------------------------------------------------------- heartbeats

    def _renew_leases(self) -> None:
        now = time.time()
        for node in self._nodes.values():
            key = f"lease/{node.name}"
            # A renewal still waiting for its turn will carry a fresh enough time.
            if node.state == READY and not node.deleted and not self.writes.pending(key):
                self.writes.submit(key, self._renewal(node, now), urgent=True)

    def _renewal(self, node: FleetNode, now: float) -> Write:
        return functools.partial(self._renew, node, now)

    async def _renew(self, node: FleetNode, now: float) -> None:
        try:
            await self.client.patch(
                LEASES,
                node.name,
                self.lease_renewal(node.name, now),
                LEASE_NAMESPACE,
                field_manager=FIELD_MANAGER,
            )
        except NotFound:
            await self._lease_missing(node, now)

    async def _lease_missing(self, node: FleetNode, now: float) -> None:
        """The Lease is gone: recreate it, unless the Node itself was deleted."""
        try:
            node.uid = (await self.client.get(NODES, node.name))["metadata"]["uid"]
        except NotFound:
            node.deleted = True
            log.info("nodes.node_deleted", node=node.name)
            return
        with contextlib.suppress(AlreadyExists):
            await self.client.create(
                LEASES, self.lease(node.name, now), LEASE_NAMESPACE, field_manager=FIELD_MANAGER
            )

    def _report_status(self) -> None:
        for node in self._nodes.values():
            if node.state == READY and not node.deleted:
                self._post_status(node.name)

    def _post_status(self, name: str) -> None:
        async def post() -> None:
            patch = self.status_patch(name, meta.rfc3339(time.time()))
            with contextlib.suppress(NotFound):
                await self.client.patch_status(NODES, name, patch, field_manager=FIELD_MANAGER)

        self.writes.submit(f"node/{name}", post, urgent=True)

    # ----------------------------------------------------------------- failure injection

    def _set_taints(self, name: str, add: list[Obj]) -> None:
        async def write() -> None:
            while True:
                current = await self.client.get(NODES, name)
                patch = {
                    "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                    "spec": {"taints": replace_failure_taints(current, add)},
                }
                try:
                    await self.client.patch(NODES, name, patch, field_manager=NODE_LIFECYCLE_FIELD_MANAGER)
                    return
                except Conflict:
                    continue

        self.writes.submit(f"node/{name}", write, urgent=True)

    def fail_node(self, name: str, *, unreachable: bool = False, node_lifecycle: bool | None = None) -> None:
        """Fail a node: shut down (Ready=False; its pods fail) or, with ``unreachable``, silent (its pods
        turn NotReady and nothing happens on it). Either way its Lease is no longer renewed. See the module
        doc for what the node lifecycle controller adds (or ``node_lifecycle`` does at once; given here, it
        overrides the fleet's setting for this failure). Call on the kubelets' loop."""
        lifecycle = self.node_lifecycle if node_lifecycle is None else node_lifecycle
        state = UNKNOWN if unreachable else NOT_READY
        stamp = meta.rfc3339(time.time())
        if not self._set_state(name, state, stamp):
            return
        if not unreachable or lifecycle:
            self._post_status(name)
        if lifecycle:
            self._set_taints(name, self.failure_taints(unreachable, stamp))
        log.info("nodes.failed", node=name, state=state)
        self._notify(name, state)

    def recover_node(self, name: str, *, node_lifecycle: bool | None = None) -> None:
        """Bring a failed node back: Ready posted, Lease renewed at once, heartbeats resumed (and, with
        ``node_lifecycle``, the fleet's or this call's, the failure taints removed). Call on the kubelets'
        loop."""
        lifecycle = self.node_lifecycle if node_lifecycle is None else node_lifecycle
        now = time.time()
        if not self._set_state(name, READY, meta.rfc3339(now)):
            return
        self._post_status(name)
        if lifecycle:
            self._set_taints(name, [])
        node = self._node(name)
        self.writes.submit(f"lease/{name}", self._renewal(node, now), urgent=True)
        log.info("nodes.recovered", node=name)
        self._notify(name, READY)
