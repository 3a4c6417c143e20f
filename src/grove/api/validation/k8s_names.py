"""Kubernetes name and label rules as field errors of a Grove object (syntax: :mod:`grove.api.k8s_syntax`)."""

from __future__ import annotations

import re

from grove.api.errors import FieldError, Path, invalid, too_long
from grove.api.k8s_syntax import (
    DNS1035_LABEL_ERROR,
    DNS1123_LABEL_ERROR,
    MAX_ANNOTATIONS_BYTES,
    MAX_LABEL_LENGTH,
    is_dns1035_label,
    is_dns1123_label,
    label_value_errors,
    qualified_name_errors,
)

__all__ = [
    "DNS1035_LABEL_ERROR",
    "DNS1123_LABEL_ERROR",
    "MAX_LABEL_LENGTH",
    "annotation_errors",
    "env_var_name_errors",
    "is_dns1035_label",
    "is_dns1123_label",
    "label_errors",
]

_ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_ENV_VAR_NAME_ERROR = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and "
    "must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for "
    "validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
)


def label_errors(labels: dict[str, str], path: Path) -> list[FieldError]:
    """Invalid label keys and values."""
    errors: list[FieldError] = []
    for key, value in labels.items():
        errors += [invalid(path, key, problem) for problem in qualified_name_errors(key)]
        errors += [invalid(path.key(key), value, problem) for problem in label_value_errors(value)]
    return errors


def annotation_errors(annotations: dict[str, str], path: Path) -> list[FieldError]:
    """Invalid annotation keys, and a total size over 256 KiB."""
    errors: list[FieldError] = []
    size = 0
    for key, value in annotations.items():
        errors += [invalid(path, key, problem) for problem in qualified_name_errors(key.lower())]
        size += len(key.encode()) + len(value.encode())
    if size > MAX_ANNOTATIONS_BYTES:
        errors.append(too_long(path, f"may not be more than {MAX_ANNOTATIONS_BYTES} bytes"))
    return errors


def env_var_name_errors(name: str, path: Path) -> list[FieldError]:
    """An invalid environment variable name."""
    return [] if _ENV_VAR_NAME.match(name) else [invalid(path, name, _ENV_VAR_NAME_ERROR)]
