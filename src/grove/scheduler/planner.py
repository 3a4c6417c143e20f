"""The gang planner: a pure function from (snapshot, PodGang, pods) to a pod → node plan, or one reason.

A gang is a tree of placement units: the gang, its group configs (PodCliqueScalingGroup replicas), and pod
groups (PodCliques). Each unit may carry a required and a preferred pack key; a key names a depth in the
topology tree. Placement walks the units top-down:

1. For a unit with a constraint, candidate domains at the preferred depth are tried first, then (if the
   preferred cannot be met) at the required depth. Candidates are pruned with the per-domain free sums kept
   by :mod:`grove.scheduler.topology` (an upper bound of what fits) and tried tightest first, so large free
   domains stay whole for large gangs (Kueue TAS "BestFit"); equally tight candidates are ordered by how
   tight their parent (then grandparent) is, so empty blocks are not opened for a rack while fuller blocks
   have a rack that fits. The first candidate where the whole unit fits wins.
2. Inside the chosen domain, sub-units are placed the same way, the most constrained and largest first.
3. Pods of one shape (same requests and node constraints) are placed with exact per-node counts, descending
   the tree: the tightest child that holds all remaining pods, else the roomiest children first and the
   tightest one for the rest — the fewest domains at every level above the nodes. Across nodes it is best
   fit: the nodes with the least room first, so whole nodes stay free for large pods.

All or nothing: every tentative assignment is journalled and rolled back when a branch fails, and the snapshot
is never modified. Pods beyond a group's ``minReplicas`` are placed when they fit (first the whole gang is
tried with every pod required; if that fails, only ``minReplicas`` are required and the rest fill in).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from grove.api.quantity import PODS, format_amount
from grove.scheduler.gang import PackConstraint, PodGang, PodGroup
from grove.scheduler.pods import PodInfo, Shape
from grove.scheduler.topology import ClusterState, Domain, NodeInfo, TopologyTree

__all__ = ["Plan", "PlanFailure", "PlanInput", "PlanResult", "plan_gang"]


@dataclass(frozen=True, slots=True)
class PlanInput:
    """What to plan.

    ``pods`` holds every pod the gang references (the ledger stands in a sibling's spec for a pod it has not
    seen yet); ``fixed`` maps pods already bound to their nodes: they count toward ``minReplicas`` and pin the
    domains of their units; ``excluded`` lists, per pod, nodes kube-scheduler has rejected for it.
    """

    gang: PodGang
    pods: Mapping[str, PodInfo]
    fixed: Mapping[str, str] = field(default_factory=dict)
    excluded: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Plan:
    """A placement: ``assignments`` (pod → node) for every pod placed now, ``unplanned`` optional pods that
    did not fit, the gang's domain, and the units whose preferred constraint could not be met."""

    assignments: dict[str, str]
    unplanned: tuple[str, ...]
    domain: str
    preferred_dropped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlanFailure:
    """The gang cannot be placed. ``incomplete`` means pods are missing (wait), not that capacity is."""

    message: str
    incomplete: bool = False


PlanResult = Plan | PlanFailure


@dataclass(eq=False)
class _Unit:
    label: str
    required: int | None
    preferred: int | None
    children: list[_Unit]
    pods: list[tuple[str, int]] = field(default_factory=list)  # (pod key, shape id) to place as required
    optional: list[tuple[str, int]] = field(default_factory=list)
    fixed_nodes: list[str] = field(default_factory=list)
    demand: list[int] = field(default_factory=list)
    count: int = 0
    chosen: Domain | None = None

    def walk(self) -> Iterator[_Unit]:
        yield self
        for c in self.children:
            yield from c.walk()


class _Infeasible(Exception):
    def __init__(self, message: str, incomplete: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.incomplete = incomplete


class _Planner:
    def __init__(self, state: ClusterState, inp: PlanInput) -> None:
        self.state = state
        self.inp = inp
        self.gang = inp.gang
        self.shapes: list[Shape] = []
        self._shape_ids: dict[Shape, int] = {}
        self.pod_shape: dict[str, int] = {}
        for key in self.gang.pod_keys():
            pod = inp.pods.get(key)
            if pod is None or key in inp.fixed:
                continue
            shape = pod.shape
            if inp.excluded.get(key):
                shape = Shape(shape.requests, shape.placement, inp.excluded[key])
            sid = self._shape_ids.setdefault(shape, len(self.shapes))
            if sid == len(self.shapes):
                self.shapes.append(shape)
            self.pod_shape[key] = sid
        names = {PODS}
        for shape in self.shapes:
            names.update(r for r, v in shape.requests if v > 0)
        self.resources: tuple[str, ...] = tuple(sorted(names))
        index = {r: i for i, r in enumerate(self.resources)}
        self.shape_req: list[list[int]] = []
        self.shape_div: list[list[tuple[int, int]]] = []
        for shape in self.shapes:
            vec = [0] * len(self.resources)
            for r, v in shape.requests:
                if v > 0:
                    vec[index[r]] = v
            self.shape_req.append(vec)
            self.shape_div.append([(i, v) for i, v in enumerate(vec) if v > 0])
        self.tree = self._choose_tree()
        self._node_free: dict[str, list[int]] = {}
        self._dom_used: dict[tuple[str, ...], list[int]] = {}
        self._node_pods: dict[str, int] = {}
        self._pods_index = self.resources.index(PODS)
        self._elig: list[dict[str, bool]] = [{} for _ in self.shapes]
        self.journal: list[tuple[str, str, int]] = []
        self.assign: dict[str, str] = {}
        self.best_failure: tuple[int, str] | None = None
        root_alloc = self.tree.root.allocatable
        self._scale = [max(1, root_alloc.get(r, 0)) for r in self.resources]

    # ---- setup

    def _choose_tree(self) -> TopologyTree:
        required: set[str] = set()
        preferred: set[str] = set()
        constraints = [self.gang.constraint]
        constraints += [g.constraint for g in self.gang.podgroups]
        constraints += [c.constraint for c in self.gang.group_configs]
        for c in constraints:
            if c.required:
                required.add(c.required)
            if c.preferred:
                preferred.add(c.preferred)
        tree = self.state.tree_for(self.gang.topology_name, required | preferred)
        if tree is None:
            tree = self.state.tree_for(self.gang.topology_name, required)
        if tree is None:
            where = f"ClusterTopologyBinding {self.gang.topology_name}" if self.gang.topology_name else "any"
            raise _Infeasible(
                f"gang {self.gang.key}: pack key(s) {', '.join(sorted(required))} are not levels of {where}"
                " ClusterTopologyBinding"
            )
        return tree

    def _depth(self, key: str | None) -> int | None:
        return None if key is None else self.tree.depth_of_key(key)

    def build_units(self, all_required: bool) -> _Unit:
        """The unit tree; with ``all_required`` every unbound pod is required, else only up to minReplicas."""
        groups: dict[str, _Unit] = {}
        for g in self.gang.podgroups:
            groups[g.name] = self._group_unit(g, all_required)
        in_config: set[str] = set()
        children: list[_Unit] = []
        for cfg in self.gang.group_configs:
            members = [groups[n] for n in cfg.pod_group_names]
            in_config.update(cfg.pod_group_names)
            children.append(self._composite(f"group config {cfg.name}", cfg.constraint, members))
        children += [groups[g.name] for g in self.gang.podgroups if g.name not in in_config]
        return self._composite(f"gang {self.gang.key}", self.gang.constraint, children)

    def _group_unit(self, g: PodGroup, all_required: bool) -> _Unit:
        fixed = [self.inp.fixed[k] for k in g.pods if k in self.inp.fixed]
        # Smallest pods first: when only minReplicas must fit, the ones most likely to fit are required.
        free = sorted((k for k in g.pods if k in self.pod_shape), key=lambda k: (self._size(k), k))
        need = max(0, g.min_replicas - len(fixed))
        if need > len(free):
            raise _Infeasible(
                f"gang {self.gang.key}: pod group {g.name} needs {g.min_replicas} pods, "
                f"{len(fixed) + len(free)} exist",
                incomplete=True,
            )
        take = len(free) if all_required else need
        unit = self._composite(f"pod group {g.name}", g.constraint, [])
        unit.pods = [(k, self.pod_shape[k]) for k in free[:take]]
        unit.optional = [(k, self.pod_shape[k]) for k in free[take:]]
        unit.fixed_nodes = fixed
        self._total(unit)
        return unit

    def _weight(self, amounts: list[int]) -> float:
        """Amounts as a sum of cluster shares: how hard they are to fit."""
        return sum(v / s for v, s in zip(amounts, self._scale, strict=True))

    def _size(self, pod: str) -> float:
        return self._weight(self.shape_req[self.pod_shape[pod]])

    def _composite(self, label: str, c: PackConstraint, children: list[_Unit]) -> _Unit:
        unit = _Unit(label, self._depth(c.required), self._depth(c.preferred), children)
        for child in children:
            unit.fixed_nodes += child.fixed_nodes
        self._total(unit)
        return unit

    def _total(self, unit: _Unit) -> None:
        demand = [0] * len(self.resources)
        count = 0
        for _, sid in unit.pods:
            req = self.shape_req[sid]
            for i, v in enumerate(req):
                demand[i] += v
            count += 1
        for child in unit.children:
            for i, v in enumerate(child.demand):
                demand[i] += v
            count += child.count
        unit.demand = demand
        unit.count = count

    # ---- capacity views (snapshot + this plan's own placements)

    def node_free(self, node: NodeInfo) -> list[int]:
        free = self._node_free.get(node.name)
        if free is None:
            f = node.free
            free = [f.get(r, 0) for r in self.resources]
            self._node_free[node.name] = free
        return free

    def dom_free(self, d: Domain) -> list[int]:
        f = d.free
        used = self._dom_used.get(d.id)
        if used is None:
            return [f.get(r, 0) for r in self.resources]
        return [f.get(r, 0) - u for r, u in zip(self.resources, used, strict=True)]

    def eligible(self, sid: int, node: NodeInfo) -> bool:
        cache = self._elig[sid]
        ok = cache.get(node.name)
        if ok is None:
            shape = self.shapes[sid]
            ok = node.name not in shape.excluded and shape.placement.allows(node.facts)
            cache[node.name] = ok
        return ok

    def node_count(self, sid: int, node: NodeInfo) -> int:
        if not self.eligible(sid, node):
            return 0
        free = self.node_free(node)
        return min(free[i] // v for i, v in self.shape_div[sid])

    def count(self, sid: int, d: Domain, memo: dict[tuple[str, ...], int]) -> int:
        c = memo.get(d.id)
        if c is None:
            c = sum(self.node_count(sid, n) for n in d.nodes.values())
            c += sum(self.count(sid, child, memo) for child in d.children.values())
            memo[d.id] = c
        return c

    # ---- tentative placement with rollback

    def _put(self, pod: str, sid: int, node: NodeInfo) -> None:
        req = self.shape_req[sid]
        free = self.node_free(node)
        for i, v in enumerate(req):
            free[i] -= v
        domain: Domain | None = self.tree.node_domain[node.name]
        while domain is not None:
            used = self._dom_used.get(domain.id)
            if used is None:
                self._dom_used[domain.id] = list(req)
            else:
                for i, v in enumerate(req):
                    used[i] += v
            domain = domain.parent
        self._node_pods[node.name] = self._node_pods.get(node.name, 0) + 1
        self.assign[pod] = node.name
        self.journal.append((pod, node.name, sid))

    def rollback(self, mark: int) -> None:
        while len(self.journal) > mark:
            pod, node_name, sid = self.journal.pop()
            del self.assign[pod]
            self._node_pods[node_name] -= 1
            req = self.shape_req[sid]
            free = self._node_free[node_name]
            for i, v in enumerate(req):
                free[i] += v
            domain: Domain | None = self.tree.node_domain[node_name]
            while domain is not None:
                used = self._dom_used[domain.id]
                for i, v in enumerate(req):
                    used[i] -= v
                domain = domain.parent

    # ---- units

    def _pinned(self, unit: _Unit, depth: int) -> Domain | None:
        if not unit.fixed_nodes:
            return None
        votes: Counter[tuple[str, ...]] = Counter()
        domains: dict[tuple[str, ...], Domain] = {}
        for node in unit.fixed_nodes:
            d = self.tree.domain_of(node, depth)
            if d is not None:
                votes[d.id] += 1
                domains[d.id] = d
        if not votes:
            return None
        best = max(votes.items(), key=lambda kv: (kv[1], kv[0]))[0]
        return domains[best]

    def _candidates(self, unit: _Unit, scope: Domain, depth: int) -> list[Domain]:
        """Domains at ``depth`` inside ``scope`` whose free sums hold the unit, best first.

        Best is the least left over (of the unit's dominant resource first) in the domain itself; between
        equally tight domains, the least left over in its parent, then grandparent, up to ``scope``. So a
        rack gang that finds no partly used rack opens an empty rack in the fullest block, not in an empty
        block: emptier domains at every level stay whole for the gangs that need them.
        """
        demand = unit.demand
        dominant = sorted(range(len(demand)), key=lambda i: (-demand[i] / self._scale[i], i))
        left: dict[tuple[str, ...], list[int]] = {}

        def left_over(d: Domain) -> list[int]:
            rest = left.get(d.id)
            if rest is None:
                free = self.dom_free(d)
                rest = left[d.id] = [free[i] - demand[i] for i in dominant]
            return rest

        scored: list[tuple[list[list[int]], tuple[str, ...], Domain]] = []
        for d in self.tree.domains_at(depth, scope):
            own = left_over(d)
            if min(own) < 0:
                continue
            key = [own]
            parent = d.parent
            while parent is not None and parent.depth > scope.depth:
                key.append(left_over(parent))
                parent = parent.parent
            scored.append((key, d.id, d))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [d for _, _, d in scored]

    def place(self, unit: _Unit, scope: Domain) -> bool:
        """Place ``unit`` inside ``scope`` honouring its constraints; on failure nothing stays placed."""
        req = unit.required if unit.required is not None and unit.required > scope.depth else None
        pref = unit.preferred if unit.preferred is not None and unit.preferred > scope.depth else None
        if req is not None and pref is not None and pref <= req:
            pref = None
        attempts: list[int | None] = [pref] if pref is not None else []
        attempts.append(req)
        for depth in attempts:
            if depth is None:
                mark = len(self.journal)
                if self.place_inside(unit, scope):
                    unit.chosen = scope
                    return True
                self.rollback(mark)
                return False
            # Pods already bound pin the unit: its preferred domain can only be the one they are in (any
            # other already breaks the preference, and may break the requirement), its required one too.
            pinned = self._pinned(unit, depth)
            candidates = [pinned] if pinned is not None else self._candidates(unit, scope, depth)
            if pinned is None and depth != req and req is not None:
                outer_pin = self._pinned(unit, req)
                if outer_pin is not None:
                    candidates = [c for c in candidates if _inside(c, outer_pin)]
            # Failures inside candidates are collected apart: a missed preference is no reason to report,
            # and a missed requirement is reported by this unit, quoting the best inner reason.
            outer, self.best_failure = self.best_failure, None
            tried = False
            for cand in candidates:
                if not _inside(cand, scope):
                    continue
                tried = True
                mark = len(self.journal)
                if self.place_inside(unit, cand):
                    unit.chosen = cand
                    self.best_failure = outer
                    return True
                self.rollback(mark)
            inner, self.best_failure = self.best_failure, outer
            if depth == req:
                self._fail_boundary(unit, scope, depth, pinned, inner[1] if tried and inner else None)
                return False
        return False

    def place_inside(self, unit: _Unit, scope: Domain) -> bool:
        order = sorted(unit.children, key=lambda u: (-(u.required or 0), -self._weight(u.demand), u.label))
        for k, child in enumerate(order):
            if not self.place(child, scope):
                if k and self.best_failure is not None and self.best_failure[0] == len(self.assign):
                    where = self.tree.describe(scope)
                    note = f" (after placing {k} of the {len(order)} parts of {unit.label} in {where})"
                    self.best_failure = (self.best_failure[0], self.best_failure[1] + note)
                return False
        by_shape: dict[int, list[str]] = {}
        for pod, sid in unit.pods:
            by_shape.setdefault(sid, []).append(pod)
        for sid in sorted(by_shape, key=lambda s: -len(by_shape[s])):
            pods = by_shape[sid]
            placed = self.fill(sid, scope, len(pods), {}, iter(pods))
            if placed < len(pods):
                self._fail_shape(unit, scope, sid, len(pods), placed)
                return False
        unit.chosen = scope
        return True

    def fill_optional(self, unit: _Unit) -> list[str]:
        """Place as many optional pods as fit in the unit's chosen domain; returns those left out."""
        left: list[str] = []
        scope = unit.chosen or self.tree.root
        by_shape: dict[int, list[str]] = {}
        for pod, sid in unit.optional:
            by_shape.setdefault(sid, []).append(pod)
        for sid, pods in by_shape.items():
            n = self.fill(sid, scope, len(pods), {}, iter(pods))
            left += pods[n:]
        return left

    def fill(
        self, sid: int, d: Domain, need: int, memo: dict[tuple[str, ...], int], pods: Iterator[str]
    ) -> int:
        """Place up to ``need`` pods of one shape in ``d``, fewest domains first; returns how many.

        The tightest child that holds them all wins (one already hosting this gang first); children are
        ranked by their free sums, an upper bound, so exact counts are computed only where needed. When no
        child holds them all: among domains, the roomiest children first and the tightest one for the rest
        (the fewest domains); among nodes, best fit: the nodes with the least room first, then the tightest
        one for the rest, so whole nodes stay free for large pods.
        """
        items: list[tuple[int, str, Domain | NodeInfo]] = []
        for node in d.nodes.values():
            c = self.node_count(sid, node)
            if c:
                items.append((c, node.name, node))
        div = self.shape_div[sid]
        for name, child in d.children.items():
            free = self.dom_free(child)
            bound = min(free[i] // v for i, v in div)
            if bound > 0:
                items.append((bound, name, child))
        items.sort(key=lambda t: (t[0], t[1]))
        for near in (True, False):
            for bound, _, item in items:
                if bound < need or (near and not self._hosts_gang(item)):
                    continue
                if isinstance(item, NodeInfo) or self.count(sid, item, memo) >= need:
                    self._take(sid, item, need, memo, pods)
                    return need
        exact = [(self.exact(sid, item, memo), name, item) for _, name, item in items]
        exact = sorted((t for t in exact if t[0] > 0), key=lambda t: (t[0], t[1]))
        counts = [t[0] for t in exact]
        placed = 0
        if all(isinstance(t[2], NodeInfo) or t[2].node_count == 1 for t in exact):
            # Nodes: best fit. Fill the nodes with the least room first, so the emptier nodes stay whole
            # for large pods; the rest goes to the tightest node that holds it.
            lo = 0
            while need > 0 and lo < len(exact):
                i = bisect.bisect_left(counts, need, lo)
                if i < len(exact):
                    pick = next((t[2] for t in exact[i:] if self._hosts_gang(t[2])), exact[i][2])
                    self._take(sid, pick, need, memo, pods)
                    return placed + need
                c, _, item = exact[lo]
                self._take(sid, item, c, memo, pods)
                placed += c
                need -= c
                lo += 1
            return placed
        hi = len(exact)
        while need > 0 and hi > 0:
            i = bisect.bisect_left(counts, need, 0, hi)
            if i < hi:
                pick = next((t[2] for t in exact[i:hi] if self._hosts_gang(t[2])), exact[i][2])
                self._take(sid, pick, need, memo, pods)
                return placed + need
            hi -= 1
            c, _, item = exact[hi]
            self._take(sid, item, c, memo, pods)
            placed += c
            need -= c
        return placed

    def exact(self, sid: int, item: Domain | NodeInfo, memo: dict[tuple[str, ...], int]) -> int:
        """How many pods of the shape fit in a node or a domain."""
        return self.node_count(sid, item) if isinstance(item, NodeInfo) else self.count(sid, item, memo)

    def _hosts_gang(self, item: Domain | NodeInfo) -> bool:
        if isinstance(item, NodeInfo):
            return self._node_pods.get(item.name, 0) > 0
        used = self._dom_used.get(item.id)
        return used is not None and used[self._pods_index] > 0

    def _take(
        self, sid: int, item: Domain | NodeInfo, n: int, memo: dict[tuple[str, ...], int], pods: Iterator[str]
    ) -> None:
        if isinstance(item, NodeInfo):
            for _ in range(n):
                self._put(next(pods), sid, item)
        else:
            self.fill(sid, item, n, memo, pods)

    # ---- failure messages

    def _record(self, message: str) -> None:
        progress = len(self.assign)
        # At equal progress the later record wins: it comes from an enclosing unit and says more.
        if self.best_failure is None or progress >= self.best_failure[0]:
            self.best_failure = (progress, message)

    def _would_record(self) -> bool:
        return self.best_failure is None or len(self.assign) >= self.best_failure[0]

    def _prefix(self, unit: _Unit) -> str:
        gang = f"gang {self.gang.key}"
        return gang if unit.label == gang else f"{gang}: {unit.label}"

    def _summary(self, unit: _Unit) -> str:
        parts = []
        ordered = sorted(
            (r for r in self.resources if r != PODS),
            key=lambda r: (r not in ("cpu", "memory"), r != "cpu", r),
        )
        for r in ordered:
            amount = unit.demand[self.resources.index(r)]
            if amount:
                parts.append(format_amount(r, amount))
        pods = f"{unit.count} pod" + ("" if unit.count == 1 else "s")
        return f"{pods} ({', '.join(parts)})" if parts else pods

    def _fits_in(self, unit: _Unit, d: Domain) -> int:
        """How many of the unit's required pods fit in ``d`` when placed shape by shape (for messages)."""
        mark = len(self.journal)
        placed = 0
        by_shape: dict[int, list[str]] = {}
        for u in unit.walk():
            for pod, sid in u.pods:
                by_shape.setdefault(sid, []).append(pod)
        for sid, pods in by_shape.items():
            placed += self.fill(sid, d, len(pods), {}, iter(pods))
        self.rollback(mark)
        return placed

    def _largest_fit(self, unit: _Unit, domains: list[Domain]) -> int:
        """The most of the unit's pods any one of ``domains`` holds (exact, pruned by domain free sums)."""
        per_shape: Counter[int] = Counter(sid for u in unit.walk() for _, sid in u.pods)
        bounds = []
        for d in domains:
            free = self.dom_free(d)
            ub = 0
            for sid, n in per_shape.items():
                ub += min(n, min(free[i] // v for i, v in self.shape_div[sid]))
            bounds.append((ub, d.id, d))
        bounds.sort(key=lambda t: (-t[0], t[1]))
        best = 0
        for ub, _, d in bounds:
            if ub <= best or best >= unit.count:
                break
            best = max(best, self._fits_in(unit, d))
        return best

    def _fail_boundary(
        self, unit: _Unit, scope: Domain, depth: int, pinned: Domain | None, inner: str | None
    ) -> None:
        if not self._would_record():
            return
        level = self.tree.level_name(depth)
        where = f"in one {level}" if scope.depth == 0 else f"in one {level} of {self.tree.describe(scope)}"
        head = f"{self._prefix(unit)} needs {self._summary(unit)} {where}"
        reason = inner.removeprefix(f"gang {self.gang.key}: ") if inner else None
        if pinned is not None:
            fits = self._fits_in(unit, pinned)
            held = f"its bound pods hold it to {self.tree.describe(pinned)}"
            if fits < unit.count or reason is None:
                self._record(f"{head}; {held}, which fits {fits}")
            else:
                self._record(f"{head}; {held}, where {reason}")
            return
        domains = self.tree.domains_at(depth, scope)
        if not domains:
            self._record(f"{head}; no node carries the {level} label {self.tree.keys[depth - 1]}")
            return
        best = self._largest_fit(unit, domains)
        if best < unit.count or reason is None:
            self._record(f"{head}; the largest free {level} fits {best}")
        else:
            self._record(f"{head}; no {level} holds it: {reason}")

    def _fail_shape(self, unit: _Unit, scope: Domain, sid: int, need: int, have: int) -> None:
        if not self._would_record():
            return
        where = "" if scope.depth == 0 else f" in {self.tree.describe(scope)}"
        head = f"{self._prefix(unit)} needs {self._summary(unit)}{where}"
        eligible = sum(1 for n in scope.iter_nodes() if self.eligible(sid, n))
        if eligible == 0:
            self._record(f"{head}; no node there passes its tolerations, nodeSelector and node affinity")
            return
        self._record(f"{head}; only {have} fit" + ("" if scope.depth == 0 else " there"))

    # ---- result

    def preferred_dropped(self, root: _Unit) -> tuple[str, ...]:
        dropped = []
        for unit in root.walk():
            if unit.preferred is None:
                continue
            nodes = list(unit.fixed_nodes)
            for u in unit.walk():
                nodes += [self.assign[p] for p, _ in (*u.pods, *u.optional) if p in self.assign]
            ids = {d.id if (d := self.tree.domain_of(n, unit.preferred)) else None for n in nodes}
            if len(ids) > 1 or None in ids:
                dropped.append(unit.label)
        return tuple(dropped)


def _inside(d: Domain, scope: Domain) -> bool:
    return d.id[: scope.depth] == scope.id


def plan_gang(state: ClusterState, inp: PlanInput) -> PlanResult:
    """Plan every unbound pod of ``inp.gang`` at once, or explain in one message why the gang cannot fit.

    Pure: reads ``state``, never writes it. The caller reserves the returned plan.
    """
    try:
        planner = _Planner(state, inp)
        root = planner.build_units(all_required=True)
        has_optional = False
        if not planner.place(root, planner.tree.root):
            minimal = planner.build_units(all_required=False)
            has_optional = any(u.optional for u in minimal.walk())
            if has_optional:
                planner.best_failure = None
            if not has_optional or not planner.place(minimal, planner.tree.root):
                assert planner.best_failure is not None
                return PlanFailure(planner.best_failure[1])
            root = minimal
    except _Infeasible as e:
        return PlanFailure(e.message, e.incomplete)
    unplanned: list[str] = []
    if has_optional:
        for unit in root.walk():
            unplanned += planner.fill_optional(unit)
    return Plan(
        dict(planner.assign), tuple(sorted(unplanned)), _where(planner, root), planner.preferred_dropped(root)
    )


def _where(planner: _Planner, root: _Unit) -> str:
    """The gang's domain; for a gang packed only by its parts (scaling group replicas), theirs too."""
    if root.chosen is not None and root.chosen.depth > 0:
        return planner.tree.describe(root.chosen)
    parts = [
        f"{u.label} in {planner.tree.describe(u.chosen)}"
        for u in root.children
        if u.chosen is not None and u.chosen.depth > 0
    ]
    return "the cluster" + (f" ({'; '.join(parts)})" if parts else "")
