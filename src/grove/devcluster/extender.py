"""The scheduler stand-in's HTTP client for scheduler extenders: kube-scheduler's ``HTTPExtender``.

Requests are ``POST <urlPrefix>/<verb>`` with the Go types of ``k8s.io/kube-scheduler/extender/v1`` as
JSON. Those types have no json tags, so the keys are the Go field names: ``ExtenderArgs{Pod, Nodes,
NodeNames}`` (``Nodes`` a ``NodeList`` when not ``nodeCacheCapable``, ``NodeNames`` otherwise, the other
one ``null``), ``ExtenderFilterResult{Nodes, NodeNames, FailedNodes, FailedAndUnresolvableNodes, Error}``,
``HostPriorityList`` ``[{"Host", "Score"}]``, ``ExtenderBindingArgs{PodName, PodNamespace, PodUID, Node}``
and ``ExtenderBindingResult{Error}``. Replies are decoded as Go's ``encoding/json`` does (keys matched
case-insensitively). Objects are sent as kube-scheduler's informer cache holds them: without ``kind`` and
``apiVersion``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from grove.devcluster.schedconfig import ExtenderConfig, TLSConfig

JSON = dict[str, Any]


class ExtenderError(Exception):
    """A failed extender call, worded as kube-scheduler's error would be."""


def _wire_object(obj: JSON) -> JSON:
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


def _get(doc: Mapping[str, Any], name: str) -> Any:
    """``encoding/json`` field lookup: the exact key, else a case-insensitive match."""
    if name in doc:
        return doc[name]
    lowered = name.lower()
    for k, v in doc.items():
        if k.lower() == lowered:
            return v
    return None


def _ssl_context(tls: TLSConfig | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if tls is None:
        return ctx
    if tls.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.ca_file:
        ctx.load_verify_locations(cafile=tls.ca_file)
    if tls.ca_data:
        ctx.load_verify_locations(cadata=base64.b64decode(tls.ca_data).decode())
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
    elif tls.cert_data:
        with tempfile.TemporaryDirectory(prefix="grove-extender-tls-") as d:
            cert, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
            with open(cert, "wb") as f:
                f.write(base64.b64decode(tls.cert_data))
            with open(key, "wb") as f:
                f.write(base64.b64decode(tls.key_data))
            ctx.load_cert_chain(cert, key)
    return ctx


class HTTPExtender:
    """One configured extender. Create and use it on the event loop that runs the scheduler."""

    def __init__(self, config: ExtenderConfig) -> None:
        self.config = config
        self.managed = frozenset(r.name for r in config.managed_resources)
        self.ignored_resources = frozenset(r.name for r in config.managed_resources if r.ignored_by_scheduler)
        self._session: aiohttp.ClientSession | None = None

    @property
    def name(self) -> str:
        """The extender's name in kube-scheduler (its URL prefix)."""
        return self.config.url_prefix

    @property
    def is_binder(self) -> bool:
        """Whether this extender binds pods instead of the scheduler."""
        return bool(self.config.bind_verb)

    @property
    def filters(self) -> bool:
        """Whether it has a filter verb."""
        return bool(self.config.filter_verb)

    @property
    def prioritizes(self) -> bool:
        """Whether it has a prioritize verb."""
        return bool(self.config.prioritize_verb)

    @property
    def ignorable(self) -> bool:
        """Whether its errors are skipped instead of failing the pod."""
        return self.config.ignorable

    def is_interested(self, resource_names: set[str]) -> bool:
        """``IsInterested``: no ``managedResources``, or the pod requests or limits one of them."""
        return not self.managed or bool(self.managed & resource_names)

    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_ctx: ssl.SSLContext | bool = True
            if self.config.enable_https or self.config.url_prefix.startswith("https://"):
                ssl_ctx = _ssl_context(self.config.tls)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl_ctx),
                timeout=aiohttp.ClientTimeout(total=self.config.http_timeout),
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _send(self, verb: str, args: Any) -> Any:
        url = self.config.url_prefix.rstrip("/") + "/" + verb
        session = self._session_for_loop()
        try:
            async with session.post(
                url, data=orjson.dumps(args), headers={"Content-Type": "application/json"}
            ) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise ExtenderError(f"failed {verb} with extender at URL {url}, code {resp.status}")
        except TimeoutError:
            raise ExtenderError(
                f'Post "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
            ) from None
        except aiohttp.ClientError as e:
            raise ExtenderError(f'Post "{url}": {e}') from None
        try:
            return orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError as e:
            raise ExtenderError(
                f"extender at URL {self.config.url_prefix} returned invalid JSON for {verb}: {e}"
            ) from None

    def _args(self, pod: JSON, nodes: Sequence[JSON]) -> JSON:
        if self.config.node_cache_capable:
            return {
                "Pod": _wire_object(pod),
                "Nodes": None,
                "NodeNames": [n["metadata"]["name"] for n in nodes],
            }
        return {
            "Pod": _wire_object(pod),
            "Nodes": {"metadata": {}, "items": [_wire_object(n) for n in nodes]},
            "NodeNames": None,
        }

    async def filter(
        self, pod: JSON, nodes: Sequence[JSON]
    ) -> tuple[list[str], dict[str, str], dict[str, str]]:
        """(names of the nodes that pass, FailedNodes, FailedAndUnresolvableNodes)."""
        names = [n["metadata"]["name"] for n in nodes]
        if not self.filters:
            return names, {}, {}
        result = await self._send(self.config.filter_verb, self._args(pod, nodes))
        if not isinstance(result, dict):
            raise ExtenderError(f"extender at URL {self.config.url_prefix} returned no ExtenderFilterResult")
        error = _get(result, "Error")
        if error:
            raise ExtenderError(str(error))
        known = set(names)
        kept: list[str] = []
        result_names = _get(result, "NodeNames")
        result_nodes = _get(result, "Nodes")
        if self.config.node_cache_capable and result_names is not None:
            for name in result_names:
                if name not in known:
                    raise ExtenderError(
                        f'extender "{self.config.url_prefix}" claims a filtered node "{name}" which is not '
                        f"found in the input node list"
                    )
                kept.append(name)
        elif isinstance(result_nodes, dict):
            for item in _get(result_nodes, "items") or []:
                name = ((item or {}).get("metadata") or {}).get("name", "")
                if name in known:
                    kept.append(name)
        failed = {str(k): str(v) for k, v in (_get(result, "FailedNodes") or {}).items()}
        unresolvable = {str(k): str(v) for k, v in (_get(result, "FailedAndUnresolvableNodes") or {}).items()}
        return kept, failed, unresolvable

    async def prioritize(self, pod: JSON, nodes: Sequence[JSON]) -> list[tuple[str, int]]:
        """(host, score) pairs as the extender returned them (scores 0..10 by protocol)."""
        if not self.prioritizes:
            return [(n["metadata"]["name"], 0) for n in nodes]
        result = await self._send(self.config.prioritize_verb, self._args(pod, nodes))
        out: list[tuple[str, int]] = []
        for hp in result or []:
            if isinstance(hp, dict):
                host, score = _get(hp, "Host"), _get(hp, "Score")
                if isinstance(host, str) and isinstance(score, int | float):
                    out.append((host, int(score)))
        return out

    async def bind(self, pod: JSON, node: str) -> None:
        """Ask the extender to bind ``pod`` to ``node``; raises on failure."""
        md = pod["metadata"]
        args = {
            "PodName": md["name"],
            "PodNamespace": md.get("namespace", ""),
            "PodUID": md["uid"],
            "Node": node,
        }
        result = await self._send(self.config.bind_verb, args)
        error = _get(result, "Error") if isinstance(result, dict) else None
        if error:
            raise ExtenderError(str(error))


async def close_all(extenders: Sequence[HTTPExtender]) -> None:
    """Close every extender's session."""
    await asyncio.gather(*(e.close() for e in extenders), return_exceptions=True)
