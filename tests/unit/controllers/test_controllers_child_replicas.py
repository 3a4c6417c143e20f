"""A parent never writes back a child's replicas read from a cache that has moved on since.

The PodCliqueSet and scaling group controllers build each existing child with the replicas they observe
(``kubectl scale pclq|pcsg`` and HPAs own them), then compare with the cached child when they sync it. The
cache can change in between (one event-loop pass is enough when the scale lands right after the parent's
own change, as in the tutorial); the fields a child owns must then be taken from the object compared, not
from the one built earlier, or the user's scale is undone.
"""

from __future__ import annotations

from grove.controllers.children import drift_patch

REPLICAS = ("spec", "replicas")


def _pclq(replicas: int, role: str = "worker") -> dict[str, object]:
    return {
        "metadata": {"name": "x-0-worker", "labels": {"a": "b"}},
        "spec": {"replicas": replicas, "roleName": role},
    }


def test_a_field_the_child_owns_is_never_patched_back() -> None:
    built, observed = _pclq(3), _pclq(4)
    assert drift_patch(observed, built, ("spec",), keep=(REPLICAS,)) == {}


def test_other_drift_is_still_patched_without_the_owned_field() -> None:
    built, observed = _pclq(3, role="leader"), _pclq(4)
    assert drift_patch(observed, built, ("spec",), keep=(REPLICAS,)) == {"spec": {"roleName": "leader"}}


def test_a_missing_owned_field_is_left_to_the_desired_object() -> None:
    built, observed = _pclq(3), _pclq(4)
    del observed["spec"]["replicas"]  # type: ignore[attr-defined]
    assert drift_patch(observed, built, ("spec",), keep=(REPLICAS,)) == {"spec": {"replicas": 3}}


def test_without_keep_the_built_value_wins() -> None:
    assert drift_patch(_pclq(4), _pclq(3), ("spec",)) == {"spec": {"replicas": 3}}
