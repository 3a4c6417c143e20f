"""Manifest builders shared by the conformance tests."""

from __future__ import annotations

from typing import Any

from crd_helpers import wait_established

__all__ = ["pod", "wait_established", "widget"]


def widget(name: str, size: str = "small", **spec: Any) -> dict[str, Any]:
    """A Widget manifest (the suite's test CRD)."""
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size, **spec},
    }


def pod(name: str, **extra: Any) -> dict[str, Any]:
    """A minimal Pod manifest; ``metadata``/``spec`` entries are merged in."""
    md = {"name": name, **extra.pop("metadata", {})}
    if not name:
        del md["name"]
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": md,
        "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}], **extra.pop("spec", {})},
    }
    body.update(extra)
    return body
