"""admission.k8s.io/v1 ``AdmissionReview``: parsing requests and building responses.

Responses follow controller-runtime's conventions: a denial carries a ``metav1.Status``; a rejection for
broken field values is a 422 ``Invalid`` Status whose ``details.causes`` name each field, which kubectl
prints exactly like an API server's own validation error::

    The PodCliqueSet "x" is invalid: spec.template.cliques[0].name: Invalid value: "A": ...
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from grove.api.errors import FieldError

__all__ = [
    "ADMISSION_API_VERSION",
    "AdmissionRequest",
    "BadReview",
    "allowed",
    "denied",
    "errored",
    "invalid",
    "parse_review",
    "patched",
    "review_response",
]

ADMISSION_API_VERSION = "admission.k8s.io/v1"

JSON = dict[str, Any]


class BadReview(ValueError):
    """The HTTP body is not an AdmissionReview this server can answer."""


@dataclass(frozen=True)
class AdmissionRequest:
    """The ``request`` of an AdmissionReview (the fields Grove's webhooks use)."""

    uid: str
    operation: str
    group: str
    version: str
    kind: str
    resource: str
    sub_resource: str
    name: str
    namespace: str
    object: JSON | None
    old_object: JSON | None
    dry_run: bool
    username: str
    raw: JSON = field(repr=False)


def _section(req: JSON, key: str) -> JSON:
    value = req.get(key)
    return value if isinstance(value, dict) else {}


def parse_review(body: bytes) -> AdmissionRequest:
    """The request of an ``admission.k8s.io/v1`` AdmissionReview; raises :class:`BadReview`."""
    try:
        review = json.loads(body)
    except ValueError as e:
        raise BadReview(f"couldn't decode the AdmissionReview: {e}") from None
    if not isinstance(review, dict):
        raise BadReview("the AdmissionReview must be a JSON object")
    if review.get("apiVersion") != ADMISSION_API_VERSION or review.get("kind") != "AdmissionReview":
        raise BadReview(
            f"expected an {ADMISSION_API_VERSION} AdmissionReview, got "
            f"{review.get('apiVersion')!r} {review.get('kind')!r}"
        )
    req = review.get("request")
    if not isinstance(req, dict) or not req.get("uid"):
        raise BadReview("the AdmissionReview has no request (or the request has no uid)")
    kind = _section(req, "kind")
    resource = _section(req, "resource")
    obj = req.get("object")
    old = req.get("oldObject")
    user = _section(req, "userInfo")
    return AdmissionRequest(
        uid=str(req["uid"]),
        operation=str(req.get("operation") or ""),
        group=str(kind.get("group") or ""),
        version=str(kind.get("version") or ""),
        kind=str(kind.get("kind") or ""),
        resource=str(resource.get("resource") or ""),
        sub_resource=str(req.get("subResource") or ""),
        name=str(req.get("name") or ""),
        namespace=str(req.get("namespace") or ""),
        object=obj if isinstance(obj, dict) else None,
        old_object=old if isinstance(old, dict) else None,
        dry_run=bool(req.get("dryRun")),
        username=str(user.get("username") or ""),
        raw=req,
    )


def allowed(warnings: Sequence[str] = ()) -> JSON:
    """An admission response that lets the request through."""
    out: JSON = {"allowed": True}
    if warnings:
        out["warnings"] = list(warnings)
    return out


def patched(operations: Sequence[JSON], warnings: Sequence[str] = ()) -> JSON:
    """An allowing response that applies a JSON patch (no patch when ``operations`` is empty)."""
    out = allowed(warnings)
    if operations:
        out["patchType"] = "JSONPatch"
        out["patch"] = base64.b64encode(json.dumps(list(operations)).encode()).decode()
    return out


def denied(code: int, reason: str, message: str, warnings: Sequence[str] = ()) -> JSON:
    """A denial with a plain Status (``reason`` is a metav1.StatusReason such as Forbidden)."""
    out: JSON = {
        "allowed": False,
        "status": {"metadata": {}, "status": "Failure", "code": code, "reason": reason, "message": message},
    }
    if warnings:
        out["warnings"] = list(warnings)
    return out


def errored(code: int, message: str) -> JSON:
    """controller-runtime's ``Errored``: the webhook could not judge the request."""
    return {
        "allowed": False,
        "status": {"metadata": {}, "status": "Failure", "code": code, "message": message},
    }


def invalid(
    kind: str, group: str, name: str, errors: Sequence[FieldError], warnings: Sequence[str] = ()
) -> JSON:
    """A 422 Invalid denial listing every field error, as ``apierrors.NewInvalid`` builds it."""
    qualified = f"{kind}.{group}" if group else kind
    texts = [str(e) for e in errors]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details: JSON = {"name": name, "group": group, "kind": kind, "causes": [e.to_cause() for e in errors]}
    out: JSON = {
        "allowed": False,
        "status": {
            "metadata": {},
            "status": "Failure",
            "message": f'{qualified} "{name}" is invalid: {joined}',
            "reason": "Invalid",
            "details": {k: v for k, v in details.items() if v or k == "name"},
            "code": 422,
        },
    }
    if warnings:
        out["warnings"] = list(warnings)
    return out


def review_response(uid: str, response: JSON) -> JSON:
    """The AdmissionReview carrying ``response`` for the request ``uid``."""
    return {
        "apiVersion": ADMISSION_API_VERSION,
        "kind": "AdmissionReview",
        "response": {"uid": uid, **response},
    }
