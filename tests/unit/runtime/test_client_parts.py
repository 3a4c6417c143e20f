"""Pure parts of the client: resource paths, typed errors from Status bodies, retries, shared decoding."""

from __future__ import annotations

import json

import pytest

from grove.runtime.client import RetryPolicy
from grove.runtime.decode import SharingDecoder
from grove.runtime.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NamespaceTerminating,
    NotFound,
    ServerError,
    TooManyRequests,
    error_from_response,
)
from grove.runtime.resources import LEASES, NODES, PODS, Resource


def test_resource_paths() -> None:
    assert PODS.path("ns") == "/api/v1/namespaces/ns/pods"
    assert PODS.path("ns", "p", "status") == "/api/v1/namespaces/ns/pods/p/status"
    assert PODS.path() == "/api/v1/pods"
    assert NODES.path("ignored", "n1") == "/api/v1/nodes/n1"
    assert LEASES.path("kube-system", "x") == "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x"
    crd = Resource("grove.io", "v1alpha1", "podcliques", "PodClique")
    assert crd.path("ns", "a", "scale") == "/apis/grove.io/v1alpha1/namespaces/ns/podcliques/a/scale"
    assert crd.api_version == "grove.io/v1alpha1"
    assert PODS.api_version == "v1"
    assert str(crd) == "podcliques.grove.io"


def test_resource_rejects_bad_descriptors() -> None:
    with pytest.raises(ValueError, match=r"Resource\.plural"):
        Resource("", "v1", "Pods", "Pod")
    with pytest.raises(ValueError, match=r"Resource\.kind"):
        Resource("", "v1", "pods", "")
    with pytest.raises(ValueError, match="subresource"):
        PODS.path("ns", None, "status")


def _status(code: int, reason: str, message: str, **details: object) -> bytes:
    return json.dumps(
        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
         "message": message, "details": details}
    ).encode()  # fmt: skip


def test_errors_are_typed_by_status_and_reason() -> None:
    assert isinstance(error_from_response(404, _status(404, "NotFound", 'pods "a" not found')), NotFound)
    assert isinstance(error_from_response(409, _status(409, "AlreadyExists", "exists")), AlreadyExists)
    assert isinstance(error_from_response(409, _status(409, "Conflict", "modified")), Conflict)
    assert isinstance(error_from_response(410, _status(410, "Expired", "too old")), Gone)
    assert isinstance(error_from_response(503, b"upstream down"), ServerError)
    err = error_from_response(418, b"")
    assert type(err) is ApiError and err.status == 418


def test_a_create_refused_in_a_terminating_namespace_is_namespace_terminating() -> None:
    cause = {"reason": "NamespaceTerminating", "message": "namespace ns is being terminated"}
    message = (
        'pods "p-" is forbidden: unable to create new content in namespace ns because it is being terminated'
    )
    err = error_from_response(403, _status(403, "Forbidden", message, causes=[cause]))
    assert isinstance(err, NamespaceTerminating) and isinstance(err, Forbidden)
    other = error_from_response(403, _status(403, "Forbidden", 'pods "p" is forbidden: no'))
    assert isinstance(other, Forbidden) and not isinstance(other, NamespaceTerminating)


def test_invalid_carries_field_causes() -> None:
    body = _status(
        422,
        "Invalid",
        'Pod "a" is invalid',
        causes=[{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}],
    )
    err = error_from_response(422, body)
    assert isinstance(err, Invalid)
    assert err.causes[0].field == "spec.containers"
    assert "spec.containers: Required value" in str(err)
    assert err.reason == "Invalid"


def test_too_many_requests_retry_after() -> None:
    err = error_from_response(429, _status(429, "TooManyRequests", "slow down", retryAfterSeconds=3))
    assert isinstance(err, TooManyRequests)
    assert err.retry_after == 3.0


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(max_retries=3, base_delay=0.1, max_delay=1.0)
    assert 0.05 <= policy.delay(1, None) <= 0.1
    assert 0.5 <= policy.delay(10, None) <= 1.0
    assert policy.delay(1, 0.3) == 0.3
    assert policy.delay(1, 100) == 1.0


def test_sharing_decoder_shares_keys_and_short_values() -> None:
    decoder = SharingDecoder(max_entries=4)
    a = decoder.loads(b'{"metadata": {"name": "a", "phase": "Running", "labels": {}}}')
    b = decoder.loads('{"metadata": {"name": "b", "phase": "Running", "labels": {}}}')
    assert a == {"metadata": {"name": "a", "phase": "Running", "labels": {}}}
    key_a = next(iter(a))
    key_b = next(iter(b))
    assert key_a is key_b
    assert a["metadata"]["phase"] is b["metadata"]["phase"]
    for i in range(10):  # the tables are bounded and start over when full
        decoder.loads(json.dumps({"v": f"unique-{i}", "nested": {"x": f"unique-{i}"}}))
    assert len(decoder._values) <= 4
    assert len(decoder._leaves) <= 4


def test_sharing_decoder_shares_equal_leaf_objects_only() -> None:
    decoder = SharingDecoder()
    docs = [
        decoder.loads(
            json.dumps({"name": n, "requests": {"cpu": "10m", "memory": "16Mi"}, "flags": {"a": v}})
        )
        for n, v in (("x", 1), ("y", 1), ("z", True), ("w", 1.0))
    ]
    assert docs[0]["requests"] is docs[1]["requests"] is docs[3]["requests"]
    assert docs[0]["flags"] is docs[1]["flags"]
    # Equal in Python, different in JSON: never conflated.
    assert docs[2]["flags"] == {"a": True} and docs[2]["flags"]["a"] is True
    assert docs[3]["flags"] == {"a": 1.0} and isinstance(docs[3]["flags"]["a"], float)
    assert docs[0] is not docs[1]  # objects with nested dicts are never shared
