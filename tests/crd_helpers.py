"""Waiting for CustomResourceDefinitions, on either tier."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


def wait_established(kubectl: Callable[..., Any], crd: str, timeout: float = 30.0) -> None:
    """Poll until the CRD ``crd`` is Established. Not ``kubectl wait --for condition=established``: right
    after a create the API server's answer has ``conditions: null``, which kubectl wait fails on at once."""
    deadline = time.monotonic() + timeout
    while True:
        got = kubectl("get", "crd", crd, "-o", "json")
        if got.returncode == 0:
            conditions = json.loads(got.stdout).get("status", {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return
        if time.monotonic() >= deadline:
            raise AssertionError(f"CRD {crd} not established after {timeout}s")
        time.sleep(0.1)
