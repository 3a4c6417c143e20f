"""Topology constraint rules (upstream ``validation/topologyconstraints.go`` and the CRD's CEL rules)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from grove.api.errors import FieldError, Path, forbidden, invalid, required
from grove.api.podcliqueset import PodCliqueSet
from grove.api.topology import DOMAIN_PATTERN, ClusterTopologyBinding, TopologyConstraint
from grove.api.validation.template import TEMPLATE

__all__ = ["ConstrainedLevel", "constrained_levels", "topology_errors"]

_DOMAIN = re.compile(DOMAIN_PATTERN)


@dataclass(frozen=True)
class ConstrainedLevel:
    """A topology constraint at one level, with the constraint of its nearest constrained ancestor."""

    path: Path
    constraint: TopologyConstraint
    topology_name: str | None
    parent: ConstrainedLevel | None


def constrained_levels(pcs: PodCliqueSet) -> list[ConstrainedLevel]:
    """Every topology constraint of the PodCliqueSet, PCS first, then groups, then cliques."""
    t = pcs.spec.template
    out: list[ConstrainedLevel] = []
    root: ConstrainedLevel | None = None
    if t.topology_constraint is not None:
        root = ConstrainedLevel(
            TEMPLATE.child("topologyConstraint"),
            t.topology_constraint,
            t.topology_constraint.topology_name,
            None,
        )
        out.append(root)
    group_levels: dict[str, ConstrainedLevel | None] = {}
    for k, group in enumerate(t.pod_clique_scaling_groups):
        level = root
        if group.topology_constraint is not None:
            tc = group.topology_constraint
            level = ConstrainedLevel(
                TEMPLATE.child("podCliqueScalingGroups").index(k).child("topologyConstraint"),
                tc,
                tc.topology_name or (root.topology_name if root else None),
                root,
            )
            out.append(level)
        for name in group.clique_names:
            group_levels.setdefault(name, level)
    for k, clique in enumerate(t.cliques):
        if clique.topology_constraint is None:
            continue
        parent = group_levels.get(clique.name, root)
        tc = clique.topology_constraint
        out.append(
            ConstrainedLevel(
                TEMPLATE.child("cliques").index(k).child("topologyConstraint"),
                tc,
                tc.topology_name or (parent.topology_name if parent else None),
                parent,
            )
        )
    return out


def topology_errors(
    pcs: PodCliqueSet, topology: ClusterTopologyBinding | None, create: bool
) -> list[FieldError]:
    """Problems of the topology constraints; domains are checked against ``topology`` when it is given."""
    errors: list[FieldError] = []
    levels = constrained_levels(pcs)
    first_name: tuple[str, Path] | None = None
    for level in levels:
        tc, path = level.constraint, level.path
        if tc.pack is None and not tc.pack_domain:
            errors.append(required(path.child("pack"), "topologyConstraint must specify pack"))
        elif tc.pack is not None and not tc.pack.required and not tc.pack.preferred:
            errors.append(
                required(path.child("pack"), "pack must specify at least one of required or preferred")
            )
        if tc.pack_domain and tc.pack is not None and tc.pack.required:
            errors.append(
                forbidden(path.child("pack", "required"), "must not set both pack.required and packDomain")
            )
        if create and tc.pack_domain:
            errors.append(
                forbidden(
                    path.child("packDomain"),
                    "packDomain is deprecated and cannot be used on new workloads; use pack.required",
                )
            )
        for field, domain in _domains(tc):
            if not _DOMAIN.match(domain) or len(domain) > 63:
                errors.append(
                    invalid(
                        path.child(*field), domain, f"must match {DOMAIN_PATTERN} (at most 63 characters)"
                    )
                )
        if not level.topology_name:
            errors.append(
                required(
                    path.child("topologyName"), "set topologyName here or on an enclosing topologyConstraint"
                )
            )
            continue
        if first_name is None:
            first_name = (level.topology_name, path)
        elif level.topology_name != first_name[0]:
            errors.append(
                invalid(
                    path.child("topologyName"),
                    level.topology_name,
                    "all topology constraints must use the same topologyName; "
                    f'{first_name[1]} uses "{first_name[0]}"',
                )
            )
            continue
        if topology is not None:
            errors += _binding_errors(level, topology)
    return errors


def _domains(tc: TopologyConstraint) -> list[tuple[tuple[str, ...], str]]:
    out: list[tuple[tuple[str, ...], str]] = []
    if tc.pack is not None and tc.pack.required:
        out.append((("pack", "required"), tc.pack.required))
    if tc.pack is not None and tc.pack.preferred:
        out.append((("pack", "preferred"), tc.pack.preferred))
    if tc.pack_domain:
        out.append((("packDomain",), tc.pack_domain))
    return out


def _binding_errors(level: ConstrainedLevel, topology: ClusterTopologyBinding) -> list[FieldError]:
    path = level.path
    if level.topology_name != topology.metadata.name:
        return [invalid(path.child("topologyName"), level.topology_name, "no such ClusterTopologyBinding")]
    domains = topology.domains()
    errors: list[FieldError] = []
    for field, domain in _domains(level.constraint):
        if domain not in domains:
            errors.append(
                invalid(
                    path.child(*field),
                    domain,
                    f'not a level of ClusterTopologyBinding "{topology.metadata.name}" '
                    f"(levels: {', '.join(domains)})",
                )
            )
    required_field = (
        ("pack", "required") if level.constraint.pack and level.constraint.pack.required else ("packDomain",)
    )
    for kind, mine, field in (
        ("required", level.constraint.required_domain(), required_field),
        ("preferred", level.constraint.preferred_domain(), ("pack", "preferred")),
    ):
        ancestor = _ancestor_domain(level.parent, kind)
        if mine is None or ancestor is None or mine not in domains or ancestor[0] not in domains:
            continue
        if domains.index(mine) < domains.index(ancestor[0]):
            errors.append(
                invalid(
                    path.child(*field),
                    mine,
                    f'must be equal to or narrower than "{ancestor[0]}" ({kind} by {ancestor[1]})',
                )
            )
    return errors


def _ancestor_domain(level: ConstrainedLevel | None, kind: str) -> tuple[str, Path] | None:
    while level is not None:
        tc = level.constraint
        domain = tc.required_domain() if kind == "required" else tc.preferred_domain()
        if domain:
            return domain, level.path
        level = level.parent
    return None
