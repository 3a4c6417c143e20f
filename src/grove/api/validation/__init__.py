"""Validation of PodCliqueSets, as upstream's validating webhook (create and update).

Call it on a defaulted object (:func:`grove.api.defaults.default_podcliqueset`), as admission does. Every
function returns all the errors it finds.
"""

from __future__ import annotations

from grove.api.errors import FieldError
from grove.api.podcliqueset import PodCliqueSet
from grove.api.topology import ClusterTopologyBinding
from grove.api.validation.names import name_length_errors
from grove.api.validation.template import template_errors
from grove.api.validation.topology import topology_errors
from grove.api.validation.update import update_errors

__all__ = ["validate_create", "validate_existing", "validate_update"]


def validate_create(pcs: PodCliqueSet, topology: ClusterTopologyBinding | None = None) -> list[FieldError]:
    """Every rule a new PodCliqueSet breaks.

    ``topology`` is the ClusterTopologyBinding its constraints name; None skips the checks against levels.
    """
    return (
        template_errors(pcs, create=True)
        + topology_errors(pcs, topology, create=True)
        + name_length_errors(pcs)
    )


def validate_existing(
    pcs: PodCliqueSet, topology: ClusterTopologyBinding | None = None, *, first_generation: bool
) -> list[FieldError]:
    """Every rule a PodCliqueSet the API server already stored breaks, for a controller on a cluster without
    the admission webhook: the create rules for its first generation, otherwise the rules any update must
    keep (immutability cannot be checked without the previous version).
    """
    return (
        template_errors(pcs, create=first_generation)
        + topology_errors(pcs, topology, create=first_generation)
        + name_length_errors(pcs)
    )


def validate_update(
    old: PodCliqueSet, new: PodCliqueSet, topology: ClusterTopologyBinding | None = None
) -> list[FieldError]:
    """Every rule the updated PodCliqueSet ``new`` breaks, including changes to immutable fields."""
    return (
        template_errors(new, create=False)
        + topology_errors(new, topology, create=False)
        + name_length_errors(new)
        + update_errors(old, new)
    )
