"""DTensor support for ``fastinit.torch``: each rank fills only its own shard.

A ``torch.distributed.tensor.DTensor`` holds, on every rank, a local tensor
that is a sub-array of the global (logical) tensor.  fastinit's values are a
pure function of the global C-order flat index, so a rank can compute its
shard alone: it works out, for each dimension, which global indices its local
positions hold, and fills every contiguous run of the shard with the fill's
``offset`` set to that run's global flat index.  Ranks exchange no data; the
gathered ``full_tensor()`` equals the single-process fill bit for bit, for any
mesh (1-D, 2-D, ...), ``Shard(d)`` / ``Replicate()`` placements, uneven shards
(torch's own chunking, empty shards included) and FSDP2-with-TP's
``_StridedShard`` (whose local positions are not one contiguous block).

Fans come from the DTensor's ``shape``, which is the global shape.

Seeds: every rank must use the same seed.  The ``torch.nn.init``-style
functions draw it from torch's RNG, so seed it identically on every rank
(``torch.manual_seed(s)`` with the same ``s``, as training scripts do), or use
``fastinit.torch.patch(seed=...)``, ``reset_parameters(..., seed=...)`` or
``materialize(..., seed=...)``, whose seeds are explicit.

How it hooks in: ``fastinit.torch`` turns a tensor into a NumPy view and calls
the compiled fills on it.  For a DTensor the "view" is a :class:`ShardView`,
and the fill functions ``fastinit.torch`` calls are wrapped by
:func:`shard_aware` so that a ``ShardView`` is filled run by run.  Whole-array
assignments (``view[...] = values`` of the global shape: ``orthogonal_``
computes the whole matrix on every rank and keeps its part) and scalar
assignments (``sparse_``'s zeros, an embedding's padding row, constants) keep
only the elements of the local shard.
"""
from __future__ import annotations

import functools
import itertools
import math
import numbers
import sys

import numpy as np

from .._core import PreparedFill, fill_normal, fill_raw, fill_truncated_normal, fill_uniform

# the fills a ShardView runs, by the core's name of their distribution
_DISTS = {fill_raw: "raw", fill_uniform: "uniform", fill_normal: "normal",
          fill_truncated_normal: "truncated_normal"}

__all__ = [
    "ShardView",
    "is_dtensor",
    "local_tensor",
    "shard_aware",
    "shard_indices",
    "shard_view",
]


def is_dtensor(tensor) -> bool:
    """Whether ``tensor`` is a ``torch.distributed.tensor.DTensor`` (a parameter too).

    Costs one dict look-up when ``torch.distributed.tensor`` was never imported
    (no DTensor can exist then).
    """
    module = sys.modules.get("torch.distributed.tensor")
    cls = getattr(module, "DTensor", None)
    return cls is not None and isinstance(tensor, cls)


def local_tensor(tensor):
    """A DTensor's local shard (the tensor itself for any other tensor)."""
    return tensor._local_tensor if is_dtensor(tensor) else tensor


def shard_indices(dtensor):
    """Per dimension, the global index of each local position of this rank's shard.

    Returns a list of 1-D int64 arrays (one per dimension, of the local
    tensor's lengths), or None when the placements are not ones fastinit
    fills (``Partial``) or the rank is not part of the mesh.  The placements
    are applied left to right over the mesh dimensions with torch's own
    chunking (``torch.chunk`` sizes; ``_StridedShard`` through its offsets),
    as ``torch.distributed.tensor._utils.compute_local_shape_and_global_offset``
    does, keeping every offset rather than the first.
    """
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor._utils import _get_shard_size_and_offsets

    mesh = dtensor.device_mesh
    coordinate = mesh.get_coordinate()
    if coordinate is None:
        return None
    shape = tuple(int(n) for n in dtensor.shape)
    local_shape = list(shape)
    offsets = {}
    for mesh_dim, placement in enumerate(dtensor.placements):
        if isinstance(placement, Replicate):
            continue
        if not isinstance(placement, Shard) and not _is_strided(placement):
            return None  # Partial: the local tensors sum to the global one
        dim = placement.dim
        size, index = _get_shard_size_and_offsets(
            local_shape[dim], mesh.size(mesh_dim), coordinate[mesh_dim], placement,
            offsets.get(dim), shape[dim], False)
        local_shape[dim] = int(size)
        offsets[dim] = index[:0] if size == 0 else index
    result = []
    for dim, n in enumerate(shape):
        if dim in offsets:
            result.append(offsets[dim].numpy().astype(np.int64, copy=False))
        else:
            result.append(np.arange(n, dtype=np.int64))
    if tuple(len(i) for i in result) != tuple(dtensor._local_tensor.shape):
        return None  # a layout this torch version computes differently: let torch do it
    return result


def _is_strided(placement):
    return type(placement).__name__ == "_StridedShard" and hasattr(placement, "split_factor")


def shard_view(dtensor, numpy_view):
    """A :class:`ShardView` of ``dtensor``'s local shard, or None if fastinit can't fill it.

    ``numpy_view(local_tensor)`` gives the writable NumPy view of the local
    tensor (None when its device, dtype or layout is not one fastinit fills:
    then the caller falls back to torch's function).
    """
    local = dtensor._local_tensor
    view = numpy_view(local)
    if view is None:
        return None
    index = shard_indices(dtensor)
    if index is None:
        return None
    return ShardView(view, tuple(int(n) for n in dtensor.shape), index)


def index_runs(index):
    """Maximal runs of consecutive global indices: list of (local start, global start, length)."""
    n = len(index)
    if n == 0:
        return []
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [n]))
    return [(int(s), int(index[s]), int(e - s)) for s, e in zip(starts, stops)]


class ShardView:
    """This rank's shard of a global array, as fastinit's fills see it.

    ``shape`` is the global shape, ``local`` the NumPy view of the local
    tensor, ``index[d]`` the global index of each local position along
    dimension ``d``.  :meth:`runs` yields ``(local piece, global flat offset)``
    for every contiguous run of the shard in the global C order.
    """

    __slots__ = ("dtype", "index", "local", "ndim", "shape")

    def __init__(self, local, shape, index):
        self.local = local
        self.shape = shape
        self.index = index
        self.dtype = local.dtype
        self.ndim = len(shape)

    @property
    def size(self):
        return math.prod(self.shape)

    def runs(self):
        """Yield ``(piece, offset)``: a view of ``local`` and its global flat index."""
        shape, index, local = self.shape, self.index, self.local
        if local.size == 0:
            return
        ndim = len(shape)
        whole = [len(ix) == n and (n == 0 or (ix[0] == 0 and ix[-1] == n - 1
                                             and len(index_runs(ix)) == 1))
                 for ix, n in zip(index, shape)]
        k = ndim
        while k > 0 and whole[k - 1]:
            k -= 1
        if k == 0:
            yield local, 0
            return
        strides = [math.prod(shape[d + 1:]) for d in range(ndim)]
        run_axis = k - 1
        axis_runs = index_runs(index[run_axis])
        lead = range(run_axis)
        for position in itertools.product(*(range(len(index[d])) for d in lead)):
            base = sum(int(index[d][i]) * strides[d] for d, i in zip(lead, position))
            row = local[position]
            for lstart, gstart, length in axis_runs:
                yield row[lstart:lstart + length], base + gstart * strides[run_axis]

    def fill(self, fill, args, kwargs):
        """Run ``fill(piece, *args, offset=run offset, **kwargs)`` over every run."""
        kwargs = dict(kwargs)
        base = kwargs.pop("offset", 0)
        # the parameters, seed and stream checked once, before anything is
        # written (an empty shard has no run that would)
        prepared = PreparedFill(_DISTS[fill], self.dtype, *args, **kwargs)
        for piece, offset in self.runs():
            prepared(piece, base + offset)
        return self

    def __setitem__(self, key, value):
        """``global_array[key] = value``, keeping only what falls in this shard.

        ``key`` is ``...`` with ``value`` of the global shape (or a scalar),
        a tuple of ints and slices with a scalar ``value``, or any other
        NumPy index with a scalar ``value`` (through a boolean mask of the
        global shape).
        """
        grid = np.ix_(*self.index) if self.ndim else ()
        if key is Ellipsis or (isinstance(key, tuple) and len(key) == 1 and key[0] is Ellipsis):
            value = np.asarray(value)
            if value.ndim == 0:
                self.local[...] = value
            else:
                self.local[...] = np.broadcast_to(value, self.shape)[grid]
            return
        if np.ndim(value) != 0:
            raise TypeError("a sharded view takes a scalar for a partial assignment")
        basic = key if isinstance(key, tuple) else (key,)
        if all(isinstance(k, (numbers.Integral, slice)) and not isinstance(k, bool)
               for k in basic) and len(basic) <= self.ndim:
            picks = []
            for d, k in enumerate(basic):
                n = self.shape[d]
                if isinstance(k, slice):
                    wanted = np.arange(n)[k]
                else:
                    wanted = np.array([int(k) + n if int(k) < 0 else int(k)])
                picks.append(np.flatnonzero(np.isin(self.index[d], wanted)))
            picks += [np.arange(len(ix)) for ix in self.index[len(basic):]]
            if all(len(p) for p in picks):
                self.local[np.ix_(*picks)] = value
            return
        mask = np.zeros(self.shape, bool)
        mask[key] = True
        self.local[mask[grid]] = value


def shard_aware(fill):
    """Wrap a fill function so that it also fills a :class:`ShardView`, run by run."""

    @functools.wraps(fill)
    def wrapper(out, *args, **kwargs):
        if type(out) is ShardView:
            out.fill(fill, args, kwargs)
            return out
        return fill(out, *args, **kwargs)

    return wrapper
