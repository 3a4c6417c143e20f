"""The scheduling queue: priority order, backoff, event-driven requeue and gates."""

from __future__ import annotations

from grove.devcluster.placement import EXTENDER, FIT, TAINTS, PodInfo
from grove.devcluster.schedqueue import SchedulingQueue


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def info(name: str, priority: int = 0) -> PodInfo:
    return PodInfo(
        {
            "metadata": {"name": name, "namespace": "ns", "uid": name},
            "spec": {"priority": priority, "containers": []},
        }
    )


def test_higher_priority_first_then_oldest() -> None:
    clock = Clock()
    q = SchedulingQueue(1, 10, clock)
    q.add(info("old"), gated=False)
    clock.now += 1
    q.add(info("new"), gated=False)
    q.add(info("urgent", priority=10), gated=False)
    popped = [q.pop(), q.pop(), q.pop()]
    assert [p.info.key for p in popped if p] == ["ns/urgent", "ns/old", "ns/new"]
    assert q.pop() is None


def test_unschedulable_pods_move_only_on_events_that_may_help_and_wait_out_their_backoff() -> None:
    clock = Clock()
    q = SchedulingQueue(1, 10, clock)
    q.add(info("fit"), gated=False)
    q.add(info("taint"), gated=False)
    q.add(info("ext"), gated=False)
    fit, taint, ext = q.pop(), q.pop(), q.pop()
    assert fit and taint and ext
    q.unschedulable(fit, {FIT})
    q.unschedulable(taint, {TAINTS})
    q.unschedulable(ext, {EXTENDER})
    q.move(frozenset({FIT}))
    assert q.pop() is None  # both moved pods are still backing off (1 s)
    assert q.next_wakeup() == 101.0
    clock.now = 101.0
    assert sorted(p.info.key for p in (q.pop(), q.pop()) if p) == ["ns/ext", "ns/fit"]
    assert q.pop() is None
    q.move(None)
    clock.now = 200.0
    assert q.pop().info.key == "ns/taint"  # type: ignore[union-attr]


def test_backoff_doubles_per_attempt_up_to_the_maximum() -> None:
    clock = Clock()
    q = SchedulingQueue(1, 10, clock)
    q.add(info("p"), gated=False)
    waits = []
    for _ in range(6):
        qp = q.pop()
        assert qp is not None
        q.error(qp)
        wake = q.next_wakeup()
        assert wake is not None
        waits.append(wake - clock.now)
        clock.now = wake
    assert waits == [1, 2, 4, 8, 10, 10]


def test_gated_pods_wait_until_an_update_clears_the_gate() -> None:
    q = SchedulingQueue(1, 10, Clock())
    q.add(info("g"), gated=True)
    assert q.pop() is None and q.is_gated("ns/g")
    q.move(None)
    assert q.pop() is None
    q.update(info("g"), gated=False, spec_changed=True)
    assert q.pop() is not None


def test_a_pod_no_plugin_rejected_is_retried_after_its_backoff_without_an_event() -> None:
    # kube-scheduler's determineSchedulingHintForInFlightPod: no rejector plugins -> queueAfterBackoff.
    clock = Clock()
    q = SchedulingQueue(1, 10, clock)
    q.add(info("p"), gated=False)
    qp = q.pop()
    assert qp is not None
    q.unschedulable(qp, ())
    assert q.pop() is None
    assert q.next_wakeup() == 101.0
    clock.now = 101.0
    assert q.pop() is qp


def test_an_extender_rejected_pod_moves_on_any_event_and_on_its_own_update() -> None:
    # The Extender rejector is registered for every cluster event (kubernetes#122019), the pod's own
    # updates included, whatever changed (a status write too).
    clock = Clock()
    q = SchedulingQueue(1, 10, clock)
    for name in ("ext", "fit"):
        q.add(info(name), gated=False)
    ext, fit = q.pop(), q.pop()
    assert ext and fit
    q.unschedulable(ext, {EXTENDER})
    q.unschedulable(fit, {FIT})
    q.update(info("fit"), gated=False, spec_changed=False)
    q.update(info("ext"), gated=False, spec_changed=False)
    clock.now = 101.0
    assert q.pop() is ext
    assert q.pop() is None  # fit waits for an event that may help it
    q.unschedulable(ext, {EXTENDER, TAINTS})
    q.move(frozenset())  # e.g. a bound pod changed: no plugin's interest, but the extender's
    clock.now = 200.0
    assert q.pop() is ext
