"""JSON patch generation: applying ``diff(a, b)`` to ``a`` (with the dev cluster's RFC 6902 implementation)
always yields ``b``, and the patch touches only what changed."""

from __future__ import annotations

import random
from typing import Any

import pytest

from grove.devcluster.patch import json_patch
from grove.webhook.jsonpatch import diff, pointer

CASES: list[tuple[Any, Any]] = [
    ({}, {"a": 1}),
    ({"a": 1}, {}),
    ({"a": 1}, {"a": 2}),
    ({"a": {"b": [1, 2]}}, {"a": {"b": [1, 3]}}),
    ({"a": [1, 2]}, {"a": [1, 2, 3]}),
    ({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 2}]}),
    ({"a/b": 1, "c~d": 2}, {"a/b": 3, "c~d": 4, "e/~f": 5}),
    ({"flag": 1}, {"flag": True}),
    ({"n": 1}, {"n": 1.5}),
    ({"a": None}, {"a": {"b": 1}}),
    ({"a": "x"}, {"a": ["x"]}),
]


@pytest.mark.parametrize(("old", "new"), CASES)
def test_patch_turns_old_into_new(old: Any, new: Any) -> None:
    assert json_patch(old, diff(old, new)) == new


def test_patch_is_minimal_and_empty_for_equal_documents() -> None:
    old = {"spec": {"replicas": 1, "template": {"cliques": [{"name": "a", "spec": {}}]}}}
    new = {"spec": {"replicas": 1, "template": {"cliques": [{"name": "a", "spec": {"replicas": 1}}]}}}
    assert diff(old, new) == [{"op": "add", "path": "/spec/template/cliques/0/spec/replicas", "value": 1}]
    assert diff(new, new) == []


def test_boolean_and_integer_are_different_values() -> None:
    assert diff({"a": 1}, {"a": True}) == [{"op": "replace", "path": "/a", "value": True}]


def test_pointer_escapes() -> None:
    assert pointer("a/b", "c~d", 0) == "/a~1b/c~0d/0"


def _random_doc(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.choice(["dict", "list", "int", "str", "bool"] if depth < 3 else ["int", "str", "bool"])
    if kind == "dict":
        return {rng.choice("abcde"): _random_doc(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if kind == "list":
        return [_random_doc(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "int":
        return rng.randint(0, 3)
    if kind == "bool":
        return rng.random() < 0.5
    return rng.choice(["x", "y", "a/b"])


def test_random_documents() -> None:
    rng = random.Random(7)
    for _ in range(500):
        old, new = {"r": _random_doc(rng)}, {"r": _random_doc(rng)}
        assert json_patch(old, diff(old, new)) == new
