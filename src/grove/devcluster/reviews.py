"""Access and identity reviews: the create-only, never-stored kinds of authorization.k8s.io/v1 and
authentication.k8s.io/v1 that ``kubectl auth can-i`` and ``kubectl auth whoami`` post.

The dev cluster authenticates every request as one user and authorizes everything (kube-apiserver with
``--authorization-mode=AlwaysAllow``), so access reviews answer allowed and rules reviews list the
``*`` rules ``AlwaysAllow`` reports; a self-subject review returns that user.
"""

from __future__ import annotations

from typing import Any

from grove.devcluster import errors
from grove.devcluster.resources import ResourceType

JSON = dict[str, Any]

AUTHORIZATION = "authorization.k8s.io"
AUTHENTICATION = "authentication.k8s.io"

# Who every request is: kube-apiserver's name for a client-certificate superuser.
USER: JSON = {"username": "system:admin", "groups": ["system:masters", "system:authenticated"]}

_ACCESS_REVIEWS = ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview")


def review_types() -> list[ResourceType]:
    """The review kinds, each served with the ``create`` verb only."""
    create = ("create",)

    def review(group: str, kind: str, namespaced: bool = False) -> ResourceType:
        plural = kind.lower() + "s"
        return ResourceType(group, "v1", kind, plural, kind.lower(), namespaced, verbs=create)

    return [
        review(AUTHORIZATION, "SelfSubjectAccessReview"),
        review(AUTHORIZATION, "SelfSubjectRulesReview"),
        review(AUTHORIZATION, "SubjectAccessReview"),
        review(AUTHORIZATION, "LocalSubjectAccessReview", namespaced=True),
        review(AUTHENTICATION, "SelfSubjectReview"),
    ]


def is_review(rtype: ResourceType) -> bool:
    """Whether ``rtype`` is one of the review kinds (answered, never stored)."""
    return rtype.group in (AUTHORIZATION, AUTHENTICATION) and rtype.verbs == ("create",)


def answer(rtype: ResourceType, body: Any, namespace: str | None) -> JSON:
    """The review ``body`` with its status filled in, as kube-apiserver returns it (with 201)."""
    if not isinstance(body, dict):
        raise errors.bad_request("the body of the request must be a JSON object")
    spec: JSON = body["spec"] if isinstance(body.get("spec"), dict) else {}
    status: JSON
    if rtype.kind in _ACCESS_REVIEWS:
        _validate_access(rtype, spec, namespace)
        status = {"allowed": True}
    elif rtype.kind == "SelfSubjectRulesReview":
        if not spec.get("namespace"):
            raise errors.invalid(rtype.kind, rtype.group, "", [errors.required("spec.namespace")])
        status = {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    else:
        status = {"userInfo": dict(USER)}
    metadata: JSON = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
    out: JSON = {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": {**metadata}}
    out["metadata"].setdefault("creationTimestamp", None)
    if rtype.kind != "SelfSubjectReview":
        out["spec"] = spec
    out["status"] = status
    return out


def _validate_access(rtype: ResourceType, spec: JSON, namespace: str | None) -> None:
    """kube's ``ValidateSubjectAccessReviewSpec`` and friends: exactly one kind of attributes, a subject
    for SubjectAccessReviews, and a LocalSubjectAccessReview's namespace matching the URL's."""
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    causes: list[errors.Cause] = []
    if (resource is None) == (non_resource is None):
        causes.append(
            errors.invalid_value(
                "spec.resourceAttributes",
                resource,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        )
    if rtype.kind in ("SubjectAccessReview", "LocalSubjectAccessReview") and not (
        spec.get("user") or spec.get("groups")
    ):
        causes.append(
            errors.invalid_value(
                "spec.user", spec.get("user", ""), "at least one of user or group must be specified"
            )
        )
    if causes:
        raise errors.invalid(rtype.kind, rtype.group, "", causes)
    if rtype.kind == "LocalSubjectAccessReview":
        attr_ns = (resource or {}).get("namespace", "") if isinstance(resource, dict) else ""
        if not attr_ns:
            if isinstance(resource, dict):
                resource["namespace"] = namespace
        elif attr_ns != namespace:
            raise errors.bad_request(f"spec.resourceAttributes.namespace must match namespace: {namespace}")
