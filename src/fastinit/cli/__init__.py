"""Command line: ``fastinit bench | init | check | info``, ``fastinit --version``
(also ``python -m fastinit``).

This package only assembles the parser. Each command is one module with
``add_parser(subparsers)`` and ``run(args)``: :mod:`fastinit.cli.bench`,
:mod:`fastinit.cli.init`, :mod:`fastinit.cli.check`, :mod:`fastinit.cli.info`;
the argument types they share are in :mod:`fastinit.cli._args`. Command modules
import ``._args``, never this package or each other, and import heavy packages
(torch, transformers, matplotlib, dask) only when a command runs.
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["build_parser", "main"]


def build_parser():
    """The ``argparse`` parser of the ``fastinit`` command and its subcommands."""
    from .._version import __version__
    from . import bench, check, info, init

    parser = argparse.ArgumentParser(
        prog="fastinit", description="Fast, bit-reproducible neural-network weight initialization.")
    parser.add_argument("--version", action="version", version=f"fastinit {__version__}",
                        help="print fastinit's version (as 'fastinit info' reports it) and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in (bench, init, check, info):
        command.add_parser(sub)
    return parser


def main(argv=None):
    """main(argv=None) -> int

    Run ``fastinit bench | init | check | info`` (or ``--version``) with ``argv`` (default:
    ``sys.argv[1:]``) and return the exit status; documented in ``docs/cli.md``.
    Without a command, print the help and return 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
