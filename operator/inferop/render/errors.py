"""Errors a builder raises for a spec it cannot turn into objects."""

from __future__ import annotations


class RenderError(ValueError):
    """The spec cannot be rendered; ``field`` names the offending field, the message says the fix."""

    def __init__(self, field: str, message: str, reason: str = "InvalidSpec") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.reason = reason


class GPUClassNotFound(RenderError):
    def __init__(self, class_name: str, known: list[str]) -> None:
        hint = f" (known: {', '.join(sorted(known))})" if known else " (no GPUClass exists yet)"
        super().__init__(
            "spec.resources.gpu.class",
            f'GPUClass "{class_name}" not found{hint}; create it or change the class',
            reason="GPUClassNotFound",
        )
        self.class_name = class_name
