"""Rules on the structure of a PodCliqueSet spec (upstream ``webhook/admission/pcs/validation``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from grove.api.constants import DEFAULT_SCHEDULER, STARTUP_EXPLICIT, SUPPORTED_SCHEDULERS
from grove.api.duration import parse_duration
from grove.api.errors import FieldError, Path, duplicate, forbidden, invalid, not_supported, required
from grove.api.k8s_schema import shared_k8s_schema
from grove.api.podclique import AutoScalingConfig
from grove.api.podcliqueset import (
    PCSGResourceSharingSpec,
    PCSResourceSharingSpec,
    PodCliqueSet,
    PodCliqueSetTemplateSpec,
    ResourceSharingSpec,
)
from grove.api.schema_check import check_schema
from grove.api.validation.k8s_names import (
    DNS1035_LABEL_ERROR,
    DNS1123_LABEL_ERROR,
    annotation_errors,
    env_var_name_errors,
    is_dns1035_label,
    is_dns1123_label,
    label_errors,
)

__all__ = ["TEMPLATE", "effective_scheduler", "template_errors"]

TEMPLATE = Path("spec", "template")


def effective_scheduler(pod_spec: dict[str, Any]) -> str:
    """The scheduler a pod spec names, with "" meaning default-scheduler."""
    return str(pod_spec.get("schedulerName") or DEFAULT_SCHEDULER)


def template_errors(pcs: PodCliqueSet, create: bool) -> list[FieldError]:
    """Every structural problem of the PodCliqueSet (``create`` adds the create-only rules)."""
    errors: list[FieldError] = []
    name = pcs.metadata.name
    if not name:
        errors.append(required("metadata.name", "name or generateName is required"))
    elif not is_dns1035_label(name):
        errors.append(invalid("metadata.name", name, DNS1035_LABEL_ERROR))
    if pcs.spec.replicas < 0:
        errors.append(invalid("spec.replicas", pcs.spec.replicas, "must be greater than or equal to 0"))
    t = pcs.spec.template
    errors += _clique_errors(t, create)
    errors += _scheduler_errors(t)
    errors += _startup_errors(t)
    errors += _group_errors(t)
    errors += _termination_delay_errors(t)
    errors += _resource_errors(t)
    return errors


def _clique_errors(t: PodCliqueSetTemplateSpec, create: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    path = TEMPLATE.child("cliques")
    if not t.cliques:
        return [required(path, "at least one clique is required")]
    seen_names: set[str] = set()
    seen_roles: set[str] = set()
    grouped = {n: g.name for g in t.pod_clique_scaling_groups for n in g.clique_names}
    for k, clique in enumerate(t.cliques):
        cp = path.index(k)
        if not clique.name:
            errors.append(required(cp.child("name")))
        elif not is_dns1123_label(clique.name):
            errors.append(invalid(cp.child("name"), clique.name, DNS1123_LABEL_ERROR))
        elif clique.name in seen_names:
            errors.append(duplicate(cp.child("name"), clique.name))
        role = clique.spec.role_name or clique.name
        if role in seen_roles and clique.name not in seen_names:
            errors.append(
                duplicate(cp.child("spec", "roleName"), role, "roleName must be unique across cliques")
            )
        seen_names.add(clique.name)
        seen_roles.add(role)
        errors += label_errors(clique.labels, cp.child("labels"))
        errors += annotation_errors(clique.annotations, cp.child("annotations"))
        sp = cp.child("spec")
        spec = clique.spec
        if spec.replicas <= 0:
            errors.append(invalid(sp.child("replicas"), spec.replicas, "must be greater than 0"))
        min_available = spec.replicas if spec.min_available is None else spec.min_available
        if min_available <= 0:
            errors.append(invalid(sp.child("minAvailable"), min_available, "must be greater than 0"))
        elif spec.replicas > 0 and min_available > spec.replicas:
            errors.append(
                invalid(
                    sp.child("minAvailable"),
                    min_available,
                    f"must not be greater than replicas ({spec.replicas})",
                )
            )
        if spec.auto_scaling_config is not None:
            if clique.name in grouped:
                errors.append(
                    forbidden(
                        sp.child("autoScalingConfig"),
                        f'not allowed for a clique of podCliqueScalingGroup "{grouped[clique.name]}"; '
                        "set scaleConfig on the group instead",
                    )
                )
            else:
                errors += _scaling_errors(
                    spec.auto_scaling_config, spec.replicas, min_available, sp.child("autoScalingConfig")
                )
        errors += _pod_spec_errors(spec.pod_spec, sp.child("podSpec"), create)
    return errors


def _scaling_errors(
    cfg: AutoScalingConfig, replicas: int, min_available: int, path: Path
) -> list[FieldError]:
    errors: list[FieldError] = []
    p = path
    min_replicas = replicas if cfg.min_replicas is None else cfg.min_replicas
    if min_replicas < 1:
        errors.append(invalid(p.child("minReplicas"), min_replicas, "must be greater than 0"))
    elif min_replicas < min_available:
        errors.append(
            invalid(
                p.child("minReplicas"),
                min_replicas,
                f"must be greater than or equal to minAvailable ({min_available})",
            )
        )
    if cfg.max_replicas < min_replicas:
        errors.append(
            invalid(
                p.child("maxReplicas"),
                cfg.max_replicas,
                f"must be greater than or equal to minReplicas ({min_replicas})",
            )
        )
    elif cfg.max_replicas < replicas:
        errors.append(
            invalid(
                p.child("maxReplicas"),
                cfg.max_replicas,
                f"must be greater than or equal to replicas ({replicas})",
            )
        )
    metrics_schema = shared_k8s_schema("V2MetricSpec")
    for m, metric in enumerate(cfg.metrics):
        errors += check_schema(metric, metrics_schema, p.child("metrics").index(m))
    return errors


def _pod_spec_errors(pod_spec: dict[str, Any], path: Path, create: bool) -> list[FieldError]:
    errors = check_schema(pod_spec, shared_k8s_schema("V1PodSpec"), path)
    if create and pod_spec.get("nodeName"):
        errors.append(
            forbidden(path.child("nodeName"), "must not be set: Grove's scheduling places the pods")
        )
    if create and pod_spec.get("topologySpreadConstraints"):
        errors.append(
            forbidden(
                path.child("topologySpreadConstraints"),
                "must not be set: use topologyConstraint for topology-aware placement",
            )
        )
    errors += _container_errors(pod_spec, path)
    for kind in ("initContainers", "containers"):
        containers = pod_spec.get(kind)
        if not isinstance(containers, list):
            continue
        for c, container in enumerate(containers):
            env = container.get("env") if isinstance(container, dict) else None
            if not isinstance(env, list):
                continue
            for e, var in enumerate(env):
                if isinstance(var, dict) and isinstance(var.get("name"), str):
                    errors += env_var_name_errors(
                        var["name"], path.child(kind).index(c).child("env").index(e).child("name")
                    )
    return errors


def _container_errors(pod_spec: dict[str, Any], path: Path) -> list[FieldError]:
    """What kube-apiserver's pod validation would refuse at every pod create: no containers, a container
    without an image, two containers (init or not) with one name."""
    errors: list[FieldError] = []
    if pod_spec.get("containers") == []:
        errors.append(required(path.child("containers"), "a pod needs at least one container"))
    # Duplicates inside one list are the schema check's (list-map keys); across the two lists they are ours.
    init_names: set[str] = set()
    for kind in ("initContainers", "containers"):
        containers = pod_spec.get(kind)
        if not isinstance(containers, list):
            continue  # reported by the schema check
        for c, container in enumerate(containers):
            if not isinstance(container, dict):
                continue
            at = path.child(kind).index(c)
            if not container.get("image"):
                errors.append(required(at.child("image")))
            name = container.get("name")
            if not isinstance(name, str):
                continue
            if kind == "initContainers":
                init_names.add(name)
            elif name in init_names:
                errors.append(duplicate(at.child("name"), name))
    return errors


def _scheduler_errors(t: PodCliqueSetTemplateSpec) -> list[FieldError]:
    errors: list[FieldError] = []
    first: tuple[str, str] | None = None
    for k, clique in enumerate(t.cliques):
        path = TEMPLATE.child("cliques").index(k).child("spec", "podSpec", "schedulerName")
        raw = clique.spec.pod_spec.get("schedulerName")
        if raw is not None and not isinstance(raw, str):
            continue  # reported by the schema check
        scheduler = effective_scheduler(clique.spec.pod_spec)
        if scheduler not in SUPPORTED_SCHEDULERS:
            errors.append(not_supported(path, raw, ["", *SUPPORTED_SCHEDULERS]))
            continue
        if first is None:
            first = (clique.name, scheduler)
        elif scheduler != first[1]:
            errors.append(
                invalid(
                    path,
                    raw or "",
                    f'all cliques must use the same schedulerName; clique "{first[0]}" uses "{first[1]}"',
                )
            )
    return errors


def _startup_errors(t: PodCliqueSetTemplateSpec) -> list[FieldError]:
    if t.clique_startup_type != STARTUP_EXPLICIT:
        return []
    errors: list[FieldError] = []
    names = {c.name for c in t.cliques}
    graph: dict[str, list[str]] = {}
    for k, clique in enumerate(t.cliques):
        path = TEMPLATE.child("cliques").index(k).child("spec", "startsAfter")
        seen: set[str] = set()
        graph[clique.name] = []
        for n, parent in enumerate(clique.spec.starts_after):
            if parent == clique.name:
                errors.append(invalid(path.index(n), parent, "a clique cannot start after itself"))
            elif parent in seen:
                errors.append(duplicate(path.index(n), parent))
            elif parent not in names:
                errors.append(invalid(path.index(n), parent, f'no clique named "{parent}"'))
            else:
                graph[clique.name].append(parent)
            seen.add(parent)
    index = {c.name: k for k, c in enumerate(t.cliques)}
    for cycle in _cycles(graph):
        first = min(cycle, key=lambda n: index[n])
        path = TEMPLATE.child("cliques").index(index[first]).child("spec", "startsAfter")
        ordered = _cycle_order(cycle, first, graph)
        errors.append(
            invalid(
                path,
                t.cliques[index[first]].spec.starts_after,
                "startsAfter dependencies form a cycle: " + " -> ".join([*ordered, first]),
            )
        )
    return errors


def _cycles(graph: dict[str, list[str]]) -> list[set[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: set[str] = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _cycle_order(cycle: set[str], start: str, graph: dict[str, list[str]]) -> list[str]:
    """One path around the cycle from ``start`` (following startsAfter edges)."""
    order = [start]
    current = start
    while True:
        nxt = next((p for p in graph[current] if p in cycle and (p == start or p not in order)), None)
        if nxt is None or nxt == start:
            return order
        order.append(nxt)
        current = nxt


def _group_errors(t: PodCliqueSetTemplateSpec) -> list[FieldError]:
    errors: list[FieldError] = []
    path = TEMPLATE.child("podCliqueScalingGroups")
    clique_names = {c.name for c in t.cliques}
    owner: dict[str, str] = {}
    seen_groups: set[str] = set()
    for k, group in enumerate(t.pod_clique_scaling_groups):
        gp = path.index(k)
        if not group.name:
            errors.append(required(gp.child("name")))
        elif not is_dns1123_label(group.name):
            errors.append(invalid(gp.child("name"), group.name, DNS1123_LABEL_ERROR))
        elif group.name in seen_groups:
            errors.append(duplicate(gp.child("name"), group.name))
        seen_groups.add(group.name)
        errors += annotation_errors(group.annotations, gp.child("annotations"))
        if not group.clique_names:
            errors.append(required(gp.child("cliqueNames"), "at least one clique is required"))
        seen: set[str] = set()
        for n, name in enumerate(group.clique_names):
            np = gp.child("cliqueNames").index(n)
            if name in seen:
                errors.append(duplicate(np, name))
            elif name not in clique_names:
                errors.append(invalid(np, name, f'no clique named "{name}"'))
            elif name in owner:
                errors.append(
                    invalid(np, name, f'clique already belongs to podCliqueScalingGroup "{owner[name]}"')
                )
            else:
                owner[name] = group.name
            seen.add(name)
        replicas = 1 if group.replicas is None else group.replicas
        min_available = 1 if group.min_available is None else group.min_available
        if replicas <= 0:
            errors.append(invalid(gp.child("replicas"), replicas, "must be greater than 0"))
        if min_available <= 0:
            errors.append(invalid(gp.child("minAvailable"), min_available, "must be greater than 0"))
        elif replicas > 0 and min_available > replicas:
            errors.append(
                invalid(
                    gp.child("minAvailable"), min_available, f"must not be greater than replicas ({replicas})"
                )
            )
        if group.scale_config is not None:
            errors += _scaling_errors(group.scale_config, replicas, min_available, gp.child("scaleConfig"))
    return errors


def _termination_delay_errors(t: PodCliqueSetTemplateSpec) -> list[FieldError]:
    if t.termination_delay is None:
        return []
    path = TEMPLATE.child("terminationDelay")
    seconds = parse_duration(t.termination_delay)
    if seconds is None:
        return [invalid(path, t.termination_delay, "must be a duration such as 30m or 4h")]
    if seconds <= 0:
        return [invalid(path, t.termination_delay, "must be greater than 0")]
    return []


def _resource_errors(t: PodCliqueSetTemplateSpec) -> list[FieldError]:
    errors: list[FieldError] = []
    path = TEMPLATE.child("resourceClaimTemplates")
    seen: set[str] = set()
    schema = shared_k8s_schema("V1ResourceClaimTemplateSpec")
    for k, tmpl in enumerate(t.resource_claim_templates):
        tp = path.index(k)
        if not tmpl.name:
            errors.append(required(tp.child("name")))
        elif tmpl.name in seen:
            errors.append(duplicate(tp.child("name"), tmpl.name))
        seen.add(tmpl.name)
        spec_errors = check_schema(tmpl.template_spec, schema, tp.child("templateSpec"))
        errors += spec_errors
        requests = (tmpl.template_spec.get("spec") or {}).get("devices", {}) or {}
        if not spec_errors and not requests.get("requests"):
            errors.append(
                required(
                    tp.child("templateSpec", "spec", "devices", "requests"), "at least one device request"
                )
            )
    standalone = {c.name for c in t.standalone_cliques()}
    groups = {g.name for g in t.pod_clique_scaling_groups}
    errors += _sharing_errors(t.resource_sharing, TEMPLATE.child("resourceSharing"), standalone, groups)
    for k, clique in enumerate(t.cliques):
        errors += _sharing_errors(
            clique.resource_sharing, TEMPLATE.child("cliques").index(k).child("resourceSharing"), set(), set()
        )
    for k, group in enumerate(t.pod_clique_scaling_groups):
        errors += _sharing_errors(
            group.resource_sharing,
            TEMPLATE.child("podCliqueScalingGroups").index(k).child("resourceSharing"),
            set(group.clique_names),
            set(),
        )
    return errors


def _sharing_errors(
    entries: Iterable[ResourceSharingSpec], path: Path, cliques: set[str], groups: set[str]
) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for k, entry in enumerate(entries):
        ep = path.index(k)
        if not entry.name:
            errors.append(required(ep.child("name")))
        elif entry.name in seen:
            errors.append(duplicate(ep.child("name"), entry.name))
        seen.add(entry.name)
        if isinstance(entry, PCSResourceSharingSpec | PCSGResourceSharingSpec) and entry.filter is not None:
            fp = ep.child("filter")
            for n, name in enumerate(entry.filter.child_clique_names):
                if name not in cliques:
                    errors.append(
                        invalid(
                            fp.child("childCliqueNames").index(n), name, f'no child clique named "{name}"'
                        )
                    )
        if isinstance(entry, PCSResourceSharingSpec) and entry.filter is not None:
            for n, name in enumerate(entry.filter.child_scaling_group_names):
                if name not in groups:
                    errors.append(
                        invalid(
                            ep.child("filter", "childScalingGroupNames").index(n),
                            name,
                            f'no podCliqueScalingGroup named "{name}"',
                        )
                    )
    return errors
