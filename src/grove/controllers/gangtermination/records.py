"""Recycle records: what gang termination decided, kept on the owner of the recycled replica.

Before it deletes the PodCliques of a replica, the controller writes an annotation
``grove.io/gang-termination-<index>`` on the owner of that replica (the PodCliqueSet for one of its
replicas, the scaling group for one of its replicas) listing each PodClique it is going to delete, with its
UID and its ``spec.replicas`` at that moment, and only deletes once its cache shows that annotation. So:

- the recreated PodCliques get the replicas they had (``kubectl scale`` and HPAs are not undone; upstream
  #826 loses them), even if the operator restarts between the delete and the create;
- the deletion is idempotent and survives a restart (the record says which incarnations to delete);
- while a record lists PodCliques not yet deleted or not yet recreated, nothing else is decided for that
  replica (no second recycle from a lagging cache).

One annotation per replica index, each written only by the controller of its owner, so merge patches of
different replicas never overwrite each other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from grove.runtime.meta import Obj, annotations_of, name_of, uid_of

__all__ = [
    "RECORD_ANNOTATION_PREFIX",
    "GangRecord",
    "Recorded",
    "annotation_patch",
    "new_record",
    "read_records",
    "record_key",
    "recorded_replicas",
]

log = structlog.get_logger(__name__)

RECORD_ANNOTATION_PREFIX: Final = "grove.io/gang-termination-"


@dataclass(frozen=True)
class Recorded:
    """A PodClique a recycle deletes: the incarnation (UID) and the replicas it had."""

    uid: str
    replicas: int


@dataclass(frozen=True)
class GangRecord:
    """A recycle of one replica: when it was decided and the PodCliques it deletes and recreates."""

    at: str
    """When the recycle was decided (RFC 3339, second precision, like condition transition times)."""
    podcliques: Mapping[str, Recorded] = field(default_factory=dict)

    def encode(self) -> str:
        """The annotation value (compact JSON, stable key order)."""
        body = {
            "at": self.at,
            "podCliques": {n: {"uid": r.uid, "replicas": r.replicas} for n, r in self.podcliques.items()},
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    def only(self, names: Iterable[str]) -> GangRecord:
        """This record with just the PodCliques ``names``."""
        keep = set(names)
        return GangRecord(self.at, {n: r for n, r in self.podcliques.items() if n in keep})


def record_key(index: int) -> str:
    """The annotation holding the record of replica ``index``."""
    return f"{RECORD_ANNOTATION_PREFIX}{index}"


def _decode(value: str) -> GangRecord:
    body = json.loads(value)
    if not isinstance(body, dict) or not isinstance(body.get("at"), str):
        raise ValueError("not a gang termination record")
    podcliques: dict[str, Recorded] = {}
    for name, entry in (body.get("podCliques") or {}).items():
        podcliques[str(name)] = Recorded(str(entry["uid"]), int(entry["replicas"]))
    return GangRecord(body["at"], podcliques)


def read_records(obj: Obj) -> dict[int, GangRecord]:
    """The records on ``obj`` by replica index. A malformed one is logged and left out (and so removed by
    the next :func:`annotation_patch`)."""
    out: dict[int, GangRecord] = {}
    for key, value in annotations_of(obj).items():
        suffix = key.removeprefix(RECORD_ANNOTATION_PREFIX)
        if suffix == key or not suffix.isdigit():
            continue
        try:
            out[int(suffix)] = _decode(value)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("gangtermination.bad_record", owner=name_of(obj), annotation=key, error=str(exc))
    return out


def annotation_patch(obj: Obj, records: Mapping[int, GangRecord]) -> dict[str, Any] | None:
    """The merge patch making ``records`` the records on ``obj`` (others removed), or None if they are."""
    current = {k: v for k, v in annotations_of(obj).items() if k.startswith(RECORD_ANNOTATION_PREFIX)}
    wanted = {record_key(i): r.encode() for i, r in records.items()}
    changed: dict[str, str | None] = {k: v for k, v in wanted.items() if current.get(k) != v}
    changed.update({k: None for k in current if k not in wanted})
    return {"metadata": {"annotations": changed}} if changed else None


def new_record(pclqs: Iterable[Obj], at: str) -> GangRecord:
    """A record deleting ``pclqs`` (and recreating them with their current replicas)."""
    return GangRecord(
        at,
        {
            name_of(p): Recorded(uid_of(p), int((p.get("spec") or {}).get("replicas") or 0))
            for p in sorted(pclqs, key=name_of)
        },
    )


def recorded_replicas(records: Iterable[GangRecord | None], name: str) -> int | None:
    """The replicas a recycled PodClique ``name`` had (first record listing it), or None."""
    for record in records:
        if record is not None and name in record.podcliques:
            return record.podcliques[name].replicas
    return None
