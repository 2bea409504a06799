"""Argument checks used by more than one module (one definition each).

Each raises TypeError for a value of the wrong type and ValueError for a value
of the right type out of range, and names the argument.
"""

from __future__ import annotations

import argparse
import math
import numbers
from collections.abc import Sequence

from ._core import stream_id

__all__ = ["check_real", "check_shape", "check_stream", "parse_positive_int", "positive_int"]


def check_shape(shape, *, int_ok: bool = False) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of Python ints, or raise.

    Entries must be Python or NumPy integers (``bool`` is refused, as are
    floats such as ``2.0``: TypeError) and non-negative (ValueError).  With
    ``int_ok`` a bare integer is the shape of a vector (JAX accepts one).
    """
    if int_ok and isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        # NumPy arrays and other iterables of ints are accepted too.
        try:
            shape = tuple(shape)
        except TypeError:
            raise TypeError(
                f"shape must be a tuple of non-negative integers, got {shape!r}"
            ) from None
    out = []
    for i, dim in enumerate(shape):
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(
                f"shape must be a tuple of non-negative integers; entry {i} is "
                f"{dim!r} of type {type(dim).__name__}"
            )
        dim = int(dim)
        if dim < 0:
            raise ValueError(f"shape must be a tuple of non-negative integers; entry {i} is {dim}")
        out.append(dim)
    return tuple(out)


def check_real(value, name: str, *, finite: bool = True) -> float:
    """``value`` as a float: a real number (not a bool), finite unless ``finite=False``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # np.bool_ is no Real
        raise TypeError(f"{name} must be a real number; got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond the double range, e.g. 10**400
        raise ValueError(
            f"{name} must be a finite real number; got a value beyond the float64 range"
        ) from None
    if finite and not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    return value


def positive_int(value, name: str) -> int:
    """``value`` as an int >= 1 (a Python or NumPy integer, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int; got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


def parse_positive_int(text: str) -> int:
    """argparse ``type=``: an integer >= 1, also written as ``1e6`` or ``16_000``."""
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            number = 0.0
        value = int(number) if math.isfinite(number) and number.is_integer() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def check_stream(stream) -> int:
    """A Philox stream: an int in ``[0, 2**64)``, or a name (:func:`fastinit.stream_id`)."""
    if isinstance(stream, str):
        return stream_id(stream)
    if isinstance(stream, bool) or not isinstance(stream, numbers.Integral):
        raise TypeError(f"stream must be an int in [0, 2**64) or a str; got {stream!r}")
    stream = int(stream)
    if not 0 <= stream < 2**64:
        raise ValueError(f"stream must be in [0, 2**64); got {stream}")
    return stream
