"""``fastinit info``: version, stream version, SIMD level, threads (:func:`fastinit.info`)."""
from __future__ import annotations

import json

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    """Add the ``info`` command to an ``argparse`` subparsers object; return its parser."""
    p = subparsers.add_parser("info", help="version, stream version, SIMD level, threads")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=run)
    return p


def run(args):
    """Run ``fastinit info`` for parsed ``args``: print :func:`fastinit.info`, one
    ``key value`` line each (or JSON with ``--json``); return the exit status (0)."""
    from .._info import info

    data = info()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key:15s} {value}")
    return 0
