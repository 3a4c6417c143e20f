"""Comparing desired and stored objects, merge patches, conditions, lastErrors (which errors they report)
and status patches."""

from __future__ import annotations

from grove.controllers.children import drift_patch
from grove.controllers.conditions import ERR_REJECTED
from grove.controllers.errors import user_error
from grove.controllers.objdiff import is_subset, merge_patch
from grove.controllers.status import (
    condition,
    merge_conditions,
    merge_last_errors,
    status_patch,
)
from grove.runtime.errors import error_from_response


def test_subset_ignores_server_defaults_but_not_changes() -> None:
    desired = {"containers": [{"name": "a", "ports": [{"containerPort": 80}]}], "hostname": "h"}
    stored = {
        "containers": [
            {"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}], "imagePullPolicy": "Always"}
        ],
        "hostname": "h",
        "dnsPolicy": "ClusterFirst",
    }
    assert is_subset(desired, stored)
    assert not is_subset({**desired, "hostname": "x"}, stored)
    assert not is_subset({"containers": []}, stored)
    assert not is_subset({"a": {"b": 1}}, {"a": 1})


def test_merge_patch_replaces_changes_and_removes_unwanted_keys() -> None:
    stored = {"a": 1, "nested": {"keep": 1, "drop": 2}, "list": [1, 2], "gone": True}
    desired = {"a": 2, "nested": {"keep": 1}, "list": [1, 2], "new": "x"}
    assert merge_patch(stored, desired) == {"a": 2, "nested": {"drop": None}, "new": "x", "gone": None}
    assert merge_patch(desired, desired) == {}


def test_drift_patch_adds_labels_and_patches_listed_fields_only() -> None:
    stored = {
        "metadata": {"labels": {"a": "1", "other": "x"}, "annotations": {}},
        "spec": {"replicas": 3, "podSpec": {"x": 1}},
        "status": {"replicas": 1},
    }
    desired = {"metadata": {"labels": {"a": "2"}}, "spec": {"replicas": 3, "podSpec": {"x": 2}}}
    assert drift_patch(stored, desired, ("spec",)) == {
        "metadata": {"labels": {"a": "2"}},
        "spec": {"podSpec": {"x": 2}},
    }
    assert drift_patch(stored, stored, ("spec",)) == {}


def test_conditions_keep_transition_time_while_status_is_unchanged() -> None:
    first = merge_conditions([], [condition("Ready", True, "Ok", "m", 1)], "t1")
    assert first == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Ok",
            "message": "m",
            "observedGeneration": 1,
            "lastTransitionTime": "t1",
        }
    ]
    same = merge_conditions(first, [condition("Ready", True, "Ok", "m2", 2)], "t2")
    assert same[0]["lastTransitionTime"] == "t1" and same[0]["message"] == "m2"
    flipped = merge_conditions(
        [*same, {"type": "Other", "status": "True"}], [condition("Ready", False, "No", "", 2)], "t3"
    )
    assert [c["type"] for c in flipped] == ["Ready", "Other"]
    assert flipped[0]["lastTransitionTime"] == "t3"


def test_last_errors_keep_observed_at_of_a_persisting_error() -> None:
    first = merge_last_errors([], [("E1", "boom")], "t1")
    assert merge_last_errors(first, [("E1", "boom"), ("E2", "x")], "t2") == [
        {"code": "E1", "description": "boom", "observedAt": "t1"},
        {"code": "E2", "description": "x", "observedAt": "t2"},
    ]
    assert merge_last_errors(first, [], "t3") == []


def test_status_patch_only_when_something_changed() -> None:
    obj = {"status": {"replicas": 2, "conditions": [{"type": "A"}], "hpaPodSelector": "x"}}
    assert status_patch(obj, {"replicas": 2, "conditions": [{"type": "A"}], "lastErrors": []}) is None
    assert status_patch(obj, {"replicas": 3, "hpaPodSelector": None}) == {
        "status": {"replicas": 3, "hpaPodSelector": None}
    }
    assert status_patch({}, {"replicas": 0}) == {"status": {"replicas": 0}}


def test_last_errors_report_what_a_user_can_fix_not_a_terminating_namespace() -> None:
    forbidden = error_from_response(
        403, b'{"reason": "Forbidden", "message": "pods \\"p\\" is forbidden: quota"}'
    )
    assert user_error(forbidden) == (ERR_REJECTED, str(forbidden))
    terminating = error_from_response(
        403,
        b'{"reason": "Forbidden", "message": "pods \\"p-\\" is forbidden: unable to create new content in '
        b'namespace ns because it is being terminated", "details": {"causes": [{"reason": '
        b'"NamespaceTerminating", "message": "namespace ns is being terminated"}]}}',
    )
    assert user_error(terminating) is None
