"""The pure rules of gang termination (no cluster): candidates, due times, records, the in-progress flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from grove.api.podcliqueset import PodCliqueSet
from grove.controllers.gangtermination.records import (
    GangRecord,
    Recorded,
    annotation_patch,
    new_record,
    read_records,
    recorded_replicas,
)
from grove.controllers.gangtermination.replica import outstanding
from grove.controllers.gangtermination.rules import (
    cleared_since,
    in_progress_condition,
    pclq_breach_start,
    pcsg_breach_start,
    schedule,
    termination_delay,
    was_pclq_ever_scheduled,
    was_pcsg_ever_healthy,
)
from grove.controllers.pods import count_pods

CREATED = "2026-01-01T00:00:00Z"


def obj(
    *conditions: tuple[str, str, str], name: str = "x", uid: str = "u1", replicas: int = 1
) -> dict[str, Any]:
    """An object created at CREATED with (type, status, lastTransitionTime) conditions."""
    return {
        "metadata": {"name": name, "uid": uid, "creationTimestamp": CREATED},
        "spec": {"replicas": replicas},
        "status": {
            "conditions": [{"type": t, "status": s, "lastTransitionTime": at} for t, s, at in conditions]
        },
    }


def test_a_podclique_was_scheduled_if_scheduled_now_or_it_changed_well_after_creation() -> None:
    assert was_pclq_ever_scheduled(obj(("PodCliqueScheduled", "True", CREATED)))
    # Written False by the first status write and never changed: never scheduled.
    assert not was_pclq_ever_scheduled(obj(("PodCliqueScheduled", "False", "2026-01-01T00:00:05Z")))
    # False since a transition more than 5 s after creation: it was True before.
    assert was_pclq_ever_scheduled(obj(("PodCliqueScheduled", "False", "2026-01-01T00:00:06Z")))
    assert not was_pclq_ever_scheduled(obj())


def test_a_scaling_group_was_healthy_if_it_recorded_so() -> None:
    assert was_pcsg_ever_healthy(obj(("HealthyStateObserved", "True", CREATED)))
    # Breached since long after its creation, yet never recorded healthy (an update went Unknown and back).
    assert not was_pcsg_ever_healthy(obj(("MinAvailableBreached", "True", "2026-01-01T00:01:00Z")))


def test_breach_candidates() -> None:
    breached = ("MinAvailableBreached", "True", "2026-01-01T00:10:00Z")
    start = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
    assert pclq_breach_start(obj(breached, ("PodCliqueScheduled", "True", CREATED))) == start
    assert pclq_breach_start(obj(breached, ("PodCliqueScheduled", "False", CREATED))) is None
    assert (
        pclq_breach_start(
            obj(("MinAvailableBreached", "Unknown", CREATED), ("PodCliqueScheduled", "True", CREATED))
        )
        is None
    )
    healthy_once = ("HealthyStateObserved", "True", CREATED)
    assert pcsg_breach_start(obj(breached), None) is None
    group = obj(breached, healthy_once)
    assert pcsg_breach_start(group, None) == start
    # A recycle on record that the group has not cleared: not a candidate, with or without the flag.
    assert pcsg_breach_start(group, "2026-01-01T00:20:00Z") is None
    flagged = obj(breached, healthy_once, ("GangTerminationInProgress", "True", "2026-01-01T00:20:00Z"))
    assert pcsg_breach_start(flagged, None) is None
    cleared = obj(breached, healthy_once, ("GangTerminationInProgress", "False", "2026-01-01T00:21:00Z"))
    assert pcsg_breach_start(cleared, "2026-01-01T00:20:00Z") == start


def test_schedule_reports_due_replicas_and_the_exact_wait() -> None:
    now = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    plan = schedule({0: now - timedelta(seconds=10), 1: now - timedelta(seconds=3), 2: now}, 5.0, now)
    assert plan.due == [0]
    assert plan.wait == 2.0
    assert schedule({}, 5.0, now).wait is None


def test_termination_delay_defaults_to_four_hours() -> None:
    spec: dict[str, Any] = {"template": {"cliques": [{"name": "a", "spec": {"replicas": 1, "podSpec": {}}}]}}
    pcs = PodCliqueSet.model_validate({"metadata": {"name": "p"}, "spec": spec})
    assert termination_delay(pcs) == 4 * 3600
    spec["template"]["terminationDelay"] = "90s"
    assert termination_delay(PodCliqueSet.model_validate({"metadata": {"name": "p"}, "spec": spec})) == 90


def test_records_round_trip_through_annotations() -> None:
    record = new_record(
        [obj(name="b", uid="ub", replicas=3), obj(name="a", uid="ua")], "2026-01-01T00:00:00Z"
    )
    assert record.podcliques == {"a": Recorded("ua", 1), "b": Recorded("ub", 3)}
    owner: dict[str, Any] = {"metadata": {"name": "o", "annotations": {"other": "kept"}}}
    patch = annotation_patch(owner, {2: record})
    assert patch is not None
    owner["metadata"]["annotations"].update(patch["metadata"]["annotations"])
    assert read_records(owner) == {2: record}
    assert annotation_patch(owner, {2: record}) is None
    # A malformed record is left out, and removed with the next write.
    owner["metadata"]["annotations"]["grove.io/gang-termination-3"] = "{not json"
    assert read_records(owner) == {2: record}
    assert annotation_patch(owner, {}) == {
        "metadata": {
            "annotations": {"grove.io/gang-termination-2": None, "grove.io/gang-termination-3": None}
        }
    }
    assert recorded_replicas([None, record], "b") == 3
    assert recorded_replicas([record], "c") is None


def test_outstanding_podcliques_are_the_recorded_incarnations_and_the_missing_ones() -> None:
    record = GangRecord("t", {"a": Recorded("ua", 1), "b": Recorded("ub", 1), "c": Recorded("uc", 1)})
    present = {"a": obj(name="a", uid="ua"), "b": obj(name="b", uid="new")}
    assert outstanding(record, present) == ["a", "c"]
    assert outstanding(record, present, expected=["a", "b"]) == ["a"]


def test_the_in_progress_flag_lasts_from_the_record_until_minavailable_is_met_again() -> None:
    at = "2026-01-01T00:20:00Z"
    flag = in_progress_condition(None, "True", at, recreating=True, generation=1)
    assert flag is not None and flag["status"] == "True" and flag["reason"] == "GangTerminationActive"
    # Recreated members not healthy yet, or not all recreated: still True.
    assert in_progress_condition(flag, "True", at, recreating=False, generation=1)["status"] == "True"  # type: ignore[index]
    assert in_progress_condition(flag, "False", at, recreating=True, generation=1)["status"] == "True"  # type: ignore[index]
    done = in_progress_condition(flag, "False", at, recreating=False, generation=1)
    assert done is not None and done["status"] == "False"
    cleared = {**done, "lastTransitionTime": "2026-01-01T00:20:30Z"}
    assert cleared_since(cleared, at)
    # A new breach after the recovery is a new episode: the flag stays False (the group is a candidate).
    assert in_progress_condition(cleared, "True", at, recreating=False, generation=1)["status"] == "False"  # type: ignore[index]
    # No recycle ever: no condition.
    assert in_progress_condition(None, "True", None, recreating=False, generation=1) is None


def test_a_running_pod_whose_node_stopped_vouching_for_it_is_not_available() -> None:
    silent = {
        "metadata": {"name": "p", "labels": {}},
        "spec": {"nodeName": "n"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": "c", "started": True, "ready": True}],
        },
    }
    counts = count_pods([silent], None)
    assert (counts.scheduled, counts.ready, counts.available) == (1, 0, 0)
    starting = {
        **silent,
        "status": {**silent["status"], "containerStatuses": [{"name": "c", "started": False}]},
    }
    assert count_pods([starting], None).available == 1
