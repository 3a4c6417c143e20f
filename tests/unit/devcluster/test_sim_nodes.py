"""Fake node shapes: topology syntax, validation, names and addresses."""

from __future__ import annotations

import pytest

from grove.devcluster.nodes import FakeNodes, NodeShape, TopologyLevel, parse_topology


def test_topology_syntax() -> None:
    assert parse_topology("zone=topology.kubernetes.io/zone:20,rack=example.com/rack:5") == (
        TopologyLevel("zone", "topology.kubernetes.io/zone", 20),
        TopologyLevel("rack", "example.com/rack", 5),
    )
    assert parse_topology("none") == ()
    with pytest.raises(ValueError, match="must be domain=label-key:nodes-per-domain"):
        parse_topology("zone:20")
    with pytest.raises(ValueError, match="must be an integer"):
        parse_topology("zone=a/b:x")


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (NodeShape(cpu="lots"), "node cpu: 'lots' is not a quantity"),
        (NodeShape(pods=300), "node pods must be between 1 and 256"),
        (NodeShape(gpus=-1), "node gpus must be >= 0"),
        (
            NodeShape(topology=(TopologyLevel("rack", "a/rack", 5), TopologyLevel("zone", "a/zone", 20))),
            "broad to narrow",
        ),
        (NodeShape(topology=(TopologyLevel("Zone", "a/zone", 5),)), "must match"),
        (NodeShape(topology=(TopologyLevel("zone", "bad key!", 5),)), "is not a valid label key"),
    ],
)
def test_invalid_shapes_name_the_rule(shape: NodeShape, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shape.validate()


def test_names_addresses_and_allocatable() -> None:
    nodes = FakeNodes(300, NodeShape(gpus=8))
    assert nodes.names[0] == "fake-node-000" and nodes.names[-1] == "fake-node-299"
    assert str(nodes.pod_cidr("fake-node-007")) == "10.244.7.0/24"
    assert str(nodes.pod_cidr("fake-node-256")) == "10.245.0.0/24"
    assert nodes.host_ip("fake-node-000") == "172.18.0.2"
    assert nodes.shape.allocatable()["nvidia.com/gpu"] == "8"
    assert FakeNodes(2000).names[0] == "fake-node-0000"
