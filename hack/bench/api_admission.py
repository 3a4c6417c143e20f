"""Cost of the API hot paths: parsing a PodCliqueSet (informer events), admission (webhook), building pods.

Prints one line per figure. Run with ``make bench`` or ``.venv/bin/python hack/bench/api_admission.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import yaml

from grove.api.admission import admit_create
from grove.api.podcliqueset import PodCliqueSet
from grove.controllers.desired import build_pod, build_podclique, build_podgangs, podclique_refs

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "complete-inference-pipeline.yaml"


def per_call(fn: Callable[[], object], min_seconds: float = 0.5) -> float:
    """Mean seconds per call of ``fn`` over at least ``min_seconds``."""
    fn()
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


def main() -> None:
    data = yaml.safe_load(SAMPLE.read_text())
    pcs = admit_create(data)
    refs = podclique_refs(pcs, 0)
    pclqs = [(ref, build_podclique(pcs, ref)) for ref in refs]
    pods = sum(p.spec.replicas for _, p in pclqs)

    def build_all_pods() -> None:
        for ref, pclq in pclqs:
            for index in range(pclq.spec.replicas):
                build_pod(pcs, pclq, ref, index, "grove:bench")

    figures = {
        "parse PodCliqueSet (from dict)": per_call(lambda: PodCliqueSet.from_dict(data)),
        "dump PodCliqueSet (to dict)": per_call(pcs.to_dict),
        "admit_create (parse+default+validate)": per_call(lambda: admit_create(data)),
        "build PodCliques of one replica": per_call(lambda: [build_podclique(pcs, r) for r in refs]),
        "build PodGangs of one replica": per_call(lambda: build_podgangs(pcs, 0)),
        f"build {pods} pod manifests": per_call(build_all_pods),
    }
    print(f"sample: {SAMPLE.name} ({len(refs)} PodCliques, {pods} pods per replica)")
    for name, seconds in figures.items():
        print(f"{name:45s} {seconds * 1e6:10.1f} us/op")


if __name__ == "__main__":
    main()
