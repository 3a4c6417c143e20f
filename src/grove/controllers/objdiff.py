"""Comparing desired objects with what the API server stores, and the smallest patch between them.

The server adds fields we never set (schema defaults such as a container port's ``protocol: TCP``,
``clusterIP`` families, ...), so "desired == observed" is the wrong test. A child is up to date when every
field we set has the value we want (:func:`is_subset`). When it is not, :func:`merge_patch` is the JSON merge
patch (RFC 7386) that turns the observed value into the desired one: changed fields replaced, fields we no
longer want set to null (the server re-applies its defaults for those), lists replaced whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["is_subset", "merge_patch"]


def is_subset(desired: Any, observed: Any) -> bool:
    """True when ``observed`` has every value of ``desired``.

    Mappings: every key of ``desired`` is in ``observed`` with a subset value (extra keys in ``observed`` are
    fine). Lists: same length, element by element subsets. Scalars: equal.
    """
    if isinstance(desired, Mapping):
        if not isinstance(observed, Mapping):
            return False
        for key, value in desired.items():
            if key not in observed or not is_subset(value, observed[key]):
                return False
        return True
    if isinstance(desired, list):
        if not isinstance(observed, list) or len(desired) != len(observed):
            return False
        return all(is_subset(d, o) for d, o in zip(desired, observed, strict=True))
    return bool(desired == observed)


def merge_patch(observed: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch from ``observed`` to ``desired`` (empty when nothing differs).

    Keys of ``observed`` missing from ``desired`` are set to null; nested mappings are patched recursively;
    anything else that differs (lists included) is replaced by the desired value.
    """
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        current = observed.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            sub = merge_patch(current, value)
            if sub:
                patch[key] = sub
        elif key not in observed or current != value:
            patch[key] = value
    for key in observed:
        if key not in desired:
            patch[key] = None
    return patch
