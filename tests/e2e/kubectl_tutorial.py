"""Running the tutorial's commands with real kubectl in a test namespace, and reading the state back with it.

::

    t = KubectlTutorial(kubectl, namespace, tmp_path, timeout=60)
    t.apply("single-node-aggregated.yaml")           # a copy of deploy/samples/<file> moved to the namespace
    t.run("scale", "pclq", "x-0-worker", "--replicas=4")
    rows = t.wait_for_state("x", pods={"x-0-worker": 4}, podgangs={"x-0"}, services={"x-0"})
    t.wait_deleted("x")

Every read is kubectl's (``-o json`` while polling, then the ``-o wide`` pod table the tutorial shows).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

SAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "samples"
PART_OF = "app.kubernetes.io/part-of"
SUFFIX = re.compile(r"^[a-z0-9]{5}$")
OWNED_KINDS = (
    "pods,podcliques,podcliquescalinggroups,podgangs,services,serviceaccounts,roles,rolebindings,secrets"
)


def poll(check: Callable[[], list[str]], timeout: float, what: str) -> None:
    """Call ``check`` until it reports no problem; fail with its last problems after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        problems = check()
        if not problems:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}:\n  " + "\n  ".join(problems)
            )
        time.sleep(0.2)


def table_rows(text: str) -> list[dict[str, str]]:
    """Rows of a kubectl table, split at the header's column starts (multi-word headers kept whole)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    starts = [m.start() for m in re.finditer(r"(?<!\S)\S+(?: \S+)*", lines[0])]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    names = [lines[0][s:e].strip() for s, e in bounds]
    return [{n: line[s:e].strip() for n, (s, e) in zip(names, bounds, strict=True)} for line in lines[1:]]


def clique_of(pod_name: str, cliques: Iterable[str]) -> str | None:
    """The PodClique a pod name belongs to: ``<clique>-<5 random characters>``."""
    for clique in sorted(cliques, key=len, reverse=True):
        if pod_name.startswith(f"{clique}-") and SUFFIX.match(pod_name[len(clique) + 1 :]):
            return clique
    return None


def _condition(obj: Mapping[str, Any], kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in (obj.get("status") or {}).get("conditions") or ()
    )


def _compare(kind: str, want: set[str], have: set[str]) -> list[str]:
    if want == have:
        return []
    return [f"{kind}: missing {sorted(want - have)}, unexpected {sorted(have - want)}"]


class KubectlTutorial:
    """The tutorial's kubectl commands, run in ``namespace`` (see the module docstring)."""

    def __init__(self, kubectl: Any, namespace: str, workdir: Path, timeout: float) -> None:
        self.kubectl = kubectl
        self.namespace = namespace
        self.workdir = workdir
        self.timeout = timeout

    def run(self, *args: str) -> str:
        """``kubectl <args> -n <namespace>``; its stdout (fails the test if kubectl fails)."""
        return str(self.kubectl(*args, "-n", self.namespace, check=True).stdout)

    def apply(self, sample: str) -> str:
        """``kubectl apply -f <sample>``, the sample's namespace rewritten to the test's."""
        manifest = yaml.safe_load((SAMPLES / sample).read_text())
        assert manifest["metadata"]["namespace"] == "default", "the tutorial's samples use default"
        manifest["metadata"]["namespace"] = self.namespace
        copy = self.workdir / sample
        copy.write_text(yaml.safe_dump(manifest, sort_keys=False))
        return str(self.kubectl("apply", "-f", str(copy), check=True).stdout)

    def pod_table(self, pcs: str) -> list[dict[str, str]]:
        """``kubectl get pods -l app.kubernetes.io/part-of=<pcs> -o wide``, as rows."""
        return table_rows(self.run("get", "pods", "-l", f"{PART_OF}={pcs}", "-o", "wide"))

    def _objects(self, pcs: str) -> dict[str, list[dict[str, Any]]]:
        out = self.run("get", OWNED_KINDS, "-l", f"{PART_OF}={pcs}", "-o", "json")
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for item in json.loads(out)["items"]:
            by_kind.setdefault(item["kind"], []).append(item)
        return by_kind

    def state_problems(
        self,
        pcs: str,
        pods: Mapping[str, int],
        pcsgs: Mapping[str, int],
        podgangs: set[str],
        services: set[str],
    ) -> list[str]:
        """How the namespace differs from the expected objects of ``pcs`` (empty when exactly equal)."""
        objs = self._objects(pcs)

        def names(kind: str) -> set[str]:
            return {o["metadata"]["name"] for o in objs.get(kind, [])}

        problems = _compare("PodCliques", set(pods), names("PodClique"))
        problems += _compare("PodCliqueScalingGroups", set(pcsgs), names("PodCliqueScalingGroup"))
        problems += _compare("PodGangs", podgangs, names("PodGang"))
        problems += _compare("Services", services, names("Service"))
        for pclq in objs.get("PodClique", []):
            name = pclq["metadata"]["name"]
            if name in pods and pclq["spec"]["replicas"] != pods[name]:
                problems.append(
                    f"PodClique {name}: spec.replicas {pclq['spec']['replicas']}, want {pods[name]}"
                )
        for pcsg in objs.get("PodCliqueScalingGroup", []):
            name = pcsg["metadata"]["name"]
            if name in pcsgs and pcsg["spec"]["replicas"] != pcsgs[name]:
                problems.append(f"PCSG {name}: spec.replicas {pcsg['spec']['replicas']}, want {pcsgs[name]}")
        for gang in objs.get("PodGang", []):
            if not _condition(gang, "Initialized"):
                problems.append(f"PodGang {gang['metadata']['name']}: not Initialized")
        by_clique: dict[str, list[dict[str, Any]]] = {}
        for pod in objs.get("Pod", []):
            clique = clique_of(pod["metadata"]["name"], pods)
            if clique is None or pod["metadata"]["labels"].get("grove.io/podclique") != clique:
                problems.append(f"Pod {pod['metadata']['name']}: not named after its PodClique")
                continue
            by_clique.setdefault(clique, []).append(pod)
            if pod["metadata"].get("deletionTimestamp") or pod["spec"].get("schedulingGates"):
                problems.append(f"Pod {pod['metadata']['name']}: terminating or still gated")
        for clique, count in pods.items():
            hostnames = sorted(p["spec"].get("hostname", "") for p in by_clique.get(clique, []))
            if hostnames != sorted(f"{clique}-{k}" for k in range(count)):
                problems.append(
                    f"PodClique {clique}: pod hostnames {hostnames}, want {clique}-0..{count - 1}"
                )
        return problems

    def wait_for_state(
        self,
        pcs: str,
        *,
        pods: Mapping[str, int],
        podgangs: set[str],
        services: set[str],
        pcsgs: Mapping[str, int] | None = None,
    ) -> list[dict[str, str]]:
        """Wait until ``pcs`` owns exactly these objects and ``kubectl get pods -o wide`` shows every pod
        READY 1/1, Running, with an IP and a NODE; returns that table's rows."""
        rows: list[dict[str, str]] = []

        def check() -> list[str]:
            problems = self.state_problems(pcs, pods, pcsgs or {}, podgangs, services)
            if problems:
                return problems
            rows[:] = self.pod_table(pcs)
            counts: dict[str, int] = {}
            for row in rows:
                clique = clique_of(row["NAME"], pods) or row["NAME"]
                counts[clique] = counts.get(clique, 0) + 1
                if (row["READY"], row["STATUS"]) != ("1/1", "Running") or "<none>" in (
                    row["IP"],
                    row["NODE"],
                ):
                    problems.append(f"pod table: {row}")
            if counts != {c: n for c, n in pods.items() if n}:
                problems.append(f"pod table: pods per PodClique {counts}, want {dict(pods)}")
            return problems

        poll(check, self.timeout, f"{pcs} to reach its state")
        return rows

    def wait_deleted(self, pcs: str) -> None:
        """Wait until the PodCliqueSet and everything labelled as part of it are gone."""

        def check() -> list[str]:
            left = self.run("get", f"podcliquesets,{OWNED_KINDS}", "-l", f"{PART_OF}={pcs}", "-o", "name")
            pcs_left = self.kubectl("get", "pcs", pcs, "-n", self.namespace, "-o", "name").stdout
            return [line for line in (left + pcs_left).splitlines() if line.strip()]

        poll(check, self.timeout, f"{pcs} and everything it owned to be deleted")
