"""Admission webhooks called by the dev cluster as kube-apiserver calls them, checked with a tiny webhook
served by the test over HTTPS (a certificate for 127.0.0.1, its CA as the configurations' caBundle) and with
real kubectl (whose output must be kube-apiserver's, word for word).

The webhook runs in the test process: the dev cluster and the real control plane the session started
(``GROVE_K8S_ASSETS``, loopback in the same network namespace) can call it; a cluster behind
``GROVE_TEST_KUBECONFIG`` cannot, so there the tests skip. kubectl runs in a thread, so the test's event loop
keeps answering the webhook calls it causes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from conformance_helpers import widget

from grove.webhook.certs import generate_bundle

ADMISSION = "/apis/admissionregistration.k8s.io/v1"

Behaviour = Callable[[dict[str, Any]], dict[str, Any]]


def _patch(ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "allowed": True,
        "patchType": "JSONPatch",
        "patch": base64.b64encode(json.dumps(ops).encode()).decode(),
    }


def _label(key: str) -> Behaviour:
    """Sets label ``key`` to the number of times this webhook was called for the object."""
    calls: dict[str, int] = {}

    def behave(req: dict[str, Any]) -> dict[str, Any]:
        obj = req["object"]
        ident = obj["metadata"].get("name") or obj["metadata"].get("generateName", "")
        calls[ident] = calls.get(ident, 0) + 1
        ops: list[dict[str, Any]] = []
        if "labels" not in obj["metadata"]:
            ops.append({"op": "add", "path": "/metadata/labels", "value": {}})
        ops.append({"op": "add", "path": f"/metadata/labels/{key}", "value": str(calls[ident])})
        return _patch(ops)

    return behave


class TinyWebhook:
    """An HTTPS admission webhook whose answer per path is a function of the AdmissionReview request."""

    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.requests: dict[str, list[dict[str, Any]]] = {}
        self.delay = 0.0
        self.bundle = generate_bundle("tiny", ["127.0.0.1", "localhost", "tiny.webhooks.svc"])
        self.port = 0
        # The address a Service's Endpoints name for this webhook (see _endpoint_address).
        self.endpoint_ip = "127.0.0.1"
        self._runner: web.AppRunner | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="tiny-webhook-")

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(self.bundle.ca_cert).decode()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        review = await request.json()
        req = review["request"]
        self.requests.setdefault(request.path, []).append(req)
        if request.path == "/slow":
            await asyncio.sleep(3)
        response = self.behaviours.get(request.path, lambda _r: {"allowed": True})(req)
        return web.json_response(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {"uid": req["uid"], **response},
            }
        )

    async def start(self, extra_hosts: tuple[str, ...] = ()) -> None:
        """Serve on 127.0.0.1 (and ``extra_hosts``) on one free port."""
        d = Path(self._dir.name)
        (d / "tls.crt").write_bytes(self.bundle.cert)
        (d / "tls.key").write_bytes(self.bundle.key)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(d / "tls.crt"), str(d / "tls.key"))
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        for host in extra_hosts:
            await web.TCPSite(self._runner, host, self.port, ssl_context=ctx).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._dir.cleanup()


# kube-apiserver refuses loopback addresses in Endpoints, and the private network namespace of the real tier
# has only loopback: the webhook also listens on a documentation address (TEST-NET-1) added to `lo` there.
ENDPOINT_IP = "192.0.2.10"


def _endpoint_address() -> str:
    """ENDPOINT_IP on this network namespace's loopback interface (the real tier's private namespace)."""
    result = subprocess.run(
        ["ip", "addr", "add", f"{ENDPOINT_IP}/32", "dev", "lo"], capture_output=True, text=True, check=False
    )
    if (
        result.returncode != 0
        and "already assigned" not in result.stderr
        and "File exists" not in result.stderr
    ):
        raise AssertionError(f"ip addr add {ENDPOINT_IP}/32 dev lo: {result.stderr}")
    return ENDPOINT_IP


@pytest_asyncio.fixture
async def tiny(cluster: Any) -> AsyncIterator[TinyWebhook]:
    if cluster.dev is None and cluster.k8s is None:
        pytest.skip(
            "the API server must reach the test process's webhook on 127.0.0.1 (GROVE_TEST_KUBECONFIG)"
        )
    hook = TinyWebhook()
    if cluster.k8s is not None:
        hook.endpoint_ip = _endpoint_address()
    await hook.start(() if hook.endpoint_ip == "127.0.0.1" else (hook.endpoint_ip,))
    try:
        yield hook
    finally:
        await hook.stop()


class Configs:
    """Creates webhook configurations scoped to the test namespace and deletes them afterwards."""

    def __init__(self, raw: Any, namespace: str, tiny: TinyWebhook) -> None:
        self.raw = raw
        self.namespace = namespace
        self.tiny = tiny
        self.created: list[str] = []

    def hook(
        self,
        name: str,
        path: str,
        *,
        resources: tuple[str, ...] = ("configmaps",),
        groups: tuple[str, ...] = ("",),
        versions: tuple[str, ...] = ("v1",),
        operations: tuple[str, ...] = ("CREATE", "UPDATE"),
        **extra: Any,
    ) -> dict[str, Any]:
        hook: dict[str, Any] = {
            "name": name,
            "clientConfig": {"url": self.tiny.url(path), "caBundle": self.tiny.ca_bundle},
            "rules": [
                {
                    "operations": list(operations),
                    "apiGroups": list(groups),
                    "apiVersions": list(versions),
                    "resources": list(resources),
                }
            ],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}},
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        }
        hook.update(extra)
        return hook

    async def add(self, kind: str, *hooks: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        plural = "mutatingwebhookconfigurations" if kind == "mutating" else "validatingwebhookconfigurations"
        config_name = name or f"{self.namespace}-{uuid.uuid4().hex[:6]}"
        obj = await self.raw.ok(
            "POST",
            f"{ADMISSION}/{plural}",
            {"metadata": {"name": config_name}, "webhooks": list(hooks)},
        )
        self.created.append(f"{plural}/{config_name}")
        return obj

    async def cleanup(self) -> None:
        for path in self.created:
            await self.raw.request("DELETE", f"{ADMISSION}/{path}")


@pytest_asyncio.fixture
async def configs(raw: Any, namespace: str, tiny: TinyWebhook) -> AsyncIterator[Configs]:
    c = Configs(raw, namespace, tiny)
    try:
        yield c
    finally:
        await c.cleanup()


async def run(kubectl: Any, *args: str, input: str | None = None) -> Any:
    return await asyncio.to_thread(kubectl, *args, input=input)


def configmap(name: str, namespace: str, labels: dict[str, str] | None = None) -> str:
    md: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        md["labels"] = labels
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": {"k": "v"}})


# --------------------------------------------------------------------------- configuration objects


async def test_configurations_are_defaulted_and_validated(raw: Any, configs: Configs, kubectl: Any) -> None:
    obj = await configs.add("validating", configs.hook("ok.tiny.grove.io", "/ok"))
    hook = obj["webhooks"][0]
    assert hook["failurePolicy"] == "Fail"
    assert hook["matchPolicy"] == "Equivalent"
    assert hook["timeoutSeconds"] == 10
    assert hook["objectSelector"] == {}
    assert hook["rules"][0]["scope"] == "*"
    bad = configs.hook("short", "/ok", timeoutSeconds=31, sideEffects="Some")
    bad["clientConfig"] = {"url": "http://example.com/x"}
    status, body, _ = await raw.request(
        "POST",
        f"{ADMISSION}/validatingwebhookconfigurations",
        {"metadata": {"name": "bad"}, "webhooks": [bad]},
    )
    assert status == 422, body
    fields = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert fields["webhooks[0].name"].endswith(
        "should be a domain with at least three segments separated by dots"
    )
    assert fields["webhooks[0].timeoutSeconds"] == (
        "Invalid value: 31: the timeout value must be between 1 and 30 seconds"
    )
    assert (
        fields["webhooks[0].sideEffects"]
        == 'Unsupported value: "Some": supported values: "None", "NoneOnDryRun"'
    )
    assert fields["webhooks[0].clientConfig.url"] == (
        "Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path]"
    )
    out = await run(kubectl, "get", "validatingwebhookconfigurations")
    assert out.returncode == 0 and obj["metadata"]["name"] in out.stdout


# --------------------------------------------------------------------------- mutating


async def test_mutating_patch_is_applied_and_request_is_complete(
    configs: Configs, tiny: TinyWebhook, namespace: str, kubectl: Any
) -> None:
    tiny.behaviours["/label"] = _label("mutated")
    await configs.add("mutating", configs.hook("label.tiny.grove.io", "/label"))
    out = await run(kubectl, "create", "-o", "json", "-f", "-", input=configmap("cm", namespace))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["metadata"]["labels"] == {"mutated": "1"}
    req = tiny.requests["/label"][0]
    assert req["operation"] == "CREATE"
    assert req["kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
    assert req["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
    assert (req["name"], req["namespace"], req["dryRun"]) == ("cm", namespace, False)
    assert "uid" not in req["object"]["metadata"]  # mutating admission runs before the uid is set
    assert req["oldObject"] is None
    got = await run(kubectl, "get", "cm", "cm", "-n", namespace, "-o", "jsonpath={.metadata.labels.mutated}")
    assert got.stdout == "1"


async def test_reinvocation_if_needed(
    configs: Configs, tiny: TinyWebhook, namespace: str, kubectl: Any
) -> None:
    tiny.behaviours["/first"] = _label("first")
    tiny.behaviours["/second"] = _label("second")
    await configs.add(
        "mutating",
        configs.hook("first.tiny.grove.io", "/first", reinvocationPolicy="IfNeeded"),
        name=f"a-{namespace}",
    )
    await configs.add("mutating", configs.hook("second.tiny.grove.io", "/second"), name=f"b-{namespace}")
    out = await run(kubectl, "create", "-o", "json", "-f", "-", input=configmap("cm", namespace))
    assert out.returncode == 0, out.stderr
    # "first" ran, "second" changed the object after it, so "first" ran once more; "second" did not.
    assert json.loads(out.stdout)["metadata"]["labels"] == {"first": "2", "second": "1"}


# --------------------------------------------------------------------------- validating


async def test_denial_message_as_kube_apiserver_formats_it(
    configs: Configs, tiny: TinyWebhook, namespace: str, kubectl: Any
) -> None:
    tiny.behaviours["/deny"] = lambda _r: {
        "allowed": False,
        "status": {"code": 403, "reason": "Forbidden", "message": "configmaps are not welcome here"},
    }
    await configs.add("validating", configs.hook("deny.tiny.grove.io", "/deny"))
    out = await run(kubectl, "create", "-f", "-", input=configmap("cm", namespace))
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": admission webhook "deny.tiny.grove.io" '
        "denied the request: configmaps are not welcome here"
    )
    missing = await run(kubectl, "get", "cm", "cm", "-n", namespace)
    assert "NotFound" in missing.stderr


async def test_status_with_causes_prints_like_field_errors(
    configs: Configs, tiny: TinyWebhook, namespace: str, kubectl: Any
) -> None:
    tiny.behaviours["/invalid"] = lambda r: {
        "allowed": False,
        "status": {
            "code": 422,
            "reason": "Invalid",
            "message": f'ConfigMap "{r["name"]}" is invalid: data.k: Invalid value: "v": must be "w"',
            "details": {
                "name": r["name"],
                "kind": "ConfigMap",
                "causes": [
                    {
                        "reason": "FieldValueInvalid",
                        "message": 'Invalid value: "v": must be "w"',
                        "field": "data.k",
                    },
                    {"reason": "FieldValueRequired", "message": "Required value", "field": "data.other"},
                ],
            },
        },
    }
    await configs.add("validating", configs.hook("invalid.tiny.grove.io", "/invalid"))
    out = await run(kubectl, "create", "-f", "-", input=configmap("cm", namespace))
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'The ConfigMap "cm" is invalid: \n'
        '* data.k: Invalid value: "v": must be "w"\n'
        "* data.other: Required value"
    )


async def test_warnings_reach_kubectl(
    configs: Configs, tiny: TinyWebhook, namespace: str, kubectl: Any
) -> None:
    tiny.behaviours["/warn"] = lambda _r: {"allowed": True, "warnings": ["data.k is deprecated"]}
    await configs.add("validating", configs.hook("warn.tiny.grove.io", "/warn"))
    out = await run(kubectl, "create", "-f", "-", input=configmap("cm", namespace))
    assert out.returncode == 0, out.stderr
    assert "Warning: data.k is deprecated" in out.stderr


async def test_update_sends_old_object_and_operations_filter(
    configs: Configs, tiny: TinyWebhook, namespace: str, kubectl: Any
) -> None:
    await configs.add("validating", configs.hook("updates.tiny.grove.io", "/updates", operations=("UPDATE",)))
    assert (await run(kubectl, "create", "-f", "-", input=configmap("cm", namespace))).returncode == 0
    assert "/updates" not in tiny.requests
    out = await run(kubectl, "label", "cm", "cm", "-n", namespace, "x=y")
    assert out.returncode == 0, out.stderr
    [req] = tiny.requests["/updates"]
    assert req["operation"] == "UPDATE"
    assert req["oldObject"]["metadata"].get("labels") is None
    assert req["object"]["metadata"]["labels"] == {"x": "y"}
    assert req["object"]["metadata"]["uid"] == req["oldObject"]["metadata"]["uid"]


async def test_object_selector_and_dry_run(
    configs: Configs, tiny: TinyWebhook, namespace: str, kubectl: Any
) -> None:
    await configs.add(
        "validating",
        configs.hook("selected.tiny.grove.io", "/selected", objectSelector={"matchLabels": {"check": "me"}}),
    )
    assert (await run(kubectl, "create", "-f", "-", input=configmap("plain", namespace))).returncode == 0
    assert "/selected" not in tiny.requests
    out = await run(
        kubectl,
        "create",
        "--dry-run=server",
        "-f",
        "-",
        input=configmap("checked", namespace, {"check": "me"}),
    )
    assert out.returncode == 0, out.stderr
    [req] = tiny.requests["/selected"]
    assert req["dryRun"] is True
    assert "NotFound" in (await run(kubectl, "get", "cm", "checked", "-n", namespace)).stderr


async def test_delete_is_validated(configs: Configs, tiny: TinyWebhook, namespace: str, kubectl: Any) -> None:
    tiny.behaviours["/nodelete"] = lambda _r: {"allowed": False, "status": {"message": "keep it"}}
    assert (await run(kubectl, "create", "-f", "-", input=configmap("cm", namespace))).returncode == 0
    await configs.add(
        "validating", configs.hook("nodelete.tiny.grove.io", "/nodelete", operations=("DELETE",))
    )
    out = await run(kubectl, "delete", "cm", "cm", "-n", namespace)
    assert out.returncode == 1
    assert 'admission webhook "nodelete.tiny.grove.io" denied the request: keep it' in out.stderr
    [req] = tiny.requests["/nodelete"]
    assert req["object"] is None and req["oldObject"]["metadata"]["name"] == "cm"


async def test_scale_subresource_rules(
    configs: Configs, tiny: TinyWebhook, namespace: str, kubectl: Any, widgets_crd: str
) -> None:
    tiny.behaviours["/noscale"] = lambda _r: {"allowed": False, "status": {"message": "no scaling"}}
    manifest = widget("w", replicas=1)
    manifest["metadata"]["namespace"] = namespace
    await configs.add(
        "validating",
        configs.hook(
            "noscale.tiny.grove.io",
            "/noscale",
            resources=("widgets/scale",),
            groups=("example.com",),
            versions=("*",),
        ),
    )
    assert (await run(kubectl, "create", "-f", "-", input=json.dumps(manifest))).returncode == 0
    assert "/noscale" not in tiny.requests  # widgets/scale does not match widgets
    out = await run(kubectl, "scale", "widget", "w", "-n", namespace, "--replicas=3")
    assert out.returncode == 1
    assert "no scaling" in out.stderr
    [req] = tiny.requests["/noscale"]
    assert req["subResource"] == "scale"
    assert req["kind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert req["object"]["spec"]["replicas"] == 3


# --------------------------------------------------------------------------- failures


async def test_failure_policy_when_the_webhook_is_down(
    configs: Configs, tiny: TinyWebhook, namespace: str, kubectl: Any
) -> None:
    down = "https://127.0.0.1:1/down"
    hook = configs.hook("down.tiny.grove.io", "/unused", objectSelector={"matchLabels": {"policy": "fail"}})
    hook["clientConfig"]["url"] = down
    ignore = configs.hook(
        "ignored.tiny.grove.io",
        "/unused",
        failurePolicy="Ignore",
        objectSelector={"matchLabels": {"policy": "ignore"}},
    )
    ignore["clientConfig"]["url"] = down
    await configs.add("validating", hook, ignore)
    failed = await run(kubectl, "create", "-f", "-", input=configmap("a", namespace, {"policy": "fail"}))
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        'Error from server (InternalError): error when creating "STDIN": Internal error occurred: '
        'failed calling webhook "down.tiny.grove.io": failed to call webhook: '
        f'Post "{down}?timeout=10s": dial tcp 127.0.0.1:1: connect: connection refused'
    )
    ignored = await run(kubectl, "create", "-f", "-", input=configmap("b", namespace, {"policy": "ignore"}))
    assert ignored.returncode == 0, ignored.stderr


async def test_timeout_and_ca_bundle_are_enforced(
    configs: Configs, tiny: TinyWebhook, namespace: str, kubectl: Any
) -> None:
    slow = configs.hook(
        "slow.tiny.grove.io", "/slow", timeoutSeconds=1, objectSelector={"matchLabels": {"t": "slow"}}
    )
    other_ca = base64.b64encode(generate_bundle("other", ["127.0.0.1"]).ca_cert).decode()
    untrusted = configs.hook("untrusted.tiny.grove.io", "/ok", objectSelector={"matchLabels": {"t": "ca"}})
    untrusted["clientConfig"]["caBundle"] = other_ca
    await configs.add("validating", slow, untrusted)
    out = await run(kubectl, "create", "-f", "-", input=configmap("a", namespace, {"t": "slow"}))
    assert out.returncode == 1
    assert f'Post "{tiny.url("/slow")}?timeout=1s": context deadline exceeded' in out.stderr
    out = await run(kubectl, "create", "-f", "-", input=configmap("b", namespace, {"t": "ca"}))
    assert out.returncode == 1
    assert 'failed calling webhook "untrusted.tiny.grove.io"' in out.stderr
    assert "tls: failed to verify certificate: x509: certificate signed by unknown authority" in out.stderr
    assert "/ok" not in tiny.requests


async def test_service_reference_resolves_through_endpoints(
    raw: Any, configs: Configs, tiny: TinyWebhook, namespace: str, kubectl: Any
) -> None:
    # The certificate names tiny.webhooks.svc: the Service is "tiny" in namespace "webhooks".
    await raw.request("POST", "/api/v1/namespaces", {"metadata": {"name": "webhooks"}})
    svc = {
        "metadata": {"name": "tiny"},
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]},
    }
    await raw.request("DELETE", "/api/v1/namespaces/webhooks/services/tiny")
    await raw.ok("POST", "/api/v1/namespaces/webhooks/services", svc)
    endpoints = {
        "metadata": {"name": "tiny"},
        "subsets": [
            {"addresses": [{"ip": tiny.endpoint_ip}], "ports": [{"name": "https", "port": tiny.port}]}
        ],
    }
    await raw.ok("PUT", "/api/v1/namespaces/webhooks/endpoints/tiny", endpoints)
    hook = configs.hook("service.tiny.grove.io", "/via-service")
    hook["clientConfig"] = {
        "service": {"namespace": "webhooks", "name": "tiny", "path": "/via-service"},
        "caBundle": tiny.ca_bundle,
    }
    await configs.add("validating", hook)
    try:
        out = await run(kubectl, "create", "-f", "-", input=configmap("cm", namespace))
        assert out.returncode == 0, out.stderr
        assert len(tiny.requests["/via-service"]) == 1
    finally:
        await raw.request("DELETE", "/api/v1/namespaces/webhooks/services/tiny")
        await raw.request("DELETE", "/api/v1/namespaces/webhooks/endpoints/tiny")


async def test_match_policy_equivalent_converts_to_the_matched_version(
    raw: Any, configs: Configs, tiny: TinyWebhook, namespace: str
) -> None:
    rule = {"resources": ("events",), "groups": ("events.k8s.io",), "operations": ("CREATE",)}
    await configs.add(
        "validating",
        configs.hook("equivalent.tiny.grove.io", "/equivalent", **rule),
        configs.hook("exact.tiny.grove.io", "/exact", matchPolicy="Exact", **rule),
    )
    event = {
        "metadata": {"name": "e"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
        "reason": "Tested",
        "message": "a core/v1 event",
        "type": "Normal",
    }
    await raw.ok("POST", f"/api/v1/namespaces/{namespace}/events", event)
    assert "/exact" not in tiny.requests
    [req] = tiny.requests["/equivalent"]
    assert req["kind"] == {"group": "events.k8s.io", "version": "v1", "kind": "Event"}
    assert req["requestKind"] == {"group": "", "version": "v1", "kind": "Event"}
    assert req["object"]["apiVersion"] == "events.k8s.io/v1"
    assert req["object"]["note"] == "a core/v1 event"
