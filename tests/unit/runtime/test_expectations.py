"""Expectations: counters, observation, TTL, UID tracking (kubernetes controller_utils.go semantics)."""

from __future__ import annotations

import pytest

from grove.runtime.expectations import EXPECTATIONS_TIMEOUT, ControllerExpectations, UIDTrackingExpectations


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_record_is_satisfied() -> None:
    assert ControllerExpectations().satisfied("ns/a")


def test_creations_must_all_be_observed() -> None:
    exp = ControllerExpectations()
    exp.expect_creations("ns/a", 2)
    assert not exp.satisfied("ns/a")
    exp.creation_observed("ns/a")
    assert not exp.satisfied("ns/a")
    assert exp.pending("ns/a") == (1, 0)
    exp.creation_observed("ns/a")
    assert exp.satisfied("ns/a")
    # Extra observations (e.g. someone else's creates) keep it satisfied.
    exp.creation_observed("ns/a")
    assert exp.satisfied("ns/a")


def test_deletions_and_raise_lower() -> None:
    exp = ControllerExpectations()
    exp.expect_deletions("k", 1)
    exp.raise_expectations("k", 1, 1)
    assert exp.pending("k") == (1, 2)
    exp.lower_expectations("k", 1, 2)
    assert exp.satisfied("k")
    exp.raise_expectations("other", 0, 1)
    assert exp.pending("other") == (0, 1)


def test_expired_records_are_satisfied() -> None:
    clock = FakeClock()
    exp = ControllerExpectations(clock=clock)
    exp.expect_creations("k", 5)
    clock.now += EXPECTATIONS_TIMEOUT - 1
    assert not exp.satisfied("k")
    clock.now += 2
    assert exp.satisfied("k")
    # A new expectation restarts the clock.
    exp.expect_creations("k", 1)
    assert not exp.satisfied("k")


def test_delete_forgets_the_key() -> None:
    exp = ControllerExpectations()
    exp.expect_creations("k", 1)
    exp.delete("k")
    assert exp.pending("k") is None
    assert exp.satisfied("k")


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="ttl"):
        ControllerExpectations(ttl=0)
    with pytest.raises(ValueError, match="counts must be >= 0"):
        ControllerExpectations().expect_creations("k", -1)


def test_uid_tracking_counts_each_object_once() -> None:
    exp = UIDTrackingExpectations()
    exp.expect_deletions_of("k", ["u1", "u2"])
    assert not exp.satisfied("k")
    exp.deletion_observed_uid("k", "u1")  # terminating (deletionTimestamp set)
    exp.deletion_observed_uid("k", "u1")  # really gone: not counted again
    exp.deletion_observed_uid("k", "unrelated")
    assert not exp.satisfied("k")
    assert exp.expected_deletions("k") == {"u2"}
    exp.deletion_observed_uid("k", "u2")
    assert exp.satisfied("k")
    exp.delete("k")
    assert exp.expected_deletions("k") == set()
