"""Kubernetes name and label syntax, as ``k8s.io/apimachinery/pkg/util/validation`` defines it.

Each ``*_errors`` function returns apimachinery's messages for a value, empty when the value is valid; callers
wrap them in their own field errors (the webhook's :class:`grove.api.errors.FieldError`, the dev cluster's
status causes), so both report a bad name in the words the Kubernetes API server uses.
"""

from __future__ import annotations

import re

__all__ = [
    "DNS1035_LABEL_ERROR",
    "DNS1123_LABEL_ERROR",
    "DNS1123_SUBDOMAIN_ERROR",
    "MAX_ANNOTATIONS_BYTES",
    "MAX_LABEL_LENGTH",
    "MAX_SUBDOMAIN_LENGTH",
    "dns1035_label_errors",
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "is_dns1035_label",
    "is_dns1123_label",
    "label_value_errors",
    "qualified_name_errors",
]

MAX_LABEL_LENGTH = 63
MAX_SUBDOMAIN_LENGTH = 253
MAX_ANNOTATIONS_BYTES = 256 * 1024

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

DNS1123_LABEL_ERROR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_LABEL_ERROR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_QUALIFIED_NAME_ERROR = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_LABEL_VALUE_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def _max_length_error(limit: int) -> str:
    return f"must be no more than {limit} characters"


def _errors(value: str, limit: int, pattern: re.Pattern[str], message: str) -> list[str]:
    out = [_max_length_error(limit)] if len(value) > limit else []
    if not pattern.match(value):
        out.append(message)
    return out


def is_dns1123_label(value: str) -> bool:
    """Lowercase RFC 1123 label of at most 63 characters."""
    return len(value) <= MAX_LABEL_LENGTH and bool(_DNS1123_LABEL.match(value))


def is_dns1035_label(value: str) -> bool:
    """DNS-1035 label (starts with a letter) of at most 63 characters."""
    return len(value) <= MAX_LABEL_LENGTH and bool(_DNS1035_LABEL.match(value))


def dns1123_label_errors(value: str) -> list[str]:
    """``IsDNS1123Label``: namespaces and most names that become a DNS label. A value that is a valid
    subdomain fails only for its dots, and says so (``must not contain dots``, as kube 1.36 words it)."""
    out = [_max_length_error(MAX_LABEL_LENGTH)] if len(value) > MAX_LABEL_LENGTH else []
    if not _DNS1123_LABEL.match(value):
        out.append("must not contain dots" if _DNS1123_SUBDOMAIN.match(value) else DNS1123_LABEL_ERROR)
    return out


def dns1035_label_errors(value: str) -> list[str]:
    """``IsDNS1035Label``: service names."""
    return _errors(value, MAX_LABEL_LENGTH, _DNS1035_LABEL, DNS1035_LABEL_ERROR)


def dns1123_subdomain_errors(value: str) -> list[str]:
    """``IsDNS1123Subdomain``: pods, config maps, custom resources and most other object names."""
    return _errors(value, MAX_SUBDOMAIN_LENGTH, _DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_ERROR)


def qualified_name_errors(value: str) -> list[str]:
    """``IsQualifiedName``: label and annotation keys, ``[prefix/]name``."""
    parts = value.split("/")
    if len(parts) > 2:
        return [
            f"a qualified name {_QUALIFIED_NAME_ERROR} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    out: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            out.append("prefix part must be non-empty")
        else:
            out.extend("prefix part " + m for m in dns1123_subdomain_errors(prefix))
    if not name:
        out.append("name part must be non-empty")
    elif len(name) > MAX_LABEL_LENGTH:
        out.append("name part " + _max_length_error(MAX_LABEL_LENGTH))
    if not _QUALIFIED_NAME.match(name):
        out.append("name part " + _QUALIFIED_NAME_ERROR)
    return out


def label_value_errors(value: str) -> list[str]:
    """``IsValidLabelValue``: at most 63 characters, empty allowed."""
    return _errors(value, MAX_LABEL_LENGTH, _LABEL_VALUE, _LABEL_VALUE_ERROR)
