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
