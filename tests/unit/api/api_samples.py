"""The tutorial samples, for the API unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SAMPLES_DIR = Path(__file__).resolve().parents[3] / "deploy" / "samples"
SAMPLE_NAMES = [
    "single-node-aggregated",
    "single-node-disaggregated",
    "multi-node-aggregated",
    "multi-node-disaggregated",
    "complete-inference-pipeline",
]


def load_sample(name: str) -> dict[str, Any]:
    """The parsed YAML of one sample manifest."""
    data: dict[str, Any] = yaml.safe_load((SAMPLES_DIR / f"{name}.yaml").read_text())
    return data
