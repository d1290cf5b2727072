"""Turn raw objects into models, and pydantic errors into one line that names the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from inferop.api.gpuclass import GPUClass
from inferop.api.inferenceservice import InferenceService
from inferop.api.tenant import Tenant


class InvalidObject(ValueError):
    """An object that fails validation; ``field`` is its dotted path (e.g. spec.autoscaling.maxReplicas)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-after", "function-before")) or "[" in part:
            continue  # pydantic's internal validator steps and union branch names
        else:
            out += f".{part}" if out else part
    return out


def describe_validation_error(err: ValidationError) -> InvalidObject:
    first = err.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    field = _path(tuple(first["loc"]))
    if message.startswith(f"{field}"):
        field = ""  # our own validators already name the field
    more = err.error_count() - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InvalidObject(field, message)


def plain(obj: Any) -> Any:
    """Deep copy of mapping views (e.g. kopf's Body) into plain dicts and lists, as strict models need."""
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def parse_isvc(obj: Mapping[str, Any]) -> InferenceService:
    try:
        return InferenceService.model_validate(plain(obj))
    except ValidationError as err:
        raise describe_validation_error(err) from None


def parse_gpuclass(obj: Mapping[str, Any]) -> GPUClass:
    try:
        return GPUClass.model_validate(plain(obj))
    except ValidationError as err:
        raise describe_validation_error(err) from None


def parse_tenant(obj: Mapping[str, Any]) -> Tenant:
    try:
        return Tenant.model_validate(plain(obj))
    except ValidationError as err:
        raise describe_validation_error(err) from None
