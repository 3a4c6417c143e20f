"""Reading a PodCliqueSet's objects from the API server and comparing them with a tutorial's expected state.

::

    got = await observe(client, "default", "single-node-aggregated")
    differences(expected, got)   # [] once every object, name, count and pod state matches
    leftovers(got)               # [] once a deleted PodCliqueSet left nothing behind
    pod_table_differences(kubectl_get_pods_wide_output, expected)

Everything is found by the ``app.kubernetes.io/part-of=<pcs>`` label the operator puts on what it creates.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grove.api import constants, labels
from grove.controllers.resources import PCS_MEMBERS, PODCLIQUESETS
from grove.runtime.client import Client
from grove.runtime.errors import NotFound
from grove.runtime.resources import Resource
from grove.tutorial import Expected

__all__ = ["Observed", "differences", "leftovers", "observe", "pod_table_differences", "progress"]

Obj = dict[str, Any]

_SUFFIX = re.compile(r"^[a-z0-9]{5}$")


@dataclass
class Observed:
    """A PodCliqueSet (None when it does not exist) and the objects labelled as part of it, by kind."""

    pcs: Obj | None
    owned: dict[str, list[Obj]]

    def named(self, kind: str) -> dict[str, Obj]:
        """Objects of ``kind`` by name."""
        return {o["metadata"]["name"]: o for o in self.owned.get(kind, [])}


async def observe(client: Client, namespace: str, pcs: str) -> Observed:
    """Everything of ``pcs`` in ``namespace``, read from the API server."""
    selector = f"{labels.PART_OF}={pcs}"

    async def items(resource: Resource) -> list[Obj]:
        return list((await client.list(resource, namespace, label_selector=selector)).items)

    async def pcs_object() -> Obj | None:
        try:
            return await client.get(PODCLIQUESETS, pcs, namespace)
        except NotFound:
            return None

    lists = await asyncio.gather(*(items(r) for r in PCS_MEMBERS))
    return Observed(await pcs_object(), {r.kind: objs for r, objs in zip(PCS_MEMBERS, lists, strict=True)})


def _condition(obj: Mapping[str, Any], kind: str) -> bool:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == kind:
            return bool(c.get("status") == "True")
    return False


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return (
        status.get("phase") == "Running"
        and _condition(pod, "Ready")
        and bool(status.get("podIP"))
        and bool(pod["spec"].get("nodeName"))
        and not pod["metadata"].get("deletionTimestamp")
    )


def _compare(kind: str, want: set[str], have: set[str]) -> list[str]:
    if want == have:
        return []
    parts = []
    if want - have:
        parts.append(f"missing {', '.join(sorted(want - have))}")
    if have - want:
        parts.append(f"unexpected {', '.join(sorted(have - want))}")
    return [f"{kind}: {'; '.join(parts)}"]


def differences(want: Expected, got: Observed) -> list[str]:
    """Every way ``got`` differs from ``want`` (empty when it matches exactly, every pod Running and Ready
    on a node with an IP, named ``<podclique>-<5 characters>`` with hostnames ``<podclique>-0..n-1``,
    every PodGang Initialized)."""
    diffs: list[str] = []
    if got.pcs is None:
        diffs.append(f"PodCliqueSet {want.pcs}: not found")
    pclqs, pcsgs = got.named("PodClique"), got.named("PodCliqueScalingGroup")
    diffs += _compare("PodCliques", set(want.pods), set(pclqs))
    diffs += _compare("PodCliqueScalingGroups", set(want.pcsgs), set(pcsgs))
    diffs += _compare("PodGangs", set(want.podgangs), set(got.named("PodGang")))
    diffs += _compare("Services", set(want.services), set(got.named("Service")))
    for name, count in want.pods.items():
        replicas = (pclqs.get(name) or {}).get("spec", {}).get("replicas", count)
        if replicas != count:
            diffs.append(f"PodClique {name}: spec.replicas {replicas}, want {count}")
    for name, count in want.pcsgs.items():
        replicas = (pcsgs.get(name) or {}).get("spec", {}).get("replicas", count)
        if replicas != count:
            diffs.append(f"PodCliqueScalingGroup {name}: spec.replicas {replicas}, want {count}")
    for name, gang in got.named("PodGang").items():
        if name in want.podgangs and not _condition(gang, constants.CONDITION_PODGANG_INITIALIZED):
            diffs.append(f"PodGang {name}: not Initialized")
    by_clique: dict[str, list[Obj]] = {}
    for pod in got.owned.get("Pod", []):
        by_clique.setdefault(pod["metadata"]["labels"].get(labels.PODCLIQUE, "?"), []).append(pod)
    diffs += _compare("pods of PodCliques", {n for n, c in want.pods.items() if c}, set(by_clique))
    for clique, count in want.pods.items():
        diffs += _pod_differences(clique, count, by_clique.get(clique, []))
    return diffs


def _pod_differences(clique: str, count: int, pods: list[Obj]) -> list[str]:
    diffs: list[str] = []
    if len(pods) != count:
        diffs.append(f"PodClique {clique}: {len(pods)} pods, want {count}")
    hostnames = sorted(p["spec"].get("hostname", "") for p in pods)
    if len(pods) == count and hostnames != sorted(f"{clique}-{k}" for k in range(count)):
        diffs.append(f"PodClique {clique}: hostnames {', '.join(hostnames)}, want {clique}-0..{count - 1}")
    for pod in pods:
        name = pod["metadata"]["name"]
        if not name.startswith(f"{clique}-") or not _SUFFIX.match(name[len(clique) + 1 :]):
            diffs.append(f"Pod {name}: not named {clique}-<5 characters>")
        if not _pod_ready(pod):
            phase = (pod.get("status") or {}).get("phase", "?")
            diffs.append(f"Pod {name}: {phase}, not Running and Ready on a node")
    return diffs


def leftovers(got: Observed) -> list[str]:
    """What still exists of a deleted PodCliqueSet (empty once it and everything it owned are gone)."""
    out = [f"PodCliqueSet {got.pcs['metadata']['name']}: still exists"] if got.pcs is not None else []
    for kind, objs in got.owned.items():
        if objs:
            out.append(f"{kind}s: {', '.join(sorted(o['metadata']['name'] for o in objs))}")
    return out


def progress(want: Expected, got: Observed) -> str:
    """One line on how far ``got`` is from ``want``."""
    ready = sum(1 for p in got.owned.get("Pod", []) if _pod_ready(p))
    parts = [f"pods {ready}/{want.pod_count} ready"]
    for kind, wanted in (
        ("PodClique", want.pods),
        ("PodCliqueScalingGroup", want.pcsgs),
        ("PodGang", want.podgangs),
    ):
        if wanted:
            parts.append(f"{kind}s {len(set(got.named(kind)) & set(wanted))}/{len(wanted)}")
    return ", ".join(parts)


def _table(text: str) -> list[dict[str, str]]:
    """Rows of a kubectl table, split at the header's column starts."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"(?<!\S)\S+(?: \S+)*", header)]
    names = [header[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
    return [
        {n: line[s:e].strip() for n, s, e in zip(names, starts, [*starts[1:], None], strict=True)}
        for line in lines[1:]
    ]


def pod_table_differences(text: str, want: Expected) -> list[str]:
    """How ``kubectl get pods -l app.kubernetes.io/part-of=<pcs> -o wide`` output differs from ``want``:
    one row per pod, named after its PodClique, READY 1/1, STATUS Running, with an IP and a NODE."""
    rows = _table(text)
    diffs: list[str] = []
    if rows and not {"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"} <= set(rows[0]):
        return [f"pod table: unexpected columns {list(rows[0])}"]
    counts: dict[str, int] = {}
    cliques = sorted(want.pods, key=len, reverse=True)
    for row in rows:
        name = row["NAME"]
        clique = next(
            (c for c in cliques if name.startswith(f"{c}-") and _SUFFIX.match(name[len(c) + 1 :])), None
        )
        if clique is None:
            diffs.append(f"pod table: {name} belongs to no expected PodClique")
            continue
        counts[clique] = counts.get(clique, 0) + 1
        if row["READY"] != "1/1" or row["STATUS"] != "Running":
            diffs.append(f"pod table: {name} is {row['READY']} {row['STATUS']}, want 1/1 Running")
        if row["IP"] in ("", "<none>") or row["NODE"] in ("", "<none>"):
            diffs.append(f"pod table: {name} has IP {row['IP']!r} NODE {row['NODE']!r}")
    for clique, count in want.pods.items():
        if counts.get(clique, 0) != count:
            diffs.append(f"pod table: {counts.get(clique, 0)} pods of {clique}, want {count}")
    return diffs
