"""RBAC rule evaluation over the manifests of ``deploy/``, as kube-apiserver's RBAC authorizer decides.

A request ``(verb, group, resource, subresource, namespace, name)`` is allowed for a ServiceAccount when a
rule of a ClusterRole bound by a ClusterRoleBinding, or of a Role bound in the request's namespace, matches
it: the group in ``apiGroups``, ``resource`` or ``resource/subresource`` in ``resources`` (``*`` matches
anything), the verb in ``verbs``, and ``name`` in ``resourceNames`` when that is set (a create of a new
object has no name, so ``resourceNames`` never allows it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grove.devcluster.requestlog import RequestAttributes

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@dataclass(frozen=True)
class Grant:
    """One policy rule, with the namespace it applies in ("" for a ClusterRole's, everywhere)."""

    rule: Mapping[str, Any]
    namespace: str

    def allows(self, r: RequestAttributes) -> bool:
        """True when this rule authorizes ``r``."""
        if self.namespace and self.namespace != r.namespace:
            return False
        rule = self.rule
        resource = f"{r.resource}/{r.subresource}" if r.subresource else r.resource
        names = rule.get("resourceNames") or []
        return (
            _has(rule.get("apiGroups"), r.group)
            and _has(rule.get("resources"), resource)
            and _has(rule.get("verbs"), r.verb)
            and (not names or r.name in names)
        )


def _has(values: Sequence[str] | None, value: str) -> bool:
    return bool(values) and ("*" in values or value in values)  # type: ignore[operator]


def load_manifests(*files: Path) -> list[dict[str, Any]]:
    """Every document of ``files``."""
    docs: list[dict[str, Any]] = []
    for f in files:
        docs.extend(d for d in yaml.safe_load_all(f.read_text()) if d)
    return docs


def grants_of(docs: Iterable[Mapping[str, Any]], namespace: str, service_account: str) -> list[Grant]:
    """The rules the ServiceAccount ``namespace/service_account`` holds through the bindings in ``docs``
    (roles not defined in ``docs``, such as ``system:kube-scheduler``, are not counted)."""
    docs = list(docs)
    roles = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}
    grants: list[Grant] = []
    for d in docs:
        if d.get("kind") not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not any(
            s.get("kind") == "ServiceAccount"
            and s.get("name") == service_account
            and s.get("namespace") == namespace
            for s in d.get("subjects") or ()
        ):
            continue
        binding_ns = d["metadata"].get("namespace", "") if d["kind"] == "RoleBinding" else ""
        ref = d["roleRef"]
        role_ns = binding_ns if ref["kind"] == "Role" else ""
        role = roles.get((ref["kind"], role_ns, ref["name"]))
        if role is not None:
            grants.extend(Grant(rule, binding_ns) for rule in role.get("rules") or ())
    return grants


def role_grants(role: Mapping[str, Any]) -> list[Grant]:
    """The rules of a Role object, in its namespace."""
    return [Grant(rule, role["metadata"]["namespace"]) for rule in role.get("rules") or ()]


def denied(requests: Iterable[RequestAttributes], grants: Sequence[Grant]) -> list[RequestAttributes]:
    """The requests no grant allows, sorted."""
    return sorted(
        (r for r in requests if not any(g.allows(r) for g in grants)),
        key=lambda r: (r.group, r.resource, r.subresource, r.verb, r.namespace, r.name),
    )


def rule_requests(rules: Iterable[Mapping[str, Any]], namespace: str) -> list[RequestAttributes]:
    """Every (verb, group, resource) a list of rules grants, as requests in ``namespace`` (what a creator of
    a Role with these rules must hold itself: RBAC forbids granting permissions one does not have)."""
    out = []
    for rule in rules:
        for group in rule.get("apiGroups") or ():
            for resource in rule.get("resources") or ():
                base, _, sub = resource.partition("/")
                for verb in rule.get("verbs") or ():
                    out.append(RequestAttributes("", verb, group, base, sub, namespace, ""))
    return out
