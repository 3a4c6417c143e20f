"""The status a controller last wrote to an object, kept until its cache shows a newer version of the object.

A status write's watch event reaches the cache a little after the write returns. A reconcile that runs in
between (the next pod event of a burst, a requeue) would diff the status it wants against the stale cached
status and write the same fields again, and give conditions the stale status lacks a new lastTransitionTime.

The memo keeps the API server's answer to each status write, tagged with the resourceVersion the cache held
when the write was computed. While the cache still holds exactly that version, :meth:`StatusMemo.current`
returns the cached object with the answer's status: the server's state as of the write, never older than
the cache. Any other cached version (our write arriving, or anyone else's) drops the entry, so the memo only
ever stands in for a version older than the one it holds and cannot hide a change or leave a write undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grove.runtime.meta import Obj, metadata, name_of, namespace_of, uid_of

__all__ = ["StatusMemo"]


@dataclass(frozen=True, slots=True)
class _Entry:
    uid: str
    base_version: str
    status: Any


def _key(obj: Obj) -> str:
    return f"{namespace_of(obj)}/{name_of(obj)}"


class StatusMemo:
    """Per object (namespace/name): the status last written and the cached version it was computed from."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def current(self, cached: Obj) -> Obj:
        """``cached``, or a copy with the status last written when the cache has not seen that write yet."""
        key = _key(cached)
        entry = self._entries.get(key)
        if entry is None:
            return cached
        if entry.uid != uid_of(cached) or entry.base_version != metadata(cached).get("resourceVersion"):
            del self._entries[key]  # the cache moved on (or the object was replaced): it is the truth again
            return cached
        return {**cached, "status": entry.status}

    def wrote(self, basis: Obj, response: Obj) -> None:
        """Records the answer to a status write computed from ``basis`` (as returned by :meth:`current`)."""
        version = metadata(basis).get("resourceVersion")
        if not version:
            return
        self._entries[_key(basis)] = _Entry(uid_of(basis), str(version), response.get("status") or {})

    def forget(self, namespace: str, name: str) -> None:
        """Drops the entry of an object that is gone."""
        self._entries.pop(f"{namespace}/{name}", None)
