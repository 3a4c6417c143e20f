"""Creating, updating and deleting the objects a controller owns, touching the API only when needed.

:func:`ensure_child` compares the desired manifest with the cached object and issues at most one write: a
create when it is missing, a merge patch of exactly the fields that differ when it drifted, nothing when it
is up to date (so a steady state costs no API call). Objects that belong to another owner are never touched:
that is a :class:`ChildConflict`, which the user has to resolve.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from grove.controllers.objdiff import is_subset, merge_patch
from grove.runtime.client import Client
from grove.runtime.errors import AlreadyExists, NotFound
from grove.runtime.informer import Informer
from grove.runtime.meta import Obj, controller_owner, metadata, name_of, namespace_of, uid_of
from grove.runtime.resources import Resource

__all__ = ["ChildConflict", "Outcome", "delete_child", "ensure_child"]

log = structlog.get_logger(__name__)


class ChildConflict(Exception):
    """An object with the name of a child exists and is controlled by something else."""

    def __init__(self, kind: str, namespace: str, name: str, holder: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(
            f"{kind} {namespace}/{name} already exists and is not controlled by this object ({holder}); "
            "delete or rename it"
        )


class Outcome(enum.Enum):
    """What :func:`ensure_child` did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    WAITING = "waiting"
    """The object is being deleted; it is recreated once it is gone."""


def _map_patch(desired: Mapping[str, str] | None, observed: Mapping[str, str] | None) -> dict[str, str]:
    have = observed or {}
    return {k: v for k, v in (desired or {}).items() if have.get(k) != v}


def _keeping(observed: Obj, desired: Obj, keep: Sequence[Sequence[str]]) -> Obj:
    """``desired`` with the value ``observed`` has at each path of ``keep`` (where it has one)."""
    out = desired
    for path in keep:
        have: Any = observed
        for key in path:
            have = have.get(key) if isinstance(have, Mapping) else None
        if have is None:
            continue
        if out is desired:
            out = copy.deepcopy(desired)
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = have
    return out


def drift_patch(
    observed: Obj, desired: Obj, fields: Sequence[str], keep: Sequence[Sequence[str]] = ()
) -> dict[str, Any]:
    """The merge patch bringing ``observed`` to ``desired``: labels and annotations we set (others are kept),
    and each top-level field of ``fields`` (nested fields we do not want are removed).

    ``keep``: paths the child owns once it exists (a PodClique's ``spec.replicas``): the observed value
    wins, so a value read into ``desired`` from an older cache state is never written back.
    """
    desired = _keeping(observed, desired, keep)
    patch: dict[str, Any] = {}
    md: dict[str, Any] = {}
    for key in ("labels", "annotations"):
        changed = _map_patch(metadata(desired).get(key), metadata(observed).get(key))
        if changed:
            md[key] = changed
    if md:
        patch["metadata"] = md
    for f in fields:
        want, have = desired.get(f), observed.get(f)
        if want is None or is_subset(want, have):
            continue
        patch[f] = (
            merge_patch(have, want) if isinstance(want, Mapping) and isinstance(have, Mapping) else want
        )
    return patch


def _ownership(resource: Resource, observed: Obj, desired: Obj) -> Outcome | None:
    """None when ``observed`` is controlled by the owner ``desired`` names; WAITING when it belongs to an
    earlier incarnation of that owner (same kind and name, another UID: garbage collection is removing it);
    otherwise a :class:`ChildConflict`."""
    want, ref = controller_owner(desired), controller_owner(observed)
    if ref is not None and want is not None:
        if ref.get("uid") == want.get("uid"):
            return None
        if (ref.get("kind"), ref.get("name")) == (want.get("kind"), want.get("name")):
            return Outcome.WAITING
    holder = f"controller {ref.get('kind')}/{ref.get('name')}" if ref else "no controller"
    raise ChildConflict(resource.kind, namespace_of(observed), name_of(observed), holder)


async def ensure_child(
    client: Client,
    resource: Resource,
    informer: Informer,
    desired: Obj,
    fields: Sequence[str] = ("spec",),
    keep: Sequence[Sequence[str]] = (),
) -> Outcome:
    """Makes the child ``desired`` (which carries its controller ownerReference) exist as described;
    ``keep`` as for :func:`drift_patch`."""
    ns, name = namespace_of(desired), name_of(desired)
    observed = informer.store.get_by_name(ns, name)
    if observed is None:
        try:
            await client.create(resource, desired, ns)
        except AlreadyExists:
            # Our cache lags, or the object is not one our (label-filtered) cache can see: ask the server.
            try:
                existing = await client.get(resource, name, ns)
            except NotFound:
                return Outcome.WAITING  # gone again meanwhile; its delete event brings us back
            return _ownership(resource, existing, desired) or Outcome.UNCHANGED
        log.info("child.created", kind=resource.kind, child=name)
        return Outcome.CREATED
    if metadata(observed).get("deletionTimestamp"):
        return Outcome.WAITING
    waiting = _ownership(resource, observed, desired)
    if waiting is not None:
        return waiting
    patch = drift_patch(observed, desired, fields, keep)
    if not patch:
        return Outcome.UNCHANGED
    await client.patch(resource, name, patch, ns)
    log.info("child.updated", kind=resource.kind, child=name, fields=sorted(patch))
    return Outcome.UPDATED


async def delete_child(client: Client, resource: Resource, obj: Obj) -> bool:
    """Deletes ``obj`` (only that incarnation: UID precondition); False if it was already gone."""
    if metadata(obj).get("deletionTimestamp"):
        return False
    try:
        await client.delete(resource, name_of(obj), namespace_of(obj), uid=uid_of(obj))
    except NotFound:
        return False
    log.info("child.deleted", kind=resource.kind, child=name_of(obj))
    return True
