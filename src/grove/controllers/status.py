"""Status helpers shared by the three controllers: conditions, lastErrors, and writing status only on change.

A reconcile computes the status it wants from the cache, then :func:`status_patch` compares it with the
stored status and returns the merge patch of the fields that differ, or None: an unchanged status is never
written. Conditions keep their ``lastTransitionTime`` while their status stays the same, and lastErrors keep
their ``observedAt`` while the same error persists, so a repeated reconcile produces the same status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from grove.controllers.objdiff import merge_patch
from grove.runtime.meta import Obj

__all__ = [
    "ErrorRecord",
    "condition",
    "find_condition",
    "merge_conditions",
    "merge_last_errors",
    "now_rfc3339",
    "status_patch",
]


def now_rfc3339() -> str:
    """The current UTC time in the form Kubernetes stores timestamps (second precision)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(
    type_: str, status: bool | str, reason: str, message: str = "", observed_generation: int | None = None
) -> dict[str, Any]:
    """A metav1.Condition without its lastTransitionTime (added by :func:`merge_conditions`)."""
    value = status if isinstance(status, str) else ("True" if status else "False")
    out: dict[str, Any] = {"type": type_, "status": value, "reason": reason, "message": message}
    if observed_generation is not None:
        out["observedGeneration"] = observed_generation
    return out


def find_condition(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    """The condition of ``type_``, or None."""
    for c in conditions or ():
        if c.get("type") == type_:
            return c
    return None


def merge_conditions(
    existing: Sequence[Mapping[str, Any]] | None, wanted: Sequence[Mapping[str, Any]], now: str
) -> list[dict[str, Any]]:
    """``existing`` with each ``wanted`` condition set (meta.SetStatusCondition).

    A condition whose status is unchanged keeps its lastTransitionTime; a new or flipped one gets ``now``.
    Conditions of other types (written by others) are kept, in their place.
    """
    wanted_by_type = {w["type"]: w for w in wanted}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for c in existing or ():
        w = wanted_by_type.get(c.get("type", ""))
        if w is None:
            out.append(dict(c))
            continue
        seen.add(w["type"])
        transition = c.get("lastTransitionTime") if c.get("status") == w["status"] else None
        out.append({**w, "lastTransitionTime": transition or now})
    for w in wanted:
        if w["type"] not in seen:
            out.append({**w, "lastTransitionTime": now})
    return out


ErrorRecord = tuple[str, str]
"""A user-fixable error: (code, description)."""


def merge_last_errors(
    existing: Sequence[Mapping[str, Any]] | None, errors: Sequence[ErrorRecord], now: str
) -> list[dict[str, Any]]:
    """status.lastErrors for the errors of this reconcile (empty when it succeeded).

    An error already reported with the same code and description keeps its observedAt.
    """
    previous = {(e.get("code"), e.get("description")): e.get("observedAt") for e in existing or ()}
    return [
        {"code": code, "description": description, "observedAt": previous.get((code, description)) or now}
        for code, description in errors
    ]


def status_patch(obj: Obj, desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``{"status": {...}}`` merge patch of the ``desired`` fields that differ from ``obj.status``.

    Fields of ``desired`` set to None are removed if present; an empty list equals an absent field; a
    nested object is patched key by key, with keys it no longer has set to null (a merge patch keeps the
    keys it does not mention). Returns None when nothing differs.
    """
    current: Mapping[str, Any] = obj.get("status") or {}
    changed: dict[str, Any] = {}
    for key, value in desired.items():
        if value is None:
            if current.get(key) is not None:
                changed[key] = None
        elif value == [] and not current.get(key):
            continue
        elif isinstance(value, Mapping) and isinstance(current.get(key), Mapping):
            nested = merge_patch(current[key], value)
            if nested:
                changed[key] = nested
        elif key not in current or current[key] != value:
            changed[key] = value
    return {"status": changed} if changed else None
