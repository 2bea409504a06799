"""Argument parsing shared by the ``fastinit`` commands (one definition each).

The command modules (``bench``, ``init``, ``check``, ``info``) import these
from here, never from the :mod:`fastinit.cli` package, so that no command
module imports another or the package that assembles them.
"""
from __future__ import annotations

import argparse

from .._validate import parse_positive_int

__all__ = ["parse_positive_int", "parse_seed", "propagation_sizes"]


def parse_seed(text):
    """argparse ``type=`` of ``--seed``: an integer in ``[0, 2**64)`` in any base
    ``int(text, 0)`` reads (``42``, ``0x2a``), or ``random`` (None: draw one)."""
    if text == "random":
        return None
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(
            f"expected an integer in [0, 2**64) or 'random', got {text!r}")
    return value


def propagation_sizes(args, *, depth, width, batch):
    """``(depth, width, batch, seed)`` of ``fastinit check --propagation``: ``--depth``,
    ``--width`` and ``--batch``, or these defaults when not given, and ``--seed`` resolved
    (the dense MLP of the check command and the transformer stack of ``--scheme``)."""
    from .._core import resolve_seed

    return args.depth or depth, args.width or width, args.batch or batch, resolve_seed(args.seed)
