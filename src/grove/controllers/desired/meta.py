"""ObjectMeta of built objects."""

from __future__ import annotations

from typing import Any

from grove.api.meta import ObjectMeta, OwnerReference

__all__ = ["object_meta"]


def object_meta(
    name: str,
    namespace: str,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
    owner: OwnerReference | None = None,
) -> ObjectMeta:
    """Metadata with only the fields that have content (so manifests carry no empty maps)."""
    fields: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        fields["annotations"] = dict(annotations)
    if owner is not None:
        fields["owner_references"] = [owner]
    return ObjectMeta(**fields)
