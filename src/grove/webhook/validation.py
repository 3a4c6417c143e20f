"""The validating webhooks: PodCliqueSet create/update and ClusterTopologyBinding.

The rules live in :mod:`grove.api.validation`; this module turns them into admission responses, adds
what needs the cluster (the ClusterTopologyBinding a PodCliqueSet names) and the warnings upstream gives.
Every field error is reported at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from grove.api.constants import GROVE_GROUP, SUPPORTED_SCHEDULERS
from grove.api.defaults import default_podcliqueset
from grove.api.errors import FieldError, GroveValidationError, Path, duplicate, invalid, not_supported
from grove.api.podcliqueset import PodCliqueSet
from grove.api.topology import ClusterTopologyBinding
from grove.api.validation import validate_create, validate_update
from grove.api.validation.topology import constrained_levels
from grove.webhook import review
from grove.webhook.review import JSON, AdmissionRequest

__all__ = [
    "TopologyLookup",
    "clustertopology_errors",
    "handle_validate_clustertopology",
    "handle_validate_podcliqueset",
    "topology_warnings",
]

log = structlog.get_logger("grove.webhook.validation")

TopologyLookup = Callable[[str], Awaitable[ClusterTopologyBinding | None]]
"""Fetches the ClusterTopologyBinding called ``name`` (None when it does not exist)."""


def _topology_name(pcs: PodCliqueSet) -> tuple[str, Path] | None:
    for level in constrained_levels(pcs):
        if level.topology_name:
            return level.topology_name, level.path.child("topologyName")
    return None


def topology_warnings(pcs: PodCliqueSet, topology: ClusterTopologyBinding | None) -> list[str]:
    """Constraints whose preferred domain is broader than their required one: the preference is moot."""
    if topology is None:
        return []
    domains = topology.domains()
    out: list[str] = []
    for level in constrained_levels(pcs):
        required, preferred = level.constraint.required_domain(), level.constraint.preferred_domain()
        if (
            required in domains
            and preferred in domains
            and domains.index(preferred) < domains.index(required)
        ):
            out.append(
                f'{level.path.child("pack", "preferred")}: "{preferred}" is broader than the required '
                f'"{required}", so the preference has no effect'
            )
    return out


def _invalid(req: AdmissionRequest, kind: str, errors: list[FieldError], warnings: list[str]) -> JSON:
    name = req.name or str(((req.object or {}).get("metadata") or {}).get("name") or "")
    log.info(
        "admission.denied",
        kind=kind,
        name=name,
        namespace=req.namespace,
        operation=req.operation,
        errors=len(errors),
        dry_run=req.dry_run,
    )
    return review.invalid(kind, GROVE_GROUP, name, errors, warnings)


async def handle_validate_podcliqueset(req: AdmissionRequest, lookup: TopologyLookup) -> JSON:
    """The admission response of the PodCliqueSet validating webhook for ``req``."""
    if req.operation not in ("CREATE", "UPDATE"):
        return review.allowed()
    if req.kind != PodCliqueSet.KIND or req.object is None:
        return review.errored(400, f"expected a PodCliqueSet object, got kind {req.kind!r}")
    try:
        # Defaulting first keeps the rules meaningful when the defaulting webhook is not installed;
        # after it ran, this changes nothing.
        pcs = default_podcliqueset(PodCliqueSet.from_dict(req.object))
    except GroveValidationError as e:
        return _invalid(req, PodCliqueSet.KIND, e.errors, [])
    ref = _topology_name(pcs)
    topology = await lookup(ref[0]) if ref is not None else None
    if req.operation == "CREATE":
        errors = validate_create(pcs, topology)
        if ref is not None and topology is None:
            errors.append(invalid(ref[1], ref[0], f'ClusterTopologyBinding "{ref[0]}" not found'))
    else:
        if req.old_object is None:
            return review.errored(400, "an UPDATE request must carry oldObject")
        if (req.old_object.get("metadata") or {}).get("deletionTimestamp"):
            # Only finalizers can change on an object being deleted; never block its cleanup.
            return review.allowed()
        try:
            old = default_podcliqueset(PodCliqueSet.from_dict(req.old_object))
        except GroveValidationError as e:
            return review.errored(500, f"the stored PodCliqueSet cannot be read: {e}")
        errors = validate_update(old, pcs, topology)
    warnings = topology_warnings(pcs, topology)
    if errors:
        return _invalid(req, PodCliqueSet.KIND, errors, warnings)
    log.info(
        "pcs.admitted",
        name=req.name,
        namespace=req.namespace,
        operation=req.operation,
        warnings=len(warnings),
        dry_run=req.dry_run,
    )
    return review.allowed(warnings)


def clustertopology_errors(ct: ClusterTopologyBinding) -> list[FieldError]:
    """Upstream's ClusterTopologyBinding rules: unique domains, unique keys, one binding per scheduler."""
    errors: list[FieldError] = []
    levels = Path("spec", "levels")
    domains: set[str] = set()
    keys: set[str] = set()
    for i, level in enumerate(ct.spec.levels):
        if level.domain in domains:
            errors.append(duplicate(levels.index(i).child("domain"), level.domain))
        if level.key in keys:
            errors.append(duplicate(levels.index(i).child("key"), level.key))
        domains.add(level.domain)
        keys.add(level.key)
    bindings = Path("spec", "schedulerTopologyBindings")
    schedulers: set[str] = set()
    for i, binding in enumerate(ct.spec.scheduler_topology_bindings):
        path = bindings.index(i).child("schedulerName")
        if binding.scheduler_name in schedulers:
            errors.append(duplicate(path, binding.scheduler_name))
        elif binding.scheduler_name not in SUPPORTED_SCHEDULERS:
            errors.append(not_supported(path, binding.scheduler_name, list(SUPPORTED_SCHEDULERS)))
        schedulers.add(binding.scheduler_name)
    return errors


def handle_validate_clustertopology(req: AdmissionRequest) -> JSON:
    """The admission response of the ClusterTopologyBinding validating webhook for ``req``."""
    if req.operation not in ("CREATE", "UPDATE"):
        return review.allowed()
    if req.kind != ClusterTopologyBinding.KIND or req.object is None:
        return review.errored(400, f"expected a ClusterTopologyBinding object, got kind {req.kind!r}")
    try:
        ct = ClusterTopologyBinding.from_dict(req.object)
    except GroveValidationError as e:
        return _invalid(req, ClusterTopologyBinding.KIND, e.errors, [])
    errors = clustertopology_errors(ct)
    if errors:
        return _invalid(req, ClusterTopologyBinding.KIND, errors, [])
    return review.allowed()
