"""Syncing one kind of children of an owner: ensure the desired ones, delete the excess, record events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from grove.controllers.children import Outcome, delete_child, ensure_child
from grove.controllers.context import Context, gather_limited
from grove.runtime.errors import NamespaceTerminating
from grove.runtime.events import EventRecorder
from grove.runtime.informer import Informer
from grove.runtime.meta import Obj, name_of
from grove.runtime.resources import Resource

__all__ = ["OWNED_REPLICAS", "ChildKind", "sync_children"]

OWNED_REPLICAS: tuple[str, ...] = ("spec", "replicas")
"""A PodClique's or scaling group's replicas belong to it once it exists (``kubectl scale``, HPAs)."""


@dataclass(frozen=True)
class ChildKind:
    """How to sync and report one kind of child."""

    resource: Resource
    informer: Informer
    fields: tuple[str, ...] = ("spec",)
    """Top-level fields compared and patched besides labels and annotations."""
    keep: tuple[tuple[str, ...], ...] = ()
    """Paths an existing child owns (see :func:`~grove.controllers.children.drift_patch`)."""
    synced_reason: str = ""
    deleted_reason: str = ""
    failed_reason: str = ""


async def sync_children(
    ctx: Context,
    recorder: EventRecorder,
    owner: Obj,
    kind: ChildKind,
    desired: Sequence[Obj],
    excess: Sequence[Obj] = (),
) -> bool:
    """Creates or patches ``desired`` (each carrying its controller ownerReference to ``owner``) and deletes
    ``excess`` (at most ``ctx.max_parallel_writes`` writes at a time).

    Records one event for what was created or updated and one for what was deleted, then raises the first
    error, if any. Returns True when something was written.
    """
    outcomes = await gather_limited([_ensure(ctx, kind, d) for d in desired], ctx.max_parallel_writes)
    deletions = await gather_limited([_delete(ctx, kind, e) for e in excess], ctx.max_parallel_writes)
    plural = kind.resource.kind + "s"
    changed = [
        name_of(d) for d, o in zip(desired, outcomes, strict=True) if o in (Outcome.CREATED, Outcome.UPDATED)
    ]
    removed = [name_of(e) for e, r in zip(excess, deletions, strict=True) if r is True]
    if changed and kind.synced_reason:
        recorder.normal(owner, kind.synced_reason, f"Created or updated {plural}: {', '.join(changed)}")
    if removed and kind.deleted_reason:
        recorder.normal(owner, kind.deleted_reason, f"Deleted {plural}: {', '.join(removed)}")
    for result in (*outcomes, *deletions):
        if isinstance(result, BaseException):
            # A namespace being deleted refuses creates: expected, and nothing for anyone to act on.
            if kind.failed_reason and not isinstance(result, NamespaceTerminating):
                recorder.warning(owner, kind.failed_reason, f"Error syncing {plural}: {result}")
            raise result
    return bool(changed or removed)


def _ensure(ctx: Context, kind: ChildKind, desired: Obj) -> Callable[[], Awaitable[Outcome]]:
    async def call() -> Outcome:
        return await ensure_child(ctx.client, kind.resource, kind.informer, desired, kind.fields, kind.keep)

    return call


def _delete(ctx: Context, kind: ChildKind, obj: Obj) -> Callable[[], Awaitable[bool]]:
    async def call() -> bool:
        return await delete_child(ctx.client, kind.resource, obj)

    return call
