"""What controllers remember of their own writes until the cache shows them: StatusMemo, UnobservedWrites."""

from __future__ import annotations

from typing import Any

import pytest

from grove.controllers.statusmemo import StatusMemo
from grove.controllers.unobserved import UnobservedWrites


def obj(rv: str, status: dict[str, Any] | None = None, uid: str = "u1") -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": {"name": "a", "namespace": "ns", "uid": uid, "resourceVersion": rv}}
    if status is not None:
        out["status"] = status
    return out


def test_status_memo_stands_in_for_the_version_the_write_was_computed_from() -> None:
    memo = StatusMemo()
    cached = obj("10", {"replicas": 1})
    assert memo.current(cached) is cached
    memo.wrote(cached, obj("11", {"replicas": 2}))
    view = memo.current(cached)
    assert view["status"] == {"replicas": 2}
    assert view["metadata"] == cached["metadata"], "only the status is taken from the write"
    assert cached["status"] == {"replicas": 1}, "the cached object is not modified"
    # A second write computed from the memo's view keeps the base version.
    memo.wrote(view, obj("12", {"replicas": 3}))
    assert memo.current(cached)["status"] == {"replicas": 3}


@pytest.mark.parametrize(
    "later",
    [obj("12", {"replicas": 2}), obj("11", {"replicas": 5}), obj("10", {"replicas": 1}, uid="u2")],
    ids=["our-write-arrived", "another-write-arrived", "object-replaced"],
)
def test_status_memo_yields_to_any_other_cached_version(later: dict[str, Any]) -> None:
    memo = StatusMemo()
    memo.wrote(obj("10", {"replicas": 1}), obj("12", {"replicas": 2}))
    assert memo.current(later) is later
    assert len(memo) == 0


def test_status_memo_forgets_deleted_objects() -> None:
    memo = StatusMemo()
    memo.wrote(obj("10"), obj("11", {"replicas": 2}))
    memo.forget("ns", "a")
    assert len(memo) == 0


def test_unobserved_writes_until_observed_or_expired() -> None:
    now = [0.0]
    writes = UnobservedWrites(30.0, clock=lambda: now[0])
    writes.add("a")
    writes.add("b")
    assert writes.pending("a") and writes.pending("b") and not writes.pending("c")
    writes.observed("a")
    assert not writes.pending("a")
    now[0] = 29.9
    assert writes.pending("b")
    now[0] = 30.0
    assert not writes.pending("b"), "an unobserved write is trusted for ttl seconds only"
    assert len(writes) == 0


def test_unobserved_writes_rejects_a_bad_ttl() -> None:
    with pytest.raises(ValueError, match="ttl: must be > 0"):
        UnobservedWrites(0)
