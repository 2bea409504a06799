"""``fastinit bench``: fastinit against NumPy (and PyTorch) on every distribution and dtype.

The command line only: the measurements, the table, the JSON report (its
schema is in the module docstring) and the plot are :mod:`fastinit.benchmark`,
imported when the command runs.
"""
from __future__ import annotations

from ._args import parse_positive_int

__all__ = ["add_parser", "run"]

def add_parser(subparsers):
    """Add the ``bench`` command to an ``argparse`` subparsers object; return its parser."""
    from ..benchmark import DISTRIBUTIONS, DTYPES

    p = subparsers.add_parser(
        "bench",
        help="fastinit vs NumPy (and PyTorch) on every distribution and dtype",
        description="Measure samples/s of fastinit, NumPy and PyTorch (when installed) "
                    "on every distribution and dtype, with speed-ups and the "
                    "machine's memory-write ceiling.")
    p.add_argument("--size", type=parse_positive_int, default=1 << 24,
                   help="elements per buffer (default 16,777,216; accepts 1e6)")
    p.add_argument("--threads", type=parse_positive_int, default=None,
                   help="threads for fastinit and torch (default: fastinit.get_num_threads())")
    p.add_argument("--repeat", type=parse_positive_int, default=5,
                   help="timed runs per case (median)")
    p.add_argument("--dist", action="append", choices=DISTRIBUTIONS,
                   help="only this distribution (repeatable)")
    p.add_argument("--dtype", action="append", choices=DTYPES, help="only this dtype (repeatable)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON (schema: "
                                                  "fastinit.benchmark module docstring)")
    p.add_argument("--plot", metavar="FILE.png", help="also draw a bar chart (needs matplotlib)")
    p.set_defaults(func=run)
    return p


def run(args):
    """Run ``fastinit bench`` for parsed ``args``; return the exit status
    (:func:`fastinit.benchmark.main`)."""
    from .. import benchmark

    return benchmark.main(args)
