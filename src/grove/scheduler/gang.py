"""PodGang (scheduler.grove.io/v1alpha1) wire JSON → internal dataclasses.

Only what placement needs is kept: pod groups with their pod references, ``minReplicas`` and pack constraints,
the gang-level constraint, the group configs (one per PodCliqueScalingGroup replica), the priority class and
the topology name annotation. Pack constraints here are **node label keys**: the operator has already
translated topology domains into keys.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PODGANG_API_VERSION",
    "PODGANG_LABEL",
    "TOPOLOGY_NAME_ANNOTATION",
    "GroupConfig",
    "PackConstraint",
    "PodGang",
    "PodGangError",
    "PodGroup",
    "parse_podgang",
]

PODGANG_API_VERSION = "scheduler.grove.io/v1alpha1"
PODGANG_LABEL = "grove.io/podgang"
TOPOLOGY_NAME_ANNOTATION = "grove.io/topology-name"


class PodGangError(ValueError):
    """A PodGang that breaks a rule; the message names the field and the rule."""


@dataclass(frozen=True, slots=True)
class PackConstraint:
    """Required and preferred pack keys (node label keys); either may be absent."""

    required: str | None = None
    preferred: str | None = None

    def keys(self) -> tuple[str, ...]:
        """The keys that are set."""
        return tuple(k for k in (self.required, self.preferred) if k)


@dataclass(frozen=True, slots=True)
class PodGroup:
    """One pod group (a PodClique): its pods (``namespace/name`` keys), ``minReplicas`` and constraint."""

    name: str
    pods: tuple[str, ...]
    min_replicas: int
    constraint: PackConstraint


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """A set of pod groups packed together (a PodCliqueScalingGroup replica)."""

    name: str
    pod_group_names: tuple[str, ...]
    constraint: PackConstraint


@dataclass(frozen=True, slots=True)
class PodGang:
    """A parsed PodGang."""

    namespace: str
    name: str
    uid: str
    generation: int
    podgroups: tuple[PodGroup, ...]
    constraint: PackConstraint
    group_configs: tuple[GroupConfig, ...]
    priority_class_name: str
    topology_name: str | None

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    def pod_keys(self) -> Iterator[str]:
        """Every referenced pod, group by group."""
        for group in self.podgroups:
            yield from group.pods


def _obj(raw: object, field: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise PodGangError(f"{field}: must be an object")
    return raw


def _list(raw: object, field: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PodGangError(f"{field}: must be a list")
    return raw


def _name(raw: object, field: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise PodGangError(f"{field}: must be a non-empty string")
    return raw


def _constraint(raw: object, field: str) -> PackConstraint:
    pack = _obj(_obj(raw, field).get("packConstraint"), f"{field}.packConstraint")
    values: list[str | None] = []
    for which in ("required", "preferred"):
        value = pack.get(which)
        if value is not None and (not isinstance(value, str) or not value):
            raise PodGangError(f"{field}.packConstraint.{which}: must be a non-empty node label key")
        values.append(value)
    return PackConstraint(values[0], values[1])


def parse_podgang(obj: Mapping[str, Any]) -> PodGang:
    """Parse a PodGang JSON object; raises :class:`PodGangError` naming the offending field."""
    api_version = obj.get("apiVersion")
    if api_version is not None and api_version != PODGANG_API_VERSION:
        raise PodGangError(f"apiVersion: must be {PODGANG_API_VERSION}, got {api_version!r}")
    meta = _obj(obj.get("metadata"), "metadata")
    name = _name(meta.get("name"), "metadata.name")
    namespace = _name(meta.get("namespace") or "default", "metadata.namespace")
    annotations = _obj(meta.get("annotations"), "metadata.annotations")
    spec = _obj(obj.get("spec"), "spec")
    groups: list[PodGroup] = []
    seen_pods: set[str] = set()
    for i, raw in enumerate(_list(spec.get("podgroups"), "spec.podgroups")):
        f = f"spec.podgroups[{i}]"
        g = _obj(raw, f)
        gname = _name(g.get("name"), f + ".name")
        if any(x.name == gname for x in groups):
            raise PodGangError(f"{f}.name: {gname!r} appears twice")
        pods: list[str] = []
        for j, ref in enumerate(_list(g.get("podReferences"), f + ".podReferences")):
            rf = f"{f}.podReferences[{j}]"
            r = _obj(ref, rf)
            ref_ns = _name(r.get("namespace") or namespace, rf + ".namespace")
            key = f"{ref_ns}/{_name(r.get('name'), rf + '.name')}"
            if key in seen_pods:
                raise PodGangError(f"{rf}: pod {key} is referenced twice")
            seen_pods.add(key)
            pods.append(key)
        min_replicas = g.get("minReplicas", 0)
        if isinstance(min_replicas, bool) or not isinstance(min_replicas, int) or min_replicas < 0:
            raise PodGangError(f"{f}.minReplicas: must be a non-negative integer, got {min_replicas!r}")
        groups.append(PodGroup(gname, tuple(pods), min_replicas, _constraint(g.get("topologyConstraint"), f)))
    names = {g.name for g in groups}
    configs: list[GroupConfig] = []
    grouped: set[str] = set()
    for i, raw in enumerate(
        _list(spec.get("topologyConstraintGroupConfigs"), "spec.topologyConstraintGroupConfigs")
    ):
        f = f"spec.topologyConstraintGroupConfigs[{i}]"
        c = _obj(raw, f)
        cname = _name(c.get("name"), f + ".name")
        members: list[str] = []
        for j, member in enumerate(_list(c.get("podGroupNames"), f + ".podGroupNames")):
            mf = f"{f}.podGroupNames[{j}]"
            member_name = _name(member, mf)
            if member_name not in names:
                raise PodGangError(f"{mf}: no pod group named {member_name!r} in spec.podgroups")
            if member_name in grouped:
                raise PodGangError(f"{mf}: pod group {member_name!r} belongs to more than one group config")
            grouped.add(member_name)
            members.append(member_name)
        configs.append(GroupConfig(cname, tuple(members), _constraint(c.get("topologyConstraint"), f)))
    pcn = spec.get("priorityClassName") or ""
    if not isinstance(pcn, str):
        raise PodGangError("spec.priorityClassName: must be a string")
    topology_name = annotations.get(TOPOLOGY_NAME_ANNOTATION)
    generation = meta.get("generation") or 0
    return PodGang(
        namespace=namespace,
        name=name,
        uid=str(meta.get("uid") or ""),
        generation=int(generation) if isinstance(generation, int) else 0,
        podgroups=tuple(groups),
        constraint=_constraint(spec.get("topologyConstraint"), "spec.topologyConstraint"),
        group_configs=tuple(configs),
        priority_class_name=pcn,
        topology_name=topology_name if isinstance(topology_name, str) and topology_name else None,
    )
