"""API errors shaped like kube-apiserver's ``Status`` objects (k8s.io/apimachinery/pkg/api/errors)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the API server reports to its client as a ``Status`` object with an HTTP code."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The ``Status`` object for this error, as kube-apiserver serialises it."""
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        # StatusReasonUnknown is "" and omitted, as for errors kube-apiserver got from elsewhere.
        if self.reason:
            out["reason"] = self.reason
        if self.details is not None:
            out["details"] = self.details
        out["code"] = self.code
        return out


def _details(resource: str, group: str, name: str | None) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = resource
    return d


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> ApiError:
    """404 NotFound for ``name`` of ``resource``."""
    return ApiError(
        404,
        "NotFound",
        f'{_qualified(resource, group)} "{name}" not found',
        details=_details(resource, group, name),
    )


def already_exists(resource: str, group: str, name: str) -> ApiError:
    """409 AlreadyExists."""
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(resource, group)} "{name}" already exists',
        details=_details(resource, group, name),
    )


def conflict(resource: str, group: str, name: str, why: str) -> ApiError:
    """409 Conflict, e.g. a stale resourceVersion."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
        details=_details(resource, group, name),
    )


STALE_RV = "the object has been modified; please apply your changes to the latest version and try again"


class Cause:
    """One field error of a 422 Invalid response (``StatusCause``)."""

    __slots__ = ("field", "message", "reason")

    def __init__(self, field: str, reason: str, message: str) -> None:
        self.field = field
        self.reason = reason
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def text(self) -> str:
        """``field: message`` as kube-apiserver joins causes into the Status message."""
        return f"{self.field}: {self.message}" if self.field else self.message


def required(field: str) -> Cause:
    """``field.Required``."""
    return Cause(field, "FieldValueRequired", "Required value")


def invalid_value(field: str, value: Any, detail: str) -> Cause:
    """``field.Invalid``."""
    return Cause(field, "FieldValueInvalid", f"Invalid value: {go_repr(value)}: {detail}")


def unsupported_value(field: str, value: Any, supported: list[str]) -> Cause:
    """``field.NotSupported``."""
    quoted = ", ".join(f'"{s}"' for s in supported)
    return Cause(
        field, "FieldValueNotSupported", f"Unsupported value: {go_repr(value)}: supported values: {quoted}"
    )


def forbidden(field: str, detail: str) -> Cause:
    """``field.Forbidden``."""
    return Cause(field, "FieldValueForbidden", f"Forbidden: {detail}")


def too_long(field: str, limit: int) -> Cause:
    """``field.TooLong``."""
    return Cause(field, "FieldValueTooLong", f"Too long: may not be more than {limit} bytes")


def go_repr(value: Any) -> str:
    """A bad value as kube-apiserver shows it in a cause: strings quoted, scalars bare, composites by kind."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return '"object"' if isinstance(value, dict) else '"array"'
    return str(value)


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> ApiError:
    """422 Invalid with field causes, message as ``NewInvalid`` builds it."""
    qualified = f"{kind}.{group}" if group else kind
    if len(causes) == 1:
        msg = f'{qualified} "{name}" is invalid: {causes[0].text()}'
    else:
        msg = f'{qualified} "{name}" is invalid: [' + ", ".join(c.text() for c in causes) + "]"
    details: dict[str, Any] = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [c.to_dict() for c in causes]
    return ApiError(422, "Invalid", msg, details=details)


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def forbidden_request(resource: str, group: str, name: str, why: str) -> ApiError:
    """403 Forbidden, e.g. creating in a terminating namespace."""
    return ApiError(
        403,
        "Forbidden",
        f'{_qualified(resource, group)} "{name}" is forbidden: {why}',
        details=_details(resource, group, name),
    )


def namespace_terminating(resource: str, group: str, name: str, namespace: str) -> ApiError:
    """The NamespaceLifecycle admission plugin's 403 for a create in a terminating namespace, with the
    ``NamespaceTerminating`` cause clients recognise it by (client-go's ``HasStatusCause``)."""
    why = f"unable to create new content in namespace {namespace} because it is being terminated"
    cause = {
        "reason": "NamespaceTerminating",
        "message": f"namespace {namespace} is being terminated",
        "field": "metadata.namespace",
    }
    return ApiError(
        403,
        "Forbidden",
        f'{_qualified(resource, group)} "{name}" is forbidden: {why}',
        details={**_details(resource, group, name), "causes": [cause]},
    )


def method_not_allowed() -> ApiError:
    """405 MethodNotAllowed."""
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    """415 UnsupportedMediaType."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


def gone(message: str) -> ApiError:
    """410 Gone with reason Expired, as a too-old resourceVersion or continue token gets."""
    return ApiError(410, "Expired", message)


def too_many_requests(message: str = "Too many requests, please try again later.") -> ApiError:
    """429, as API Priority and Fairness rejects."""
    return ApiError(429, "TooManyRequests", message, details={"retryAfterSeconds": 1})


def internal_error(message: str) -> ApiError:
    """500 InternalError."""
    return ApiError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        details={"causes": [{"message": message}]},
    )
