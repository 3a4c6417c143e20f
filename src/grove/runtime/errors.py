"""Typed API errors built from the ``Status`` object the API server returns (apimachinery ``StatusError``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class KubeError(Exception):
    """Base of every error the client raises."""


@dataclass(frozen=True, slots=True)
class Cause:
    """One entry of ``Status.details.causes``: which field broke which rule."""

    reason: str
    message: str
    field: str


class ApiError(KubeError):
    """The API server answered with a non-2xx status.

    ``reason`` and ``message`` come from the returned ``Status`` (``reason`` falls back to the HTTP reason).
    """

    status_code: int = 0

    def __init__(self, status: int, reason: str, message: str, body: Mapping[str, Any] | None = None) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.body: Mapping[str, Any] = body or {}
        super().__init__(self._describe())

    @property
    def details(self) -> Mapping[str, Any]:
        """``Status.details`` (name, group, kind, causes, retryAfterSeconds) or an empty mapping."""
        details = self.body.get("details")
        return details if isinstance(details, Mapping) else {}

    @property
    def causes(self) -> list[Cause]:
        """The field-level causes of the failure (mostly for ``Invalid``)."""
        return [
            Cause(str(c.get("reason", "")), str(c.get("message", "")), str(c.get("field", "")))
            for c in self.details.get("causes") or ()
            if isinstance(c, Mapping)
        ]

    def _describe(self) -> str:
        text = f"{self.status} {self.reason}: {self.message}"
        causes = self.causes
        if causes:
            text += (
                " [" + "; ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes) + "]"
            )
        return text


class BadRequest(ApiError):
    """400."""

    status_code = 400


class Unauthorized(ApiError):
    """401."""

    status_code = 401


class Forbidden(ApiError):
    """403."""

    status_code = 403


NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"
"""The cause kube-apiserver's NamespaceLifecycle admission gives a create in a terminating namespace."""


class NamespaceTerminating(Forbidden):
    """403 for a create in a namespace being deleted (cause ``NamespaceTerminating``). Not a failure to
    retry or report: nothing new can be created there, and everything in it is going away."""


class NotFound(ApiError):
    """404."""

    status_code = 404


class MethodNotAllowed(ApiError):
    """405."""

    status_code = 405


class AlreadyExists(ApiError):
    """409 with reason ``AlreadyExists``: a create found the name taken."""

    status_code = 409


class Conflict(ApiError):
    """409 (other reasons): the resourceVersion or a precondition (uid) did not match."""

    status_code = 409


class Gone(ApiError):
    """410: the requested resourceVersion (or continue token) is too old; relist."""

    status_code = 410


class UnsupportedMediaType(ApiError):
    """415: e.g. a strategic merge patch on a custom resource."""

    status_code = 415


class Invalid(ApiError):
    """422: the object breaks validation; see :attr:`causes` for the fields."""

    status_code = 422


class TooManyRequests(ApiError):
    """429: throttled (API priority and fairness); :attr:`retry_after` says when to come back."""

    status_code = 429

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked us to wait, if it said."""
        value = self.details.get("retryAfterSeconds")
        return float(value) if isinstance(value, int | float) else None


class ServerError(ApiError):
    """5xx."""


class TransportError(KubeError):
    """The request never got an HTTP answer (connection refused or reset, timeout, truncated body)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status_code: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Gone,
        UnsupportedMediaType,
        Invalid,
        TooManyRequests,
    )
}


def error_from_response(status: int, body: bytes, http_reason: str = "") -> ApiError:
    """The typed error for a non-2xx response whose body is (usually) a ``Status`` object."""
    parsed: Mapping[str, Any] = {}
    try:
        value = json.loads(body) if body else {}
        if isinstance(value, Mapping):
            parsed = value
    except ValueError:
        pass
    reason = str(parsed.get("reason") or http_reason or "Unknown")
    message = str(parsed.get("message") or body[:500].decode("utf-8", "replace") or http_reason)
    cls: type[ApiError]
    if status == 409:
        cls = AlreadyExists if reason == "AlreadyExists" else Conflict
    elif status == 403 and _has_cause(parsed, NAMESPACE_TERMINATING_CAUSE):
        cls = NamespaceTerminating
    elif status >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status, ApiError)
    return cls(status, reason, message, parsed)


def _has_cause(status: Mapping[str, Any], reason: str) -> bool:
    """client-go's ``HasStatusCause``: ``details.causes`` has one with this ``reason`` (its ``type``)."""
    details = status.get("details")
    causes = details.get("causes") if isinstance(details, Mapping) else None
    return any(isinstance(c, Mapping) and c.get("reason") == reason for c in causes or ())
