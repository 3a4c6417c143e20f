"""Label and field selector parsing and matching."""

from __future__ import annotations

import pytest

from grove.devcluster.errors import ApiError
from grove.devcluster.selectors import (
    format_selector,
    parse_field_selector,
    parse_label_selector,
    path_getter,
    selector_from_dict,
)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("a=b", {"a": "b"}, True),
        ("a==b", {"a": "c"}, False),
        ("a!=b", {}, True),
        ("a in (b, c)", {"a": "c"}, True),
        ("a notin (b,c)", {"a": "d"}, True),
        ("a notin (b,c)", {}, True),
        ("a", {"a": ""}, True),
        ("!a", {"a": "x"}, False),
        ("a,b=c", {"a": "1", "b": "c"}, True),
        ("n>3", {"n": "4"}, True),
        ("n<3", {"n": "4"}, False),
        ("example.com/role=leader", {"example.com/role": "leader"}, True),
    ],
)
def test_label_selector_matching(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(selector).matches(labels) is expected


@pytest.mark.parametrize("bad", ["a in b", "a=b,", "(a)", "a in (b", "a>x"])
def test_label_selector_errors_are_400(bad: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_label_selector(bad)
    assert exc.value.code == 400


def test_selector_from_dict_and_format() -> None:
    sel = selector_from_dict(
        {
            "matchLabels": {"app": "x"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
        }
    )
    assert sel.matches({"app": "x", "tier": "a"})
    assert not sel.matches({"app": "x"})
    assert format_selector(sel) == "app=x,tier in (a,b)"


def test_field_selector() -> None:
    getters = {
        "metadata.name": path_getter("metadata", "name"),
        "spec.nodeName": path_getter("spec", "nodeName"),
    }
    sel = parse_field_selector("metadata.name=a,spec.nodeName!=n1", getters)
    assert sel.matches({"metadata": {"name": "a"}, "spec": {}})
    assert not sel.matches({"metadata": {"name": "a"}, "spec": {"nodeName": "n1"}})
    assert parse_field_selector(r"metadata.name=a\,b", getters).matches({"metadata": {"name": "a,b"}})
    with pytest.raises(ApiError, match=r"field label not supported: spec\.x"):
        parse_field_selector("spec.x=1", getters)
