"""Name and label syntax with apimachinery's messages (``k8s.io/apimachinery/pkg/util/validation``)."""

from __future__ import annotations

import pytest

from grove.api.k8s_syntax import (
    DNS1035_LABEL_ERROR,
    DNS1123_LABEL_ERROR,
    DNS1123_SUBDOMAIN_ERROR,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    is_dns1035_label,
    is_dns1123_label,
    label_value_errors,
    qualified_name_errors,
)


def test_dns_labels_and_subdomains() -> None:
    assert dns1123_label_errors("123-abc") == []
    assert is_dns1123_label("123-abc") and not is_dns1035_label("123-abc")
    assert dns1035_label_errors("123-abc") == [DNS1035_LABEL_ERROR]
    assert dns1123_label_errors("a.b") == ["must not contain dots"]  # a subdomain, but for its dots
    assert dns1123_label_errors("A.b") == [DNS1123_LABEL_ERROR]
    assert dns1123_label_errors("a" * 64) == ["must be no more than 63 characters"]
    assert not is_dns1123_label("a" * 64)
    assert dns1123_subdomain_errors("my.example.com") == []
    assert dns1123_subdomain_errors("Upper") == [DNS1123_SUBDOMAIN_ERROR]
    assert dns1123_subdomain_errors("a" * 254) == ["must be no more than 253 characters"]


@pytest.mark.parametrize("key", ["app", "grove.io/podclique", "example.com/My_Name.1", "a" * 63])
def test_qualified_names_accepted(key: str) -> None:
    assert qualified_name_errors(key) == []


@pytest.mark.parametrize(
    ("key", "starts"),
    [
        ("bad key!", ["name part must consist of"]),
        ("/name", ["prefix part must be non-empty"]),
        ("grove.io/", ["name part must be non-empty", "name part must consist of"]),
        ("Grove.io/x", ["prefix part a lowercase RFC 1123 subdomain"]),
        ("a" * 64, ["name part must be no more than 63 characters"]),
        ("a/b/c", ["a qualified name must consist of"]),
    ],
)
def test_qualified_name_messages_are_apimachinery_s(key: str, starts: list[str]) -> None:
    problems = qualified_name_errors(key)
    assert len(problems) == len(starts)
    for problem, start in zip(problems, starts, strict=True):
        assert problem.startswith(start)


def test_label_values() -> None:
    assert label_value_errors("") == []
    assert label_value_errors("web-1.x_y") == []
    assert label_value_errors("web tier")[0].startswith("a valid label must be an empty string")
    assert label_value_errors("a" * 64) == ["must be no more than 63 characters"]
