"""Decoding of Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``).

``kubectl create configmap|secret|namespace|serviceaccount|role|rolebinding|clusterrole|
clusterrolebinding|service``, ``kubectl auth can-i|whoami`` (access and self-subject reviews) and
``kubectl drain`` (``Eviction``, ``DeleteOptions``) send the object in Kubernetes' protobuf envelope: the
magic ``k8s\\0`` then a ``runtime.Unknown`` message holding the TypeMeta and the object encoded with the
field numbers of ``k8s.io/api/*/generated.proto``. This module turns those into the JSON-shaped dicts the
store takes; kinds outside the table are reported as unsupported (415).
"""

from __future__ import annotations

import base64
from typing import Any

from grove.devcluster import errors, meta

JSON = dict[str, Any]

MAGIC = b"k8s\x00"

# A schema maps field number -> (json name, kind, sub-schema). Kinds: str, bytes (base64 in JSON), int,
# bool, time, msg, map (string->string), bmap (string->bytes), int_or_string; a trailing "*" repeats.
Schema = dict[int, tuple[str, str, Any]]

_OWNER_REF: Schema = {
    5: ("apiVersion", "str", None),
    1: ("kind", "str", None),
    3: ("name", "str", None),
    4: ("uid", "str", None),
    6: ("controller", "bool", None),
    7: ("blockOwnerDeletion", "bool", None),
}
_OBJECT_META: Schema = {
    1: ("name", "str", None),
    2: ("generateName", "str", None),
    3: ("namespace", "str", None),
    5: ("uid", "str", None),
    6: ("resourceVersion", "str", None),
    7: ("generation", "int", None),
    8: ("creationTimestamp", "time", None),
    9: ("deletionTimestamp", "time", None),
    10: ("deletionGracePeriodSeconds", "int", None),
    11: ("labels", "map", None),
    12: ("annotations", "map", None),
    13: ("ownerReferences", "msg*", _OWNER_REF),
    14: ("finalizers", "str*", None),
}
_OBJECT_REF: Schema = {
    1: ("kind", "str", None),
    2: ("namespace", "str", None),
    3: ("name", "str", None),
    4: ("uid", "str", None),
    5: ("apiVersion", "str", None),
    6: ("resourceVersion", "str", None),
    7: ("fieldPath", "str", None),
}
_POLICY_RULE: Schema = {
    1: ("verbs", "str*", None),
    2: ("apiGroups", "str*", None),
    3: ("resources", "str*", None),
    4: ("resourceNames", "str*", None),
    5: ("nonResourceURLs", "str*", None),
}
_SUBJECT: Schema = {
    1: ("kind", "str", None),
    2: ("apiGroup", "str", None),
    3: ("name", "str", None),
    4: ("namespace", "str", None),
}
_ROLE_REF: Schema = {1: ("apiGroup", "str", None), 2: ("kind", "str", None), 3: ("name", "str", None)}
_SERVICE_PORT: Schema = {
    1: ("name", "str", None),
    2: ("protocol", "str", None),
    3: ("port", "int", None),
    4: ("targetPort", "int_or_string", None),
    5: ("nodePort", "int", None),
    6: ("appProtocol", "str", None),
}
_SERVICE_SPEC: Schema = {
    1: ("ports", "msg*", _SERVICE_PORT),
    2: ("selector", "map", None),
    3: ("clusterIP", "str", None),
    4: ("type", "str", None),
    5: ("externalIPs", "str*", None),
    7: ("sessionAffinity", "str", None),
    10: ("externalName", "str", None),
    13: ("publishNotReadyAddresses", "bool", None),
    18: ("clusterIPs", "str*", None),
}

_RESOURCE_ATTRIBUTES: Schema = {
    1: ("namespace", "str", None),
    2: ("verb", "str", None),
    3: ("group", "str", None),
    4: ("version", "str", None),
    5: ("resource", "str", None),
    6: ("subresource", "str", None),
    7: ("name", "str", None),
}
_NON_RESOURCE_ATTRIBUTES: Schema = {1: ("path", "str", None), 2: ("verb", "str", None)}
_ACCESS_REVIEW_SPEC: Schema = {
    1: ("resourceAttributes", "msg", _RESOURCE_ATTRIBUTES),
    2: ("nonResourceAttributes", "msg", _NON_RESOURCE_ATTRIBUTES),
    3: ("user", "str", None),
    4: ("groups", "str*", None),
    6: ("uid", "str", None),
}
_DELETE_OPTIONS: Schema = {
    1: ("gracePeriodSeconds", "int", None),
    2: ("preconditions", "msg", {1: ("uid", "str", None), 2: ("resourceVersion", "str", None)}),
    3: ("orphanDependents", "bool", None),
    4: ("propagationPolicy", "str", None),
    5: ("dryRun", "str*", None),
}
_AUTHZ = "authorization.k8s.io/v1"

KINDS: dict[tuple[str, str], Schema] = {
    (_AUTHZ, "SelfSubjectAccessReview"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("spec", "msg", _ACCESS_REVIEW_SPEC),
    },
    (_AUTHZ, "SubjectAccessReview"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("spec", "msg", _ACCESS_REVIEW_SPEC),
    },
    (_AUTHZ, "LocalSubjectAccessReview"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("spec", "msg", _ACCESS_REVIEW_SPEC),
    },
    (_AUTHZ, "SelfSubjectRulesReview"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("spec", "msg", {1: ("namespace", "str", None)}),
    },
    ("authentication.k8s.io/v1", "SelfSubjectReview"): {1: ("metadata", "msg", _OBJECT_META)},
    ("policy/v1", "Eviction"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("deleteOptions", "msg", _DELETE_OPTIONS),
    },
    ("v1", "ConfigMap"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("data", "map", None),
        3: ("binaryData", "bmap", None),
        4: ("immutable", "bool", None),
    },
    ("v1", "Secret"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("data", "bmap", None),
        3: ("type", "str", None),
        4: ("stringData", "map", None),
        5: ("immutable", "bool", None),
    },
    ("v1", "Namespace"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("spec", "msg", {1: ("finalizers", "str*", None)}),
    },
    ("v1", "ServiceAccount"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("secrets", "msg*", _OBJECT_REF),
        3: ("imagePullSecrets", "msg*", {1: ("name", "str", None)}),
        4: ("automountServiceAccountToken", "bool", None),
    },
    ("v1", "Service"): {1: ("metadata", "msg", _OBJECT_META), 2: ("spec", "msg", _SERVICE_SPEC)},
    ("rbac.authorization.k8s.io/v1", "Role"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("rules", "msg*", _POLICY_RULE),
    },
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("rules", "msg*", _POLICY_RULE),
    },
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("subjects", "msg*", _SUBJECT),
        3: ("roleRef", "msg", _ROLE_REF),
    },
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): {
        1: ("metadata", "msg", _OBJECT_META),
        2: ("subjects", "msg*", _SUBJECT),
        3: ("roleRef", "msg", _ROLE_REF),
    },
}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """The raw (field number, wire type, value) triples of one message."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value = buf[pos : pos + length]
            pos += length
        elif wire == 1:
            value = buf[pos : pos + 8]
            pos += 8
        elif wire == 5:
            value = buf[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((num, wire, value))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _map_entry(raw: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for num, _wire, v in fields(raw):
        if num == 1:
            key = bytes(v).decode()
        elif num == 2:
            value = bytes(v)
    return key, value


def _decode(buf: bytes, schema: Schema) -> JSON:
    out: JSON = {}
    for num, _wire, value in fields(buf):
        spec = schema.get(num)
        if spec is None:
            continue
        name, kind, sub = spec
        repeated = kind.endswith("*")
        base = kind.rstrip("*")
        if base == "str":
            decoded: Any = bytes(value).decode()
        elif base == "bytes":
            decoded = base64.b64encode(bytes(value)).decode()
        elif base == "int":
            decoded = _signed(value)
        elif base == "bool":
            decoded = bool(value)
        elif base == "time":
            t = _decode(bytes(value), {1: ("seconds", "int", None)})
            decoded = meta.rfc3339(float(t["seconds"])) if t.get("seconds") else None
        elif base == "msg":
            decoded = _decode(bytes(value), sub)
        elif base in ("map", "bmap"):
            k, v = _map_entry(bytes(value))
            target = out.setdefault(name, {})
            target[k] = v.decode() if base == "map" else base64.b64encode(v).decode()
            continue
        elif base == "int_or_string":
            ios = _decode(
                bytes(value),
                {1: ("type", "int", None), 2: ("intVal", "int", None), 3: ("strVal", "str", None)},
            )
            decoded = ios.get("strVal", "") if ios.get("type") == 1 else ios.get("intVal", 0)
        else:
            continue
        if repeated:
            out.setdefault(name, []).append(decoded)
        else:
            out[name] = decoded
    # Go's omitempty: unset strings, zero times and zero numbers are absent in JSON.
    return {
        k: v
        for k, v in out.items()
        if v not in ("", None) and not (k in _OMIT_ZERO and v == 0) and not (k in _OMIT_FALSE and v is False)
    }


_OMIT_ZERO = {"generation", "deletionGracePeriodSeconds", "nodePort"}
_OMIT_FALSE = {"publishNotReadyAddresses"}


def decode(body: bytes) -> JSON:
    """A protobuf request body as a JSON-shaped object; 415 for kinds this module cannot decode."""
    if not body.startswith(MAGIC):
        raise errors.bad_request("protobuf body without the k8s envelope")
    type_meta: JSON = {}
    raw = b""
    for num, _wire, value in fields(body[len(MAGIC) :]):
        if num == 1:
            type_meta = _decode(bytes(value), {1: ("apiVersion", "str", None), 2: ("kind", "str", None)})
        elif num == 2:
            raw = bytes(value)
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    # Typed clients send DeleteOptions in the group version of the resource they delete.
    schema = _DELETE_OPTIONS if kind == "DeleteOptions" else KINDS.get((api_version, kind))
    if schema is None:
        raise errors.unsupported_media_type(
            f"application/vnd.kubernetes.protobuf ({api_version} {kind})",
            ["application/json", "application/yaml"],
        )
    obj = _decode(raw, schema)
    return {"apiVersion": api_version, "kind": kind, **obj}
