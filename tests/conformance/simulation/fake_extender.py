"""A scheduler extender for tests: aiohttp on loopback in its own thread, speaking kube-scheduler's wire
protocol (Go field names as JSON keys) under one URL prefix per configured extender (``/a/filter``,
``/b/prioritize``, ...). Rules are set per prefix by the test; every call is recorded."""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Any

import aiohttp
from aiohttp import web


class FakeExtender:
    """Filter, prioritize and bind endpoints driven by ``failed``/``unresolvable``/``scores``/``errors``/
    ``status`` (each keyed by prefix); binding goes to the cluster at ``cluster_url`` via ``pods/binding``,
    with ``cluster_ssl`` (a context presenting client credentials, for a real API server) when set."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.failed: dict[str, dict[str, str]] = {}
        self.unresolvable: dict[str, dict[str, str]] = {}
        self.scores: dict[str, dict[str, int]] = {}
        self.errors: dict[str, str] = {}
        self.status: dict[str, int] = {}
        self.cluster_url = ""
        self.cluster_ssl: ssl.SSLContext | bool = True
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="fake-extender", daemon=True)

    def reset(self) -> None:
        """Forget rules and recorded calls."""
        for d in (self.failed, self.unresolvable, self.scores, self.errors, self.status):
            d.clear()
        self.calls.clear()

    def calls_for(self, prefix: str, verb: str, pod: str | None = None) -> list[dict[str, Any]]:
        """Bodies received on ``/<prefix>/<verb>`` (for pod ``pod`` when given)."""
        out = []
        for p, v, body in list(self.calls):
            if p != prefix or v != verb:
                continue
            name = (
                body.get("PodName")
                if verb == "bind"
                else ((body.get("Pod") or {}).get("metadata") or {}).get("name")
            )
            if pod is None or name == pod:
                out.append(body)
        return out

    # ----------------------------------------------------------------- server

    def start(self) -> str:
        """Serve on a free loopback port; returns the base URL."""
        self._thread.start()
        self._ready.wait(10)
        return self.url

    def stop(self) -> None:
        """Stop serving."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _main(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/{prefix}/{verb}", self._handle)
        self._runner = web.AppRunner(app)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

    async def _handle(self, request: web.Request) -> web.Response:
        prefix, verb = request.match_info["prefix"], request.match_info["verb"]
        body = await request.json()
        self.calls.append((prefix, verb, body))
        if prefix in self.status:
            return web.Response(status=self.status[prefix], text="injected failure")
        if verb == "filter":
            return web.json_response(self._filter(prefix, body))
        if verb == "prioritize":
            names = self._names(body)
            return web.json_response(
                [{"Host": n, "Score": self.scores.get(prefix, {}).get(n, 0)} for n in names]
            )
        if verb == "bind":
            return web.json_response({"Error": await self._bind(body)})
        return web.Response(status=404)

    @staticmethod
    def _names(body: dict[str, Any]) -> list[str]:
        if body.get("NodeNames") is not None:
            return list(body["NodeNames"])
        return [n["metadata"]["name"] for n in body["Nodes"]["items"]]

    def _filter(self, prefix: str, body: dict[str, Any]) -> dict[str, Any]:
        if prefix in self.errors:
            return {"Error": self.errors[prefix]}
        names = self._names(body)
        failed = {n: m for n, m in self.failed.get(prefix, {}).items() if n in names}
        unresolvable = {n: m for n, m in self.unresolvable.get(prefix, {}).items() if n in names}
        kept = [n for n in names if n not in failed and n not in unresolvable]
        result: dict[str, Any] = {
            "FailedNodes": failed,
            "FailedAndUnresolvableNodes": unresolvable,
            "Error": "",
        }
        if body.get("NodeNames") is not None:
            result.update(NodeNames=kept, Nodes=None)
        else:
            items = [n for n in body["Nodes"]["items"] if n["metadata"]["name"] in kept]
            result.update(Nodes={"metadata": {}, "items": items}, NodeNames=None)
        return result

    async def _bind(self, body: dict[str, Any]) -> str:
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": body["PodName"], "namespace": body["PodNamespace"], "uid": body["PodUID"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": body["Node"]},
        }
        url = f"{self.cluster_url}/api/v1/namespaces/{body['PodNamespace']}/pods/{body['PodName']}/binding"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=binding, ssl=self.cluster_ssl) as resp,
        ):
            if resp.status >= 300:
                return f"binding failed: {resp.status} {await resp.text()}"
        return ""
