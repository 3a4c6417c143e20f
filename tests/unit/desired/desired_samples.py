"""Defaulted tutorial samples and small PodCliqueSets for the builder tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from grove.api.admission import admit_create
from grove.api.podcliqueset import PodCliqueSet

SAMPLES_DIR = Path(__file__).resolve().parents[3] / "deploy" / "samples"


def sample(name: str) -> PodCliqueSet:
    """The admitted (defaulted and valid) tutorial sample ``name``."""
    return admit_create(yaml.safe_load((SAMPLES_DIR / f"{name}.yaml").read_text()))


def clique(name: str, replicas: int, **spec: Any) -> dict[str, Any]:
    """A clique template with one container."""
    return {
        "name": name,
        "spec": {"replicas": replicas, "podSpec": {"containers": [{"name": name, "image": "img"}]}, **spec},
    }


def pcs(template: dict[str, Any], name: str = "svc", replicas: int = 1, **meta: Any) -> PodCliqueSet:
    """An admitted PodCliqueSet with the given template."""
    return admit_create(
        {
            "apiVersion": "grove.io/v1alpha1",
            "kind": "PodCliqueSet",
            "metadata": {"name": name, "namespace": "ns", **meta},
            "spec": {"replicas": replicas, "template": template},
        }
    )
