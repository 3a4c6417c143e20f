"""Built-in Kubernetes kinds: discovery data, defaults, validation and update rules (kube-apiserver's
``pkg/registry/*/strategy.go`` and the v1 defaulting functions, for the parts controllers depend on)."""

from __future__ import annotations

import base64
import ipaddress
import itertools
from typing import Any

from grove.devcluster import errors, kubeletapi, meta
from grove.devcluster.builtin_schemas import schema_for
from grove.devcluster.errors import Cause
from grove.devcluster.resources import (
    ResourceType,
    Strategy,
    default_field_getters,
)
from grove.devcluster.selectors import FieldGetter, path_getter

JSON = dict[str, Any]

METADATA_MERGE_KEYS = {"metadata.finalizers": "", "metadata.ownerReferences": "uid"}

_CONTAINER_KEYS = {
    "ports": "containerPort,protocol",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "resizePolicy": "resourceName",
}


def _pod_merge_keys(prefix: str) -> dict[str, str]:
    keys = {
        f"{prefix}containers": "name",
        f"{prefix}initContainers": "name",
        f"{prefix}ephemeralContainers": "name",
        f"{prefix}volumes": "name",
        f"{prefix}imagePullSecrets": "name",
        f"{prefix}hostAliases": "ip",
        f"{prefix}topologySpreadConstraints": "topologyKey,whenUnsatisfiable",
        f"{prefix}schedulingGates": "name",
        f"{prefix}resourceClaims": "name",
    }
    for c in ("containers", "initContainers", "ephemeralContainers"):
        for field, key in _CONTAINER_KEYS.items():
            keys[f"{prefix}{c}[].{field}"] = key
    return keys


POD_MERGE_KEYS = {
    **METADATA_MERGE_KEYS,
    **_pod_merge_keys("spec."),
    "status.conditions": "type",
    "status.podIPs": "ip",
    "status.hostIPs": "ip",
}

# ----------------------------------------------------------------------------- pods


def _default_container(c: Any) -> Any:
    if not isinstance(c, dict):
        return c
    d = dict(c)
    d.setdefault("terminationMessagePath", "/dev/termination-log")
    d.setdefault("terminationMessagePolicy", "File")
    if "imagePullPolicy" not in d:
        image = str(d.get("image", ""))
        tag = image.rsplit("/", 1)[-1]
        d["imagePullPolicy"] = "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent"
        if "@" in image:
            d["imagePullPolicy"] = "IfNotPresent"
    res = d.get("resources")
    if not isinstance(res, dict):
        d["resources"] = {}
    elif res.get("limits") and isinstance(res["limits"], dict):
        requests = dict(res.get("requests") or {})
        missing = {k: v for k, v in res["limits"].items() if k not in requests}
        if missing:
            requests.update(missing)
            d["resources"] = {**res, "requests": requests}
    ports = d.get("ports")
    if isinstance(ports, list):
        d["ports"] = [
            {**p, "protocol": p.get("protocol", "TCP")} if isinstance(p, dict) else p for p in ports
        ]
    return d


_DEFAULT_TOLERATIONS = (
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
)


def _pod_spec_defaults(spec: JSON) -> JSON:
    s = dict(spec)
    for field in ("containers", "initContainers"):
        if isinstance(s.get(field), list):
            s[field] = [_default_container(c) for c in s[field]]
    s.setdefault("restartPolicy", "Always")
    s.setdefault("terminationGracePeriodSeconds", 30)
    s.setdefault("dnsPolicy", "ClusterFirst")
    s.setdefault("securityContext", {})
    s.setdefault("schedulerName", "default-scheduler")
    s.setdefault("enableServiceLinks", True)
    if s.get("serviceAccount") and "serviceAccountName" not in s:
        s["serviceAccountName"] = s["serviceAccount"]
    if s.get("serviceAccountName"):
        s.setdefault("serviceAccount", s["serviceAccountName"])
    return s


def _qos_class(spec: JSON) -> str:
    containers = [
        c for c in (spec.get("containers") or []) + (spec.get("initContainers") or []) if isinstance(c, dict)
    ]
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req = res.get("requests") or {}
        lim = res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or req.get(r, lim.get(r)) != lim.get(r):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


_POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def _mask_mutable(spec: JSON, gated: bool) -> JSON:
    s = dict(spec)
    for field in ("containers", "initContainers"):
        if isinstance(s.get(field), list):
            s[field] = [
                {k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c for c in s[field]
            ]
    for field in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "schedulingGates"):
        s.pop(field, None)
    if gated:
        s.pop("nodeSelector", None)
        s.pop("affinity", None)
    return s


SCHEDULING_GATED_MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"


class PodStrategy(Strategy):
    """``pkg/registry/core/pod/strategy.go`` plus the admission defaults every cluster applies."""

    def prepare_create(self, rtype: ResourceType, obj: JSON) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        spec = _pod_spec_defaults(spec)
        obj["spec"] = spec
        status: JSON = {"phase": "Pending", "qosClass": _qos_class(spec)}
        if spec.get("schedulingGates"):
            # applySchedulingGatedCondition (kube-apiserver since 1.26, the PodSchedulingReadiness gate).
            status["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": meta.now_rfc3339(),
                    "reason": "SchedulingGated",
                    "message": SCHEDULING_GATED_MESSAGE,
                }
            ]
        obj["status"] = status

    def admit_create(self, rtype: ResourceType, obj: JSON) -> None:
        # ServiceAccount, DefaultTolerationSeconds and Priority admission plugins.
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        if not spec.get("serviceAccountName"):
            spec["serviceAccountName"] = "default"
            spec["serviceAccount"] = "default"
        tolerations = list(spec.get("tolerations") or [])
        for t in _DEFAULT_TOLERATIONS:
            if not any(
                isinstance(x, dict)
                and x.get("key") == t["key"]
                and x.get("effect") in (None, "", "NoExecute")
                for x in tolerations
            ):
                tolerations.append(dict(t))
        spec["tolerations"] = tolerations
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")

    def validate_create(self, rtype: ResourceType, obj: JSON) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec")]
        causes = _validate_pod_spec(spec)
        if spec.get("schedulingGates") and spec.get("nodeName"):
            causes.append(
                errors.forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared")
            )
        return causes

    def prepare_update(self, rtype: ResourceType, new: JSON, old: JSON) -> None:
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
        if isinstance(new.get("spec"), dict):
            new["spec"] = _pod_spec_defaults(new["spec"])

    def validate_update(self, rtype: ResourceType, new: JSON, old: JSON) -> list[Cause]:
        spec, old_spec = new.get("spec"), old.get("spec") or {}
        if not isinstance(spec, dict):
            return [errors.required("spec")]
        causes = _validate_pod_spec(spec)
        old_gates = {g.get("name") for g in old_spec.get("schedulingGates") or [] if isinstance(g, dict)}
        for g in spec.get("schedulingGates") or []:
            if isinstance(g, dict) and g.get("name") not in old_gates:
                causes.append(
                    errors.forbidden(
                        "spec.schedulingGates",
                        f"only deletion is allowed, but found new scheduling gate '{g.get('name')}'",
                    )
                )
        old_tol = old_spec.get("tolerations") or []
        if any(t not in (spec.get("tolerations") or []) for t in old_tol):
            causes.append(
                errors.forbidden(
                    "spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"
                )
            )
        gated = bool(old_spec.get("schedulingGates"))
        if _mask_mutable(spec, gated) != _mask_mutable(old_spec, gated):
            causes.append(errors.forbidden("spec", _POD_UPDATE_FORBIDDEN))
        return causes

    def grace_period(self, obj: JSON, requested: int | None) -> int:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        grace = spec.get("terminationGracePeriodSeconds", 30) if requested is None else requested
        if not spec.get("nodeName") or status.get("phase") in ("Failed", "Succeeded"):
            return 0
        return max(int(grace), 0)


def _validate_pod_spec(spec: JSON) -> list[Cause]:
    causes: list[Cause] = []
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [errors.required("spec.containers")]
    seen: set[str] = set()
    for field in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(field) or []):
            path = f"spec.{field}[{i}]"
            if not isinstance(c, dict):
                causes.append(errors.invalid_value(path, c, "must be an object"))
                continue
            name = c.get("name")
            if not name:
                causes.append(errors.required(f"{path}.name"))
            elif not isinstance(name, str):
                causes.append(errors.invalid_value(f"{path}.name", name, "must be a string"))
            else:
                causes.extend(meta.check_dns1123_label(f"{path}.name", name))
                if name in seen:
                    causes.append(Cause(f"{path}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"'))
                seen.add(name)
            if not c.get("image"):
                causes.append(errors.required(f"{path}.image"))
    rp = spec.get("restartPolicy")
    if rp not in ("Always", "OnFailure", "Never"):
        causes.append(errors.unsupported_value("spec.restartPolicy", rp, ["Always", "OnFailure", "Never"]))
    return causes


def bind(pod: JSON, binding: Any, now: float) -> JSON:
    """The pod after a ``Binding`` to ``binding.target.name`` (kube-apiserver's ``assignPod``)."""
    if not isinstance(binding, dict):
        raise errors.bad_request("the body of the request must be a Binding")
    target = binding.get("target") or {}
    node = target.get("name") if isinstance(target, dict) else None
    name = pod["metadata"]["name"]
    if not node:
        raise errors.invalid("Binding", "", name, [errors.required("target.name")])
    if target.get("kind") not in (None, "", "Node"):
        raise errors.invalid(
            "Binding", "", name, [errors.unsupported_value("target.kind", target.get("kind"), ["Node"])]
        )
    spec = pod.get("spec") or {}
    if pod["metadata"].get("deletionTimestamp"):
        raise errors.conflict("pods", "", name, f"pod {name} is being deleted, cannot be assigned to a host")
    if spec.get("nodeName"):
        raise errors.conflict(
            "pods", "", name, f'pod {name} is already assigned to node "{spec["nodeName"]}"'
        )
    if spec.get("schedulingGates"):
        raise errors.conflict("pods", "", name, f"pod {name} has non-empty .spec.schedulingGates")
    new = dict(pod)
    new["spec"] = {**spec, "nodeName": node}
    md = new["metadata"] = dict(pod["metadata"])
    extra = (binding.get("metadata") or {}).get("annotations")
    if extra:
        md["annotations"] = {**(md.get("annotations") or {}), **extra}
    status = dict(pod.get("status") or {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append(
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": meta.rfc3339(now),
        }
    )
    status["conditions"] = conditions
    new["status"] = status
    return new


# ----------------------------------------------------------------------------- other kinds

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")


class NamespaceStrategy(Strategy):
    """Namespaces: DNS-1123 label names, the ``kubernetes`` finalizer, Active/Terminating phase."""

    def validate_name(self, rtype: ResourceType, name: str, prefix: bool = False) -> list[Cause]:
        return meta.check_dns1123_label(meta.name_field(prefix), name, prefix)

    def prepare_create(self, rtype: ResourceType, obj: JSON) -> None:
        obj["status"] = {"phase": "Active"}
        raw = obj.get("spec")
        spec: JSON = raw if isinstance(raw, dict) else {}
        fins = list(spec.get("finalizers") or [])
        if "kubernetes" not in fins:
            fins.append("kubernetes")
        obj["spec"] = {**spec, "finalizers": fins}
        md = obj["metadata"]
        md["labels"] = {**(md.get("labels") or {}), "kubernetes.io/metadata.name": md.get("name", "")}

    def prepare_update(self, rtype: ResourceType, new: JSON, old: JSON) -> None:
        new["spec"] = old.get("spec", {})
        if "status" in old:
            new["status"] = old["status"]
        md = new["metadata"]
        md["labels"] = {**(md.get("labels") or {}), "kubernetes.io/metadata.name": old["metadata"]["name"]}

    def holds(self, obj: JSON) -> bool:
        return bool((obj.get("spec") or {}).get("finalizers"))

    def defer_delete(self, rtype: ResourceType, obj: JSON) -> bool:
        name = obj["metadata"]["name"]
        if name in PROTECTED_NAMESPACES:
            raise errors.forbidden_request("namespaces", "", name, "this namespace may not be deleted")
        if (obj.get("spec") or {}).get("finalizers"):
            obj["status"] = {**(obj.get("status") or {}), "phase": "Terminating"}
            return True
        return False


_cluster_ips = itertools.count(10)
_SERVICE_NET = ipaddress.IPv4Network("10.96.0.0/12")


class ServiceStrategy(Strategy):
    """Services: DNS-1035 names, ClusterIP allocation and the v1 defaults."""

    def validate_name(self, rtype: ResourceType, name: str, prefix: bool = False) -> list[Cause]:
        return meta.check_dns1035_label(meta.name_field(prefix), name, prefix)

    def prepare_create(self, rtype: ResourceType, obj: JSON) -> None:
        spec = dict(obj.get("spec") or {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("type") != "ExternalName":
            if not spec.get("clusterIP"):
                spec["clusterIP"] = str(_SERVICE_NET.network_address + next(_cluster_ips))
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        spec["ports"] = [_default_port(p) for p in spec.get("ports") or []]
        if not spec["ports"]:
            del spec["ports"]
        obj["spec"] = spec
        obj["status"] = {"loadBalancer": {}}

    def prepare_update(self, rtype: ResourceType, new: JSON, old: JSON) -> None:
        spec = dict(new.get("spec") or {})
        old_spec = old.get("spec") or {}
        for k in (
            "clusterIP",
            "clusterIPs",
            "ipFamilies",
            "ipFamilyPolicy",
            "type",
            "sessionAffinity",
            "internalTrafficPolicy",
        ):
            if k not in spec and k in old_spec:
                spec[k] = old_spec[k]
        if spec.get("ports"):
            spec["ports"] = [_default_port(p) for p in spec["ports"]]
        new["spec"] = spec
        if "status" in old:
            new["status"] = old["status"]

    def validate_update(self, rtype: ResourceType, new: JSON, old: JSON) -> list[Cause]:
        spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
        if old_spec.get("clusterIP") and spec.get("clusterIP") != old_spec.get("clusterIP"):
            return [
                errors.invalid_value("spec.clusterIPs[0]", spec.get("clusterIP"), "may not change once set")
            ]
        return []


def _default_port(p: Any) -> Any:
    if not isinstance(p, dict):
        return p
    d = dict(p)
    d.setdefault("protocol", "TCP")
    if "targetPort" not in d and "port" in d:
        d["targetPort"] = d["port"]
    return d


class SecretStrategy(Strategy):
    """Secrets: ``stringData`` folds into base64 ``data``; type defaults to Opaque."""

    def _fold(self, obj: JSON) -> None:
        obj.setdefault("type", "Opaque")
        sd = obj.pop("stringData", None)
        if isinstance(sd, dict) and sd:
            data = dict(obj.get("data") or {})
            for k, v in sd.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data

    def prepare_create(self, rtype: ResourceType, obj: JSON) -> None:
        self._fold(obj)

    def prepare_update(self, rtype: ResourceType, new: JSON, old: JSON) -> None:
        self._fold(new)

    def validate_create(self, rtype: ResourceType, obj: JSON) -> list[Cause]:
        causes: list[Cause] = []
        for k, v in (obj.get("data") or {}).items():
            try:
                base64.b64decode(str(v), validate=True)
            except ValueError:
                causes.append(
                    errors.invalid_value(f"data[{k}]", "<secret contents redacted>", "illegal base64 data")
                )
        return causes


class RbacStrategy(Strategy):
    """Roles, ClusterRoles and their bindings: kube-apiserver validates their names with
    ``ValidateRBACName`` (a path segment), not as DNS subdomains."""

    def validate_name(self, rtype: ResourceType, name: str, prefix: bool = False) -> list[Cause]:
        return meta.check_path_segment_name(meta.name_field(prefix), name)


class StatusResetStrategy(Strategy):
    """Kinds whose create ignores ``status`` (their status subresource owns it)."""

    def prepare_create(self, rtype: ResourceType, obj: JSON) -> None:
        obj.pop("status", None)


class NodeStrategy(Strategy):
    """Nodes keep the status they are registered with (the kubelet creates them)."""

    def prepare_update(self, rtype: ResourceType, new: JSON, old: JSON) -> None:
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)


# ------------------------------------------------------------------ events (core <-> events.k8s.io)

_EVENT_RENAMES = (
    ("reportingComponent", "reportingController"),
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
)


def _event_from_core(obj: JSON, api_version: str) -> JSON:
    out = {k: v for k, v in obj.items()}
    for core, new in _EVENT_RENAMES:
        if core in out:
            out[new] = out.pop(core)
    out["apiVersion"] = api_version
    return out


def _event_to_core(obj: JSON, api_version: str) -> JSON:
    out = {k: v for k, v in obj.items()}
    for core, new in _EVENT_RENAMES:
        if new in out:
            out[core] = out.pop(new)
    out["apiVersion"] = api_version
    return out


# ----------------------------------------------------------------------------- the table


def _getters(namespaced: bool, **paths: str) -> dict[str, FieldGetter]:
    g = default_field_getters(namespaced)
    for field, path in paths.items():
        g[field.replace("__", ".")] = path_getter(*path.split("."))
    return g


def _pod_getters() -> dict[str, FieldGetter]:
    g = _getters(
        True,
        spec__nodeName="spec.nodeName",
        spec__restartPolicy="spec.restartPolicy",
        spec__schedulerName="spec.schedulerName",
        spec__serviceAccountName="spec.serviceAccountName",
        status__phase="status.phase",
        status__podIP="status.podIP",
        status__nominatedNodeName="status.nominatedNodeName",
    )
    g["spec.hostNetwork"] = lambda o: "true" if (o.get("spec") or {}).get("hostNetwork") else "false"
    return g


def _event_getters() -> dict[str, FieldGetter]:
    g = _getters(
        True,
        reason="reason",
        reportingComponent="reportingComponent",
        source="source.component",
        type="type",
    )
    for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
        g[f"involvedObject.{f}"] = path_getter("involvedObject", f)
        g[f"regarding.{f}"] = path_getter("involvedObject", f)
    return g


def builtin_types() -> list[ResourceType]:
    """Every built-in resource the dev cluster serves (with the structural schema of its kind)."""
    from grove.devcluster.reviews import review_types
    from grove.devcluster.webhooks import admission_types

    types = _types() + admission_types() + review_types()
    for t in types:
        t.schema = schema_for(t.group, t.version, t.kind)
    return types


def _types() -> list[ResourceType]:
    core_status = ("get", "patch", "update")
    rbac = "rbac.authorization.k8s.io"
    return [
        ResourceType(
            "",
            "v1",
            "Namespace",
            "namespaces",
            "namespace",
            False,
            ("ns",),
            verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
            status_subresource=True,
            extra_subresources=(("finalize", "Namespace", ("update",)),),
            strategy=NamespaceStrategy(),
            field_getters=_getters(False, status__phase="status.phase"),
            merge_keys={**METADATA_MERGE_KEYS, "status.conditions": "type"},
            description="Namespace provides a scope for Names.",
        ),
        ResourceType(
            "",
            "v1",
            "Pod",
            "pods",
            "pod",
            True,
            ("po",),
            ("all",),
            status_subresource=True,
            extra_subresources=(
                ("binding", "Binding", ("create",)),
                ("eviction", "Eviction", ("create",)),
                *kubeletapi.SUBRESOURCES,
            ),
            has_generation=True,
            strategy=PodStrategy(),
            field_getters=_pod_getters(),
            merge_keys=POD_MERGE_KEYS,
            return_deleted_object=True,
            description="Pod is a collection of containers that can run on a host.",
        ),
        ResourceType(
            "",
            "v1",
            "Node",
            "nodes",
            "node",
            False,
            ("no",),
            status_subresource=True,
            strategy=NodeStrategy(),
            field_getters=_getters(False, spec__unschedulable="spec.unschedulable"),
            merge_keys={**METADATA_MERGE_KEYS, "status.conditions": "type", "status.addresses": "type"},
            description="Node is a worker node in Kubernetes.",
        ),
        ResourceType(
            "",
            "v1",
            "Service",
            "services",
            "service",
            True,
            ("svc",),
            ("all",),
            status_subresource=True,
            strategy=ServiceStrategy(),
            field_getters=_getters(True, spec__clusterIP="spec.clusterIP", spec__type="spec.type"),
            merge_keys={**METADATA_MERGE_KEYS, "spec.ports": "port,protocol", "status.conditions": "type"},
            description="Service is a named abstraction of software service.",
        ),
        ResourceType(
            "",
            "v1",
            "Endpoints",
            "endpoints",
            "endpoints",
            True,
            ("ep",),
            allow_create_on_update=True,
            merge_keys=dict(METADATA_MERGE_KEYS),
        ),
        ResourceType(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            "serviceaccount",
            True,
            ("sa",),
            merge_keys={**METADATA_MERGE_KEYS, "secrets": "name", "imagePullSecrets": "name"},
        ),
        ResourceType(
            "",
            "v1",
            "Secret",
            "secrets",
            "secret",
            True,
            strategy=SecretStrategy(),
            field_getters=_getters(True, type="type"),
            merge_keys=dict(METADATA_MERGE_KEYS),
        ),
        ResourceType(
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            "configmap",
            True,
            ("cm",),
            merge_keys=dict(METADATA_MERGE_KEYS),
        ),
        ResourceType(
            "",
            "v1",
            "Event",
            "events",
            "event",
            True,
            ("ev",),
            field_getters=_event_getters(),
            allow_create_on_update=True,
            merge_keys=dict(METADATA_MERGE_KEYS),
        ),
        ResourceType(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            "event",
            True,
            ("ev",),
            field_getters=_event_getters(),
            allow_create_on_update=True,
            to_storage=_event_to_core,
            from_storage=_event_from_core,
            storage_version="v1",
            storage_name="events",
            storage_group="",
        ),
        ResourceType(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            "lease",
            True,
            merge_keys=dict(METADATA_MERGE_KEYS),
        ),
        ResourceType(rbac, "v1", "Role", "roles", "role", True, strategy=RbacStrategy()),
        ResourceType(rbac, "v1", "RoleBinding", "rolebindings", "rolebinding", True, strategy=RbacStrategy()),
        ResourceType(
            rbac, "v1", "ClusterRole", "clusterroles", "clusterrole", False, strategy=RbacStrategy()
        ),
        ResourceType(
            rbac,
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            "clusterrolebinding",
            False,
            strategy=RbacStrategy(),
        ),
        ResourceType(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            "horizontalpodautoscaler",
            True,
            ("hpa",),
            ("all",),
            status_subresource=True,
            strategy=StatusResetStrategy(),
            merge_keys={**METADATA_MERGE_KEYS, "status.conditions": "type"},
        ),
        crd_type(core_status),
    ]


def crd_type(status_verbs: tuple[str, ...]) -> ResourceType:
    """The CustomResourceDefinition type itself."""
    from grove.devcluster.crds import CRDStrategy

    return ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        False,
        ("crd", "crds"),
        ("api-extensions",),
        status_subresource=True,
        has_generation=True,
        strategy=CRDStrategy(),
        merge_keys=dict(METADATA_MERGE_KEYS),
        description="CustomResourceDefinition represents a resource that should be exposed on the API "
        "server.",
    )


def bootstrap_objects() -> list[tuple[str, str | None, JSON]]:
    """(resource, namespace, object) every cluster starts with: namespaces and the ``kubernetes`` Service."""
    out: list[tuple[str, str | None, JSON]] = [
        ("namespaces", None, {"metadata": {"name": n}})
        for n in ("default", "kube-system", "kube-public", "kube-node-lease")
    ]
    out.append(
        (
            "services",
            "default",
            {
                "metadata": {
                    "name": "kubernetes",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "clusterIP": "10.96.0.1",
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                },
            },
        )
    )
    return out
