"""Predicates: generation/labels/annotations/resourceVersion changes, custom functions, and/or/not."""

from __future__ import annotations

from typing import Any

import pytest

from grove.runtime.predicates import (
    And,
    AnnotationsChanged,
    FuncPredicate,
    GenerationChanged,
    LabelsChanged,
    Not,
    Or,
    Predicate,
    ResourceVersionChanged,
)


def obj(generation: int = 1, rv: str = "1", labels: dict[str, str] | None = None, **annotations: str) -> Any:
    md = {"name": "a", "generation": generation, "resourceVersion": rv, "labels": labels or {}}
    md["annotations"] = annotations
    return {"metadata": md}


def test_generation_changed_drops_status_only_updates() -> None:
    p = GenerationChanged()
    assert not p.update(obj(1, "1"), obj(1, "2"))
    assert p.update(obj(1), obj(2))
    assert p.create(obj()) and p.delete(obj())


def test_labels_annotations_and_resource_version() -> None:
    assert LabelsChanged().update(obj(labels={"a": "1"}), obj(labels={"a": "2"}))
    assert not LabelsChanged().update(obj(labels={"a": "1"}), obj(labels={"a": "1"}))
    assert AnnotationsChanged().update(obj(x="1"), obj(x="2"))
    assert not AnnotationsChanged().update(obj(x="1"), obj(x="1"))
    assert ResourceVersionChanged().update(obj(rv="1"), obj(rv="2"))
    assert not ResourceVersionChanged().update(obj(rv="1"), obj(rv="1"))


def test_combinators() -> None:
    spec_or_labels = Or(GenerationChanged(), LabelsChanged())
    assert spec_or_labels.update(obj(1, labels={"a": "1"}), obj(1, labels={"a": "2"}))
    assert not spec_or_labels.update(obj(1), obj(1))
    both = And(GenerationChanged(), LabelsChanged())
    assert not both.update(obj(1, labels={"a": "1"}), obj(2, labels={"a": "1"}))
    assert Not(GenerationChanged()).update(obj(1), obj(1))
    assert And().create(obj())
    with pytest.raises(ValueError, match="Or"):
        Or()


def test_func_predicate() -> None:
    only_named_a = FuncPredicate(create=lambda o: o["metadata"]["name"] == "a")
    assert only_named_a.create(obj())
    assert only_named_a.update(obj(), obj())
    never_delete = FuncPredicate(delete=lambda o: False)
    assert not never_delete.delete(obj())
    assert Predicate().update(obj(), obj())
