"""Rules for updates of a PodCliqueSet: what may not change once created."""

from __future__ import annotations

from typing import Any

from grove.api.constants import STARTUP_EXPLICIT, STARTUP_IN_ORDER
from grove.api.errors import FieldError, Path, forbidden, invalid
from grove.api.podcliqueset import PodCliqueSet
from grove.api.topology import TopologyConstraint
from grove.api.validation.template import TEMPLATE, effective_scheduler

__all__ = ["update_errors"]

_IMMUTABLE = "field is immutable"


def _immutable(path: Path, old: Any, new: Any) -> list[FieldError]:
    return [] if old == new else [invalid(path, new, _IMMUTABLE)]


def _dump(value: Any) -> Any:
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value.to_dict() if hasattr(value, "to_dict") else value


def update_errors(old: PodCliqueSet, new: PodCliqueSet) -> list[FieldError]:
    """Changes that upstream's webhook forbids on update."""
    errors: list[FieldError] = []
    ot, nt = old.spec.template, new.spec.template
    errors += _immutable(TEMPLATE.child("cliqueStartupType"), ot.clique_startup_type, nt.clique_startup_type)
    errors += _immutable(
        TEMPLATE.child("resourceClaimTemplates"),
        _dump(ot.resource_claim_templates),
        _dump(nt.resource_claim_templates),
    )
    errors += _immutable(
        TEMPLATE.child("resourceSharing"), _dump(ot.resource_sharing), _dump(nt.resource_sharing)
    )
    errors += _topology_update(
        ot.topology_constraint, nt.topology_constraint, TEMPLATE.child("topologyConstraint")
    )

    old_names = [c.name for c in ot.cliques]
    new_names = [c.name for c in nt.cliques]
    if sorted(old_names) != sorted(new_names):
        errors.append(forbidden(TEMPLATE.child("cliques"), "cliques may not be added, removed or renamed"))
    elif old_names != new_names and nt.clique_startup_type in (STARTUP_IN_ORDER, STARTUP_EXPLICIT):
        errors.append(
            forbidden(TEMPLATE.child("cliques"), f"clique order may not change with {nt.clique_startup_type}")
        )
    old_cliques = {c.name: c for c in ot.cliques}
    for k, clique in enumerate(nt.cliques):
        before = old_cliques.get(clique.name)
        if before is None:
            continue
        cp = TEMPLATE.child("cliques").index(k)
        sp = cp.child("spec")
        errors += _immutable(
            sp.child("roleName"), before.spec.role_name or before.name, clique.spec.role_name or clique.name
        )
        errors += _immutable(sp.child("minAvailable"), before.spec.min_available, clique.spec.min_available)
        errors += _immutable(sp.child("startsAfter"), before.spec.starts_after, clique.spec.starts_after)
        errors += _immutable(
            sp.child("podSpec", "schedulerName"),
            effective_scheduler(before.spec.pod_spec),
            effective_scheduler(clique.spec.pod_spec),
        )
        errors += _immutable(
            cp.child("resourceSharing"), _dump(before.resource_sharing), _dump(clique.resource_sharing)
        )
        errors += _topology_update(
            before.topology_constraint, clique.topology_constraint, cp.child("topologyConstraint")
        )

    old_groups = {g.name: g for g in ot.pod_clique_scaling_groups}
    if sorted(old_groups) != sorted(g.name for g in nt.pod_clique_scaling_groups):
        errors.append(
            forbidden(
                TEMPLATE.child("podCliqueScalingGroups"),
                "podCliqueScalingGroups may not be added, removed or renamed",
            )
        )
    for k, group in enumerate(nt.pod_clique_scaling_groups):
        before_group = old_groups.get(group.name)
        if before_group is None:
            continue
        gp = TEMPLATE.child("podCliqueScalingGroups").index(k)
        errors += _immutable(gp.child("cliqueNames"), before_group.clique_names, group.clique_names)
        errors += _immutable(gp.child("minAvailable"), before_group.min_available, group.min_available)
        errors += _immutable(
            gp.child("resourceSharing"), _dump(before_group.resource_sharing), _dump(group.resource_sharing)
        )
        errors += _topology_update(
            before_group.topology_constraint, group.topology_constraint, gp.child("topologyConstraint")
        )
    return errors


def _topology_update(
    old: TopologyConstraint | None, new: TopologyConstraint | None, path: Path
) -> list[FieldError]:
    """Constraints are immutable, except two repairs of legacy objects.

    Allowed: adding topologyName where it was empty, and moving a packDomain value to pack.required.
    """
    if old is None and new is None:
        return []
    if old is None or new is None:
        return [invalid(path, new.to_dict() if new else None, _IMMUTABLE)]
    same_domains = (old.required_domain(), old.preferred_domain()) == (
        new.required_domain(),
        new.preferred_domain(),
    )
    name_ok = old.topology_name == new.topology_name or (not old.topology_name and bool(new.topology_name))
    if same_domains and name_ok:
        return []
    return [invalid(path, new.to_dict(), _IMMUTABLE)]
