"""Conformance-suite fixtures: the test CRD (``widgets.example.com``) and raw HTTP access to the API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from conformance_helpers import wait_established
from kubernetes_asyncio import client as k8s

TESTDATA = Path(__file__).parent / "testdata"
WIDGETS = "/apis/example.com/v1"


class Raw:
    """Raw JSON requests through kubernetes_asyncio's REST client (any status is returned, not raised)."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self.api = api
        self.host = api.configuration.host.rstrip("/")

    def _headers(self, content_type: str, accept: str) -> dict[str, str]:
        headers = {"Content-Type": content_type, "Accept": accept}
        token = self.api.configuration.api_key.get("BearerToken") or self.api.configuration.api_key.get(
            "authorization"
        )
        if token:
            headers["Authorization"] = token
        return headers

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> tuple[int, Any, Any]:
        """(status, decoded JSON body or text, headers)."""
        resp = await self.api.rest_client.request(
            method,
            self.host + path,
            query_params=query,
            headers=self._headers(content_type, accept),
            body=body,
            _preload_content=False,
        )
        try:
            raw = await resp.read()
        finally:
            resp.release()
        try:
            decoded: Any = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode()
        return resp.status, decoded, resp.headers

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        """The decoded body of a 2xx response; fails the test otherwise."""
        status, decoded, _ = await self.request(method, path, body, **kw)
        assert 200 <= status < 300, f"{method} {path} -> {status}: {decoded}"
        return decoded

    async def open_watch(self, path: str, query: dict[str, Any]) -> Any:
        """Start a watch; returns the streaming response (read lines from ``.content``, then ``close()``)."""
        resp = await self.api.rest_client.request(
            "GET",
            self.host + path,
            query_params={"watch": "true", **query},
            headers=self._headers("application/json", "application/json"),
            _preload_content=False,
        )
        assert resp.status == 200, await resp.text()
        return resp

    async def watch(
        self,
        path: str,
        query: dict[str, Any],
        *,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """The first ``count`` events of a watch (fewer if the stream ends or ``timeout`` passes)."""
        q = {"watch": "true", **query}
        resp = await self.api.rest_client.request(
            "GET",
            self.host + path,
            query_params=q,
            headers=self._headers("application/json", "application/json"),
            _preload_content=False,
        )
        events: list[dict[str, Any]] = []
        try:
            assert resp.status == 200, await resp.text()
            async with asyncio.timeout(timeout):
                while len(events) < count:
                    line = await resp.content.readline()
                    if not line:
                        break
                    events.append(json.loads(line))
        except TimeoutError:
            pass
        finally:
            resp.close()
        return events


@pytest_asyncio.fixture
async def raw(api_client: k8s.ApiClient) -> AsyncIterator[Raw]:
    """Raw JSON access to the API server."""
    yield Raw(api_client)


@pytest_asyncio.fixture
async def namespace(namespace: str, raw: Raw, wait_for: Any) -> str:
    """The root conftest's fresh namespace, once kube-controller-manager's root CA publisher has created its
    ``kube-root-ca.crt`` ConfigMap (shortly after the namespace), so a test listing and watching the
    namespace's ConfigMaps sees only its own writes."""

    async def published() -> bool:
        status, _, _ = await raw.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/kube-root-ca.crt")
        return bool(status == 200)

    await wait_for(published, timeout=30, message=f"kube-root-ca.crt in {namespace}")
    return namespace


@pytest.fixture(scope="session")
def widgets_crd(kubectl_session: Any) -> str:
    """The test CRD ``widgets.example.com`` (status + scale subresources), applied server-side once."""
    kubectl = kubectl_session
    kubectl("apply", "--server-side", "-f", str(TESTDATA / "widgets-crd.yaml"), check=True)
    wait_established(kubectl, "widgets.example.com")
    return "widgets.example.com"
