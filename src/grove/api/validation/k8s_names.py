"""Kubernetes name and label syntax (``k8s.io/apimachinery/pkg/util/validation``)."""

from __future__ import annotations

import re

from grove.api.errors import FieldError, Path, invalid, too_long

__all__ = [
    "DNS1035_LABEL_ERROR",
    "DNS1123_LABEL_ERROR",
    "MAX_LABEL_LENGTH",
    "annotation_errors",
    "env_var_name_errors",
    "is_dns1035_label",
    "is_dns1123_label",
    "label_errors",
    "qualified_name_error",
]

MAX_LABEL_LENGTH = 63
MAX_SUBDOMAIN_LENGTH = 253
MAX_ANNOTATIONS_BYTES = 256 * 1024

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

DNS1123_LABEL_ERROR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_LABEL_ERROR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_QUALIFIED_NAME_ERROR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_LABEL_VALUE_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_ENV_VAR_NAME_ERROR = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and "
    "must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for "
    "validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
)


def is_dns1123_label(value: str) -> bool:
    """Lowercase RFC 1123 label of at most 63 characters."""
    return len(value) <= MAX_LABEL_LENGTH and bool(_DNS1123_LABEL.match(value))


def is_dns1035_label(value: str) -> bool:
    """DNS-1035 label (starts with a letter) of at most 63 characters."""
    return len(value) <= MAX_LABEL_LENGTH and bool(_DNS1035_LABEL.match(value))


def qualified_name_error(key: str) -> str | None:
    """Why ``key`` is not a qualified name (label or annotation key), or None if it is one."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return "prefix part must be non-empty"
    if prefix and (len(prefix) > MAX_SUBDOMAIN_LENGTH or not _DNS1123_SUBDOMAIN.match(prefix)):
        return "prefix part must be a lowercase RFC 1123 subdomain"
    if not name:
        return "name part must be non-empty"
    if len(name) > MAX_LABEL_LENGTH:
        return f"name part must be no more than {MAX_LABEL_LENGTH} characters"
    if not _QUALIFIED_NAME.match(name):
        return _QUALIFIED_NAME_ERROR
    return None


def label_errors(labels: dict[str, str], path: Path) -> list[FieldError]:
    """Invalid label keys and values."""
    errors: list[FieldError] = []
    for key, value in labels.items():
        problem = qualified_name_error(key)
        if problem:
            errors.append(invalid(path, key, problem))
        if len(value) > MAX_LABEL_LENGTH:
            errors.append(too_long(path.key(key), f"may not be more than {MAX_LABEL_LENGTH} bytes"))
        elif not _LABEL_VALUE.match(value):
            errors.append(invalid(path.key(key), value, _LABEL_VALUE_ERROR))
    return errors


def annotation_errors(annotations: dict[str, str], path: Path) -> list[FieldError]:
    """Invalid annotation keys, and a total size over 256 KiB."""
    errors: list[FieldError] = []
    size = 0
    for key, value in annotations.items():
        problem = qualified_name_error(key.lower())
        if problem:
            errors.append(invalid(path, key, problem))
        size += len(key.encode()) + len(value.encode())
    if size > MAX_ANNOTATIONS_BYTES:
        errors.append(too_long(path, f"may not be more than {MAX_ANNOTATIONS_BYTES} bytes"))
    return errors


def env_var_name_errors(name: str, path: Path) -> list[FieldError]:
    """An invalid environment variable name."""
    return [] if _ENV_VAR_NAME.match(name) else [invalid(path, name, _ENV_VAR_NAME_ERROR)]
