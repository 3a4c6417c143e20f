"""What the three controllers share: the client, the informers (caches with their indexes), parsed models,
event recorders and settings. Built once per operator by :mod:`grove.controllers.operator`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from grove import __version__
from grove.api import labels
from grove.api.podclique import PodClique
from grove.controllers.models import ParsedCache, parse_podclique
from grove.controllers.pcsview import PcsView, PcsViews
from grove.controllers.resources import PODCLIQUESCALINGGROUPS, PODCLIQUESETS
from grove.runtime.cache import index_by_label, unwrap_tombstone
from grove.runtime.client import Client
from grove.runtime.events import EventRecorder
from grove.runtime.informer import FuncHandler, Informer
from grove.runtime.meta import (
    Obj,
    controller_owner,
    labels_of,
    metadata,
    namespace_of,
    owner_reference,
    uid_of,
)
from grove.runtime.resources import Resource

__all__ = [
    "BASE_PODGANG_INDEX",
    "DEFAULT_INITC_IMAGE",
    "PART_OF_INDEX",
    "PODGANG_INDEX",
    "Caches",
    "Context",
    "controller_gone",
    "controller_ref",
    "gather_limited",
    "owner_pcs",
]

DEFAULT_INITC_IMAGE = f"grove:{__version__}"
"""Image of the ``grove-initc`` init container: the operator's own image."""

PART_OF_INDEX = "part-of"
"""Index of managed objects by their PodCliqueSet (label ``app.kubernetes.io/part-of``)."""
PODGANG_INDEX = "podgang"
"""Index of pods and PodCliques by their PodGang (label ``grove.io/podgang``)."""
BASE_PODGANG_INDEX = "base-podgang"
"""Index of PodCliques of scaled gangs by their base PodGang (label ``grove.io/base-podgang``)."""

INDEXERS = {
    PART_OF_INDEX: index_by_label(labels.PART_OF),
    PODGANG_INDEX: index_by_label(labels.PODGANG),
    BASE_PODGANG_INDEX: index_by_label(labels.BASE_PODGANG),
}


@dataclass
class Caches:
    """The informers of every kind the controllers read. Namespaced ones may be restricted to a namespace."""

    pcs: Informer
    pclq: Informer
    pcsg: Informer
    podgangs: Informer
    pods: Informer
    services: Informer
    service_accounts: Informer
    roles: Informer
    role_bindings: Informer
    secrets: Informer
    hpas: Informer
    topologies: Informer


@dataclass
class Context:
    """Shared state of one operator instance."""

    client: Client
    caches: Caches
    initc_image: str = DEFAULT_INITC_IMAGE
    max_parallel_writes: int = 32
    """Writes one reconcile issues concurrently (creating hundreds of children one by one is too slow)."""
    pclq_models: ParsedCache[PodClique] = field(default_factory=lambda: ParsedCache(parse_podclique))
    recorders: dict[str, EventRecorder] = field(default_factory=dict)
    pcs_views: PcsViews = field(init=False)

    def __post_init__(self) -> None:
        self.pcs_views = PcsViews(self.caches.topologies)
        # Memoised models of deleted objects are dropped with them.
        self.caches.pcs.add_event_handler(
            FuncHandler(delete=lambda o: self.pcs_views.forget(unwrap_tombstone(o)))
        )
        self.caches.pclq.add_event_handler(
            FuncHandler(delete=lambda o: self.pclq_models.forget(unwrap_tombstone(o)))
        )

    def pcs_view(self, obj: Obj) -> PcsView:
        """The parsed, defaulted and validated PodCliqueSet of the cached ``obj``."""
        return self.pcs_views.get(obj)

    def recorder(self, controller: str) -> EventRecorder:
        """The event recorder of ``controller``."""
        return self.recorders[controller]


def controller_ref(resource: Resource, owner: Obj) -> Obj:
    """The controller ownerReference to ``owner`` (apiVersion and kind from ``resource``: list items of a
    real API server may not carry them)."""
    return owner_reference({**owner, "apiVersion": resource.api_version, "kind": resource.kind})


def controller_gone(ctx: Context, obj: Obj) -> bool:
    """Whether the cache shows that ``obj``'s controller (a PodCliqueSet or scaling group) is being deleted or
    was deleted: it has a deletionTimestamp, or the cached object of its name has another UID (names are
    unique, so the incarnation ``obj`` was made for is gone). A controller the cache has not seen at all is
    not taken as gone: informers of different kinds lag independently, so a new owner may not be there yet.
    """
    ref = controller_owner(obj)
    if ref is None:
        return False
    informer = {PODCLIQUESETS.kind: ctx.caches.pcs, PODCLIQUESCALINGGROUPS.kind: ctx.caches.pcsg}.get(
        str(ref.get("kind"))
    )
    if informer is None:
        return False
    owner = informer.store.get_by_name(namespace_of(obj), str(ref.get("name")))
    if owner is None:
        return False
    return uid_of(owner) != ref.get("uid") or bool(metadata(owner).get("deletionTimestamp"))


def owner_pcs(ctx: Context, obj: Obj) -> Obj | None:
    """The PodCliqueSet a managed object belongs to (label part-of, same namespace), from the cache.

    None also when that PodCliqueSet or ``obj``'s controller is being deleted or gone
    (:func:`controller_gone`): children created then would belong to an owner that no longer exists, left
    for the garbage collector to remove.
    """
    name = labels_of(obj).get(labels.PART_OF)
    pcs = ctx.caches.pcs.store.get_by_name(namespace_of(obj), name) if name else None
    if pcs is None or metadata(pcs).get("deletionTimestamp") or controller_gone(ctx, obj):
        return None
    return pcs


T = TypeVar("T")


async def gather_limited(
    calls: Iterable[Callable[[], Awaitable[T]]], limit: int
) -> Sequence[T | BaseException]:
    """Runs the calls with at most ``limit`` in flight; returns results and exceptions in order."""
    sem = asyncio.Semaphore(max(1, limit))

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        async with sem:
            return await call()

    results: list[Any] = await asyncio.gather(*(run(c) for c in calls), return_exceptions=True)
    return results
