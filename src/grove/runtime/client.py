"""An async Kubernetes client for any resource, speaking raw JSON over kubernetes_asyncio's REST client.

No generated models: request bodies are dicts, responses are parsed JSON dicts. Failures raise the typed
errors of :mod:`grove.runtime.errors`. Idempotent calls (GET, PUT, server-side apply) are retried with
jittered exponential backoff on 429, 5xx and connection errors; creates, merge/JSON patches and deletes are
never retried, since a retry could apply them twice.
"""

from __future__ import annotations

import asyncio
import builtins
import enum
import json
import os
import platform
import random
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
import structlog
from kubernetes_asyncio.client import ApiClient

from grove.runtime.config import load_configuration
from grove.runtime.errors import ApiError, Gone, TooManyRequests, TransportError, error_from_response
from grove.runtime.meta import Obj, name_of, namespace_of
from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.ratelimit import TokenBucket
from grove.runtime.resources import Resource

log = structlog.get_logger(__name__)

Decode = Callable[[bytes], Any]
Query = list[tuple[str, str]]


class PatchType(enum.Enum):
    """Patch flavours and their content types."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    APPLY = "application/apply-patch+yaml"


class PropagationPolicy(enum.Enum):
    """What happens to dependents of a deleted object."""

    BACKGROUND = "Background"
    FOREGROUND = "Foreground"
    ORPHAN = "Orphan"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of idempotent calls: ``max_retries`` after the first attempt, jittered exponential backoff."""

    max_retries: int = 4
    base_delay: float = 0.1
    max_delay: float = 5.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based); honours a server ``Retry-After``."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        cap = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return random.uniform(cap / 2, cap)


@dataclass(slots=True)
class ObjectList:
    """A LIST result: the items and the collection's resourceVersion (the point to watch from)."""

    items: list[Obj]
    resource_version: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One watch event: ``type`` is ADDED, MODIFIED, DELETED, BOOKMARK or ERROR; ``object`` the parsed object
    (a ``Status`` for ERROR)."""

    type: str
    object: Obj


class WatchStream:
    """An open watch response; iterate it for :class:`WatchEvent`, ``close()`` it from anywhere to end it."""

    def __init__(self, response: aiohttp.ClientResponse, decode: Decode) -> None:
        self._response = response
        self._decode = decode

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> WatchEvent:
        content = self._response.content
        while True:
            try:
                line = await content.readline()
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                # "Response payload is not completed" or a reset ends a watch (kubernetes_asyncio #235).
                raise TransportError(f"watch stream broken: {exc!r}") from exc
            if not line:
                raise StopAsyncIteration
            if line.isspace():
                continue
            event = self._decode(line)
            return WatchEvent(event.get("type", ""), event.get("object") or {})

    def close(self) -> None:
        """Ends the stream; a pending ``__anext__`` finishes (with StopAsyncIteration or TransportError)."""
        self._response.close()


class Client:
    """The API client. Create with :meth:`connect` (from kubeconfig or in-cluster) or around an ``ApiClient``.

    ``qps``/``burst`` enable client-side rate limiting (off by default, as in controller-runtime >= 0.21).
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        metrics: RuntimeMetrics | None = None,
        retry: RetryPolicy | None = None,
        qps: float | None = None,
        burst: int = 10,
        request_timeout: float = 60.0,
        user_agent: str | None = None,
    ) -> None:
        self.api_client = api_client
        self.configuration = api_client.configuration
        self.host = str(self.configuration.host).rstrip("/")
        self.metrics = metrics
        self.retry = retry if retry is not None else RetryPolicy()
        self.request_timeout = request_timeout
        self._limiter = TokenBucket(qps, burst) if qps else None
        self._rest = api_client.rest_client
        # The API server names field managers after the user agent's program part.
        program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
        self._headers = {
            "Accept": "application/json",
            "User-Agent": user_agent or f"{program}/v0.0.0 (python {platform.python_version()})",
        }
        netloc = urlsplit(self.host).netloc or self.host
        self._host_label = netloc
        self._metric_children: dict[tuple[str, str], Any] = {}

    @classmethod
    async def connect(
        cls, kubeconfig: str | None = None, context: str | None = None, **kwargs: Any
    ) -> Client:
        """A client for the cluster found by :func:`grove.runtime.config.load_configuration`."""
        configuration = await load_configuration(kubeconfig, context)
        return cls(ApiClient(configuration=configuration), **kwargs)

    async def close(self) -> None:
        """Closes the connection pool."""
        await self.api_client.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- reads ---------------------------------------------------------------------------------------

    async def get(
        self, resource: Resource, name: str, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj:
        """One object (or its ``subresource``, e.g. "status" or "scale")."""
        path = resource.path(self._ns(resource, namespace), name, subresource)
        return await self._json("GET", path, idempotent=True)

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = 500,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
        decode: Decode | None = None,
    ) -> ObjectList:
        """All matching objects, following ``continue`` tokens page by page (``limit`` per page).

        If a continue token expires mid-way (410), the list starts over without paging, as client-go's pager.
        """
        query = self._selectors(label_selector, field_selector)
        if resource_version:
            query.append(("resourceVersion", resource_version))
            if resource_version_match:
                query.append(("resourceVersionMatch", resource_version_match))
        path = resource.path(namespace if resource.namespaced else None)
        items: builtins.list[Obj] = []
        token: str | None = None
        while True:
            page_query = list(query)
            if limit:
                page_query.append(("limit", str(limit)))
            if token:
                page_query.append(("continue", token))
            try:
                page = await self._json("GET", path, query=page_query, idempotent=True, decode=decode)
            except Gone:
                if not token:
                    raise
                log.info("list.continue_expired", resource=str(resource), namespace=namespace)
                items, token, limit = [], None, None
                continue
            items.extend(page.get("items") or ())
            page_meta = page.get("metadata") or {}
            token = page_meta.get("continue") or None
            if not token:
                extra = {k: v for k, v in page.items() if k not in ("items", "metadata")}
                return ObjectList(items, str(page_meta.get("resourceVersion") or ""), extra)

    @asynccontextmanager
    async def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
        sock_read_timeout: float = 90.0,
        decode: Decode | None = None,
    ) -> AsyncIterator[WatchStream]:
        """Opens a watch (no retries: the informer owns the backoff). Errors on opening raise typed errors.

        ``sock_read_timeout`` bounds the silence on the socket, so a half-open connection cannot hang forever.
        """
        query = self._selectors(label_selector, field_selector)
        query.append(("watch", "true"))
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if allow_bookmarks:
            query.append(("allowWatchBookmarks", "true"))
        if timeout_seconds is not None:
            query.append(("timeoutSeconds", str(timeout_seconds)))
        path = resource.path(namespace if resource.namespaced else None)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=30.0, sock_connect=30.0, sock_read=sock_read_timeout
        )
        response = await self._send(
            "GET", path, query=query, client_timeout=timeout, idempotent=False, stream=True
        )
        try:
            yield WatchStream(response, decode or json.loads)
        finally:
            response.close()

    # ---- writes --------------------------------------------------------------------------------------

    async def create(
        self,
        resource: Resource,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        name: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> Obj:
        """Creates ``obj`` (in ``namespace`` or ``obj.metadata.namespace``); returns what was stored.

        With ``subresource``, POSTs ``obj`` to that subresource of the object ``name`` (default
        ``obj.metadata.name``) instead: ``create(PODS, binding, ns, name=pod, subresource="binding")``
        binds a pod. The answer is what the server returns (a Status for a Binding). Creates are never
        retried.
        """
        ns = self._ns(resource, namespace or namespace_of(obj), obj)
        query = self._write_query(dry_run, field_manager)
        if subresource:
            target = name or name_of(obj)
            if not target:
                raise ValueError(f"{resource}/{subresource}: name (or metadata.name) is required")
            path = resource.path(ns, target, subresource)
        elif name is not None:
            raise ValueError(f"{resource}: name is only for creating on a subresource; set metadata.name")
        else:
            path = resource.path(ns)
        return await self._json("POST", path, query=query, body=obj, idempotent=False)

    async def update(
        self,
        resource: Resource,
        obj: Mapping[str, Any],
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> Obj:
        """Replaces ``obj`` (PUT). Carries its resourceVersion, so a stale object fails with Conflict."""
        name = name_of(obj)
        if not name:
            raise ValueError(f"{resource}: metadata.name is required to update")
        ns = self._ns(resource, namespace_of(obj), obj)
        query = self._write_query(dry_run, field_manager)
        path = resource.path(ns, name, subresource)
        return await self._json("PUT", path, query=query, body=obj, idempotent=True)

    async def update_status(self, resource: Resource, obj: Mapping[str, Any], **kwargs: Any) -> Obj:
        """Replaces the ``status`` subresource of ``obj``."""
        return await self.update(resource, obj, subresource="status", **kwargs)

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        namespace: str | None = None,
        *,
        patch_type: PatchType = PatchType.MERGE,
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> Obj:
        """Patches one object. ``PatchType.APPLY`` is server-side apply and needs ``field_manager``."""
        if patch_type is PatchType.APPLY and not field_manager:
            raise ValueError("field_manager: required for server-side apply")
        if patch_type is PatchType.JSON and not isinstance(patch, Sequence):
            raise ValueError("patch: a JSON patch must be a list of operations")
        if force and patch_type is not PatchType.APPLY:
            raise ValueError("force: only meaningful for server-side apply")
        query = self._write_query(dry_run, field_manager)
        if force:
            query.append(("force", "true"))
        path = resource.path(self._ns(resource, namespace), name, subresource)
        return await self._json(
            "PATCH",
            path,
            query=query,
            body=patch,
            content_type=patch_type.value,
            idempotent=patch_type is PatchType.APPLY,
        )

    async def patch_status(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
        **kwargs: Any,
    ) -> Obj:
        """Patches the ``status`` subresource."""
        return await self.patch(resource, name, patch, namespace, subresource="status", **kwargs)

    async def apply(
        self,
        resource: Resource,
        obj: Mapping[str, Any],
        *,
        field_manager: str,
        force: bool = False,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Server-side apply of ``obj`` (which must carry apiVersion, kind and metadata.name)."""
        for key in ("apiVersion", "kind"):
            if not obj.get(key):
                raise ValueError(f"{resource}: {key} is required for server-side apply")
        name = name_of(obj)
        if not name:
            raise ValueError(f"{resource}: metadata.name is required for server-side apply")
        return await self.patch(
            resource,
            name,
            obj,
            self._ns(resource, namespace_of(obj), obj),
            patch_type=PatchType.APPLY,
            subresource=subresource,
            field_manager=field_manager,
            force=force,
            dry_run=dry_run,
        )

    async def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: PropagationPolicy | None = None,
        uid: str | None = None,
        resource_version: str | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Deletes one object. ``uid``/``resource_version`` are preconditions (Conflict when they differ).

        Returns the server's answer: the object (still terminating with finalizers) or a ``Status``.
        """
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy.value
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if preconditions:
            options["preconditions"] = preconditions
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if dry_run:
            options["dryRun"] = ["All"]
        path = resource.path(self._ns(resource, namespace), name)
        return await self._json("DELETE", path, body=options, idempotent=False)

    async def get_scale(self, resource: Resource, name: str, namespace: str | None = None) -> Obj:
        """The ``scale`` subresource (autoscaling/v1 Scale)."""
        return await self.get(resource, name, namespace, subresource="scale")

    async def scale(self, resource: Resource, name: str, replicas: int, namespace: str | None = None) -> Obj:
        """Sets ``spec.replicas`` through the ``scale`` subresource."""
        if replicas < 0:
            raise ValueError(f"replicas: must be >= 0, got {replicas}")
        return await self.patch(
            resource, name, {"spec": {"replicas": replicas}}, namespace, subresource="scale"
        )

    # ---- plumbing ------------------------------------------------------------------------------------

    @staticmethod
    def _ns(resource: Resource, namespace: str | None, obj: Mapping[str, Any] | None = None) -> str | None:
        if not resource.namespaced:
            return None
        if not namespace:
            raise ValueError(f"{resource}: namespace is required for a namespaced resource")
        if obj is not None:
            obj_ns = namespace_of(obj)
            if obj_ns and obj_ns != namespace:
                raise ValueError(f"metadata.namespace: {obj_ns!r} does not match namespace {namespace!r}")
        return namespace

    @staticmethod
    def _selectors(label_selector: str | None, field_selector: str | None) -> Query:
        query: Query = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        return query

    @staticmethod
    def _write_query(dry_run: bool, field_manager: str | None) -> Query:
        query: Query = []
        if dry_run:
            query.append(("dryRun", "All"))
        if field_manager:
            query.append(("fieldManager", field_manager))
        return query

    async def _json(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        content_type: str = "application/json",
        idempotent: bool,
        decode: Decode | None = None,
    ) -> Obj:
        response = await self._send(
            method, path, query=query, body=body, content_type=content_type, idempotent=idempotent
        )
        data = response.body
        result = (decode or json.loads)(data) if data else {}
        if not isinstance(result, dict):
            raise TransportError(f"{method} {path}: expected a JSON object, got {type(result).__name__}")
        return result

    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        content_type: str = "application/json",
        idempotent: bool,
        client_timeout: aiohttp.ClientTimeout | None = None,
        stream: bool = False,
    ) -> Any:
        """Sends one request with retries. Returns the open aiohttp response when ``stream``, otherwise a
        ``_Response`` with the body read."""
        attempt = 0
        url = self.host + path
        while True:
            attempt += 1
            if self._limiter is not None:
                await self._limiter.acquire()
            headers = dict(self._headers)
            headers["Content-Type"] = content_type
            await self._authorize(headers)
            started = time.perf_counter()
            code = "<error>"
            try:
                response = await self._rest.request(
                    method,
                    url,
                    # urlencode takes pairs too, and repeated keys need them.
                    query_params=cast(Any, query),
                    headers=headers,
                    body=body,
                    _preload_content=False,
                    _request_timeout=client_timeout
                    or aiohttp.ClientTimeout(total=self.request_timeout, connect=30.0),
                )
                code = str(response.status)
                if stream and response.status == 200:
                    return response
                try:
                    data = await response.read()
                finally:
                    response.release()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error: Exception = TransportError(f"{method} {path}: {exc!r}")
                error.__cause__ = exc
                retry_after = None
            else:
                if 200 <= response.status < 300:
                    return _Response(response.status, data)
                error = error_from_response(response.status, data, response.reason or "")
                retry_after = _retry_after(response.headers.get("Retry-After"), error)
            finally:
                self._observe(method, code, time.perf_counter() - started)
            if not (idempotent and attempt <= self.retry.max_retries and _retryable(error)):
                raise error
            delay = self.retry.delay(attempt, retry_after)
            if self.metrics is not None:
                self.metrics.rest_request_retries.labels(code, method, self._host_label).inc()
            log.debug("request.retry", method=method, path=path, code=code, attempt=attempt, delay=delay)
            await asyncio.sleep(delay)

    async def _authorize(self, headers: dict[str, str]) -> None:
        # auth_settings() runs the configuration's refresh hook (in-cluster token rotation, exec plugins).
        for setting in (await self.configuration.auth_settings()).values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        for key, value in self.api_client.default_headers.items():
            headers.setdefault(key, value)

    def _observe(self, method: str, code: str, seconds: float) -> None:
        metrics = self.metrics
        if metrics is None:
            return
        children = self._metric_children.get((method, code))
        if children is None:
            children = (
                metrics.rest_requests.labels(code, method, self._host_label),
                metrics.rest_request_duration.labels(method, self._host_label),
            )
            self._metric_children[(method, code)] = children
        children[0].inc()
        children[1].observe(seconds)


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes


def _retryable(error: Exception) -> bool:
    if isinstance(error, TransportError):
        return True
    if isinstance(error, ApiError):
        return error.status == 429 or (error.status >= 500 and error.status not in (501, 505))
    return False


def _retry_after(header: str | None, error: ApiError) -> float | None:
    if header:
        try:
            return float(header)
        except ValueError:
            return None
    if isinstance(error, TooManyRequests):
        return error.retry_after
    return None
