"""Topology trees from ClusterTopologyBinding levels and node labels; incremental free capacity."""

from __future__ import annotations

import pytest

from grove.scheduler.synthetic import BLOCK_KEY, RACK_KEY, ZONE_KEY, cluster_topology, fleet, node
from grove.scheduler.topology import ClusterState, TopologyTree, parse_cluster_topology

GI = 2**30


def _state(*nodes: dict[str, object], levels: bool = True) -> ClusterState:
    s = ClusterState()
    if levels:
        s.upsert_topology(parse_cluster_topology(cluster_topology()))
    for n in nodes:
        s.upsert_node(n)
    return s


def _tree(s: ClusterState) -> TopologyTree:
    return s.trees["default"]


def test_parse_cluster_topology_validates_levels() -> None:
    spec = parse_cluster_topology(cluster_topology())
    assert [lv.domain for lv in spec.levels] == ["zone", "block", "rack", "host"]
    with pytest.raises(ValueError, match=r"spec\.levels: must be a non-empty list"):
        parse_cluster_topology({"metadata": {"name": "x"}, "spec": {"levels": []}})
    with pytest.raises(ValueError, match=r"spec\.levels\[1\]\.domain: 'zone' appears twice"):
        parse_cluster_topology(cluster_topology(levels=[("zone", "a"), ("zone", "b")]))
    with pytest.raises(ValueError, match=r"spec\.levels\[1\]\.key: 'a' appears twice"):
        parse_cluster_topology(cluster_topology(levels=[("zone", "a"), ("rack", "a")]))
    with pytest.raises(ValueError, match=r"spec\.levels\[0\]\.domain: must match"):
        parse_cluster_topology(cluster_topology(levels=[("Zone", "a")]))
    with pytest.raises(ValueError, match=r"spec\.levels\[0\]\.key: must be a label key"):
        parse_cluster_topology(cluster_topology(levels=[("zone", "not a key")]))


def test_tree_shape_and_domain_ids_include_ancestors() -> None:
    s = _state(*fleet(2, 2, 2, 2))
    t = _tree(s)
    assert t.root.node_count == 16
    assert sorted(t.root.children) == ["z0", "z1"]
    rack = t.domain_of("z1-b0-r1-h0", 3)
    assert rack is not None
    assert rack.id == ("z1", "z1-b0", "z1-b0-r1")
    assert sorted(rack.children) == ["z1-b0-r1-h0", "z1-b0-r1-h1"]
    assert len(t.domains_at(3, t.root)) == 8
    block = t.domain_of("z1-b0-r1-h0", 2)
    assert block is not None
    assert len(t.domains_at(3, block)) == 2
    assert t.describe(rack) == "rack z1/z1-b0/z1-b0-r1"
    assert t.depth_of_key(RACK_KEY) == 3
    assert t.depth_of_key("nope") is None


def test_same_rack_name_in_two_blocks_are_two_domains() -> None:
    a = node("a", {ZONE_KEY: "z", BLOCK_KEY: "b1", RACK_KEY: "r1"})
    b = node("b", {ZONE_KEY: "z", BLOCK_KEY: "b2", RACK_KEY: "r1"})
    t = _tree(_state(a, b))
    assert t.domain_of("a", 3) is not t.domain_of("b", 3)


def test_nodes_missing_a_label_hang_under_their_deepest_labelled_domain() -> None:
    partial = node("p", {ZONE_KEY: "z0"})
    s = _state(*fleet(1, 1, 1, 2), partial)
    t = _tree(s)
    zone = t.root.children["z0"]
    assert "p" in zone.nodes
    assert t.domain_of("p", 3) is None
    assert t.root.node_count == 3
    assert s.flat.root.node_count == 3


def test_free_capacity_aggregates_and_updates_incrementally() -> None:
    s = _state(*fleet(1, 1, 2, 2, cpu="10", memory="10Gi", gpu=8))
    t = _tree(s)
    rack = t.domain_of("z0-b0-r0-h0", 3)
    assert rack is not None
    assert rack.free["nvidia.com/gpu"] == 16
    assert t.root.free["cpu"] == 40_000
    s.add_usage("z0-b0-r0-h0", {"cpu": 4000, "nvidia.com/gpu": 8, "pods": 1}, "bound")
    s.add_usage("z0-b0-r0-h1", {"cpu": 1000, "pods": 1}, "reserved")
    assert rack.free["nvidia.com/gpu"] == 8
    assert rack.free["cpu"] == 15_000
    assert t.root.free["cpu"] == 35_000
    assert s.nodes["z0-b0-r0-h0"].free["cpu"] == 6000
    s.add_usage("z0-b0-r0-h1", {"cpu": 1000, "pods": 1}, "reserved", -1)
    assert rack.free["cpu"] == 16_000
    assert s.reserved_on("z0-b0-r0-h1") == {}
    assert s.bound_on("z0-b0-r0-h0")["cpu"] == 4000


def test_overcommitted_node_is_clamped_in_sums() -> None:
    s = _state(*fleet(1, 1, 1, 2, cpu="10"))
    t = _tree(s)
    s.add_usage("z0-b0-r0-h0", {"cpu": 15_000}, "bound")
    assert s.overcommitted("z0-b0-r0-h0")
    assert t.root.free["cpu"] == 10_000  # 0 + 10, not -5 + 10
    s.add_usage("z0-b0-r0-h0", {"cpu": 12_000}, "bound", -1)
    assert t.root.free["cpu"] == 17_000
    assert not s.overcommitted("z0-b0-r0-h0")


def test_usage_on_unknown_node_counts_once_it_appears() -> None:
    s = _state()
    s.add_usage("late", {"cpu": 3000, "pods": 1}, "bound")
    s.upsert_node(node("late", {ZONE_KEY: "z"}, cpu="8"))
    assert s.nodes["late"].free["cpu"] == 5000
    assert _tree(s).root.free["cpu"] == 5000


def test_node_update_moves_domains_and_reports_changes() -> None:
    s = _state(*fleet(1, 1, 2, 1))
    t = _tree(s)
    same = s.upsert_node(fleet(1, 1, 2, 1)[0])
    assert not same.any
    moved = node("z0-b0-r0-h0", {ZONE_KEY: "z0", BLOCK_KEY: "z0-b0", RACK_KEY: "z0-b0-r1"})
    change = s.upsert_node(moved)
    assert change.topology_labels and change.placement and not change.capacity
    assert "z0-b0-r0" not in t.root.children["z0"].children["z0-b0"].children  # emptied rack removed
    rack1 = t.domain_of("z0-b0-r0-h0", 3)
    assert rack1 is not None and rack1.node_count == 2
    bigger = node("z0-b0-r0-h0", moved["metadata"]["labels"], cpu="64")
    assert s.upsert_node(bigger).capacity
    assert t.root.free["cpu"] == 96_000


def test_delete_node() -> None:
    s = _state(*fleet(1, 1, 1, 2, cpu="10"))
    assert s.delete_node("z0-b0-r0-h0") is not None
    assert _tree(s).root.free["cpu"] == 10_000
    assert s.delete_node("z0-b0-r0-h0") is None
    s.delete_node("z0-b0-r0-h1")
    assert _tree(s).root.children == {}


def test_topology_added_after_nodes_and_removed() -> None:
    s = _state(*fleet(1, 2, 1, 1), levels=False)
    assert s.tree_for(None, []) is s.flat
    s.upsert_topology(parse_cluster_topology(cluster_topology()))
    assert _tree(s).root.node_count == 2
    assert not s.upsert_topology(parse_cluster_topology(cluster_topology()))
    assert s.tree_for(None, [RACK_KEY]) is _tree(s)
    assert s.tree_for("default", []) is _tree(s)
    assert s.tree_for(None, ["unknown/key"]) is None
    assert s.delete_topology("default")
    assert s.tree_for(None, [RACK_KEY]) is None


def test_malformed_node_is_rejected_with_field() -> None:
    s = _state()
    bad = node("n")
    bad["status"]["allocatable"]["cpu"] = "many"
    with pytest.raises(ValueError, match=r"status\.allocatable\[cpu\]"):
        s.upsert_node(bad)
    assert "n" not in s.nodes
