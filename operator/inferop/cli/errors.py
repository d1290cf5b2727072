"""The one error of the ``inferop`` command line and how it is printed.

Every bad input (a flag, a file, a field in a file) raises :class:`CLIError`. Its message starts with
what it is about (the flag, ``FILE: Kind name`` or the field path) and ends with the fix when there is
one; ``problems`` lists every field problem of a file, one line each. :func:`report` prints it to
stderr as ``error: <message>`` plus one indented line per problem, and the command exits
``EXIT_USAGE`` (2), the same code argparse uses for a usage error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from inferop.api.validation import InvalidObject

#: Exit code of every bad-input error (argparse's usage errors exit 2 too).
EXIT_USAGE = 2


class CLIError(Exception):
    """Bad input to an ``inferop`` subcommand; the message names the flag or file and the fix."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = tuple(problems)

    def __str__(self) -> str:
        return self.message if not self.problems else "\n".join([self.message, *self.problems])


def invalid(where: str, err: InvalidObject) -> CLIError:
    """``where`` (e.g. ``--isvc: FILE`` or ``FILE: InferenceService chat``) with every problem of ``err``.

    One problem reads as one line (``where: field: message``); several read as a count, then one line
    per problem, each with its field path.
    """
    if len(err.problems) == 1:
        return CLIError(f"{where}: {err.problems[0]}")
    return CLIError(f"{where}: {len(err.problems)} problems:", [f"  {p}" for p in err.problems])


def merge(errors: Sequence[CLIError]) -> CLIError:
    """Several files' or objects' errors as one, so a run reports them all at once."""
    if len(errors) == 1:
        return errors[0]
    lines: list[str] = []
    for err in errors:
        lines += [f"  {err.message}", *(f"  {p}" for p in err.problems)]
    return CLIError(f"{len(errors)} objects are invalid:", lines)


def report(err: CLIError, stream: TextIO | None = None) -> int:
    """Print ``err`` as ``error: ...`` (and its problems) and return the exit code."""
    print(f"error: {err}", file=stream or sys.stderr)
    return EXIT_USAGE
