"""Kubernetes-style field errors.

A :class:`FieldError` renders exactly like Go's ``field.Error``
(``k8s.io/apimachinery/pkg/util/validation/field``), e.g.::

    spec.template.podCliqueScalingGroups[0].cliqueNames[1]: Invalid value: "wrker": no clique named "wrker"

Validation functions return a list of errors (all of them, never only the first); callers that want an
exception wrap the list in :class:`GroveValidationError`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "OMIT",
    "ErrorType",
    "FieldError",
    "GroveValidationError",
    "Path",
    "duplicate",
    "forbidden",
    "invalid",
    "not_supported",
    "render_errors",
    "required",
    "too_long",
]


class ErrorType(enum.Enum):
    """The error types of Go's ``field.ErrorType`` used by Grove; the value is the rendered text."""

    REQUIRED = "Required value"
    INVALID = "Invalid value"
    DUPLICATE = "Duplicate value"
    NOT_SUPPORTED = "Unsupported value"
    FORBIDDEN = "Forbidden"
    TOO_LONG = "Too long"

    @property
    def reason(self) -> str:
        """The ``metav1.CauseType`` name (``FieldValueRequired``...) used in API status causes."""
        return {
            ErrorType.REQUIRED: "FieldValueRequired",
            ErrorType.INVALID: "FieldValueInvalid",
            ErrorType.DUPLICATE: "FieldValueDuplicate",
            ErrorType.NOT_SUPPORTED: "FieldValueNotSupported",
            ErrorType.FORBIDDEN: "FieldValueForbidden",
            ErrorType.TOO_LONG: "FieldValueTooLong",
        }[self]


class _Omit:
    """Marker for "no bad value to show" (Go's ``omitValue``)."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()

# These types never print the bad value, as in Go.
_VALUELESS = {ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG}


class Path:
    """An immutable field path such as ``spec.template.cliques[0].name``.

    ``child("a")`` appends a field, ``index(3)`` a list index, ``key("k")`` a map key.
    """

    __slots__ = ("_text",)

    def __init__(self, *fields: str) -> None:
        self._text = ".".join(fields)

    @classmethod
    def _raw(cls, text: str) -> Path:
        p = cls.__new__(cls)
        p._text = text
        return p

    def child(self, *names: str) -> Path:
        """Path of a nested field."""
        text = self._text
        for name in names:
            text = f"{text}.{name}" if text else name
        return Path._raw(text)

    def index(self, i: int) -> Path:
        """Path of a list element."""
        return Path._raw(f"{self._text}[{i}]")

    def key(self, k: str) -> Path:
        """Path of a map entry."""
        return Path._raw(f"{self._text}[{k}]")

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Path({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Path) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)


def _go_value(value: Any) -> str:
    """Format a bad value the way Go's ``field.Error`` does (strings quoted, scalars bare)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: its type, path, the offending value and a detail message."""

    type: ErrorType
    path: str
    value: Any = OMIT
    detail: str = ""

    def body(self) -> str:
        """The message without the path (Go's ``ErrorBody``)."""
        if self.type in _VALUELESS or self.value is OMIT:
            text = self.type.value
        else:
            text = f"{self.type.value}: {_go_value(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.path}: {self.body()}" if self.path else self.body()

    def to_cause(self) -> dict[str, str]:
        """The error as a ``metav1.StatusCause`` (for admission responses)."""
        return {"reason": self.type.reason, "message": self.body(), "field": self.path}


def required(path: Path | str, detail: str = "") -> FieldError:
    """A required field is missing or empty."""
    return FieldError(ErrorType.REQUIRED, str(path), OMIT, detail)


def invalid(path: Path | str, value: Any, detail: str) -> FieldError:
    """A field has a value that breaks a rule."""
    return FieldError(ErrorType.INVALID, str(path), value, detail)


def duplicate(path: Path | str, value: Any, detail: str = "") -> FieldError:
    """A value that must be unique appears more than once."""
    return FieldError(ErrorType.DUPLICATE, str(path), value, detail)


def not_supported(path: Path | str, value: Any, supported: Sequence[str]) -> FieldError:
    """A value is not one of an enumerated set."""
    detail = "supported values: " + ", ".join(json.dumps(s) for s in supported) if supported else ""
    return FieldError(ErrorType.NOT_SUPPORTED, str(path), value, detail)


def forbidden(path: Path | str, detail: str) -> FieldError:
    """A field may not be set (here, or in this operation)."""
    return FieldError(ErrorType.FORBIDDEN, str(path), OMIT, detail)


def too_long(path: Path | str, detail: str) -> FieldError:
    """A value (or a name generated from it) is longer than allowed."""
    return FieldError(ErrorType.TOO_LONG, str(path), OMIT, detail)


def render_errors(errors: Iterable[FieldError]) -> str:
    """All errors, one per line."""
    return "\n".join(str(e) for e in errors)


class GroveValidationError(ValueError):
    """Raised when an object is invalid; carries every field error found."""

    def __init__(self, errors: Sequence[FieldError], kind: str = "", name: str = "") -> None:
        self.errors: list[FieldError] = list(errors)
        self.kind = kind
        self.name = name
        super().__init__(self.message())

    def message(self) -> str:
        """Like the API server's message: ``Kind "name" is invalid: [err1, err2]``."""
        subject = f'{self.kind} "{self.name}" is invalid' if self.kind else "invalid object"
        if len(self.errors) == 1:
            return f"{subject}: {self.errors[0]}"
        return f"{subject}: [{', '.join(str(e) for e in self.errors)}]"
