"""AdmissionReview handling: parsing, the defaulting patch, PodCliqueSet and ClusterTopologyBinding
validation responses, and the HTTP endpoint's answers to requests it cannot read."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from aiohttp.test_utils import TestClient, TestServer
from kubernetes_asyncio.client import ApiClient, Configuration

from grove.api.topology import ClusterTopologyBinding
from grove.devcluster.patch import json_patch
from grove.runtime.client import Client
from grove.webhook import DEFAULT_PODCLIQUESET_PATH, VALIDATE_PODCLIQUESET_PATH, WebhookServer
from grove.webhook.defaulting import default_patch, handle_default
from grove.webhook.review import AdmissionRequest, BadReview, parse_review
from grove.webhook.validation import handle_validate_clustertopology, handle_validate_podcliqueset

SAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "samples"


def sample() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SAMPLES / "multi-node-aggregated.yaml").read_text())
    return data


def review(
    obj: dict[str, Any] | None, operation: str = "CREATE", old: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    kind = (obj or old or {}).get("kind", "PodCliqueSet")
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "kind": {"group": "grove.io", "version": "v1alpha1", "kind": kind},
            "resource": {"group": "grove.io", "version": "v1alpha1", "resource": "podcliquesets"},
            "operation": operation,
            "name": ((obj or old or {}).get("metadata") or {}).get("name", ""),
            "namespace": "default",
            "object": obj,
            "oldObject": old,
            "dryRun": False,
            **kw,
        },
    }


def request(
    obj: dict[str, Any] | None, operation: str = "CREATE", old: dict[str, Any] | None = None
) -> AdmissionRequest:
    return parse_review(json.dumps(review(obj, operation, old)).encode())


async def no_topology(_name: str) -> ClusterTopologyBinding | None:
    return None


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json_patch(obj, default_patch(obj))
    return out


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{", "couldn't decode"),
        (b"[]", "must be a JSON object"),
        (
            json.dumps({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}).encode(),
            "expected an",
        ),
        (json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(), "no request"),
    ],
)
def test_unreadable_reviews(body: bytes, why: str) -> None:
    with pytest.raises(BadReview, match=why):
        parse_review(body)


def test_request_fields() -> None:
    req = request(sample())
    assert (req.uid, req.operation, req.kind, req.name, req.namespace) == (
        "u-1",
        "CREATE",
        "PodCliqueSet",
        "multinode-aggregated",
        "default",
    )


# --------------------------------------------------------------------------- defaulting


def test_defaulting_patch_applies_upstream_defaults() -> None:
    obj = sample()
    response = handle_default(request(obj))
    assert response["allowed"] is True and response["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(response["patch"]))
    out = json_patch(obj, ops)
    template = out["spec"]["template"]
    assert template["terminationDelay"] == "4h"
    assert template["cliques"][1]["spec"]["minAvailable"] == template["cliques"][1]["spec"]["replicas"]
    assert {op["path"].split("/")[1] for op in ops} == {"spec"}  # nothing outside spec changes


def test_defaulting_is_idempotent_and_keeps_unknown_metadata() -> None:
    obj = sample()
    obj["metadata"]["annotations"] = {"note": "kept"}
    once = defaulted(obj)
    assert default_patch(once) == []
    assert handle_default(request(once)) == {"allowed": True}
    assert once["metadata"]["annotations"] == {"note": "kept"}


def test_defaulting_leaves_unreadable_objects_to_validation() -> None:
    obj = sample()
    obj["spec"]["replicas"] = "three"
    assert handle_default(request(obj)) == {"allowed": True}


def test_defaulting_ignores_delete_and_rejects_other_kinds() -> None:
    assert handle_default(request(None, "DELETE", sample())) == {"allowed": True}
    other = {"kind": "PodClique", "metadata": {"name": "x"}}
    assert handle_default(request(other))["status"]["code"] == 400


# --------------------------------------------------------------------------- PodCliqueSet validation


async def test_invalid_create_lists_every_field_error() -> None:
    obj = defaulted(sample())
    obj["spec"]["template"]["cliques"][0]["name"] = "Leader"
    obj["spec"]["template"]["terminationDelay"] = "0s"
    response = await handle_validate_podcliqueset(request(obj), no_topology)
    status = response["status"]
    assert response["allowed"] is False
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert status["details"]["kind"] == "PodCliqueSet" and status["details"]["group"] == "grove.io"
    fields = [c["field"] for c in status["details"]["causes"]]
    assert "spec.template.cliques[0].name" in fields
    assert "spec.template.terminationDelay" in fields
    assert status["message"].startswith('PodCliqueSet.grove.io "multinode-aggregated" is invalid: [')


async def test_valid_create_and_update() -> None:
    obj = defaulted(sample())
    assert await handle_validate_podcliqueset(request(obj), no_topology) == {"allowed": True}
    newer = copy.deepcopy(obj)
    newer["spec"]["replicas"] = 3
    assert await handle_validate_podcliqueset(request(newer, "UPDATE", obj), no_topology) == {"allowed": True}


async def test_update_of_immutable_field_is_rejected_unless_deleting() -> None:
    old = defaulted(sample())
    new = copy.deepcopy(old)
    new["spec"]["template"]["cliques"][0]["spec"]["minAvailable"] = 1
    new["spec"]["template"]["cliques"][0]["spec"]["replicas"] = 2
    new["spec"]["template"]["cliqueStartupType"] = "CliqueStartupTypeInOrder"
    response = await handle_validate_podcliqueset(request(new, "UPDATE", old), no_topology)
    causes = {c["field"]: c["message"] for c in response["status"]["details"]["causes"]}
    assert causes["spec.template.cliqueStartupType"].endswith("field is immutable")
    deleting = copy.deepcopy(old)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert await handle_validate_podcliqueset(request(new, "UPDATE", deleting), no_topology) == {
        "allowed": True
    }


async def test_topology_reference_and_warning() -> None:
    ct = ClusterTopologyBinding.from_dict(
        {
            "metadata": {"name": "gb200"},
            "spec": {
                "levels": [
                    {"domain": "zone", "key": "topology.kubernetes.io/zone"},
                    {"domain": "rack", "key": "example.com/rack"},
                ]
            },
        }
    )

    async def lookup(name: str) -> ClusterTopologyBinding | None:
        return ct if name == "gb200" else None

    obj = defaulted(sample())
    obj["spec"]["template"]["topologyConstraint"] = {
        "topologyName": "gb200",
        "pack": {"required": "rack", "preferred": "zone"},
    }
    response = await handle_validate_podcliqueset(request(obj), lookup)
    assert response["allowed"] is True
    assert response["warnings"] == [
        'spec.template.topologyConstraint.pack.preferred: "zone" is broader than the required "rack", '
        "so the preference has no effect"
    ]
    obj["spec"]["template"]["topologyConstraint"]["topologyName"] = "missing"
    response = await handle_validate_podcliqueset(request(obj), lookup)
    [cause] = response["status"]["details"]["causes"]
    assert cause == {
        "reason": "FieldValueInvalid",
        "message": 'Invalid value: "missing": ClusterTopologyBinding "missing" not found',
        "field": "spec.template.topologyConstraint.topologyName",
    }


# --------------------------------------------------------------------------- ClusterTopologyBinding


def test_clustertopology_duplicates_and_schedulers() -> None:
    ct = {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "ClusterTopologyBinding",
        "metadata": {"name": "t"},
        "spec": {
            "levels": [
                {"domain": "zone", "key": "k1"},
                {"domain": "zone", "key": "k1"},
            ],
            "schedulerTopologyBindings": [
                {"schedulerName": "kai-scheduler", "topologyReference": "x"},
            ],
        },
    }
    response = handle_validate_clustertopology(request(ct))
    messages = [f"{c['field']}: {c['message']}" for c in response["status"]["details"]["causes"]]
    assert messages == [
        'spec.levels[1].domain: Duplicate value: "zone"',
        'spec.levels[1].key: Duplicate value: "k1"',
        'spec.schedulerTopologyBindings[0].schedulerName: Unsupported value: "kai-scheduler": '
        'supported values: "default-scheduler", "grove-scheduler"',
    ]
    ct["spec"] = {"levels": [{"domain": "zone", "key": "k1"}, {"domain": "rack", "key": "k2"}]}
    assert handle_validate_clustertopology(request(ct)) == {"allowed": True}


# --------------------------------------------------------------------------- HTTP


@pytest_asyncio.fixture
async def http() -> AsyncIterator[TestClient[Any, Any]]:
    # A real client that is never called: these requests need no cluster.
    client = Client(ApiClient(Configuration(host="http://127.0.0.1:1")))
    server = WebhookServer(client)
    async with TestClient(TestServer(server.make_app())) as tc:
        tc.webhook = server  # type: ignore[attr-defined]
        yield tc
    await client.close()


async def test_http_answers_with_an_admission_review(http: TestClient[Any, Any]) -> None:
    resp = await http.post(DEFAULT_PODCLIQUESET_PATH, json=review(sample()))
    assert resp.status == 200
    body = await resp.json()
    assert (body["apiVersion"], body["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")
    assert body["response"]["uid"] == "u-1" and body["response"]["allowed"] is True
    registry = http.webhook.metrics.registry  # type: ignore[attr-defined]
    labels = {"webhook": DEFAULT_PODCLIQUESET_PATH, "code": "200"}
    assert registry.get_sample_value("controller_runtime_webhook_requests_total", labels) == 1


async def test_http_rejects_what_it_cannot_read(http: TestClient[Any, Any]) -> None:
    resp = await http.post(VALIDATE_PODCLIQUESET_PATH, data=b"{}", headers={"Content-Type": "text/plain"})
    body = await resp.json()
    assert body["response"]["allowed"] is False
    assert body["response"]["status"]["code"] == 400
    assert "expected application/json" in body["response"]["status"]["message"]
    resp = await http.post(VALIDATE_PODCLIQUESET_PATH, json={"kind": "AdmissionReview"})
    assert (await resp.json())["response"]["status"]["code"] == 400
