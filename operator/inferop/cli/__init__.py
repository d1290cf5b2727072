"""The ``inferop`` command line: render objects offline, generate CRDs, run the operator, simulate, backtest.

One module per subcommand (``render`` holds ``render`` and ``crds``; ``run``, ``simulate``,
``backtest``), one set of file loaders (``files``) and one error (``errors.CLIError``): bad input
prints ``error: <what>: <problem>`` (and every problem of a file, one line each) and exits 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from inferop.activator import command as activator_command
from inferop.cli import backtest, render, run, simulate
from inferop.cli.errors import EXIT_USAGE, CLIError, report

__all__ = ["EXIT_USAGE", "CLIError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inferop", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    render.add_parsers(sub)
    run.add_parser(sub)
    simulate.add_parser(sub)
    backtest.add_parser(sub)
    activator_command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CLIError as err:
        return report(err)
