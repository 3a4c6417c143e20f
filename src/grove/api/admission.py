"""Admission of a PodCliqueSet manifest in one call: parse, default, validate (what the webhook does)."""

from __future__ import annotations

from typing import Any

from grove.api.defaults import default_podcliqueset
from grove.api.errors import GroveValidationError
from grove.api.podcliqueset import PodCliqueSet
from grove.api.topology import ClusterTopologyBinding
from grove.api.validation import validate_create, validate_update

__all__ = ["admit_create", "admit_update"]


def admit_create(data: Any, topology: ClusterTopologyBinding | None = None) -> PodCliqueSet:
    """The defaulted PodCliqueSet of manifest ``data``; raises :class:`GroveValidationError`."""
    pcs = default_podcliqueset(PodCliqueSet.from_dict(data))
    errors = validate_create(pcs, topology)
    if errors:
        raise GroveValidationError(errors, PodCliqueSet.KIND, pcs.metadata.name)
    return pcs


def admit_update(
    old: PodCliqueSet, data: Any, topology: ClusterTopologyBinding | None = None
) -> PodCliqueSet:
    """The defaulted update of ``old`` to manifest ``data``; raises :class:`GroveValidationError`."""
    pcs = default_podcliqueset(PodCliqueSet.from_dict(data))
    errors = validate_update(old, pcs, topology)
    if errors:
        raise GroveValidationError(errors, PodCliqueSet.KIND, pcs.metadata.name)
    return pcs
