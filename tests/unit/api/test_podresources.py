"""A pod's effective requests as ``component-helpers/resource.PodRequests`` computes them."""

from __future__ import annotations

import pytest

from grove.api.podresources import pod_requests, requested_resource_names, resource_list

GI = 2**30


def _c(cpu: str, memory: str | None = None, restart: str | None = None) -> dict[str, object]:
    requests = {"cpu": cpu} | ({"memory": memory} if memory else {})
    c: dict[str, object] = {"name": "c", "image": "i", "resources": {"requests": requests}}
    if restart:
        c["restartPolicy"] = restart
    return c


def test_containers_sum_and_init_containers_set_a_floor_that_sidecars_raise() -> None:
    spec = {
        "containers": [_c("1"), _c("500m")],
        "initContainers": [_c("4"), _c("250m", restart="Always"), _c("3")],
        "overhead": {"cpu": "100m"},
    }
    # max(1.5 + 0.25 sidecar, 4, 3 + 0.25) + 0.1 overhead
    assert pod_requests(spec)["cpu"] == 4100
    sidecar_first = {"initContainers": [_c("1", restart="Always")], "containers": [_c("2")]}
    assert pod_requests(sidecar_first)["cpu"] == 3000


def test_pod_level_requests_replace_container_sums_for_cpu_memory_and_hugepages() -> None:
    spec = {
        "containers": [_c("1", "1Gi")],
        "overhead": {"cpu": "100m"},
        "resources": {"requests": {"memory": "4Gi", "hugepages-2Mi": "1Gi", "nvidia.com/gpu": "1"}},
    }
    assert pod_requests(spec) == {"cpu": 1100, "memory": 4 * GI, "hugepages-2Mi": GI}


def test_non_zero_requests_substitute_the_scheduler_defaults() -> None:
    spec = {"containers": [{"name": "a", "image": "i"}]}
    assert pod_requests(spec) == {}
    assert pod_requests(spec, non_zero=True) == {"cpu": 100, "memory": 200 * 2**20}


def test_bad_input_names_the_field() -> None:
    bad_quantity = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "lots"}}}]}
    with pytest.raises(ValueError, match=r"^spec\.containers\[0\]\.resources\.requests\[cpu\]: 'lots'"):
        pod_requests(bad_quantity)
    with pytest.raises(ValueError, match=r"^spec\.initContainers: must be a list"):
        pod_requests({"initContainers": {"name": "c"}})
    with pytest.raises(ValueError, match=r"^status\.allocatable: must be a map"):
        resource_list(["8"], "status.allocatable")


def test_requested_resource_names_cover_requests_and_limits_of_every_container() -> None:
    gpu = {"name": "g", "resources": {"limits": {"nvidia.com/gpu": "1"}}}
    spec = {"containers": [_c("1", "1Gi"), gpu], "initContainers": [_c("1")]}
    assert requested_resource_names(spec) == {"cpu", "memory", "nvidia.com/gpu"}
