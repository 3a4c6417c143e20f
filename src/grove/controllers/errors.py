"""Which reconcile errors the user can fix (reported in status.lastErrors) and which are transient."""

from __future__ import annotations

from grove.controllers.children import ChildConflict
from grove.controllers.conditions import ERR_REJECTED, ERR_RESOURCE_CONFLICT
from grove.controllers.status import ErrorRecord
from grove.runtime.errors import BadRequest, Forbidden, Invalid, NamespaceTerminating

__all__ = ["user_error"]


def user_error(exc: BaseException) -> ErrorRecord | None:
    """The lastErrors entry for ``exc``, or None for errors a retry fixes (conflicts, 5xx, timeouts...)
    and for creates refused because the namespace is being deleted (nothing to fix: it all goes away)."""
    if isinstance(exc, ChildConflict):
        return (ERR_RESOURCE_CONFLICT, str(exc))
    if isinstance(exc, NamespaceTerminating):
        return None
    if isinstance(exc, Invalid | BadRequest | Forbidden):
        return (ERR_REJECTED, str(exc))
    return None
