"""The indexed object store behind an informer (client-go ``cache.Indexer`` / ``threadSafeMap``).

Single event loop, no locks: every read sees one consistent state because mutations happen between awaits.
Objects are shared, read-only dicts (see :mod:`grove.runtime.meta`); use ``meta.mutable_copy`` to change one.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from grove.runtime.meta import Obj, controller_owner, labels_of, namespace_of, object_key

IndexFunc = Callable[[Obj], Iterable[str]]
"""Maps an object to the index values it is filed under (zero, one or several)."""

NAMESPACE_INDEX = "namespace"
"""Built-in index: objects by ``metadata.namespace`` (client-go ``NamespaceIndex``)."""
CONTROLLER_UID_INDEX = "controller-uid"
"""Built-in index: objects by the UID of their controller ownerReference."""


def index_by_namespace(obj: Obj) -> Iterable[str]:
    """Index function for :data:`NAMESPACE_INDEX`."""
    return (namespace_of(obj),)


def index_by_controller_uid(obj: Obj) -> Iterable[str]:
    """Index function for :data:`CONTROLLER_UID_INDEX`."""
    ref = controller_owner(obj)
    return (str(ref["uid"]),) if ref is not None and ref.get("uid") else ()


def index_by_label(label: str) -> IndexFunc:
    """An index function filing objects under their value of label ``label`` (unlabelled: not filed)."""

    def index(obj: Obj) -> Iterable[str]:
        value = labels_of(obj).get(label)
        return (value,) if value is not None else ()

    return index


DEFAULT_INDEXERS: Mapping[str, IndexFunc] = {
    NAMESPACE_INDEX: index_by_namespace,
    CONTROLLER_UID_INDEX: index_by_controller_uid,
}


@dataclass(frozen=True, slots=True)
class DeletedFinalStateUnknown:
    """A tombstone: ``key`` vanished while the watch was down; ``obj`` is the last state the store held.

    Delete handlers receive this instead of the object when a relist finds an object gone.
    """

    key: str
    obj: Obj


def unwrap_tombstone(obj: Obj | DeletedFinalStateUnknown) -> Obj:
    """The object itself, or the last known state inside a tombstone."""
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


class Store:
    """Objects by key (``namespace/name``) with secondary indexes."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = dict(DEFAULT_INDEXERS if indexers is None else indexers)
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}

    # ---- reads -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str) -> Obj | None:
        """The object stored under ``key`` (``namespace/name`` or ``name``), or None."""
        return self._items.get(key)

    def get_by_name(self, namespace: str | None, name: str) -> Obj | None:
        """The object ``namespace/name`` (``namespace`` None or "" for cluster-scoped), or None."""
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def keys(self) -> list[str]:
        """All keys."""
        return list(self._items)

    def list(
        self, namespace: str | None = None, labels: Mapping[str, str] | None = None
    ) -> builtins.list[Obj]:
        """All objects, optionally only those in ``namespace`` and carrying every label in ``labels``."""
        if namespace is not None:
            objs = self.by_index(NAMESPACE_INDEX, namespace) if NAMESPACE_INDEX in self._indexers else None
            if objs is None:
                objs = [o for o in self._items.values() if namespace_of(o) == namespace]
        else:
            objs = list(self._items.values())
        if labels:
            wanted = labels.items()
            objs = [o for o in objs if wanted <= labels_of(o).items()]
        return objs

    def by_index(self, index_name: str, value: str) -> builtins.list[Obj]:
        """The objects filed under ``value`` in index ``index_name``."""
        keys = self._index(index_name).get(value)
        if not keys:
            return []
        items = self._items
        return [items[k] for k in keys]

    def index_keys(self, index_name: str, value: str) -> builtins.list[str]:
        """The keys filed under ``value`` in index ``index_name``."""
        return list(self._index(index_name).get(value, ()))

    def index_values(self, index_name: str) -> builtins.list[str]:
        """Every value with at least one object in index ``index_name``."""
        return [v for v, keys in self._index(index_name).items() if keys]

    def indexer_names(self) -> builtins.list[str]:
        """Names of the indexes this store maintains."""
        return list(self._indexers)

    # ---- writes (the informer's) ---------------------------------------------------------------------------

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Adds indexes, filing the objects already stored. Re-adding an existing name with the same function
        is a no-op; a different function under an existing name is an error."""
        for name, func in indexers.items():
            existing = self._indexers.get(name)
            if existing is not None:
                if existing is not func:
                    raise ValueError(f"indexers.{name}: an index with this name already exists")
                continue
            self._indexers[name] = func
            index: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for value in func(obj):
                    index.setdefault(value, set()).add(key)
            self._indices[name] = index

    def upsert(self, obj: Obj) -> Obj | None:
        """Stores ``obj`` under its key; returns the object it replaced, if any."""
        key = object_key(obj)
        old = self._items.get(key)
        self._items[key] = obj
        self._reindex(key, old, obj)
        return old

    def delete(self, key: str) -> Obj | None:
        """Removes ``key``; returns the object that was stored, if any."""
        old = self._items.pop(key, None)
        if old is not None:
            self._reindex(key, old, None)
        return old

    def replace(self, objs: Iterable[Obj]) -> dict[str, Obj]:
        """Atomically replaces the whole content; returns the previous content by key."""
        previous = self._items
        self._items = {object_key(o): o for o in objs}
        self._indices = {}
        for name, func in self._indexers.items():
            index: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for value in func(obj):
                    index.setdefault(value, set()).add(key)
            self._indices[name] = index
        return previous

    def _index(self, index_name: str) -> dict[str, set[str]]:
        try:
            return self._indices[index_name]
        except KeyError:
            raise KeyError(f"index {index_name!r} does not exist (have: {sorted(self._indexers)})") from None

    def _reindex(self, key: str, old: Obj | None, new: Obj | None) -> None:
        for name, func in self._indexers.items():
            old_values: Iterable[str] = func(old) if old is not None else ()
            new_values: Iterable[str] = func(new) if new is not None else ()
            if old_values == new_values:
                continue
            index = self._indices[name]
            new_set = set(new_values)
            for value in old_values:
                if value not in new_set:
                    keys = index.get(value)
                    if keys is not None:
                        keys.discard(key)
                        if not keys:
                            del index[value]
            for value in new_set:
                index.setdefault(value, set()).add(key)
