"""Table helpers: durations and JSONPath."""

from __future__ import annotations

import pytest

from grove.devcluster.tables import human_duration, jsonpath


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600, "3h"),
        (8 * 3600 + 60, "8h"),
        (3 * 86400 + 3600, "3d1h"),
        (30 * 86400, "30d"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_jsonpath() -> None:
    obj = {
        "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X", "status": "False"}]},
        "a": [1, 2],
    }
    assert jsonpath(obj, '.status.conditions[?(@.type=="Ready")].status') == ["True"]
    assert jsonpath(obj, ".a[1]") == [2]
    assert jsonpath(obj, ".a[*]") == [1, 2]
    assert jsonpath(obj, ".missing.x") == []
