"""The identity of the start-up init container: ServiceAccount, Role, RoleBinding and its token Secret.

Upstream ``podcliqueset/components/{serviceaccount,role,rolebinding,satokensecret}``: one set per
PodCliqueSet. ``grove-initc`` mounts the token Secret at the service account path and uses it to watch the
pods of its PodGang, which is all the Role allows.
"""

from __future__ import annotations

from typing import Any

from grove.api import labels, naming
from grove.api.meta import OwnerReference

__all__ = ["build_role", "build_role_binding", "build_service_account", "build_token_secret"]

SA_TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"


def _metadata(
    pcs: str, namespace: str, name: str, component: str, owner: OwnerReference | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": labels.managed_labels(pcs, component, name),
    }
    if owner is not None:
        out["ownerReferences"] = [owner.to_dict()]
    return out


def build_service_account(pcs: str, namespace: str, owner: OwnerReference | None = None) -> dict[str, Any]:
    """ServiceAccount ``<pcs>``."""
    name = naming.service_account_name(pcs)
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(pcs, namespace, name, labels.COMPONENT_SERVICE_ACCOUNT, owner),
        "automountServiceAccountToken": False,
    }


def build_role(pcs: str, namespace: str, owner: OwnerReference | None = None) -> dict[str, Any]:
    """Role ``grove.io:pcs:<pcs>``: read pods and their status (what ``grove initc`` needs)."""
    name = naming.role_name(pcs)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(pcs, namespace, name, labels.COMPONENT_ROLE, owner),
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "pods/status"], "verbs": ["get", "list", "watch"]}
        ],
    }


def build_role_binding(pcs: str, namespace: str, owner: OwnerReference | None = None) -> dict[str, Any]:
    """RoleBinding ``grove.io:pcs:<pcs>`` of the Role to the ServiceAccount."""
    name = naming.role_binding_name(pcs)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(pcs, namespace, name, labels.COMPONENT_ROLE_BINDING, owner),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": naming.role_name(pcs)},
        "subjects": [
            {"kind": "ServiceAccount", "name": naming.service_account_name(pcs), "namespace": namespace}
        ],
    }


def build_token_secret(pcs: str, namespace: str, owner: OwnerReference | None = None) -> dict[str, Any]:
    """Secret ``<pcs>-ic-sat`` of type service-account-token (the token controller fills in the token)."""
    name = naming.initc_secret_name(pcs)
    meta = _metadata(pcs, namespace, name, labels.COMPONENT_SA_TOKEN_SECRET, owner)
    meta["annotations"] = {SA_NAME_ANNOTATION: naming.service_account_name(pcs)}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": SA_TOKEN_SECRET_TYPE}
