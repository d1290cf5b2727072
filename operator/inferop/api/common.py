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

from inferop.api.quantity import parse_quantity

GROUP = "inferop.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: Money is a decimal string ("4.10"), never a float: a float cannot hold cents exactly.
MONEY_PATTERN = r"^[0-9]+(\.[0-9]{1,6})?$"
Money = Annotated[
    str,
    Field(
        pattern=MONEY_PATTERN,
        max_length=32,
        description='A decimal amount as a string, e.g. "4.10". Floats are rejected: write the number in quotes.',
    ),
]

#: Kubernetes resource.Quantity, as the API accepts it: an integer or a string such as "500m" or "16Gi".
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_QUANTITY_RE = re.compile(QUANTITY_PATTERN)
#: Longer than any real quantity ("1.5Gi", "128974848", "129e6"); bounds the CEL cost of the rules below.
QUANTITY_MAX_LENGTH = 64
#: Every Quantity in the API is an amount of CPU or memory: negative makes no sense (and a negative
#: ResourceQuota or LimitRange is refused by the API server long after the Tenant was admitted).
MSG_QUANTITY_NEGATIVE = 'must be a non-negative quantity, e.g. "500m", "2" or "16Gi"'
#: ``string(self)`` turns the int-or-string value into the text the Kubernetes CEL quantity library
#: parses (an int 2 becomes "2").
CEL_QUANTITY_NON_NEGATIVE = "isQuantity(string(self)) && !quantity(string(self)).isLessThan(quantity('0'))"


def _quantity(value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError('must be an integer or a quantity string such as "500m" or "16Gi"')
    if isinstance(value, str) and (len(value) > QUANTITY_MAX_LENGTH or not _QUANTITY_RE.fullmatch(value)):
        raise ValueError(f'"{value[:QUANTITY_MAX_LENGTH]}" is not a Kubernetes quantity (e.g. "500m", "2", "16Gi")')
    parsed = parse_quantity(value)
    if parsed is not None and parsed < 0:
        raise ValueError(MSG_QUANTITY_NEGATIVE)
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
            "maxLength": QUANTITY_MAX_LENGTH,
            "x-kubernetes-int-or-string": True,
            "x-kubernetes-validations": [{"rule": CEL_QUANTITY_NON_NEGATIVE, "message": MSG_QUANTITY_NEGATIVE}],
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


#: A label key (a 253-character DNS prefix, "/", a 63-character name) and a label value, as bounds
#: for node selectors and tolerations: the API server would refuse longer ones on the Deployment.
LabelKey = Annotated[str, Field(max_length=317)]
LabelValue = Annotated[str, Field(max_length=63)]
#: At most this many node selector entries or tolerations (real GPU pools use a handful).
MAX_SELECTOR_ENTRIES = 64


class Toleration(Model):
    """A core/v1 Toleration."""

    key: LabelKey | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: LabelValue | None = None
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
