"""When gang termination acts (upstream §3.6 after #277/#561/#614): pure functions over cached objects.

- A PodClique is a *breach candidate* when its ``MinAvailableBreached`` is True and it was once scheduled
  (:func:`was_pclq_ever_scheduled`); a scaling group when its ``MinAvailableBreached`` is True, it was once
  healthy (:func:`was_pcsg_ever_healthy`) and no recycle of its PodCliqueSet replica is in flight for it
  (``GangTerminationInProgress``). A workload that never became healthy is not recycled.
- A breach is *due* once it has lasted ``terminationDelay``, measured from the condition's
  lastTransitionTime (second precision, as Kubernetes stores it).
- During a RollingRecreate update the breach conditions of the replica being updated are Unknown
  (``UpdateInProgress``), so nothing there is a candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from grove.api.constants import CONDITION_GANG_TERMINATION_IN_PROGRESS, DEFAULT_TERMINATION_DELAY
from grove.api.duration import parse_duration
from grove.api.podcliqueset import PodCliqueSet
from grove.controllers import conditions as cond
from grove.controllers.status import condition, find_condition
from grove.runtime.meta import Obj, metadata

__all__ = [
    "INITIAL_SCHEDULE_GRACE",
    "Schedule",
    "breach_start",
    "cleared_since",
    "in_progress_condition",
    "parse_time",
    "pclq_breach_start",
    "pcsg_breach_start",
    "schedule",
    "termination_delay",
    "was_pclq_ever_scheduled",
    "was_pcsg_ever_healthy",
]

INITIAL_SCHEDULE_GRACE: Final = timedelta(seconds=5)
"""Upstream's InitialScheduleGrace: a condition whose last transition is within this window after the
object's creation is the first value ever written, not a change of state."""


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def termination_delay(pcs: PodCliqueSet) -> float:
    """``spec.template.terminationDelay`` in seconds (default 4h)."""
    seconds = parse_duration(pcs.spec.template.termination_delay or DEFAULT_TERMINATION_DELAY)
    if seconds is None or seconds <= 0:  # validation rejects these; the default keeps us safe regardless
        seconds = parse_duration(DEFAULT_TERMINATION_DELAY)
    assert seconds is not None
    return seconds


def _conditions(obj: Mapping[str, Any]) -> Any:
    return (obj.get("status") or {}).get("conditions")


def _transitioned_after_creation(obj: Mapping[str, Any], c: Mapping[str, Any]) -> bool:
    created = parse_time(metadata(obj).get("creationTimestamp"))
    moved = parse_time(c.get("lastTransitionTime"))
    return created is not None and moved is not None and moved > created + INITIAL_SCHEDULE_GRACE


def was_pclq_ever_scheduled(pclq: Mapping[str, Any]) -> bool:
    """Upstream's WasPCLQEverScheduled: PodCliqueScheduled is True, or it last changed more than 5 s after
    the PodClique was created (so it changed from True to False at some point).

    It sees only transitions the operator wrote: if the first status write of a PodClique comes more than
    5 s after its creation (an operator that was down or badly overloaded), a never-scheduled PodClique
    looks once-scheduled; it is then recycled once, and its recreation has a fresh creation time.
    """
    c = find_condition(_conditions(pclq), cond.CONDITION_PODCLIQUE_SCHEDULED)
    if c is None:
        return False
    return c.get("status") == "True" or _transitioned_after_creation(pclq, c)


def was_pcsg_ever_healthy(pcsg: Mapping[str, Any]) -> bool:
    """The scaling group once met minAvailable: its durable ``HealthyStateObserved`` condition (later
    upstream's WasPCSGEverHealthy). The earlier rule, read from MinAvailableBreached's last transition, is
    fooled by every rolling update: the breach condition goes Unknown and back, and a group that never was
    healthy would look as if it had been."""
    c = find_condition(_conditions(pcsg), cond.CONDITION_HEALTHY_STATE_OBSERVED)
    return c is not None and c.get("status") == "True"


def breach_start(obj: Mapping[str, Any]) -> datetime | None:
    """When the current MinAvailableBreached=True began, or None when it is not True."""
    c = find_condition(_conditions(obj), cond.CONDITION_MIN_AVAILABLE_BREACHED)
    if c is None or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime"))


def pclq_breach_start(pclq: Obj) -> datetime | None:
    """The breach start of a candidate PodClique (not terminating, breached, once scheduled), else None."""
    start = breach_start(pclq)
    if start is None or metadata(pclq).get("deletionTimestamp") or not was_pclq_ever_scheduled(pclq):
        return None
    return start


def cleared_since(flag: Mapping[str, Any] | None, at: str) -> bool:
    """The GangTerminationInProgress condition ``flag`` was cleared when or after a recycle was decided
    at ``at``."""
    if flag is None or flag.get("status") != "False":
        return False
    cleared, decided = parse_time(flag.get("lastTransitionTime")), parse_time(at)
    return cleared is not None and decided is not None and cleared >= decided


def pcsg_breach_start(pcsg: Obj, recycled_at: str | None) -> datetime | None:
    """The breach start of a candidate scaling group, else None. ``recycled_at``: when a recycle of its
    PodCliqueSet replica was decided (its record), if one is on record."""
    start = breach_start(pcsg)
    if start is None or metadata(pcsg).get("deletionTimestamp") or not was_pcsg_ever_healthy(pcsg):
        return None
    flag = find_condition(_conditions(pcsg), CONDITION_GANG_TERMINATION_IN_PROGRESS)
    if flag is not None and flag.get("status") == "True":
        return None
    if recycled_at is not None and not cleared_since(flag, recycled_at):
        return None  # the group has not yet taken note of the recycle (or not yet recovered from it)
    return start


def in_progress_condition(
    previous: Mapping[str, Any] | None,
    breached: str,
    recycled_at: str | None,
    recreating: bool,
    generation: int,
) -> dict[str, Any] | None:
    """The GangTerminationInProgress condition a scaling group reports, or None for none.

    True from the moment a recycle of its PodCliqueSet replica is on record (``recycled_at``) until its own
    MinAvailableBreached is False with its recycled PodCliques recreated (``recreating`` False); then False.
    While True, that group's breach does not trigger another recycle: one recycle per breach episode.
    """
    active = condition(
        CONDITION_GANG_TERMINATION_IN_PROGRESS,
        True,
        cond.REASON_GANG_TERMINATION_ACTIVE,
        f"Gang termination of this PodCliqueSet replica decided at {recycled_at}: PodCliques recreated",
        generation,
    )
    done = condition(
        CONDITION_GANG_TERMINATION_IN_PROGRESS,
        False,
        cond.REASON_GANG_TERMINATION_COMPLETE,
        "MinAvailable is met again",
        generation,
    )
    if recycled_at is not None and not cleared_since(previous, recycled_at):
        return done if breached == "False" and not recreating else active
    if previous is None:
        return None
    if previous.get("status") == "True":
        return done if breached == "False" else {**active, "message": previous.get("message", "")}
    return {k: previous[k] for k in ("type", "status", "reason", "message") if k in previous} | {
        "observedGeneration": generation
    }


@dataclass(frozen=True)
class Schedule:
    """Which breached replicas are due for a recycle, and how long until the next one is."""

    due: list[int]
    wait: float | None
    """Seconds until the earliest breach still waiting lasts terminationDelay (None: none waits)."""


def schedule(starts: Mapping[int, datetime], delay: float, now: datetime) -> Schedule:
    """``starts``: per replica index, when its earliest candidate breach began."""
    due: list[int] = []
    waits: list[float] = []
    for index, start in sorted(starts.items()):
        remaining = delay - (now - start).total_seconds()
        if remaining <= 0:
            due.append(index)
        else:
            waits.append(remaining)
    return Schedule(due, min(waits) if waits else None)
