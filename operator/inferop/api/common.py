"""Types shared by the inferop custom resources.

Pure: no Kubernetes client, no I/O. The CRD schemas in ``crds/`` are generated from these models
(see ``inferop.api.crdgen``), so every constraint written here is enforced by the API server too.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic.alias_generators import to_camel

GROUP = "inferop.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: Money is a decimal string ("4.10"), never a float: a float cannot hold cents exactly.
MONEY_PATTERN = r"^[0-9]+(\.[0-9]{1,6})?$"
Money = Annotated[
    str,
    Field(
        pattern=MONEY_PATTERN,
        description='A decimal amount as a string, e.g. "4.10". Floats are rejected: write the number in quotes.',
    ),
]

#: Kubernetes resource.Quantity, as the API accepts it: an integer or a string such as "500m" or "16Gi".
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_QUANTITY_RE = re.compile(QUANTITY_PATTERN)


def _quantity(value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError('must be an integer or a quantity string such as "500m" or "16Gi"')
    if isinstance(value, str) and not _QUANTITY_RE.fullmatch(value):
        raise ValueError(f'"{value}" is not a Kubernetes quantity (e.g. "500m", "2", "16Gi")')
    return value


def _int_or_string(value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError('must be an integer or a string such as "25%"')
    return value


Quantity = Annotated[
    int | str,
    PlainValidator(_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]
IntOrString = Annotated[
    int | str,
    PlainValidator(_int_or_string),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}),
]
#: An arbitrary Kubernetes object kept as the user wrote it (e.g. an Affinity).
FreeForm = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]


def money(value: str) -> Decimal:
    """Parse a Money string into a Decimal (already validated by the model)."""
    return Decimal(value)


class Model(BaseModel):
    """Base for every spec model: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )

    def dump(self) -> dict[str, Any]:
        """The wire form (camelCase, unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class StatusModel(BaseModel):
    """Base for status models: camelCase on the wire, tolerant of fields written by newer versions."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Toleration(Model):
    """A core/v1 Toleration."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class Condition(StatusModel):
    """A status condition following the Kubernetes API conventions (metav1.Condition)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str | None = None
    observed_generation: int | None = None
