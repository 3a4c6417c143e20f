"""The HTTP API server: kube-apiserver's REST surface over aiohttp, on top of :class:`Store`.

Every resource request goes through the same store methods in-process components use. Responses are
compact JSON; watches are newline-delimited JSON event streams, each event encoded once and shared by
every watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson
import structlog
import yaml
from aiohttp import web

from grove.devcluster import discovery, errors, kubeletapi, podeviction, protobuf, reviews, tables
from grove.devcluster.errors import ApiError
from grove.devcluster.faults import Faults
from grove.devcluster.openapi import OpenAPICache
from grove.devcluster.requestlog import RequestAttributes, RequestLog, authorization_verb
from grove.devcluster.resources import ResourceType
from grove.devcluster.schema import unknown_fields
from grove.devcluster.selectors import parse_field_selector, parse_label_selector
from grove.devcluster.store import Steps, Store, run_steps
from grove.devcluster.watch import BOOKMARK, INITIAL_EVENTS_END, dumps, error_line

if TYPE_CHECKING:
    from grove.devcluster.webhooks import WebhookDispatcher

log = structlog.get_logger("grove.devcluster.server")

JSON = dict[str, Any]

# The release Grove is tested against (the real tier runs kube-apiserver v1.36.2): clients that branch on the
# server version, and messages that changed between releases, must see that release here too.
KUBE_VERSION = {
    "major": "1",
    "minor": "36",
    "emulationMajor": "1",
    "emulationMinor": "36",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "35",
    "gitVersion": "v1.36.2",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "python",
    "compiler": "cpython",
    "platform": "linux/amd64",
}

_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply",
}
_ACCEPTED_PATCH_TYPES = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
    "application/strategic-merge-patch+json",
]
_TRUE = ("true", "1", "True", "TRUE")
_JSON_CT = "application/json"

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_json_loads = orjson.loads


def _json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type=_JSON_CT, headers=headers)


def _raw_json(body: bytes, status: int = 200, content_type: str = _JSON_CT) -> web.Response:
    resp = web.Response(body=body, status=status)
    resp.headers["Content-Type"] = content_type
    return resp


def _error_response(err: ApiError) -> web.Response:
    headers = {"Retry-After": "1"} if err.code == 429 else None
    return _json_response(err.status(), err.code, headers)


def _not_found_path() -> ApiError:
    """go-restful's 404 for a path under a web service it serves but no route of it matches."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", details={})


class _PageNotFound(Exception):
    """A path no API handler claims: kube-apiserver's NotFoundHandler answers it with Go's ``http.NotFound``
    (plain text, not a Status)."""


def _page_not_found() -> web.Response:
    return web.Response(
        status=404,
        body=b"404 page not found\n",
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
    )


class _Request:
    """A parsed resource request."""

    __slots__ = ("name", "namespace", "rtype", "subresource")

    def __init__(self, rtype: ResourceType, namespace: str | None, name: str | None, subresource: str | None):
        self.rtype = rtype
        self.namespace = namespace
        self.name = name
        self.subresource = subresource


class ApiServer:
    """aiohttp application serving the Kubernetes API for one :class:`Store`."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        *,
        bookmark_interval: float = 60.0,
        min_request_timeout: float = 1800.0,
        admission: WebhookDispatcher | None = None,
    ) -> None:
        self.store = store
        self.admission = admission
        self.registry = store.registry
        self.faults = faults
        self.bookmark_interval = bookmark_interval
        self.min_request_timeout = min_request_timeout
        self.openapi = OpenAPICache(self.registry)
        self._builtin_groups = frozenset(t.group for t in self.registry.all() if t.crd_name is None)
        self.server_address = ""
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._stopping = asyncio.Event()
        self._discovery_cache: dict[str, bytes] = {}
        self.registry.on_change(self._discovery_cache.clear)
        self.requests = 0
        self.request_log: RequestLog | None = None
        """Set it to record the authorization attributes of every resource request from then on (see
        :mod:`grove.devcluster.requestlog`); off by default, as it keeps one entry per object touched."""

    # ------------------------------------------------------------- lifecycle

    def make_app(self) -> web.Application:
        """The aiohttp application (one catch-all route; paths are parsed here)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> int:
        """Listen on ``host:port`` (0 picks a free port); returns the port."""
        self._runner = web.AppRunner(
            self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        self._site = web.TCPSite(
            self._runner, host, port, ssl_context=ssl_context, backlog=1024, reuse_address=True
        )
        await self._site.start()
        server = self._site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        actual = int(sockets[0].getsockname()[1]) if sockets else port
        self.server_address = f"{host}:{actual}"
        return actual

    async def stop(self) -> None:
        """Close every watch and stop listening."""
        self._stopping.set()
        self.store.close_all_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------- dispatch

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Entry point of every request."""
        self.requests += 1
        path = request.path
        try:
            slashes = path.rstrip("/").count("/")
            if (path.startswith("/api/") and slashes >= 2) or (path.startswith("/apis/") and slashes >= 3):
                return await self._resource_or_discovery(request, path)
            return self._non_resource(request, path)
        except ApiError as e:
            return _error_response(e)
        except _PageNotFound:
            return _page_not_found()
        except (ValueError, yaml.YAMLError, orjson.JSONDecodeError) as e:
            return _error_response(errors.bad_request(f"error decoding request: {e}"))
        except Exception as e:  # an emulator bug must still answer like an apiserver would
            log.exception("request.failed", path=path, method=request.method)
            return _error_response(errors.internal_error(f"{type(e).__name__}: {e}"))

    def _non_resource(self, request: web.Request, path: str) -> web.StreamResponse:
        stripped = path.rstrip("/") or "/"
        if stripped in ("/healthz", "/readyz", "/livez") or stripped.startswith(
            ("/healthz/", "/readyz/", "/livez/")
        ):
            return web.Response(text="ok", content_type="text/plain")
        if stripped == "/version":
            return _json_response(KUBE_VERSION)
        accept = request.headers.get("Accept", "")
        if stripped in ("/api", "/apis"):
            media = discovery.wants_aggregated(accept)
            core = stripped == "/api"
            if media is not None:
                key = f"{stripped}|{media}"
                body = self._discovery_cache.get(key)
                if body is None:
                    body = dumps(discovery.aggregated(self.registry, core=core, media_type=media))
                    self._discovery_cache[key] = body
                return _raw_json(body, content_type=media)
            if core:
                return _json_response(discovery.api_versions(self.server_address))
            return _json_response(discovery.api_group_list(self.registry))
        if stripped.startswith("/apis/") and stripped.count("/") == 2:
            group = discovery.api_group(self.registry, stripped.split("/")[2])
            if group is None:
                raise _PageNotFound()
            return _json_response(group)
        if stripped == "/openapi/v3":
            return _raw_json(self.openapi.index())
        if stripped.startswith("/openapi/v3/"):
            doc = self.openapi.document(stripped[len("/openapi/v3/") :])
            if doc is None:
                raise _not_found_path()
            return _raw_json(doc)
        if stripped == "/":
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v3", "/readyz", "/version"]
            return _json_response({"paths": paths})
        raise _PageNotFound()

    def _unknown_path(self, group: str) -> Exception:
        """The 404 of an API path nothing serves, as kube-apiserver's handler chain answers it: a Status where
        its go-restful container claims the path (all of ``/api``, and ``/apis/<group>`` of its built-in
        groups), else plain text from its NotFoundHandler (unknown groups; versions and resources of groups
        only CRDs define, which apiextensions-apiserver passes on)."""
        if group == "" or group in self._builtin_groups:
            return _not_found_path()
        return _PageNotFound()

    def _parse(self, path: str) -> tuple[str, str, list[str]]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api":
            return "", parts[1], parts[2:]
        return parts[1], parts[2], parts[3:]

    async def _resource_or_discovery(self, request: web.Request, path: str) -> web.StreamResponse:
        group, version, rest = self._parse(path)
        if not rest:
            doc = discovery.api_resource_list(self.registry, group, version)
            if doc is None:
                raise self._unknown_path(group)
            return _json_response(doc)
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = self.registry.get(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace = rest[1]
                rest = rest[2:]
        rtype = self.registry.get(group, version, rest[0])
        if rtype is None or len(rest) > 3:
            raise self._unknown_path(group)
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and sub not in {s for s, _k, _v in rtype.subresources()}:
            if rtype.crd_name is not None and name is not None:
                # apiextensions-apiserver answers an unknown subresource of a custom resource as NotFound.
                raise errors.not_found(rtype.plural, rtype.group, name)
            raise _not_found_path()
        req = _Request(rtype, namespace, name, sub)
        q = request.query
        is_watch = request.method == "GET" and q.get("watch", "") in _TRUE
        if self.request_log is not None:
            self.request_log.record(
                RequestAttributes(
                    request.headers.get("User-Agent", ""),
                    authorization_verb(request.method, has_name=name is not None, watch=is_watch),
                    rtype.group,
                    rtype.plural,
                    sub or "",
                    namespace or "",
                    name or "",
                )
            )
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        injected = self.faults.injected_error(is_watch)
        if injected is not None:
            return _error_response(injected)
        method = request.method
        if sub in kubeletapi.NAMES and rtype.plural == "pods" and rtype.group == "":
            assert name is not None and namespace is not None
            container = request.query.get("container") or None
            refused = kubeletapi.refuse(self.store, sub, name, namespace, container)
            return web.Response(status=204) if refused is None else _error_response(refused)
        if method == "GET":
            if is_watch:
                return await self._watch(request, req)
            if name is None:
                return self._list(request, req)
            return self._get(request, req)
        if method == "POST":
            return await self._post(request, req)
        if method == "PUT":
            return await self._put(request, req)
        if method == "PATCH":
            return await self._patch(request, req)
        if method == "DELETE":
            return await self._delete(request, req)
        raise errors.method_not_allowed()

    # ------------------------------------------------------------- helpers

    @staticmethod
    async def _body(request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return None
        ctype = request.content_type
        if ctype == "application/vnd.kubernetes.protobuf":
            return protobuf.decode(raw)
        if ctype == "application/cbor":
            raise errors.unsupported_media_type(ctype, ["application/json", "application/yaml"])
        if ctype == "application/apply-patch+yaml" or ctype.endswith("yaml"):
            return yaml.load(raw, Loader=_YAML_LOADER)
        return _json_loads(raw)

    @staticmethod
    def _dry_run(request: web.Request) -> bool:
        values = request.query.getall("dryRun", [])
        for v in values:
            if v != "All":
                raise errors.bad_request(f'Invalid value: "{v}": supported values: "All"')
        return bool(values)

    @staticmethod
    def _field_manager(request: web.Request) -> str:
        fm = request.query.get("fieldManager")
        if fm:
            if len(fm) > 128:
                raise errors.bad_request("fieldManager: Too long: may not be more than 128 bytes")
            return fm
        ua = request.headers.get("User-Agent", "")
        return ua.split("/", 1)[0][:128] or "unknown"

    def _validation_warnings(self, request: web.Request, rtype: ResourceType, body: Any) -> list[str]:
        directive = request.query.get("fieldValidation", "Warn")
        if directive not in ("Ignore", "Warn", "Strict"):
            raise errors.bad_request(
                f'fieldValidation: Unsupported value: "{directive}": '
                'supported values: "Ignore", "Strict", "Warn"'
            )
        if directive == "Ignore" or rtype.schema is None or not isinstance(body, dict):
            return []
        unknown = unknown_fields(rtype.schema, body)
        if not unknown:
            return []
        messages = [f'unknown field "{u}"' for u in unknown]
        if directive == "Strict":
            raise errors.bad_request(
                f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: '
                "strict decoding error: " + ", ".join(messages)
            )
        return messages

    async def _write(self, make: Callable[[bool], Steps]) -> tuple[JSON, list[str]]:
        """Run a write through the admission webhooks; ``make(owned)`` builds it. Without webhooks the
        request body is handed over; with them a retried write must start from the untouched body."""
        if self.admission is None or not self.admission.configured():
            return run_steps(make(True)), []
        return await self.admission.run(lambda: make(False))

    async def _admit_delete(self, req: _Request, names: list[tuple[str, str | None]], dry: bool) -> list[str]:
        if self.admission is None or not self.admission.configured():
            return []
        warnings: list[str] = []
        for name, namespace in names:
            warnings += await self.admission.admit_delete(req.rtype, name, namespace, dry)
        return warnings

    @staticmethod
    def _respond(obj: Any, status: int, warnings: list[str]) -> web.Response:
        resp = _json_response(obj, status)
        for w in warnings:
            escaped = w.replace("\\", "\\\\").replace('"', '\\"')
            resp.headers.add("Warning", f'299 - "{escaped}"')
        return resp

    def _encode_list(self, request: web.Request, rtype: ResourceType, res: Any) -> web.Response:
        accept = request.headers.get("Accept", "")
        if tables.wants_table(accept):
            return _json_response(
                tables.table(
                    rtype,
                    res.items,
                    resource_version=res.resource_version,
                    continue_=res.continue_,
                    remaining=res.remaining,
                    include_object=request.query.get("includeObject", "Metadata"),
                    api_version=tables.table_api_version(accept),
                )
            )
        md: JSON = {"resourceVersion": res.resource_version}
        if res.continue_:
            md["continue"] = res.continue_
        if res.remaining is not None:
            md["remainingItemCount"] = res.remaining
        head = (
            b'{"kind":"'
            + rtype.list_kind.encode()
            + b'","apiVersion":"'
            + rtype.api_version.encode()
            + b'","metadata":'
            + dumps(md)
            + b',"items":['
        )
        body = head + b",".join(dumps(o) for o in res.items) + b"]}"
        return _raw_json(body)

    def _single(
        self,
        request: web.Request,
        rtype: ResourceType,
        obj: JSON,
        status: int = 200,
        warnings: list[str] | None = None,
    ) -> web.Response:
        accept = request.headers.get("Accept", "")
        if tables.wants_table(accept) and obj.get("kind") == rtype.kind:
            return _json_response(
                tables.table(
                    rtype,
                    [obj],
                    resource_version=obj["metadata"].get("resourceVersion", ""),
                    include_object=request.query.get("includeObject", "Metadata"),
                    api_version=tables.table_api_version(accept),
                ),
                status,
            )
        return self._respond(obj, status, warnings or [])

    # ------------------------------------------------------------- verbs

    def _get(self, request: web.Request, req: _Request) -> web.Response:
        assert req.name is not None
        if req.subresource == "scale":
            return _json_response(self.store.get_scale(req.rtype, req.name, req.namespace))
        if req.subresource not in (None, "status"):
            raise errors.method_not_allowed()
        return self._single(request, req.rtype, self.store.get(req.rtype, req.name, req.namespace))

    def _list(self, request: web.Request, req: _Request) -> web.Response:
        if "list" not in req.rtype.verbs:
            raise errors.method_not_allowed()
        q = request.query
        limit_text = q.get("limit")
        limit = None
        if limit_text:
            try:
                limit = int(limit_text)
            except ValueError:
                raise errors.bad_request(
                    f"limit: Invalid value: {limit_text!r}: must be an integer"
                ) from None
        res = self.store.list(
            req.rtype,
            req.namespace,
            label_selector=q.get("labelSelector"),
            field_selector=q.get("fieldSelector"),
            limit=limit if limit and limit > 0 else None,
            continue_=q.get("continue") or None,
        )
        return self._encode_list(request, req.rtype, res)

    async def _post(self, request: web.Request, req: _Request) -> web.Response:
        body = await self._body(request)
        dry = self._dry_run(request)
        if req.name is not None:
            if req.subresource == "eviction" and req.rtype.plural == "pods" and req.rtype.group == "":
                assert req.namespace is not None
                return _json_response(
                    podeviction.evict(self.store, req.name, req.namespace, body, dry_run=dry), 201
                )
            if req.subresource == "binding" and req.rtype.plural == "pods" and req.rtype.group == "":
                assert req.namespace is not None
                self.store.bind_pod(req.name, req.namespace, body if isinstance(body, dict) else {})
                return _json_response(
                    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
                    201,
                )
            raise errors.method_not_allowed()
        if reviews.is_review(req.rtype):
            return _json_response(reviews.answer(req.rtype, body, req.namespace), 201)
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        warnings = self._validation_warnings(request, req.rtype, body)
        fm = self._field_manager(request)
        created, admitted = await self._write(
            lambda owned: self.store.create_steps(
                req.rtype, body, req.namespace, dry_run=dry, field_manager=fm, owned=owned
            )
        )
        return self._single(request, req.rtype, created, 201, warnings + admitted)

    async def _put(self, request: web.Request, req: _Request) -> web.Response:
        if req.name is None:
            raise errors.method_not_allowed()
        body = await self._body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        dry = self._dry_run(request)
        fm = self._field_manager(request)
        if req.subresource == "scale":
            name = req.name
            scaled, admitted = await self._write(
                lambda _owned: self.store.update_scale_steps(
                    req.rtype, name, body, req.namespace, dry_run=dry, field_manager=fm
                )
            )
            return self._respond(scaled, 200, admitted)
        if req.subresource == "finalize":
            return _json_response(self.store.finalize_namespace(body))
        md = body.get("metadata")
        if isinstance(md, dict) and md.get("name") and md["name"] != req.name:
            raise errors.bad_request(
                f"the name of the object ({md['name']}) does not match the name on the URL ({req.name})"
            )
        warnings = self._validation_warnings(request, req.rtype, body)
        existed = True
        if req.rtype.allow_create_on_update:
            try:
                self.store.get(req.rtype, req.name, req.namespace)
            except ApiError:
                existed = False
        name = req.name
        out, admitted = await self._write(
            lambda owned: self.store.update_steps(
                req.rtype,
                body,
                req.namespace,
                subresource=req.subresource,
                dry_run=dry,
                field_manager=fm,
                owned=owned,
                name=name,
            )
        )
        return self._single(request, req.rtype, out, 200 if existed else 201, warnings + admitted)

    async def _patch(self, request: web.Request, req: _Request) -> web.Response:
        if req.name is None:
            raise errors.method_not_allowed()
        ctype = request.content_type
        patch_type = _PATCH_TYPES.get(ctype)
        if patch_type is None:
            raise errors.unsupported_media_type(ctype, _ACCEPTED_PATCH_TYPES)
        body = await self._body(request)
        dry = self._dry_run(request)
        fm = self._field_manager(request) if patch_type != "apply" else request.query.get("fieldManager", "")
        force = request.query.get("force", "") in _TRUE
        if force and patch_type != "apply":
            raise errors.bad_request("force: Forbidden: may not be specified for non-apply patch")
        if req.subresource == "scale":
            scaled, admitted = await self._write(
                lambda _owned: self._patch_scale(req, body, patch_type, dry, fm)
            )
            return self._respond(scaled, 200, admitted)
        warnings: list[str] = []
        if patch_type == "apply":
            warnings = self._validation_warnings(request, req.rtype, body)
        existed = True
        if patch_type == "apply":
            try:
                self.store.get(req.rtype, req.name, req.namespace)
            except ApiError as e:
                if e.code != 404:
                    raise
                existed = False
        name = req.name
        out, admitted = await self._write(
            lambda _owned: self.store.patch_steps(
                req.rtype,
                name,
                body,
                req.namespace,
                patch_type=patch_type,
                subresource=req.subresource,
                dry_run=dry,
                field_manager=fm,
                force=force,
            )
        )
        if patch_type != "apply" and req.rtype.schema is not None:
            warnings = self._validation_warnings(request, req.rtype, out)
        return self._single(request, req.rtype, out, 200 if existed else 201, warnings + admitted)

    def _patch_scale(self, req: _Request, body: Any, patch_type: str, dry: bool, fm: str) -> Steps:
        from grove.devcluster import patch as patches

        assert req.name is not None
        scale = self.store.get_scale(req.rtype, req.name, req.namespace)
        if patch_type in ("merge", "strategic"):
            patched = patches.merge_patch(scale, body)
        elif patch_type == "json":
            patched = patches.json_patch(scale, body)
        else:
            patched = patches.merge_patch(scale, {"spec": (body or {}).get("spec", {})})
        return self.store.update_scale_steps(
            req.rtype, req.name, patched, req.namespace, dry_run=dry, field_manager=fm
        )

    async def _delete(self, request: web.Request, req: _Request) -> web.Response:
        body = await self._body(request)
        opts = body if isinstance(body, dict) else {}
        q = request.query
        policy = q.get("propagationPolicy") or opts.get("propagationPolicy")
        orphan = q.get("orphanDependents")
        if orphan is None and "orphanDependents" in opts:
            orphan = str(opts["orphanDependents"]).lower()
        if not policy and orphan is not None:
            policy = "Orphan" if orphan in _TRUE else "Background"
        grace_text = q.get("gracePeriodSeconds")
        grace = int(grace_text) if grace_text not in (None, "") else opts.get("gracePeriodSeconds")
        dry = self._dry_run(request) or opts.get("dryRun") == ["All"]
        if req.name is None:
            if req.subresource is not None:
                raise errors.method_not_allowed()
            if self.admission is not None and self.admission.configured():
                listed = self.store.list(
                    req.rtype,
                    req.namespace,
                    label_selector=q.get("labelSelector"),
                    field_selector=q.get("fieldSelector"),
                )
                targets = [(o["metadata"]["name"], o["metadata"].get("namespace")) for o in listed.items]
                await self._admit_delete(req, targets, dry)
            items = self.store.delete_collection(
                req.rtype,
                req.namespace,
                label_selector=q.get("labelSelector"),
                field_selector=q.get("fieldSelector"),
                propagation_policy=policy,
                grace_period_seconds=grace,
                dry_run=dry,
            )
            return _json_response(
                {
                    "kind": req.rtype.list_kind,
                    "apiVersion": req.rtype.api_version,
                    "metadata": {"resourceVersion": str(self.store.resource_version)},
                    "items": items,
                }
            )
        if req.subresource is not None:
            raise errors.method_not_allowed()
        admitted = await self._admit_delete(req, [(req.name, req.namespace)], dry)
        res = self.store.delete(
            req.rtype,
            req.name,
            req.namespace,
            propagation_policy=policy,
            grace_period_seconds=grace,
            preconditions=opts.get("preconditions") if isinstance(opts.get("preconditions"), dict) else None,
            dry_run=dry,
        )
        status = 202 if (not res.deleted and orphan is not None and orphan not in _TRUE) else 200
        if res.deleted and not req.rtype.return_deleted_object:
            details: JSON = {"name": req.name}
            if req.rtype.group:
                details["group"] = req.rtype.group
            details["kind"] = req.rtype.plural
            details["uid"] = res.object["metadata"].get("uid", "")
            return self._respond(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                },
                status,
                admitted,
            )
        return self._respond(res.object, status, admitted)

    # ------------------------------------------------------------- watch

    async def _watch(self, request: web.Request, req: _Request) -> web.StreamResponse:
        rtype = req.rtype
        if "watch" not in rtype.verbs:
            raise errors.method_not_allowed()
        q = request.query
        labels = parse_label_selector(q.get("labelSelector"))
        fields = parse_field_selector(q.get("fieldSelector"), rtype.field_getters)
        if req.name is not None:
            fields = parse_field_selector(
                ",".join(x for x in (q.get("fieldSelector"), f"metadata.name={req.name}") if x),
                rtype.field_getters,
            )
        timeout_text = q.get("timeoutSeconds")
        timeout = float(timeout_text) if timeout_text else self.min_request_timeout * (1 + random.random())
        bookmarks = q.get("allowWatchBookmarks", "") in _TRUE
        send_initial = q.get("sendInitialEvents", "") in _TRUE
        if send_initial and q.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.invalid(
                "ListOptions",
                "meta.k8s.io",
                "",
                [
                    errors.forbidden(
                        "resourceVersionMatch",
                        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                    )
                ],
            )
        watch = self.store.watch(
            rtype,
            req.namespace,
            resource_version=q.get("resourceVersion"),
            label_selector=labels,
            field_selector=fields,
            send_initial_events=send_initial,
        )
        watcher = watch.watcher
        accept = request.headers.get("Accept", "")
        as_table = tables.wants_table(accept)
        table_version = tables.table_api_version(accept) if as_table else ""
        include = q.get("includeObject", "Metadata")
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": _JSON_CT, "Cache-Control": "no-cache, private"}
        )
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_bookmark = loop.time() + self.bookmark_interval
        initial_pending = send_initial and bookmarks

        def encode(ev: Any) -> bytes:
            if as_table:
                obj = rtype.encode(ev.object)
                t = tables.table(rtype, [obj], include_object=include, api_version=table_version)
                return dumps({"type": ev.type, "object": t}) + b"\n"
            return bytes(ev.line(rtype))

        def bookmark(initial_end: bool = False) -> bytes:
            md: JSON = {"resourceVersion": str(self.store.resource_version)}
            if initial_end:
                md["annotations"] = {INITIAL_EVENTS_END: "true"}
            return (
                dumps(
                    {
                        "type": BOOKMARK,
                        "object": {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": md},
                    }
                )
                + b"\n"
            )

        try:
            while True:
                now = loop.time()
                if initial_pending:
                    chunk = [encode(ev) for ev in watcher.drain()]
                    chunk.append(bookmark(initial_end=True))
                    initial_pending = False
                    await resp.write(b"".join(chunk))
                    continue
                wait_for = min(deadline, next_bookmark if bookmarks else deadline) - now
                if wait_for > 0:
                    await watcher.wait(wait_for)
                events = watcher.drain()
                if events:
                    await resp.write(b"".join([encode(ev) for ev in events]))
                if watcher.closed and not watcher.pending:
                    if watcher.error is not None:
                        await resp.write(error_line(watcher.error))
                    break
                now = loop.time()
                if now >= deadline or self._stopping.is_set():
                    break
                if bookmarks and now >= next_bookmark:
                    await resp.write(bookmark())
                    next_bookmark = now + self.bookmark_interval
        except (ConnectionResetError, RuntimeError):
            pass
        finally:
            watcher.close()
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write_eof()
        return resp
