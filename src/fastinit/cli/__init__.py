"""Command line: ``fastinit bench | init | check | info``, ``fastinit --version``
(also ``python -m fastinit``)."""
from __future__ import annotations

import argparse
import json
import sys


def _positive_int(text):
    try:
        value = int(float(text)) if "e" in text.lower() else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_bench(sub):
    from .benchmark import DISTRIBUTIONS, DTYPES

    p = sub.add_parser(
        "bench",
        help="fastinit vs NumPy (and PyTorch) on every distribution and dtype",
        description="Measure samples/s of fastinit, NumPy and PyTorch (when installed) "
                    "on every distribution and dtype, with speed-ups and the "
                    "machine's memory-write ceiling.")
    p.add_argument("--size", type=_positive_int, default=1 << 24,
                   help="elements per buffer (default 16,777,216; accepts 1e6)")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="threads for fastinit and torch (default: fastinit.get_num_threads())")
    p.add_argument("--repeat", type=_positive_int, default=5, help="timed runs per case (median)")
    p.add_argument("--dist", action="append", choices=DISTRIBUTIONS,
                   help="only this distribution (repeatable)")
    p.add_argument("--dtype", action="append", choices=DTYPES, help="only this dtype (repeatable)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON (schema: "
                                                  "fastinit.benchmark module docstring)")
    p.add_argument("--plot", metavar="FILE.png", help="also draw a bar chart (needs matplotlib)")
    p.set_defaults(func=_run_bench)


def _run_bench(args):
    from . import benchmark

    return benchmark.main(args)


def _add_info(sub):
    p = sub.add_parser("info", help="version, stream version, SIMD level, threads")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=_run_info)


def _run_info(args):
    from ._info import info

    data = info()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key:15s} {value}")
    return 0


def build_parser():
    """The ``argparse`` parser of the ``fastinit`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="fastinit", description="Fast, bit-reproducible neural-network weight initialization.")
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"fastinit {__version__}",
                        help="print fastinit's version (as 'fastinit info' reports it) and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_bench(sub)
    from ._cli_init import add_parser as _add_init

    _add_init(sub)
    from ._cli_check import add_parser as _add_check

    _add_check(sub)
    _add_info(sub)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
