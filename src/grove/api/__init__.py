"""Grove's API: models, defaulting, validation, names, labels and CRDs.

Pure: no I/O, imports nothing else of grove.


Models (pydantic v2, camelCase wire names, unknown fields rejected):
    PodCliqueSet, PodClique, PodCliqueScalingGroup, ClusterTopologyBinding (grove.io/v1alpha1) and
    PodGang (scheduler.grove.io/v1alpha1). ``Kind.from_dict(data)`` parses a manifest or raises
    :class:`GroveValidationError`; ``obj.to_dict()`` dumps it back.
Admission:
    ``default_podcliqueset(pcs)`` returns a defaulted copy; ``validate_create(pcs, topology)`` and
    ``validate_update(old, new, topology)`` return every :class:`FieldError`.
Names and labels:
    :mod:`grove.api.naming`, :mod:`grove.api.labels`.
CRDs:
    :func:`grove.api.crds.crd_manifests`.
"""
