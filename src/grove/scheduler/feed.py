"""Informers that keep a :class:`~grove.scheduler.ledger.Ledger` current: nodes, pods (of every scheduler:
all of them use node capacity), PodGangs and ClusterTopologyBindings.

Start-up is a rebuild: the four informers list and sync, :meth:`Ledger.rebuild` loads their stores in
dependency order (topologies, nodes, pods, PodGangs), and only then are the event handlers registered, so
the ledger never sees a half-listed cluster and a restarted extender starts from exactly what the cluster
holds (bound pods are usage; plans are made afresh around them). Later relists (after 410 Gone) arrive as
the informers' differences: adds, updates and deletes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from grove.runtime.cache import DeletedFinalStateUnknown, unwrap_tombstone
from grove.runtime.client import Client
from grove.runtime.informer import FuncHandler, Informer, InformerOptions, Transform, strip_managed_fields
from grove.runtime.meta import Obj
from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.resources import Resource
from grove.scheduler.kinds import CLUSTER_TOPOLOGY_BINDINGS, NODES, PODGANGS, PODS
from grove.scheduler.ledger import Ledger
from grove.scheduler.slim import slim_node, slim_pod

__all__ = ["LedgerFeed"]

log = structlog.get_logger("grove.scheduler.feed")

# How often start() reports the informers that have not synced yet (e.g. a CRD that is not installed).
_SYNC_REPORT_INTERVAL = 10.0


class LedgerFeed:
    """Lists and watches what the ledger needs and feeds it; ``await start()`` returns once it is loaded."""

    def __init__(
        self,
        client: Client,
        ledger: Ledger,
        *,
        options: InformerOptions | None = None,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        self.ledger = ledger

        def informer(resource: Resource, transform: Transform) -> Informer:
            return Informer(client, resource, transform=transform, options=options, metrics=metrics)

        self.topologies = informer(CLUSTER_TOPOLOGY_BINDINGS, strip_managed_fields)
        self.nodes = informer(NODES, slim_node)
        self.pods = informer(PODS, slim_pod)
        self.podgangs = informer(PODGANGS, strip_managed_fields)
        self._loaded = False

    @property
    def informers(self) -> tuple[Informer, ...]:
        """The four informers, in load order."""
        return (self.topologies, self.nodes, self.pods, self.podgangs)

    def has_synced(self) -> bool:
        """True once the ledger was loaded from the synced informers."""
        return self._loaded

    async def start(self) -> None:
        """Start the informers, wait for them to sync, load the ledger and subscribe to changes."""
        for inf in self.informers:
            inf.start()
        while True:
            waiting = [inf for inf in self.informers if not inf.has_synced()]
            if not waiting:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SYNC_REPORT_INTERVAL):
                    await asyncio.gather(*(inf.wait_for_sync() for inf in waiting))
                continue
            log.warning("feed.waiting_for_sync", resources=[str(inf.resource) for inf in waiting])
        # No await from here on: nothing can change the stores between the rebuild and the subscriptions.
        self.ledger.rebuild(
            topologies=self.topologies.store.list(),
            nodes=self.nodes.store.list(),
            pods=self.pods.store.list(),
            podgangs=self.podgangs.store.list(),
        )
        ledger = self.ledger
        self._subscribe(self.topologies, ledger.on_topology_upsert, ledger.on_topology_delete)
        self._subscribe(self.nodes, ledger.on_node_upsert, ledger.on_node_delete)
        self._subscribe(self.pods, ledger.on_pod_upsert, ledger.on_pod_delete)
        self._subscribe(self.podgangs, ledger.on_podgang_upsert, ledger.on_podgang_delete)
        self._loaded = True
        log.info(
            "feed.loaded",
            topologies=len(self.topologies.store),
            nodes=len(self.nodes.store),
            pods=len(self.pods.store),
            podgangs=len(self.podgangs.store),
        )

    @staticmethod
    def _subscribe(informer: Informer, upsert: Callable[[Obj], None], delete: Callable[[Obj], None]) -> None:
        def on_add(obj: Obj, is_initial_list: bool) -> None:
            # Registering on a synced informer replays its store as initial adds: rebuild() has them.
            if not is_initial_list:
                upsert(obj)

        def on_delete(obj: Obj | DeletedFinalStateUnknown) -> None:
            delete(unwrap_tombstone(obj))

        informer.add_event_handler(
            FuncHandler(add=on_add, update=lambda _old, new: upsert(new), delete=on_delete)
        )

    async def stop(self) -> None:
        """Stop the informers."""
        await asyncio.gather(*(inf.stop() for inf in self.informers))
