"""Grove installed on a real control plane as ``hack/cluster/install.sh`` installs it: the CRDs, the
namespace, ServiceAccounts and RBAC of ``deploy/operator`` and ``deploy/scheduler``, and a kubeconfig per
ServiceAccount holding a token from the TokenRequest API, so the operator, its webhooks and the extender run
out of the cluster with exactly the permissions their pods would have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from grove.controllers.operator import install_crds
from grove.runtime.client import Client
from grove.runtime.resources import NAMESPACES, ROLE_BINDINGS, ROLES, SERVICE_ACCOUNTS, Resource

__all__ = [
    "DEPLOY_DIR",
    "FIELD_MANAGER",
    "MANIFESTS",
    "apply_manifests",
    "install_grove",
    "load_manifests",
    "service_account_token",
]

FIELD_MANAGER = "grove-envtest"
DEPLOY_DIR = Path(__file__).resolve().parents[3] / "deploy"
"""The repository's ``deploy/`` (this package runs from a source checkout: tests and ``grove dev``)."""
MANIFESTS = ("operator/namespace.yaml", "operator/rbac.yaml", "scheduler/rbac.yaml")
TOKEN_SECONDS = 7 * 24 * 3600

_RBAC = "rbac.authorization.k8s.io"
_KINDS: dict[tuple[str, str], Resource] = {
    ("v1", "Namespace"): NAMESPACES,
    ("v1", "ServiceAccount"): SERVICE_ACCOUNTS,
    (f"{_RBAC}/v1", "Role"): ROLES,
    (f"{_RBAC}/v1", "RoleBinding"): ROLE_BINDINGS,
    (f"{_RBAC}/v1", "ClusterRole"): Resource(_RBAC, "v1", "clusterroles", "ClusterRole", namespaced=False),
    (f"{_RBAC}/v1", "ClusterRoleBinding"): Resource(
        _RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
    ),
}


def load_manifests(deploy_dir: Path, files: Iterable[str] = MANIFESTS) -> list[dict[str, Any]]:
    """The YAML documents of ``files`` under ``deploy_dir``, in order; a clear error if one is missing."""
    docs: list[dict[str, Any]] = []
    for name in files:
        path = deploy_dir / name
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: missing; Grove's manifests come from the repository's deploy/ directory"
            )
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


async def apply_manifests(client: Client, docs: Iterable[Mapping[str, Any]]) -> None:
    """Server-side apply each document (namespaces, ServiceAccounts and RBAC only)."""
    for doc in docs:
        key = (doc.get("apiVersion", ""), doc.get("kind", ""))
        resource = _KINDS.get(key)
        if resource is None:
            raise ValueError(f"{key[1]} {doc.get('metadata', {}).get('name')}: not a kind envtest installs")
        await client.apply(resource, doc, field_manager=FIELD_MANAGER, force=True)


async def service_account_token(
    client: Client, namespace: str, name: str, seconds: int = TOKEN_SECONDS
) -> str:
    """A token for ServiceAccount ``namespace/name`` from the TokenRequest API (as a projected volume
    would get)."""
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": seconds},
    }
    answer = await client.create(SERVICE_ACCOUNTS, request, namespace, name=name, subresource="token")
    token: str = answer["status"]["token"]
    return token


async def install_grove(client: Client, deploy_dir: Path = DEPLOY_DIR) -> None:
    """CRDs (established), then ``deploy/``'s namespace, ServiceAccounts and RBAC."""
    await install_crds(client)
    await apply_manifests(client, load_manifests(deploy_dir))
