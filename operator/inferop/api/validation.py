"""Turn raw objects into models, and pydantic errors into problems that name their field.

An :class:`InvalidObject` carries every problem pydantic found (``problems``, each with its dotted
field path) for the CLI, which prints them all, and reads as one line (the first problem and "(and N
more problems)") for a status condition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from inferop.api.gpuclass import GPUClass
from inferop.api.inferenceservice import InferenceService
from inferop.api.tenant import Tenant


@dataclass(frozen=True)
class Problem:
    """One validation problem: the dotted field path ("" when the message names it) and what is wrong."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidObject(ValueError):
    """An object that fails validation; ``field`` is its dotted path (e.g. spec.autoscaling.maxReplicas).

    ``problems`` lists every problem found (the first is ``field``/``message`` without the "(and N more
    problems)" suffix); ``str()`` is one line for a status message.
    """

    def __init__(self, field: str, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.problems: tuple[Problem, ...] = tuple(problems) or (Problem(field, message),)


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


def _problem(error: Mapping[str, Any], prefix: str) -> Problem:
    message = str(error["msg"]).removeprefix("Value error, ")
    field = _path(tuple(error["loc"]))
    if message.startswith(f"{field}"):
        field = ""  # our own validators already name the field
    elif prefix:
        field = f"{prefix}.{field}" if field else prefix
    return Problem(field, message)


def describe_validation_error(err: ValidationError, prefix: str = "") -> InvalidObject:
    """Every problem of ``err``, each field path under ``prefix`` (e.g. "spec" for a validated spec)."""
    problems = [_problem(e, prefix) for e in err.errors()]
    first = problems[0]
    message = first.message
    more = len(problems) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InvalidObject(first.field, message, problems)


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
