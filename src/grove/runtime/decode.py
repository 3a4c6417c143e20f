"""A JSON decoder that shares repeated parts between documents, for objects an informer keeps in memory.

``json.loads`` shares dict keys only within one document, so every watched object carries its own copy of
"metadata", "resourceVersion", "containerStatuses" ... and its own copy of sub-objects that are identical in
thousands of objects made from one template (``{"cpu": "10m", "memory": "16Mi"}``, tolerations, conditions).
For 10,000 pods that is about 130 MB where 30 MB of distinct data would do. This decoder

- interns every key,
- keeps a bounded table of short string values ("True", "Running", image and node names), and
- shares *leaf* objects (dicts whose values are all scalars) that are equal, value types included.

Sharing is safe because cached objects are read-only by contract (see :mod:`grove.runtime.meta`): nested
dicts may be the same object in many cached objects, so code must never modify them in place.
"""

from __future__ import annotations

import json
import sys
from typing import Any

_intern = sys.intern


class SharingDecoder:
    """Decodes JSON with interned keys, deduplicated short strings and shared equal leaf objects.

    ``max_entries`` bounds each sharing table; a full table starts over, so unique values (uids, names,
    IPs) cannot grow it without limit.
    """

    def __init__(self, max_value_len: int = 64, max_entries: int = 16384) -> None:
        self._values: dict[str, str] = {}
        self._leaves: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._max_value_len = max_value_len
        self._max_entries = max_entries
        self._decoder = json.JSONDecoder(object_pairs_hook=self._object)

    def loads(self, data: bytes | str) -> Any:
        """Parses one JSON document."""
        return self._decoder.decode(data.decode() if isinstance(data, bytes) else data)

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        values = self._values
        max_len = self._max_value_len
        out: dict[str, Any] = {}
        leaf = True
        for key, value in pairs:
            kind = type(value)
            if kind is str:
                if len(value) <= max_len:
                    shared = values.get(value)
                    if shared is None:
                        if len(values) >= self._max_entries:
                            values.clear()
                        values[value] = value
                    else:
                        value = shared
            elif kind is dict or kind is list:
                leaf = False
            out[_intern(key)] = value
        if not leaf:
            return out
        # The type is part of the signature: {"a": 1}, {"a": 1.0} and {"a": true} are equal in Python.
        signature = tuple((k, v.__class__, v) for k, v in out.items())
        leaves = self._leaves
        existing = leaves.get(signature)
        if existing is not None:
            return existing
        if len(leaves) >= self._max_entries:
            leaves.clear()
        leaves[signature] = out
        return out
