"""The exact state Grove should reach for a PodCliqueSet, and a deadline-bound wait until a namespace has it.

Shared by the controller integration tests and the end-to-end suite::

    want = expected(manifest, pclq_replicas={"pcs-0-worker": 4})
    await wait_converged(client, namespace, want)      # every object, name, count, gate, readiness

``expected`` derives the objects from the same builders the operator uses (template values unless
overridden, as after ``kubectl scale``); ``observe`` reads a namespace; ``differences`` lists every way the
two disagree (empty when converged).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grove.api import constants, labels
from grove.api.admission import admit_create
from grove.api.podcliqueset import PodCliqueSet
from grove.controllers.desired import podclique_refs, podgang_of
from grove.controllers.resources import (
    PODCLIQUES,
    PODCLIQUESCALINGGROUPS,
    PODCLIQUESETS,
    PODGANGS,
    PODS,
    SERVICES,
)
from grove.runtime.client import Client
from grove.runtime.errors import NotFound

SAMPLES = Path(__file__).resolve().parents[1] / "deploy" / "samples"
SAMPLE_FILES = (
    "single-node-aggregated.yaml",
    "single-node-disaggregated.yaml",
    "multi-node-aggregated.yaml",
    "multi-node-disaggregated.yaml",
    "complete-inference-pipeline.yaml",
)


def load_sample(file: str, namespace: str) -> dict[str, Any]:
    """A tutorial sample manifest, moved to ``namespace``."""
    manifest: dict[str, Any] = yaml.safe_load((SAMPLES / file).read_text())
    manifest["metadata"]["namespace"] = namespace
    return manifest


@dataclass
class Expected:
    """What a namespace should contain for one PodCliqueSet."""

    pcs: str
    pclqs: dict[str, int] = field(default_factory=dict)
    """PodClique name -> pods."""
    pclq_gangs: dict[str, str] = field(default_factory=dict)
    """PodClique name -> PodGang of its pods."""
    pcsgs: dict[str, int] = field(default_factory=dict)
    """PodCliqueScalingGroup name -> replicas."""
    services: set[str] = field(default_factory=set)
    podgangs: dict[str, dict[str, int]] = field(default_factory=dict)
    """PodGang name -> {pod group name: minReplicas}."""

    @property
    def pods(self) -> int:
        """Total pods."""
        return sum(self.pclqs.values())


def expected(
    manifest: Mapping[str, Any],
    *,
    replicas: int | None = None,
    group_replicas: Mapping[str, int] | None = None,
    pclq_replicas: Mapping[str, int] | None = None,
) -> Expected:
    """The state for ``manifest`` with PodCliqueSet ``replicas``, scaling group replicas (by PCSG name) and
    PodClique pods (by PodClique name) overridden as ``kubectl scale`` would."""
    pcs: PodCliqueSet = admit_create(dict(manifest))
    if replicas is not None:
        pcs.spec.replicas = replicas
    name = pcs.metadata.name
    out = Expected(name)
    t = pcs.spec.template
    for i in range(pcs.spec.replicas):
        out.services.add(f"{name}-{i}")
        groups: dict[str, int] = {}
        for g in t.pod_clique_scaling_groups:
            pcsg = f"{name}-{i}-{g.name}"
            groups[g.name] = (group_replicas or {}).get(pcsg, g.replicas or 1)
            out.pcsgs[pcsg] = groups[g.name]
        for ref in podclique_refs(pcs, i, groups):
            template = t.clique(ref.clique)
            assert template is not None
            out.pclqs[ref.name] = (pclq_replicas or {}).get(ref.name, template.spec.replicas)
            gang = podgang_of(pcs, ref)
            out.pclq_gangs[ref.name] = gang
            out.podgangs.setdefault(gang, {})[ref.name] = template.spec.min_available or 1
    return out


@dataclass
class Observed:
    """What a namespace contains (managed objects of one PodCliqueSet)."""

    pcs: dict[str, Any] | None
    pods: list[dict[str, Any]]
    pclqs: dict[str, dict[str, Any]]
    pcsgs: dict[str, dict[str, Any]]
    services: dict[str, dict[str, Any]]
    podgangs: dict[str, dict[str, Any]]


async def observe(client: Client, namespace: str, pcs: str) -> Observed:
    """Reads everything of ``pcs`` in ``namespace`` from the API server."""
    selector = f"{labels.PART_OF}={pcs}"

    async def items(resource: Any) -> list[dict[str, Any]]:
        return (await client.list(resource, namespace, label_selector=selector)).items

    pods, pclqs, pcsgs, services, gangs = await asyncio.gather(
        items(PODS), items(PODCLIQUES), items(PODCLIQUESCALINGGROUPS), items(SERVICES), items(PODGANGS)
    )
    try:
        pcs_obj: dict[str, Any] | None = await client.get(PODCLIQUESETS, pcs, namespace)
    except NotFound:
        pcs_obj = None

    def by_name(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {o["metadata"]["name"]: o for o in objs}

    return Observed(pcs_obj, pods, by_name(pclqs), by_name(pcsgs), by_name(services), by_name(gangs))


def _ready(pod: Mapping[str, Any]) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def _initialized(gang: Mapping[str, Any]) -> bool:
    for c in (gang.get("status") or {}).get("conditions") or ():
        if c.get("type") == constants.CONDITION_PODGANG_INITIALIZED:
            return bool(c.get("status") == "True")
    return False


def differences(want: Expected, got: Observed, *, ready: bool = True, contiguous: bool = True) -> list[str]:
    """Every way ``got`` differs from ``want``; with ``ready`` also pods not Running/Ready.

    Pod indices must be unique; with ``contiguous`` they must be exactly 0..n-1 (true unless pods were
    scaled in: upstream's deletion order picks victims by state and age, not by index).
    """
    diffs: list[str] = []

    def compare(kind: str, expect: set[str], have: set[str]) -> None:
        if expect != have:
            diffs.append(f"{kind}: missing {sorted(expect - have)}, unexpected {sorted(have - expect)}")

    compare("PodCliques", set(want.pclqs), set(got.pclqs))
    compare("PodCliqueScalingGroups", set(want.pcsgs), set(got.pcsgs))
    compare("Services", want.services, set(got.services))
    compare("PodGangs", set(want.podgangs), set(got.podgangs))
    for name, count in want.pclqs.items():
        pclq = got.pclqs.get(name)
        if pclq is not None and pclq["spec"]["replicas"] != count:
            diffs.append(f"PodClique {name}: spec.replicas {pclq['spec']['replicas']}, want {count}")
    for name, count in want.pcsgs.items():
        pcsg = got.pcsgs.get(name)
        if pcsg is not None and pcsg["spec"]["replicas"] != count:
            diffs.append(
                f"PodCliqueScalingGroup {name}: spec.replicas {pcsg['spec']['replicas']}, want {count}"
            )
    for name, groups in want.podgangs.items():
        gang = got.podgangs.get(name)
        if gang is None:
            continue
        have = {g["name"]: g["minReplicas"] for g in gang["spec"]["podgroups"]}
        if have != groups:
            diffs.append(f"PodGang {name}: pod groups {have}, want {groups}")
        if not _initialized(gang):
            diffs.append(f"PodGang {name}: not Initialized")
        for g in gang["spec"]["podgroups"]:
            refs = [r["name"] for r in g["podReferences"]]
            if refs != sorted(refs):
                diffs.append(f"PodGang {name}: podReferences of {g['name']} not sorted")
    pods_by_pclq: dict[str, list[dict[str, Any]]] = {}
    for pod in got.pods:
        if pod["metadata"].get("deletionTimestamp"):
            diffs.append(f"Pod {pod['metadata']['name']}: terminating")
            continue
        pods_by_pclq.setdefault(pod["metadata"]["labels"].get(labels.PODCLIQUE, ""), []).append(pod)
    compare("pods of PodCliques", {n for n, c in want.pclqs.items() if c}, set(pods_by_pclq))
    for pclq, count in want.pclqs.items():
        pods = pods_by_pclq.get(pclq, [])
        if len(pods) != count:
            diffs.append(f"PodClique {pclq}: {len(pods)} pods, want {count}")
            continue
        hostnames = sorted(p["spec"].get("hostname", "") for p in pods)
        want_hostnames = sorted(f"{pclq}-{k}" for k in range(count))
        if len(set(hostnames)) != len(hostnames):
            diffs.append(f"PodClique {pclq}: duplicate hostnames {hostnames}")
        elif contiguous and hostnames != want_hostnames:
            diffs.append(f"PodClique {pclq}: hostnames {hostnames}, want {want_hostnames}")
        gang = want.pclq_gangs[pclq]
        refs = {
            r["name"]
            for g in (got.podgangs.get(gang) or {"spec": {"podgroups": []}})["spec"]["podgroups"]
            if g["name"] == pclq
            for r in g["podReferences"]
        }
        for pod in pods:
            diffs += _pod_differences(pod, pclq, gang, want.pcs, refs, ready)
    return diffs


_SUFFIX = re.compile(r"^[a-z0-9]{5}$")


def _pod_differences(
    pod: dict[str, Any], pclq: str, gang: str, pcs: str, refs: set[str], ready: bool
) -> list[str]:
    name = pod["metadata"]["name"]
    out: list[str] = []
    if not name.startswith(f"{pclq}-") or not _SUFFIX.match(name[len(pclq) + 1 :]):
        out.append(f"Pod {name}: not named {pclq}-<5 random characters>")
    lbl = pod["metadata"]["labels"]
    if lbl.get(labels.PODGANG) != gang:
        out.append(f"Pod {name}: podgang label {lbl.get(labels.PODGANG)!r}, want {gang!r}")
    index = lbl.get(labels.POD_INDEX)
    if pod["spec"].get("hostname") != f"{pclq}-{index}":
        out.append(f"Pod {name}: hostname {pod['spec'].get('hostname')!r} does not match index {index}")
    if pod["spec"].get("subdomain") != f"{pcs}-{lbl.get(labels.PCS_REPLICA_INDEX)}":
        out.append(f"Pod {name}: subdomain {pod['spec'].get('subdomain')!r}")
    owners = [o for o in pod["metadata"].get("ownerReferences", []) if o.get("controller")]
    if [(o["kind"], o["name"]) for o in owners] != [("PodClique", pclq)]:
        out.append(f"Pod {name}: controller {owners}, want PodClique {pclq}")
    if name not in refs:
        out.append(f"Pod {name}: not referenced by PodGang {gang}")
    if ready:
        if pod["spec"].get("schedulingGates"):
            out.append(f"Pod {name}: still gated {pod['spec']['schedulingGates']}")
        if (pod.get("status") or {}).get("phase") != "Running" or not _ready(pod):
            out.append(f"Pod {name}: not Running and Ready")
    return out


async def wait_converged(
    client: Client,
    namespace: str,
    want: Expected,
    *,
    ready: bool = True,
    contiguous: bool = True,
    timeout: float = 30.0,  # noqa: ASYNC109 - a polling deadline
) -> Observed:
    """Polls until ``namespace`` has exactly ``want`` (see :func:`differences`); fails naming what differs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = await observe(client, namespace, want.pcs)
        diffs = differences(want, got, ready=ready, contiguous=contiguous)
        if not diffs:
            return got
        if loop.time() >= deadline:
            raise AssertionError(
                f"{namespace}/{want.pcs} did not converge in {timeout}s:\n  " + "\n  ".join(diffs)
            )
        await asyncio.sleep(0.1)
