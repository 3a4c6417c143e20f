"""Parsed Grove objects from the cache, memoised per object version.

Reconciles read raw dicts from the informers; the builders need pydantic models. Parsing is not free, so the
parsed model is kept per UID until the object's resourceVersion changes. Parsing ignores ``status``: the
models describe what should exist, never what was observed. Models handed out are shared: never modify one.
(PodCliqueSets, which are also validated, have their own memo: :mod:`grove.controllers.pcsview`.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from grove.api.errors import FieldError, GroveValidationError
from grove.api.meta import TopLevelObject
from grove.api.podclique import PodClique
from grove.runtime.meta import Obj, resource_version_of, uid_of

__all__ = ["Parsed", "ParsedCache", "parse_podclique"]

M = TypeVar("M", bound=TopLevelObject)


@dataclass(frozen=True)
class Parsed(Generic[M]):
    """A parsed object, or the field errors that made it unparseable."""

    model: M | None
    errors: tuple[FieldError, ...] = ()


def _parse(kind: type[M], obj: Obj) -> Parsed[M]:
    body = {k: v for k, v in obj.items() if k != "status"}
    try:
        return Parsed(kind.from_dict(body))
    except GroveValidationError as exc:
        return Parsed(None, tuple(exc.errors))


def parse_podclique(obj: Obj) -> Parsed[PodClique]:
    """The PodClique of ``obj``."""
    return _parse(PodClique, obj)


class ParsedCache(Generic[M]):
    """Memoises ``parse(obj)`` per UID and resourceVersion (one entry per UID, replaced on change)."""

    def __init__(self, parse: Callable[[Obj], Parsed[M]]) -> None:
        self._parse = parse
        self._entries: dict[str, tuple[str, Parsed[M]]] = {}

    def get(self, obj: Obj) -> Parsed[M]:
        """The parsed ``obj`` (from the memo when its resourceVersion is unchanged)."""
        uid, rv = uid_of(obj), resource_version_of(obj)
        entry = self._entries.get(uid)
        if entry is not None and entry[0] == rv:
            return entry[1]
        parsed = self._parse(obj)
        if uid:
            self._entries[uid] = (rv, parsed)
        return parsed

    def forget(self, obj: Obj) -> None:
        """Drops the entry of a deleted object."""
        self._entries.pop(uid_of(obj), None)

    def __len__(self) -> int:
        return len(self._entries)
