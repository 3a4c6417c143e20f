"""Pod template and generation hashes (what upstream's ``k8sutils.ComputeHash`` is used for).

A hash changes exactly when a clique's pod template changes (labels, annotations, podSpec, and the
PodCliqueSet's priorityClassName); replicas, minAvailable, autoscaling and topology do not affect it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from grove.api.podcliqueset import PodCliqueSet, PodCliqueTemplateSpec

__all__ = ["pod_template_hash", "podcliqueset_generation_hash", "stable_hash"]

# Kubernetes' rand.SafeEncodeString alphabet: no vowels, no look-alike characters.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def stable_hash(value: Any) -> str:
    """A short, label-safe 64-bit hash (BLAKE2b) of the canonical JSON of ``value``."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    h = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in str(h))


def _template(clique: PodCliqueTemplateSpec, priority_class_name: str | None) -> dict[str, Any]:
    pod_spec = dict(clique.spec.pod_spec)
    if priority_class_name:
        pod_spec["priorityClassName"] = priority_class_name
    return {"labels": clique.labels, "annotations": clique.annotations, "podSpec": pod_spec}


def pod_template_hash(clique: PodCliqueTemplateSpec, priority_class_name: str | None) -> str:
    """Hash of one clique's pod template (the ``grove.io/pod-template-hash`` label value)."""
    return stable_hash(_template(clique, priority_class_name))


def podcliqueset_generation_hash(pcs: PodCliqueSet) -> str:
    """Hash of all pod templates of the PodCliqueSet (status.currentGenerationHash)."""
    t = pcs.spec.template
    return stable_hash([_template(c, t.priority_class_name) for c in t.cliques])
