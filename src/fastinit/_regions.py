"""Regions of a tensor: ``region=`` checked into a box, and a box split into
the contiguous runs that one fill call each writes (the initializers, the JAX
adapter and the torch schemes fill region by region through these)."""

from __future__ import annotations

import itertools
import math
import numbers

__all__ = ["check_region", "runs", "whole_filler"]


def check_region(region, shape):
    """Normalize ``region`` to a list of (start, stop) pairs, one per axis."""
    if region is None:
        return [(0, n) for n in shape]
    if isinstance(region, slice):
        region = (region,)
    if not isinstance(region, (tuple, list)):
        raise TypeError(f"region must be a tuple of slices; got {type(region).__name__}")
    if len(region) > len(shape):
        raise ValueError(
            f"region has {len(region)} entries but shape {shape} has only {len(shape)} axes"
        )
    box = []
    for axis, n in enumerate(shape):
        sl = region[axis] if axis < len(region) else slice(None)
        if not isinstance(sl, slice):
            raise TypeError(
                f"region entries must be slices; entry {axis} is {sl!r} "
                f"(use slice(i, i + 1) for a single index)"
            )
        step = sl.step
        if step is not None and (
            isinstance(step, bool) or not isinstance(step, numbers.Integral) or step != 1
        ):
            raise ValueError(f"region steps must be 1 or None; entry {axis} has step {step!r}")
        bounds = []
        for value, default, what in ((sl.start, 0, "start"), (sl.stop, n, "stop")):
            if value is None:
                bounds.append(default)
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"region {what} must be an int or None; entry {axis} has {value!r}")
            value = int(value)
            index = value + n if value < 0 else value
            if not 0 <= index <= n:
                raise ValueError(
                    f"region {what} {value} is out of bounds for axis {axis} of size {n} "
                    f"(accepted: -{n} <= {what} <= {n})"
                )
            bounds.append(index)
        start, stop = bounds
        box.append((start, max(start, stop)))  # start > stop selects nothing, as in Python
    return box


def runs(out, shape, box):
    """Yield ``(view, offset)`` for each maximal contiguous run of the region.

    ``view`` is the part of ``out`` that holds the run and ``offset`` the
    C-order flat index, in the full ``shape``, of its first element. Axes from
    ``k`` on are covered whole, so each run spans axis ``k - 1`` partially and
    everything after it: one run per index of the leading ``k - 1`` axes.
    """
    if any(stop == start for start, stop in box):
        return
    k = len(shape)
    while k > 0 and box[k - 1] == (0, shape[k - 1]):
        k -= 1
    if k == 0:
        yield out, 0
        return
    strides = [math.prod(shape[i + 1 :]) for i in range(len(shape))]
    run_axis = k - 1
    base = box[run_axis][0] * strides[run_axis]
    lead = box[:run_axis]
    for index in itertools.product(*(range(start, stop) for start, stop in lead)):
        offset = base + sum(i * s for i, s in zip(index, strides))
        local = tuple(i - start for i, (start, _) in zip(index, lead))
        yield out[local], offset


def whole_filler(compute, shape):
    """``fill(region, out)`` for a block writer, from values that only exist
    whole (an Orthogonal matrix, a tensor its model computes in one piece):
    ``compute()`` runs on the first block, each block is copied out of it, and
    the values are released after the block that reaches the end of every axis
    (the writers go in C order, so that is the last)."""
    held = {}

    def fill(region, out):
        if "values" not in held:
            held["values"] = compute()
        out[...] = held["values"][region]
        if all(s.stop == n for s, n in zip(region, shape)):
            held.clear()
    return fill
