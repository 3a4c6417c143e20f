"""Shared model machinery: the base classes, ObjectMeta, conditions, last errors, owner references."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from grove.api.errors import FieldError, GroveValidationError, forbidden, invalid, not_supported, required

__all__ = [
    "Condition",
    "GroveModel",
    "LastError",
    "ObjectMeta",
    "OwnerReference",
    "TopLevelObject",
    "controller_reference",
    "crd",
    "pydantic_errors",
]


def crd(**schema: Any) -> dict[str, Any]:
    """Extra CRD schema keywords of a field: ``default``, ``minimum``, ``format``, ``listMapKeys``, ``k8s``...

    Read by :mod:`grove.api.crds`; ``k8s="V1PodSpec"`` marks a JSON dict field that holds a Kubernetes type.
    """
    return {"crd": schema}


class GroveModel(BaseModel):
    """Base of Grove's own types: camelCase JSON names, unknown fields rejected, JSON types strict."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        populate_by_name=True,
        alias_generator=to_camel,
        use_attribute_docstrings=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The object as JSON-ready data with the wire names; only fields that were set, no nulls."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)


class OwnerReference(GroveModel):
    """metav1.OwnerReference."""

    model_config = ConfigDict(extra="allow")

    api_version: str
    """API version of the referent."""
    kind: str
    """Kind of the referent."""
    name: str
    """Name of the referent."""
    uid: str
    """UID of the referent."""
    controller: bool | None = None
    """If true, this reference points to the managing controller."""
    block_owner_deletion: bool | None = None
    """If true, the owner cannot be deleted from the key-value store until this reference is removed."""


class ObjectMeta(GroveModel):
    """metav1.ObjectMeta: the fields Grove reads; any other field is kept as it is."""

    model_config = ConfigDict(extra="allow")

    name: str = ""
    """Name of the object, unique within its namespace."""
    generate_name: str | None = None
    """Prefix the server uses to generate a unique name when name is empty."""
    namespace: str = ""
    """Namespace of the object."""
    uid: str | None = None
    """Unique identifier set by the server."""
    resource_version: str | None = None
    """Opaque version of the object, for optimistic concurrency."""
    generation: int | None = None
    """Sequence number of a specific generation of the desired state."""
    creation_timestamp: str | None = None
    """Time the object was created (RFC 3339)."""
    deletion_timestamp: str | None = None
    """Time after which the object will be deleted (RFC 3339)."""
    deletion_grace_period_seconds: int | None = None
    """Seconds allowed for graceful termination before deletion."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels of the object."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations of the object."""
    owner_references: list[OwnerReference] = Field(default_factory=list)
    """Objects this object depends on."""
    finalizers: list[str] = Field(default_factory=list)
    """Finalizers that must be removed before the object is deleted."""


class Condition(GroveModel):
    """metav1.Condition."""

    type: str = Field(json_schema_extra=crd(maxLength=316))
    """Type of condition in CamelCase or in foo.example.com/CamelCase."""
    status: Literal["True", "False", "Unknown"]
    """Status of the condition, one of True, False, Unknown."""
    observed_generation: int | None = Field(default=None, json_schema_extra=crd(format="int64", minimum=0))
    """The .metadata.generation the condition was set based upon."""
    last_transition_time: str = Field(json_schema_extra=crd(format="date-time"))
    """Last time the condition transitioned from one status to another."""
    reason: str = Field(json_schema_extra=crd(maxLength=1024, minLength=1))
    """Programmatic identifier of the reason for the last transition, in CamelCase."""
    message: str = Field(json_schema_extra=crd(maxLength=32768))
    """Human-readable message about the transition; may be empty."""


class LastError(GroveModel):
    """The last error observed by a controller when reconciling an object."""

    code: str
    """Error code that identifies the error."""
    description: str
    """Human-readable description of the error."""
    observed_at: str = Field(json_schema_extra=crd(format="date-time"))
    """Time at which the error was observed."""


class TopLevelObject(GroveModel):
    """A Kubernetes object of one of Grove's kinds (apiVersion, kind, metadata)."""

    API_VERSION: ClassVar[str]
    KIND: ClassVar[str]

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata."""

    def to_dict(self) -> dict[str, Any]:
        """The object as a Kubernetes manifest (apiVersion and kind always present)."""
        body = super().to_dict()
        body.pop("apiVersion", None)
        body.pop("kind", None)
        return {"apiVersion": self.API_VERSION, "kind": self.KIND, **body}

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Parse a manifest; raise :class:`GroveValidationError` with every field error on bad input."""
        if not isinstance(data, dict):
            raise GroveValidationError([invalid("", type(data).__name__, "must be an object")], cls.KIND)
        errors: list[FieldError] = []
        if data.get("apiVersion") not in (None, cls.API_VERSION):
            errors.append(not_supported("apiVersion", data.get("apiVersion"), [cls.API_VERSION]))
        if data.get("kind") not in (None, cls.KIND):
            errors.append(not_supported("kind", data.get("kind"), [cls.KIND]))
        body = {k: v for k, v in data.items() if k not in ("apiVersion", "kind")}
        try:
            obj = cls.model_validate(body)
        except ValidationError as exc:
            errors.extend(pydantic_errors(exc))
            obj = None
        name = ""
        if isinstance(data.get("metadata"), dict):
            name = str(data["metadata"].get("name", ""))
        if errors or obj is None:
            raise GroveValidationError(errors, cls.KIND, name)
        return obj


def controller_reference(owner: TopLevelObject) -> OwnerReference:
    """A controller ownerReference to ``owner`` (which must have a uid), as its children carry."""
    if not owner.metadata.uid:
        raise ValueError(f"{owner.KIND} {owner.metadata.name!r} has no uid")
    return OwnerReference(
        api_version=owner.API_VERSION,
        kind=owner.KIND,
        name=owner.metadata.name,
        uid=owner.metadata.uid,
        controller=True,
        block_owner_deletion=True,
    )


def _loc_path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else part
    return text


_TYPE_NAMES = {
    "int_type": "integer",
    "int_parsing": "integer",
    "int_from_float": "integer",
    "string_type": "string",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "float_type": "number",
    "list_type": "array",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
}


def pydantic_errors(exc: ValidationError) -> list[FieldError]:
    """Translate pydantic's errors into Kubernetes-style field errors with wire (camelCase) paths."""
    from grove.api.schema_check import json_type_name

    out: list[FieldError] = []
    seen: set[str] = set()
    for err in exc.errors():
        # Union members each report their own failure; the first one per path is enough.
        loc = tuple(
            p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "union[")))
        )
        path = _loc_path(loc)
        if path in seen:
            continue
        seen.add(path)
        kind = err["type"]
        value = err.get("input")
        if kind == "missing":
            out.append(required(path))
        elif kind == "extra_forbidden":
            out.append(forbidden(path, "unknown field"))
        elif kind in ("literal_error", "enum"):
            expected = str(err.get("ctx", {}).get("expected", ""))
            choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]
            out.append(not_supported(path, value, choices))
        elif kind in _TYPE_NAMES:
            out.append(invalid(path, json_type_name(value), f"must be of type {_TYPE_NAMES[kind]}"))
        else:
            out.append(
                invalid(path, value if isinstance(value, str | int | float | bool) else None, err["msg"])
            )
    return out
