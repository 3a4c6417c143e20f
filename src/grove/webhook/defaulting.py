"""The PodCliqueSet defaulting webhook: the defaults of :func:`grove.api.defaults.default_podcliqueset`
as a JSON patch against the object the API server sent.

Only ``spec`` and ``metadata.namespace`` are ever touched, and only where a default applies, so the patch
of an already defaulted object is empty.
"""

from __future__ import annotations

import copy
from typing import Any

import structlog

from grove.api.defaults import default_podcliqueset
from grove.api.errors import GroveValidationError
from grove.api.podcliqueset import PodCliqueSet
from grove.webhook.jsonpatch import diff
from grove.webhook.review import JSON, AdmissionRequest, allowed, errored, patched

__all__ = ["default_patch", "handle_default"]

log = structlog.get_logger("grove.webhook.defaulting")


def default_patch(obj: dict[str, Any]) -> list[JSON]:
    """The JSON patch that defaults the PodCliqueSet manifest ``obj``.

    Raises :class:`GroveValidationError` when ``obj`` is not a PodCliqueSet the model can read.
    """
    defaulted = default_podcliqueset(PodCliqueSet.from_dict(obj)).to_dict()
    target = copy.deepcopy(obj)
    target["spec"] = defaulted["spec"]
    md = target.get("metadata")
    if isinstance(md, dict) and not md.get("namespace"):
        md["namespace"] = defaulted["metadata"]["namespace"]
    return diff(obj, target)


def handle_default(req: AdmissionRequest) -> JSON:
    """The admission response of the defaulting webhook for ``req``."""
    if req.operation not in ("CREATE", "UPDATE"):
        return allowed()
    if req.kind != PodCliqueSet.KIND or req.object is None:
        return errored(400, f"expected a PodCliqueSet object, got kind {req.kind!r}")
    try:
        ops = default_patch(req.object)
    except GroveValidationError as e:
        # A manifest the model cannot read is left as it is: schema validation and the validating webhook
        # report every broken field, which is clearer than a defaulting failure.
        log.info("pcs.default_skipped", name=req.name, namespace=req.namespace, errors=len(e.errors))
        return allowed()
    log.info(
        "pcs.defaulted",
        name=req.name or (req.object.get("metadata") or {}).get("generateName", ""),
        namespace=req.namespace,
        operation=req.operation,
        changes=len(ops),
        dry_run=req.dry_run,
    )
    return patched(ops)
