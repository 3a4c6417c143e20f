"""KubeSchedulerConfiguration parsing and validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grove.devcluster.schedconfig import (
    SchedulerConfigError,
    load_scheduler_config,
    parse_duration,
    parse_scheduler_config,
)


def doc(**extra: Any) -> dict[str, Any]:
    return {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration", **extra}


def test_defaults_to_one_default_scheduler_profile_without_extenders() -> None:
    cfg = parse_scheduler_config(doc())
    assert cfg.scheduler_names == ["default-scheduler"] and cfg.extenders == ()
    assert cfg.pod_initial_backoff_seconds == 1.0 and cfg.pod_max_backoff_seconds == 10.0


def test_profiles_and_extenders(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
leaderElection: {leaderElect: false}
profiles:
- schedulerName: grove-scheduler
  percentageOfNodesToScore: 100
extenders:
- urlPrefix: http://127.0.0.1:9443/scheduler
  filterVerb: filter
  prioritizeVerb: prioritize
  bindVerb: bind
  weight: 3
  nodeCacheCapable: true
  httpTimeout: 1m30s
  managedResources:
  - name: nvidia.com/gpu
    ignoredByScheduler: false
"""
    )
    cfg = load_scheduler_config(path)
    assert cfg.scheduler_names == ["grove-scheduler"]
    assert cfg.profiles[0].percentage_of_nodes_to_score == 100 and cfg.percentage_of_nodes_to_score == 30
    [ext] = cfg.extenders
    assert (ext.filter_verb, ext.prioritize_verb, ext.bind_verb, ext.weight) == (
        "filter",
        "prioritize",
        "bind",
        3,
    )
    assert ext.node_cache_capable and ext.http_timeout == 90.0
    assert ext.managed_resources[0].name == "nvidia.com/gpu"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"apiVersion": "kubescheduler.config.k8s.io/v1beta3"}, "apiVersion: .* is not supported"),
        (
            {"extenders": [{"urlPrefix": "http://x", "prioritizeVerb": "p"}]},
            r"extenders\[0\]\.weight: .*positive weight",
        ),
        (
            {
                "extenders": [
                    {"urlPrefix": "http://x", "bindVerb": "b"},
                    {"urlPrefix": "http://y", "bindVerb": "b"},
                ]
            },
            "found 2 extenders implementing bind",
        ),
        (
            {"extenders": [{"urlPrefix": "http://x", "filterverb": "f"}]},
            'unknown field "extenders\\[0\\].filterverb"',
        ),
        ({"unknown": 1}, 'unknown field "unknown"'),
        ({"profiles": [{"schedulerName": "a"}, {"schedulerName": "a"}]}, 'Duplicate value: "a"'),
        ({"percentageOfNodesToScore": 101}, r"not in valid range \[0-100\]"),
        ({"extenders": [{"urlPrefix": "http://x", "httpTimeout": "5 seconds"}]}, "is not a duration"),
        ({"extenders": [{"filterVerb": "f"}]}, r"urlPrefix: Required value"),
        (
            {"extenders": [{"urlPrefix": "http://x", "managedResources": [{"name": "cpu"}]}]},
            "must be an extended resource name",
        ),
        ({"podInitialBackoffSeconds": 5, "podMaxBackoffSeconds": 2}, "podMaxBackoffSeconds"),
    ],
)
def test_invalid_configurations_are_rejected_with_the_field_and_rule(
    extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(SchedulerConfigError, match=message):
        parse_scheduler_config(doc(**extra))


def test_go_durations() -> None:
    assert parse_duration("500ms", "t") == 0.5
    assert parse_duration("1h2m3s", "t") == 3723.0
    with pytest.raises(SchedulerConfigError):
        parse_duration("1x", "t")


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SchedulerConfigError, match=r"missing\.yaml: cannot read"):
        load_scheduler_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [")
    with pytest.raises(SchedulerConfigError, match=r"bad\.yaml: not valid YAML"):
        load_scheduler_config(bad)
