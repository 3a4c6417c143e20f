"""Admission webhooks in the dev cluster, as kube-apiserver's MutatingAdmissionWebhook and
ValidatingAdmissionWebhook plugins run them.

Serves ``admissionregistration.k8s.io/v1`` MutatingWebhookConfiguration and ValidatingWebhookConfiguration
(v1 defaults and validation) and, for every create, update, patch (status and scale subresources included)
and delete that arrives over HTTP, calls the matching webhooks over HTTPS with an ``admission.k8s.io/v1``
AdmissionReview:

* matching: ``rules`` (operations, apiGroups, apiVersions, resources with ``*``, ``res/*``, ``*/sub``,
  scope), ``namespaceSelector``, ``objectSelector`` (object or old object), ``matchPolicy`` Equivalent
  (another served version of the same resource matches; the object is converted to that version) or Exact;
* mutating webhooks first, sorted by configuration name then in order, at the point after decoding and
  defaults; each JSON patch is applied at once; ``reinvocationPolicy: IfNeeded`` webhooks are called once
  more when a later webhook changed the object; the patched object is decoded and defaulted again;
* validating webhooks after validation, all in parallel; the first rejection (in configuration order) wins;
* ``failurePolicy`` Fail (a call error rejects with 500) or Ignore, ``timeoutSeconds``, ``dryRun`` sent with
  dry-run requests (v1 allows only ``sideEffects`` None/NoneOnDryRun, so every webhook supports it);
* ``clientConfig.url``, or ``clientConfig.service`` resolved through the Service's **Endpoints** object (the
  dev cluster has no pod network: create an Endpoints named like the Service with address 127.0.0.1 and the
  webhook's port), as kube-apiserver's endpoint routing does; the certificate is verified against
  ``caBundle`` and, for a service, the name ``<service>.<namespace>.svc``.

Rejections are formatted as kube-apiserver formats them: ``admission webhook "<name>" denied the request:
<message>`` keeping the webhook's code, reason and details (so a 422 with causes prints as kubectl prints
field errors); call errors as 500 ``Internal error occurred: failed calling webhook "<name>": ...``.

Writes through the in-process store API do not call webhooks (they are the cluster's own components).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog

from grove.devcluster import errors, meta
from grove.devcluster.errors import ApiError, Cause
from grove.devcluster.patch import json_patch
from grove.devcluster.resources import ResourceType, Strategy, get_path, set_path
from grove.devcluster.reviews import USER
from grove.devcluster.selectors import LabelSelector, selector_from_dict
from grove.devcluster.store import AdmissionPoint, AdmissionRetry, Steps, Store, scale_of

__all__ = ["ADMISSION_GROUP", "WebhookDispatcher", "admission_types"]

log = structlog.get_logger("grove.devcluster.webhooks")

JSON = dict[str, Any]

ADMISSION_GROUP = "admissionregistration.k8s.io"
_MUTATING = "mutatingwebhookconfigurations"
_VALIDATING = "validatingwebhookconfigurations"
_OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT", "*")
_SCOPES = ("Cluster", "Namespaced", "*")
_SIDE_EFFECTS = ("None", "NoneOnDryRun")
_RETRIES = 16
# The dev cluster has no authentication: every request comes from the cluster admin.


# --------------------------------------------------------------------------- the configuration kinds


def _default_webhook(hook: Any, mutating: bool) -> Any:
    if not isinstance(hook, dict):
        return hook
    h = dict(hook)
    h.setdefault("failurePolicy", "Fail")
    h.setdefault("matchPolicy", "Equivalent")
    h.setdefault("namespaceSelector", {})
    h.setdefault("objectSelector", {})
    h.setdefault("timeoutSeconds", 10)
    if mutating:
        h.setdefault("reinvocationPolicy", "Never")
    if isinstance(h.get("rules"), list):
        h["rules"] = [{**r, "scope": r.get("scope", "*")} if isinstance(r, dict) else r for r in h["rules"]]
    cc = h.get("clientConfig")
    if isinstance(cc, dict) and isinstance(cc.get("service"), dict):
        h["clientConfig"] = {**cc, "service": {"port": 443, **cc["service"]}}
    return h


def _selector_causes(field: str, sel: Any) -> list[Cause]:
    if not isinstance(sel, dict):
        return [errors.invalid_value(field, sel, "must be a label selector")]
    causes = meta.check_labels(f"{field}.matchLabels", sel.get("matchLabels"))
    for i, expr in enumerate(sel.get("matchExpressions") or []):
        f = f"{field}.matchExpressions[{i}]"
        op = expr.get("operator") if isinstance(expr, dict) else None
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            causes.append(
                errors.unsupported_value(f + ".operator", op, ["In", "NotIn", "Exists", "DoesNotExist"])
            )
            continue
        has_values = bool(expr.get("values"))
        if op in ("In", "NotIn") and not has_values:
            causes.append(
                errors.Cause(
                    f + ".values",
                    "FieldValueRequired",
                    "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                )
            )
        if op in ("Exists", "DoesNotExist") and has_values:
            causes.append(
                errors.forbidden(
                    f + ".values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                )
            )
    return causes


def _client_config_causes(field: str, cc: Any) -> list[Cause]:
    if not isinstance(cc, dict):
        return [errors.required(field)]
    url, svc = cc.get("url"), cc.get("service")
    if bool(url) == bool(svc):
        return [
            errors.Cause(
                field, "FieldValueRequired", "Required value: exactly one of url or service is required"
            )
        ]
    causes: list[Cause] = []
    if url:
        # As k8s.io/apiserver's ValidateWebhookURL: the offending part is the invalid value.
        form = "; desired format: https://host[/path]"
        parts = urlsplit(str(url))
        host = parts.netloc.rpartition("@")[2]
        if parts.scheme != "https":
            causes.append(
                errors.invalid_value(
                    f"{field}.url", parts.scheme, "'https' is the only allowed URL scheme" + form
                )
            )
        if not host:
            causes.append(errors.invalid_value(f"{field}.url", host, "host must be specified" + form))
        if "@" in parts.netloc:
            causes.append(
                errors.invalid_value(
                    f"{field}.url",
                    parts.netloc.rpartition("@")[0],
                    "user information is not permitted in the URL",
                )
            )
        if parts.fragment:
            causes.append(
                errors.invalid_value(f"{field}.url", parts.fragment, "fragments are not permitted in the URL")
            )
        if parts.query:
            causes.append(
                errors.invalid_value(
                    f"{field}.url", parts.query, "query parameters are not permitted in the URL"
                )
            )
    else:
        if not isinstance(svc, dict):
            return [errors.invalid_value(f"{field}.service", svc, "must be an object")]
        for key in ("namespace", "name"):
            if not svc.get(key):
                causes.append(errors.required(f"{field}.service.{key}"))
        path = svc.get("path")
        if path is not None and not str(path).startswith("/"):
            causes.append(errors.invalid_value(f"{field}.service.path", path, "must start with a '/'"))
        port = svc.get("port", 443)
        if not isinstance(port, int) or not 1 <= port <= 65535:
            causes.append(
                errors.invalid_value(
                    f"{field}.service.port", port, "port is not valid: must be between 1 and 65535, inclusive"
                )
            )
    ca = cc.get("caBundle")
    if ca:
        try:
            base64.b64decode(str(ca), validate=True)
        except (ValueError, binascii.Error):
            causes.append(errors.invalid_value(f"{field}.caBundle", "<bytes>", "illegal base64 data"))
    return causes


def _webhook_causes(field: str, h: Any, mutating: bool) -> list[Cause]:
    if not isinstance(h, dict):
        return [errors.invalid_value(field, h, "must be an object")]
    causes: list[Cause] = []
    name = h.get("name")
    if not name:
        causes.append(errors.required(f"{field}.name"))
    else:
        causes.extend(meta.check_dns1123_subdomain(f"{field}.name", str(name)))
        if str(name).count(".") < 2:
            causes.append(
                errors.invalid_value(
                    f"{field}.name", name, "should be a domain with at least three segments separated by dots"
                )
            )
    for i, rule in enumerate(h.get("rules") or []):
        rf = f"{field}.rules[{i}]"
        if not isinstance(rule, dict):
            causes.append(errors.invalid_value(rf, rule, "must be an object"))
            continue
        for key in ("operations", "apiGroups", "apiVersions", "resources"):
            if not rule.get(key):
                causes.append(errors.required(f"{rf}.{key}"))
        for j, op in enumerate(rule.get("operations") or []):
            if op not in _OPERATIONS:
                causes.append(errors.unsupported_value(f"{rf}.operations[{j}]", op, list(_OPERATIONS)))
        if rule.get("scope", "*") not in _SCOPES:
            causes.append(errors.unsupported_value(f"{rf}.scope", rule.get("scope"), list(_SCOPES)))
    enums = [("failurePolicy", ("Ignore", "Fail")), ("matchPolicy", ("Exact", "Equivalent"))]
    if mutating:
        enums.append(("reinvocationPolicy", ("Never", "IfNeeded")))
    for key, allowed in enums:
        if h.get(key) not in allowed:
            causes.append(errors.unsupported_value(f"{field}.{key}", h.get(key), list(allowed)))
    if h.get("sideEffects") is None:
        causes.append(
            errors.Cause(
                f"{field}.sideEffects",
                "FieldValueRequired",
                f"Required value: must specify one of {', '.join(_SIDE_EFFECTS)}",
            )
        )
    elif h["sideEffects"] not in _SIDE_EFFECTS:
        causes.append(errors.unsupported_value(f"{field}.sideEffects", h["sideEffects"], list(_SIDE_EFFECTS)))
    timeout = h.get("timeoutSeconds")
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 30:
        causes.append(
            errors.invalid_value(
                f"{field}.timeoutSeconds", timeout, "the timeout value must be between 1 and 30 seconds"
            )
        )
    versions = h.get("admissionReviewVersions")
    if not versions:
        causes.append(
            errors.Cause(
                f"{field}.admissionReviewVersions",
                "FieldValueRequired",
                "Required value: must specify one of v1, v1beta1",
            )
        )
    elif "v1" not in versions and "v1beta1" not in versions:
        causes.append(
            errors.invalid_value(
                f"{field}.admissionReviewVersions", versions, "must include at least one of v1, v1beta1"
            )
        )
    causes += _selector_causes(f"{field}.namespaceSelector", h.get("namespaceSelector"))
    causes += _selector_causes(f"{field}.objectSelector", h.get("objectSelector"))
    causes += _client_config_causes(f"{field}.clientConfig", h.get("clientConfig"))
    return causes


class WebhookConfigurationStrategy(Strategy):
    """``pkg/apis/admissionregistration`` v1 defaults and validation of webhook configurations."""

    def __init__(self, mutating: bool) -> None:
        self.mutating = mutating

    def _defaults(self, obj: JSON) -> None:
        hooks = obj.get("webhooks")
        if isinstance(hooks, list):
            obj["webhooks"] = [_default_webhook(h, self.mutating) for h in hooks]

    def prepare_create(self, rtype: ResourceType, obj: JSON) -> None:
        self._defaults(obj)

    def prepare_update(self, rtype: ResourceType, new: JSON, old: JSON) -> None:
        self._defaults(new)

    def validate_create(self, rtype: ResourceType, obj: JSON) -> list[Cause]:
        hooks = obj.get("webhooks") or []
        if not isinstance(hooks, list):
            return [errors.invalid_value("webhooks", hooks, "must be a list")]
        causes: list[Cause] = []
        seen: set[str] = set()
        for i, h in enumerate(hooks):
            causes += _webhook_causes(f"webhooks[{i}]", h, self.mutating)
            name = h.get("name") if isinstance(h, dict) else None
            if name and name in seen:
                causes.append(
                    errors.Cause(f"webhooks[{i}].name", "FieldValueDuplicate", f'Duplicate value: "{name}"')
                )
            seen.add(str(name))
        return causes


def admission_types() -> list[ResourceType]:
    """The two webhook configuration kinds, served like kube-apiserver's built-ins."""
    keys = {"metadata.finalizers": "", "metadata.ownerReferences": "uid", "webhooks": "name"}
    return [
        ResourceType(
            ADMISSION_GROUP,
            "v1",
            kind,
            plural,
            plural[:-1],
            False,
            categories=("api-extensions",),
            has_generation=True,
            strategy=WebhookConfigurationStrategy(mutating=plural == _MUTATING),
            merge_keys=keys,
        )
        for kind, plural in (
            ("MutatingWebhookConfiguration", _MUTATING),
            ("ValidatingWebhookConfiguration", _VALIDATING),
        )
    ]


# --------------------------------------------------------------------------- dispatch


@dataclass
class _Attributes:
    """What admission knows about a request (kube's ``admission.Attributes``)."""

    operation: str
    rtype: ResourceType
    subresource: str
    namespace: str
    name: str
    obj: JSON | None  # storage form; mutating webhooks change it in place
    old: JSON | None
    dry_run: bool


class _CallFailed(Exception):
    """Calling a webhook failed (kube's ``ErrCallingWebhook``); its failurePolicy decides what follows."""


@dataclass
class _Match:
    """A webhook that matched a request, with the version of the resource it is called with."""

    config: str
    hook: JSON
    rtype: ResourceType

    @property
    def name(self) -> str:
        return str(self.hook.get("name", ""))


def _split(resource: str) -> tuple[str, str]:
    res, _, sub = resource.partition("/")
    return res, sub


def _in(values: Any, value: str) -> bool:
    return isinstance(values, list) and ("*" in values or value in values)


def _rule_matches(rule: JSON, attrs: _Attributes, rtype: ResourceType) -> bool:
    if not (
        _in(rule.get("operations"), attrs.operation)
        and _in(rule.get("apiGroups"), rtype.group)
        and _in(rule.get("apiVersions"), rtype.version)
    ):
        return False
    scope = rule.get("scope") or "*"
    is_namespace = rtype.group == "" and rtype.plural == "namespaces"
    if scope == "Namespaced" and (is_namespace or not attrs.namespace):
        return False
    if scope == "Cluster" and not (is_namespace or not attrs.namespace):
        return False
    for r in rule.get("resources") or []:
        res, sub = _split(str(r))
        if res in ("*", rtype.plural) and sub in ("*", attrs.subresource):
            return True
    return False


def _selector(hook: JSON, key: str) -> LabelSelector:
    try:
        return selector_from_dict(hook.get(key))
    except (KeyError, TypeError) as e:
        raise errors.internal_error(f'webhook "{hook.get("name")}": invalid {key}: {e}') from None


class WebhookDispatcher:
    """Calls the cluster's admission webhooks for the writes of the HTTP API."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}

    async def close(self) -> None:
        """Close the HTTP connections to webhooks."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def configured(self) -> bool:
        """Whether any webhook configuration exists (otherwise writes need no admission at all)."""
        return any(
            self.store.storage_objects(f"{plural}.{ADMISSION_GROUP}") for plural in (_MUTATING, _VALIDATING)
        )

    async def run(self, make_steps: Callable[[], Steps]) -> tuple[JSON, list[str]]:
        """Run a write, calling webhooks at its admission points; returns the result and the webhooks'
        warnings. A write whose object changed meanwhile starts over, as GuaranteedUpdate retries."""
        for _ in range(_RETRIES):
            warnings: list[str] = []
            steps = make_steps()
            try:
                point = next(steps)
                while True:
                    await self._admit_point(point, warnings)
                    point = steps.send(None)
            except StopIteration as stop:
                result: JSON = stop.value
                return result, warnings
            except AdmissionRetry as retry:
                log.debug("admission.retry", object=str(retry))
        raise errors.internal_error("the object kept changing while admission webhooks ran")

    async def admit_delete(
        self, rtype: ResourceType, name: str, namespace: str | None, dry_run: bool
    ) -> list[str]:
        """Call the validating webhooks that match deleting ``name`` (oldObject is the stored object)."""
        old = self.store.by_key(rtype, name, namespace)
        if old is None:
            return []
        attrs = _Attributes(
            "DELETE", rtype, "", old["metadata"].get("namespace", ""), name, None, old, dry_run
        )
        warnings: list[str] = []
        await self._validate(attrs, warnings)
        return warnings

    # ------------------------------------------------------------------ matching

    def _configs(self, plural: str) -> list[JSON]:
        configs = self.store.storage_objects(f"{plural}.{ADMISSION_GROUP}")
        return sorted(configs, key=lambda c: str(c["metadata"]["name"]))

    def _matches(self, plural: str, attrs: _Attributes) -> list[_Match]:
        if attrs.rtype.group == ADMISSION_GROUP:
            # kube-apiserver never calls webhooks for webhook configurations (a broken webhook could
            # otherwise lock its own configuration).
            return []
        out: list[_Match] = []
        for config in self._configs(plural):
            for hook in config.get("webhooks") or []:
                rtype = self._hook_matches(hook, attrs)
                if rtype is not None:
                    out.append(_Match(config["metadata"]["name"], hook, rtype))
        return out

    def _hook_matches(self, hook: JSON, attrs: _Attributes) -> ResourceType | None:
        if not self._namespace_matches(hook, attrs):
            return None
        objects = _selector(hook, "objectSelector")
        if not objects.empty and not any(
            o is not None and objects.matches(o["metadata"].get("labels")) for o in (attrs.obj, attrs.old)
        ):
            return None
        rules = [r for r in hook.get("rules") or [] if isinstance(r, dict)]
        if any(_rule_matches(r, attrs, attrs.rtype) for r in rules):
            return attrs.rtype
        if hook.get("matchPolicy", "Equivalent") != "Equivalent":
            return None
        for other in self._equivalents(attrs.rtype):
            if any(_rule_matches(r, attrs, other) for r in rules):
                return other
        return None

    def _equivalents(self, rtype: ResourceType) -> list[ResourceType]:
        others = [
            t
            for t in self.store.registry.all()
            if t.storage == rtype.storage and t.api_version != rtype.api_version
        ]
        return sorted(others, key=lambda t: not t.preferred)

    def _namespace_matches(self, hook: JSON, attrs: _Attributes) -> bool:
        is_namespace = attrs.rtype.group == "" and attrs.rtype.plural == "namespaces"
        if not attrs.namespace and not is_namespace:
            return True
        selector = _selector(hook, "namespaceSelector")
        if selector.empty:
            return True
        if is_namespace and not attrs.subresource and attrs.operation in ("CREATE", "UPDATE"):
            labels = (attrs.obj or {}).get("metadata", {}).get("labels")
        else:
            ns = self.store.by_key("namespaces", attrs.namespace or attrs.name)
            labels = ns["metadata"].get("labels") if ns is not None else None
        return selector.matches(labels)

    # ------------------------------------------------------------------ phases

    async def _admit_point(self, point: AdmissionPoint, warnings: list[str]) -> None:
        attrs = _Attributes(
            point.operation,
            point.rtype,
            point.subresource or "",
            point.namespace,
            point.name,
            point.obj,
            point.old,
            point.dry_run,
        )
        if point.phase == "mutate":
            point.mutated = await self._mutate(attrs, warnings)
        else:
            await self._validate(attrs, warnings)

    async def _mutate(self, attrs: _Attributes, warnings: list[str]) -> bool:
        matches = self._matches(_MUTATING, attrs)
        if not matches:
            return False
        mutated = False
        seen: list[JSON | None] = []
        for m in matches:
            mutated |= await self._call_mutating(m, attrs, warnings)
            reinvocable = m.hook.get("reinvocationPolicy") == "IfNeeded"
            seen.append(meta.deep_copy(attrs.obj) if reinvocable and attrs.obj is not None else None)
        for m, before in zip(matches, seen, strict=True):
            if before is not None and attrs.obj != before:
                mutated |= await self._call_mutating(m, attrs, warnings)
        return mutated

    async def _validate(self, attrs: _Attributes, warnings: list[str]) -> None:
        matches = self._matches(_VALIDATING, attrs)
        if not matches:
            return
        results = await asyncio.gather(*(self._call(m, attrs) for m in matches), return_exceptions=True)
        failure: BaseException | None = None
        for m, res in zip(matches, results, strict=True):
            if isinstance(res, BaseException):
                failure = failure or res
                continue
            if res is None:
                continue
            warnings.extend(str(w) for w in res.get("warnings") or [])
            if not res.get("allowed"):
                failure = failure or _rejection(m.name, res.get("status"))
        if failure is not None:
            raise failure

    async def _call_mutating(self, m: _Match, attrs: _Attributes, warnings: list[str]) -> bool:
        res = await self._call(m, attrs)
        if res is None:
            return False
        warnings.extend(str(w) for w in res.get("warnings") or [])
        if not res.get("allowed"):
            raise _rejection(m.name, res.get("status"))
        patch = res.get("patch")
        if not patch or attrs.obj is None:
            return False
        if res.get("patchType") != "JSONPatch":
            self._failed(m, f"unsupported patch type {res.get('patchType')!r}")
            return False
        try:
            ops = json.loads(base64.b64decode(str(patch), validate=True))
        except (ValueError, binascii.Error) as e:
            raise errors.internal_error(f'webhook "{m.name}" returned an undecodable patch: {e}') from None
        view = self._view(m, attrs)
        try:
            patched = json_patch(view, ops)
        except ApiError as e:
            raise errors.internal_error(f'webhook "{m.name}": {e.message}') from None
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise errors.internal_error(f'webhook "{m.name}" patched the object into something else')
        if patched == view:
            return False
        new = self._unview(m, attrs, patched)
        attrs.obj.clear()
        attrs.obj.update(new)
        log.debug("admission.mutated", webhook=m.name, operations=len(ops))
        return True

    # ------------------------------------------------------------------ the object as the webhook sees it

    def _view(self, m: _Match, attrs: _Attributes, obj: JSON | None = None) -> JSON:
        source = attrs.obj if obj is None else obj
        assert source is not None
        if attrs.subresource == "scale" and m.rtype.scale is not None:
            return scale_of(m.rtype, m.rtype.encode(source))
        return m.rtype.encode(source)

    def _unview(self, m: _Match, attrs: _Attributes, patched: JSON) -> JSON:
        assert attrs.obj is not None
        if attrs.subresource == "scale" and m.rtype.scale is not None:
            replicas = get_path(patched, ".spec.replicas")
            return set_path(attrs.obj, m.rtype.scale.spec_replicas_path, replicas)
        return m.rtype.decode(patched)

    def _review(self, m: _Match, attrs: _Attributes) -> JSON:
        rtype = m.rtype
        scale = attrs.subresource == "scale" and rtype.scale is not None
        kind = {"group": "autoscaling", "version": "v1", "kind": "Scale"} if scale else None
        options_kind = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}
        request: JSON = {
            "uid": str(uuid.uuid4()),
            "kind": kind or {"group": rtype.group, "version": rtype.version, "kind": rtype.kind},
            "resource": {"group": rtype.group, "version": rtype.version, "resource": rtype.plural},
            "requestKind": kind
            or {"group": attrs.rtype.group, "version": attrs.rtype.version, "kind": attrs.rtype.kind},
            "requestResource": {
                "group": attrs.rtype.group,
                "version": attrs.rtype.version,
                "resource": attrs.rtype.plural,
            },
            "name": attrs.name,
            "operation": attrs.operation,
            "userInfo": USER,
            "object": self._view(m, attrs) if attrs.obj is not None else None,
            "oldObject": self._view(m, attrs, attrs.old) if attrs.old is not None else None,
            "dryRun": attrs.dry_run,
            "options": {"kind": options_kind.get(attrs.operation, ""), "apiVersion": "meta.k8s.io/v1"},
        }
        if attrs.subresource:
            request["subResource"] = attrs.subresource
            request["requestSubResource"] = attrs.subresource
        if attrs.namespace:
            request["namespace"] = attrs.namespace
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}

    # ------------------------------------------------------------------ HTTPS

    async def _call(self, m: _Match, attrs: _Attributes) -> JSON | None:
        """The webhook's response, or None when the call failed and its failurePolicy is Ignore."""
        try:
            return await self._post(m, attrs)
        except _CallFailed as e:
            self._failed(m, str(e))
            return None

    async def _post(self, m: _Match, attrs: _Attributes) -> JSON:
        review = self._review(m, attrs)
        uid = review["request"]["uid"]
        timeout = int(m.hook.get("timeoutSeconds") or 10)
        cc = m.hook.get("clientConfig") or {}
        try:
            url, server_hostname = self._endpoint(cc)
        except ApiError as e:
            raise _CallFailed(e.message) from None
        ctx = self._ssl_context(str(cc.get("caBundle") or ""))
        if ctx is None:
            raise _CallFailed("could not load the caBundle: unable to load root certificates")
        target = f"{url}?timeout={timeout}s"
        try:
            async with self._http().post(
                target,
                data=json.dumps(review),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                ssl=ctx,
                server_hostname=server_hostname,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                body = await resp.read()
                status = resp.status
        except TimeoutError:
            raise _CallFailed(f'Post "{target}": context deadline exceeded') from None
        except aiohttp.ClientConnectorCertificateError as e:
            raise _CallFailed(
                f'Post "{target}": tls: failed to verify certificate: {_x509_reason(e.certificate_error)}'
            ) from None
        except aiohttp.ClientConnectorError as e:
            why = "connection refused" if isinstance(e.os_error, ConnectionRefusedError) else str(e.os_error)
            raise _CallFailed(f'Post "{target}": dial tcp {e.host}:{e.port}: connect: {why}') from None
        except aiohttp.ClientError as e:
            raise _CallFailed(f'Post "{target}": {e}') from None
        if status != 200:
            text = body[:200].decode(errors="replace")
            raise _CallFailed(f"the server responded with status code {status}: {text}")
        try:
            response = json.loads(body)["response"]
            if not isinstance(response, dict):
                raise TypeError("response must be an object")
        except (ValueError, KeyError, TypeError) as e:
            raise _CallFailed(f"received invalid webhook response: {e}") from None
        if response.get("uid") != uid:
            got = response.get("uid")
            raise _CallFailed(
                f"received invalid webhook response: expected response.uid={uid!r}, got {got!r}"
            )
        return response

    def _failed(self, m: _Match, reason: str) -> None:
        """Apply the webhook's failurePolicy to a failed call: Ignore logs, Fail raises a 500."""
        if m.hook.get("failurePolicy", "Fail") == "Ignore":
            log.warning("admission.webhook_failed_open", webhook=m.name, error=reason)
            return
        log.warning("admission.webhook_failed_closed", webhook=m.name, error=reason)
        raise errors.internal_error(f'failed calling webhook "{m.name}": failed to call webhook: {reason}')

    def _endpoint(self, cc: JSON) -> tuple[str, str | None]:
        if cc.get("url"):
            return str(cc["url"]), None
        svc = cc.get("service") or {}
        ns, name, port = svc.get("namespace", ""), svc.get("name", ""), svc.get("port", 443)
        service = self.store.by_key("services", name, ns)
        if service is None:
            raise errors.not_found("services", "", name)
        ports = (service.get("spec") or {}).get("ports") or []
        sport = next((p for p in ports if p.get("port") == port), None)
        if sport is None:
            raise errors.bad_request(f'no service port {port} found for service "{name}"')
        endpoints = self.store.by_key("endpoints", name, ns)
        if endpoints is None:
            raise errors.not_found("endpoints", "", name)
        for subset in endpoints.get("subsets") or []:
            addresses = subset.get("addresses") or []
            for ep_port in subset.get("ports") or []:
                if ep_port.get("name", "") == sport.get("name", "") and addresses:
                    ip = addresses[0].get("ip")
                    host = f"[{ip}]" if ":" in str(ip) else ip
                    return f"https://{host}:{ep_port.get('port')}{svc.get('path') or ''}", f"{name}.{ns}.svc"
        raise errors.bad_request(f'no endpoints available for service "{name}"')

    def _ssl_context(self, ca_bundle: str) -> ssl.SSLContext | None:
        ctx = self._contexts.get(ca_bundle)
        if ctx is not None:
            return ctx
        try:
            pem = base64.b64decode(ca_bundle).decode() if ca_bundle else None
            ctx = ssl.create_default_context(cadata=pem) if pem else ssl.create_default_context()
        except (ValueError, ssl.SSLError, binascii.Error):
            return None
        self._contexts[ca_bundle] = ctx
        return ctx

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session


def _rejection(webhook: str, status: Any) -> ApiError:
    """kube-apiserver's ``webhookerrors.ToStatusErr``: the webhook's Status, its message prefixed."""
    st = status if isinstance(status, dict) else {}
    code = st["code"] if isinstance(st.get("code"), int) else 0
    reason = str(st.get("reason") or "")
    denied = f'admission webhook "{webhook}" denied the request'
    if st.get("message"):
        message = f"{denied}: {st['message']}"
    elif reason:
        message = f"{denied}: {reason}"
    else:
        message = f"{denied} without explanation"
    details = st.get("details") if isinstance(st.get("details"), dict) else None
    return ApiError(max(code, 400), reason, message, details=details)


# OpenSSL verify codes of a chain that leads to no trusted root (crypto/x509's UnknownAuthorityError).
_UNKNOWN_AUTHORITY = {2, 18, 19, 20, 21}


def _x509_reason(error: Exception) -> str:
    """Go's crypto/x509 wording of a certificate verification failure, as kube-apiserver reports it."""
    code = getattr(error, "verify_code", None)
    if code in _UNKNOWN_AUTHORITY:
        return "x509: certificate signed by unknown authority"
    if code in (9, 10):
        return "x509: certificate has expired or is not yet valid"
    return str(error)
