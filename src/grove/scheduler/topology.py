"""Cluster topology and free capacity: nodes, ClusterTopologyBinding trees, per-domain aggregates.

A ClusterTopologyBinding lists levels broad → narrow, each a portable domain name (zone, block, rack, ...) and
the node label key that carries it. A node's path in a tree is the tuple of its label values for those keys,
cut at the first missing label; the node hangs under the domain named by that path. A domain at level ``i``
therefore has depth ``i + 1`` (the root, the whole cluster, has depth 0), and its id is the full path of
values from the broadest level down, so ``rack r1`` in two blocks are two domains, as in Kueue and KAI.

Free capacity is kept per node (allocatable minus bound pods minus planned reservations) and summed per
domain, updated incrementally on every node and usage change. Domain sums add each node's free amount
clamped at zero, so they stay an upper bound of what fits even when a node is overcommitted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from grove.api.podresources import Resources, add_into
from grove.scheduler.predicates import NodeFacts, parse_taints
from grove.scheduler.resources import node_allocatable

__all__ = [
    "ClusterState",
    "Domain",
    "NodeChange",
    "NodeInfo",
    "TopologyLevel",
    "TopologySpec",
    "TopologyTree",
    "parse_cluster_topology",
]

HOSTNAME_KEY = "kubernetes.io/hostname"
UsageKind = Literal["bound", "reserved"]
_DOMAIN_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@dataclass(frozen=True, slots=True)
class TopologyLevel:
    """One level of a ClusterTopologyBinding: a domain name and the node label key that carries it."""

    domain: str
    key: str


@dataclass(frozen=True, slots=True)
class TopologySpec:
    """A ClusterTopologyBinding's name and its levels, broad → narrow."""

    name: str
    levels: tuple[TopologyLevel, ...]


def parse_cluster_topology(obj: Mapping[str, Any]) -> TopologySpec:
    """Parse a ClusterTopologyBinding (grove.io/v1alpha1) JSON object; ``ValueError`` names the bad field."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(name, str) or not name:
        raise ValueError("metadata.name: required")
    spec = obj.get("spec") or {}
    raw_levels = spec.get("levels") if isinstance(spec, Mapping) else None
    if not isinstance(raw_levels, list) or not raw_levels:
        raise ValueError("spec.levels: must be a non-empty list")
    levels: list[TopologyLevel] = []
    for i, raw in enumerate(raw_levels):
        if not isinstance(raw, Mapping):
            raise ValueError(f"spec.levels[{i}]: must be an object")
        domain, key = raw.get("domain"), raw.get("key")
        if not isinstance(domain, str) or not _DOMAIN_NAME.match(domain):
            raise ValueError(
                f"spec.levels[{i}].domain: must match ^[a-z][a-z0-9-]*$ (1-63 chars), got {domain!r}"
            )
        if not isinstance(key, str) or len(key) > 317 or not _LABEL_KEY.match(key):
            raise ValueError(f"spec.levels[{i}].key: must be a label key, got {key!r}")
        if any(lv.domain == domain for lv in levels):
            raise ValueError(f"spec.levels[{i}].domain: {domain!r} appears twice")
        if any(lv.key == key for lv in levels):
            raise ValueError(f"spec.levels[{i}].key: {key!r} appears twice")
        levels.append(TopologyLevel(domain, key))
    return TopologySpec(name, tuple(levels))


@dataclass(slots=True, eq=False)
class NodeInfo:
    """A node as the scheduler sees it; ``free`` = allocatable - bound - reserved (may go negative)."""

    name: str
    labels: dict[str, str]
    facts: NodeFacts
    allocatable: Resources
    free: Resources
    raw_allocatable: object = None

    def clamped_free(self) -> Resources:
        """Free amounts floored at zero: this node's contribution to domain sums."""
        return {r: max(0, v) for r, v in self.free.items()}


@dataclass(slots=True, eq=False)
class Domain:
    """A topology domain: its path of label values, its children and direct nodes, and summed capacity."""

    id: tuple[str, ...]
    parent: Domain | None
    children: dict[str, Domain] = field(default_factory=dict)
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    free: Resources = field(default_factory=dict)
    allocatable: Resources = field(default_factory=dict)
    node_count: int = 0

    @property
    def depth(self) -> int:
        """0 for the cluster, ``i + 1`` for a domain at level ``i``."""
        return len(self.id)

    def ancestors(self) -> Iterator[Domain]:
        """This domain and every parent up to the root."""
        d: Domain | None = self
        while d is not None:
            yield d
            d = d.parent

    def iter_nodes(self) -> Iterator[NodeInfo]:
        """Every node in this domain's subtree."""
        yield from self.nodes.values()
        for child in self.children.values():
            yield from child.iter_nodes()


class TopologyTree:
    """The domain tree of one ClusterTopologyBinding (or the flat tree of a cluster without one)."""

    def __init__(self, spec: TopologySpec) -> None:
        self.spec = spec
        self.keys = tuple(lv.key for lv in spec.levels)
        self.root = Domain((), None)
        self.node_domain: dict[str, Domain] = {}

    def depth_of_key(self, key: str) -> int | None:
        """Depth of the domains a node label key names (level index + 1), ``None`` when not a level."""
        try:
            return self.keys.index(key) + 1
        except ValueError:
            return None

    def level_name(self, depth: int) -> str:
        """The portable domain name of a depth (``rack``), ``cluster`` for the root."""
        return "cluster" if depth == 0 else self.spec.levels[depth - 1].domain

    def path_of(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        """A node's path of label values, cut at the first missing label."""
        path: list[str] = []
        for key in self.keys:
            value = labels.get(key)
            if value is None:
                break
            path.append(value)
        return tuple(path)

    def describe(self, domain: Domain) -> str:
        """``rack z1/b2/r3`` — level name and path, for messages."""
        return "the cluster" if not domain.id else f"{self.level_name(domain.depth)} {'/'.join(domain.id)}"

    def add_node(self, node: NodeInfo) -> None:
        """Attach ``node`` under the domain of its path, creating domains on the way."""
        domain = self.root
        for value in self.path_of(node.labels):
            child = domain.children.get(value)
            if child is None:
                child = Domain((*domain.id, value), domain)
                domain.children[value] = child
            domain = child
        domain.nodes[node.name] = node
        self.node_domain[node.name] = domain
        contribution = node.clamped_free()
        for d in domain.ancestors():
            add_into(d.free, contribution, 1)
            add_into(d.allocatable, node.allocatable, 1)
            d.node_count += 1

    def remove_node(self, node: NodeInfo) -> None:
        """Detach ``node``; domains left empty are removed."""
        domain = self.node_domain.pop(node.name, None)
        if domain is None:
            return
        del domain.nodes[node.name]
        contribution = node.clamped_free()
        for d in domain.ancestors():
            add_into(d.free, contribution, -1)
            add_into(d.allocatable, node.allocatable, -1)
            d.node_count -= 1
        d2: Domain | None = domain
        while d2 is not None and d2.parent is not None and d2.node_count == 0:
            del d2.parent.children[d2.id[-1]]
            d2 = d2.parent

    def apply_free_delta(self, node_name: str, delta: Mapping[str, int]) -> None:
        """Add ``delta`` (a change of the node's clamped free amounts) to every domain above the node."""
        domain = self.node_domain.get(node_name)
        if domain is None:
            return
        for d in domain.ancestors():
            add_into(d.free, delta, 1)

    def domains_at(self, depth: int, within: Domain) -> list[Domain]:
        """Domains at ``depth`` inside ``within`` (``[within]`` itself when it is that deep already)."""
        if within.depth >= depth:
            return [within]
        frontier = [within]
        for _ in range(depth - within.depth):
            frontier = [c for d in frontier for c in d.children.values()]
        return frontier

    def domain_of(self, node_name: str, depth: int) -> Domain | None:
        """The domain at ``depth`` that contains the node, ``None`` when the node lacks that label."""
        domain = self.node_domain.get(node_name)
        if domain is None or domain.depth < depth:
            return None
        while domain.depth > depth:
            assert domain.parent is not None
            domain = domain.parent
        return domain

    def iter_domains(self) -> Iterator[Domain]:
        """Every domain below the root, broad first."""
        frontier = list(self.root.children.values())
        while frontier:
            yield from frontier
            frontier = [c for d in frontier for c in d.children.values()]


@dataclass(frozen=True, slots=True)
class NodeChange:
    """What an upsert changed: ``placement`` (labels, taints, unschedulable) and/or ``capacity``."""

    added: bool
    placement: bool
    capacity: bool
    topology_labels: bool

    @property
    def any(self) -> bool:
        """Whether anything the scheduler cares about changed."""
        return self.added or self.placement or self.capacity


_FLAT = TopologySpec("", ())


class ClusterState:
    """Nodes, their usage and the topology trees: the snapshot the planner reads and the ledger updates.

    Usage is accounted per node name whether or not the node is known yet (a pod can be bound to a node the
    node informer has not delivered), so the order of informer events does not matter.
    """

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.topologies: dict[str, TopologySpec] = {}
        self.trees: dict[str, TopologyTree] = {}
        self.flat = TopologyTree(_FLAT)
        self._bound: dict[str, Resources] = {}
        self._reserved: dict[str, Resources] = {}

    # ---- trees

    def all_trees(self) -> Iterator[TopologyTree]:
        """The flat tree and one tree per ClusterTopologyBinding."""
        yield self.flat
        yield from self.trees.values()

    def upsert_topology(self, spec: TopologySpec) -> bool:
        """Add or replace a topology; returns whether its levels changed."""
        if self.topologies.get(spec.name) == spec:
            return False
        self.topologies[spec.name] = spec
        tree = TopologyTree(spec)
        for node in self.nodes.values():
            tree.add_node(node)
        self.trees[spec.name] = tree
        return True

    def delete_topology(self, name: str) -> bool:
        """Forget a topology; returns whether it was known."""
        self.topologies.pop(name, None)
        return self.trees.pop(name, None) is not None

    def tree_for(self, topology_name: str | None, keys: Iterable[str]) -> TopologyTree | None:
        """The tree a gang is planned in.

        The named topology when it exists; otherwise the first (by name) whose levels contain every key; a
        gang without keys uses the first topology, or the flat tree when there is none. ``None`` when the
        gang has pack keys that no topology knows.
        """
        wanted = set(keys)
        if topology_name and topology_name in self.trees:
            tree = self.trees[topology_name]
            if wanted <= set(tree.keys):
                return tree
        for name in sorted(self.trees):
            if wanted <= set(self.trees[name].keys):
                return self.trees[name]
        return None if wanted else self.flat

    # ---- nodes

    def upsert_node(self, node: Mapping[str, Any]) -> NodeChange:
        """Add or update a node from its JSON object; ``ValueError`` for a malformed node."""
        meta = node.get("metadata") or {}
        name = meta.get("name") if isinstance(meta, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ValueError("metadata.name: required")
        raw_labels = meta.get("labels") or {}
        if not isinstance(raw_labels, Mapping):
            raise ValueError("metadata.labels: must be a map")
        labels = {str(k): str(v) for k, v in raw_labels.items()}
        spec = node.get("spec") or {}
        facts = NodeFacts(name, labels, parse_taints(node), bool(spec.get("unschedulable", False)))
        status = node.get("status") or {}
        raw_alloc = status.get("allocatable") if isinstance(status, Mapping) else None
        old = self.nodes.get(name)
        if old is not None and old.raw_allocatable == raw_alloc and raw_alloc is not None:
            allocatable = old.allocatable
        else:
            allocatable = node_allocatable(node)
        if old is not None:
            placement = old.facts != facts
            capacity = old.allocatable != allocatable
            topo = any(old.labels.get(k) != labels.get(k) for t in self.trees.values() for k in t.keys)
            if not placement and not capacity:
                return NodeChange(False, False, False, False)
            self._detach(old)
        info = NodeInfo(name, labels, facts, allocatable, {}, raw_alloc)
        info.free = self._compute_free(name, allocatable)
        self.nodes[name] = info
        for tree in self.all_trees():
            tree.add_node(info)
        if old is None:
            return NodeChange(True, True, True, True)
        return NodeChange(False, placement, capacity, topo)

    def delete_node(self, name: str) -> NodeInfo | None:
        """Remove a node (its pods' usage stays accounted until the pods go); returns the old node."""
        old = self.nodes.pop(name, None)
        if old is not None:
            self._detach(old)
        return old

    def _detach(self, node: NodeInfo) -> None:
        for tree in self.all_trees():
            tree.remove_node(node)

    def _compute_free(self, name: str, allocatable: Resources) -> Resources:
        free = dict(allocatable)
        add_into(free, self._bound.get(name, {}), -1)
        add_into(free, self._reserved.get(name, {}), -1)
        return free

    # ---- usage

    def add_usage(self, node_name: str, amounts: Mapping[str, int], kind: UsageKind, sign: int = 1) -> None:
        """Account (``sign=1``) or release (``sign=-1``) pod usage on a node."""
        book = self._bound if kind == "bound" else self._reserved
        entry = book.setdefault(node_name, {})
        add_into(entry, amounts, sign)
        if not any(entry.values()):
            del book[node_name]
        info = self.nodes.get(node_name)
        if info is None:
            return
        delta: Resources = {}
        for r, v in amounts.items():
            before = info.free.get(r, 0)
            after = before - sign * v
            info.free[r] = after
            change = max(0, after) - max(0, before)
            if change:
                delta[r] = change
        if delta:
            for tree in self.all_trees():
                tree.apply_free_delta(node_name, delta)

    def reserved_on(self, node_name: str) -> Resources:
        """Amounts reserved by plans on a node."""
        return dict(self._reserved.get(node_name, {}))

    def bound_on(self, node_name: str) -> Resources:
        """Amounts used by bound pods on a node."""
        return dict(self._bound.get(node_name, {}))

    def overcommitted(self, node_name: str) -> bool:
        """Whether some resource on the node has gone below zero."""
        info = self.nodes.get(node_name)
        return info is not None and any(v < 0 for v in info.free.values())
