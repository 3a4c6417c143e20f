"""Object-metadata rules shared by every resource: names, labels, annotations, timestamps, copies."""

from __future__ import annotations

import random
import time
from typing import Any

from grove.api.k8s_syntax import (
    MAX_ANNOTATIONS_BYTES,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_value_errors,
    qualified_name_errors,
)
from grove.devcluster.errors import Cause, invalid_value, too_long

JSON = dict[str, Any]

# k8s.io/apimachinery/pkg/util/rand: consonants and digits only, so generated names never spell words.
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
MAX_GENERATED_NAME_LENGTH = 63 - 5


def now_rfc3339() -> str:
    """The current time as Kubernetes serialises ``metav1.Time`` (second precision, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def rfc3339(ts: float) -> str:
    """``ts`` (epoch seconds) as ``metav1.Time``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_rfc3339(value: str) -> float:
    """Epoch seconds of a ``metav1.Time`` string (fractional seconds accepted)."""
    base = value[:19]
    return float(time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) - time.timezone)


def generate_name(prefix: str) -> str:
    """``names.SimpleNameGenerator``: the prefix (truncated to 58 characters) plus 5 random characters."""
    if len(prefix) > MAX_GENERATED_NAME_LENGTH:
        prefix = prefix[:MAX_GENERATED_NAME_LENGTH]
    return prefix + "".join(random.choices(_ALPHANUMS, k=5))


def deep_copy(value: Any) -> Any:
    """Copy of a JSON-compatible value (dicts, lists, scalars); much faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) for v in value]
    return value


def name_field(prefix: bool) -> str:
    """The field a name check reports: ``metadata.generateName`` for a prefix, else ``metadata.name``."""
    return "metadata.generateName" if prefix else "metadata.name"


def _mask_trailing_dash(name: str) -> str:
    """apimachinery's ``maskTrailingDash``: a prefix may end in '-' since characters will follow it.

    It drops the last two characters, not one, and appends 'a' (so ``x.-`` checks as ``xa`` and passes);
    kept as written there, since diverging would change which prefixes validate.
    """
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def check_dns1123_subdomain(field: str, value: str, prefix: bool = False) -> list[Cause]:
    """``NameIsDNSSubdomain``: causes for a value that is not a DNS-1123 subdomain (pods, configmaps, custom
    resources, ...); a ``prefix`` (``generateName``) may end in '-'."""
    checked = _mask_trailing_dash(value) if prefix else value
    return [invalid_value(field, value, m) for m in dns1123_subdomain_errors(checked)]


def check_path_segment_name(field: str, value: str) -> list[Cause]:
    """``path.IsValidPathSegmentName``: RBAC object names (``ValidateRBACName``) need only be usable as a
    URL path segment, so ``system:controller:x`` and ``grove.io:pcs:x`` are valid. ``ValidateRBACName``
    ignores its prefix argument, so ``generateName`` gets the same check."""
    if value in (".", ".."):
        return [invalid_value(field, value, f"may not be '{value}'")]
    return [invalid_value(field, value, f"may not contain '{ch}'") for ch in ("/", "%") if ch in value]


def check_dns1123_label(field: str, value: str, prefix: bool = False) -> list[Cause]:
    """``NameIsDNSLabel``: causes for a value that is not a DNS-1123 label (namespaces)."""
    checked = _mask_trailing_dash(value) if prefix else value
    return [invalid_value(field, value, m) for m in dns1123_label_errors(checked)]


def check_dns1035_label(field: str, value: str, prefix: bool = False) -> list[Cause]:
    """``NameIsDNS1035Label``: causes for a value that is not a DNS-1035 label (services)."""
    checked = _mask_trailing_dash(value) if prefix else value
    return [invalid_value(field, value, m) for m in dns1035_label_errors(checked)]


def check_qualified_name(field: str, key: str) -> list[Cause]:
    """``validation.IsQualifiedName``: label and annotation keys, ``[prefix/]name``."""
    return [invalid_value(field, key, m) for m in qualified_name_errors(key)]


def check_labels(field: str, labels: Any) -> list[Cause]:
    """``ValidateLabels``: qualified-name keys and label values of at most 63 characters."""
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [invalid_value(field, labels, "must be a map of string to string")]
    out: list[Cause] = []
    for k, v in labels.items():
        out.extend(check_qualified_name(field, k))
        if not isinstance(v, str):
            out.append(invalid_value(f"{field}[{k}]", v, "must be a string"))
            continue
        out.extend(invalid_value(field, v, m) for m in label_value_errors(v))
    return out


def check_annotations(field: str, annotations: Any) -> list[Cause]:
    """``ValidateAnnotations``: qualified-name keys and a total size of at most 256 KiB."""
    if annotations is None:
        return []
    if not isinstance(annotations, dict):
        return [invalid_value(field, annotations, "must be a map of string to string")]
    out: list[Cause] = []
    total = 0
    for k, v in annotations.items():
        out.extend(check_qualified_name(field, k.lower()))
        if not isinstance(v, str):
            out.append(invalid_value(f"{field}[{k}]", v, "must be a string"))
            continue
        total += len(k.encode()) + len(v.encode())
    if total > MAX_ANNOTATIONS_BYTES:
        out.append(too_long(field, MAX_ANNOTATIONS_BYTES))
    return out


def key_of(namespace: str, name: str) -> str:
    """The storage key, ordered like etcd keys so lists and continue tokens are stable."""
    return f"{namespace}/{name}" if namespace else name
