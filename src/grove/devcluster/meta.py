"""Object-metadata rules shared by every resource: names, labels, annotations, timestamps, copies."""

from __future__ import annotations

import random
import re
import time
from typing import Any

from grove.devcluster.errors import Cause, invalid_value, too_long

JSON = dict[str, Any]

# k8s.io/apimachinery/pkg/util/rand: consonants and digits only, so generated names never spell words.
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
MAX_GENERATED_NAME_LENGTH = 63 - 5
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_QUALIFIED_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


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


def check_dns1123_subdomain(field: str, value: str) -> list[Cause]:
    """Causes for a value that is not a DNS-1123 subdomain (pods, configmaps, custom resources, ...)."""
    out: list[Cause] = []
    if len(value) > 253:
        out.append(invalid_value(field, value, "must be no more than 253 characters"))
    if not _DNS1123_SUBDOMAIN.match(value):
        out.append(invalid_value(field, value, DNS1123_SUBDOMAIN_MSG))
    return out


def check_path_segment_name(field: str, value: str) -> list[Cause]:
    """``path.IsValidPathSegmentName``: RBAC object names (``ValidateRBACName``) need only be usable as a
    URL path segment, so ``system:controller:x`` and ``grove.io:pcs:x`` are valid."""
    if value in (".", ".."):
        return [invalid_value(field, value, f"may not be '{value}'")]
    return [invalid_value(field, value, f"may not contain '{ch}'") for ch in ("/", "%") if ch in value]


def check_dns1123_label(field: str, value: str) -> list[Cause]:
    """Causes for a value that is not a DNS-1123 label (namespaces)."""
    out: list[Cause] = []
    if len(value) > 63:
        out.append(invalid_value(field, value, "must be no more than 63 characters"))
    if not _DNS1123_LABEL.match(value):
        out.append(invalid_value(field, value, DNS1123_LABEL_MSG))
    return out


def check_dns1035_label(field: str, value: str) -> list[Cause]:
    """Causes for a value that is not a DNS-1035 label (services)."""
    out: list[Cause] = []
    if len(value) > 63:
        out.append(invalid_value(field, value, "must be no more than 63 characters"))
    if not _DNS1035_LABEL.match(value):
        out.append(invalid_value(field, value, DNS1035_LABEL_MSG))
    return out


def check_qualified_name(field: str, key: str) -> list[Cause]:
    """``validation.IsQualifiedName``: label and annotation keys, ``[prefix/]name``."""
    prefix, _, name = key.rpartition("/")
    out: list[Cause] = []
    if "/" in key and not prefix:
        out.append(invalid_value(field, key, "prefix part must be non-empty"))
    elif prefix:
        for c in check_dns1123_subdomain(field, prefix):
            out.append(invalid_value(field, key, "prefix part " + c.message.split(": ", 2)[-1]))
    if not name:
        out.append(invalid_value(field, key, "name part must be non-empty"))
    else:
        if len(name) > 63:
            out.append(invalid_value(field, key, "name part must be no more than 63 characters"))
        if not _QUALIFIED_NAME.match(name):
            out.append(invalid_value(field, key, _QUALIFIED_NAME_MSG))
    return out


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
        if len(v) > 63:
            out.append(invalid_value(field, v, "must be no more than 63 characters"))
        if not _LABEL_VALUE.match(v):
            out.append(invalid_value(field, v, _LABEL_VALUE_MSG))
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
        total += len(k) + len(v)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        out.append(too_long(field, TOTAL_ANNOTATION_SIZE_LIMIT))
    return out


def key_of(namespace: str, name: str) -> str:
    """The storage key, ordered like etcd keys so lists and continue tokens are stable."""
    return f"{namespace}/{name}" if namespace else name
