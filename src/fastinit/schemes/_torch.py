"""``apply_to_module``: fill a torch module's parameters by a scheme.

CPU tensors of float16/bfloat16/float32/float64 are filled in place through a
NumPy view (zero-copy). Other tensors (another device, a non-contiguous
layout) get the float32 (float64) values computed on the CPU, then
``copy_`` casts them, rounding to nearest even as the fills do, so the
values are the same. A ``DTensor`` (``torch.distributed.tensor``) gets only
its local shard, computed from that shard's region of the global tensor
(``fastinit.torch._dtensor.shard_indices``), with no communication.
"""
from __future__ import annotations

import itertools
import sys

import numpy as np
import torch

from .._core import resolve_seed
from ._roles import clean_name

_NP_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def _is_dtensor(t):
    module = sys.modules.get("torch.distributed.tensor")
    cls = getattr(module, "DTensor", None)
    return cls is not None and isinstance(t, cls)


def _runs(index):
    """(local start, global start, length) of each run of consecutive global indices."""
    if len(index) == 0:
        return []
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [len(index)]))
    return [(int(s), int(index[s]), int(e - s)) for s, e in zip(starts, stops)]


def _fill_dtensor(name, t, init):
    try:
        from ..torch._dtensor import shard_indices
    except ImportError:  # pragma: no cover - this installation has no DTensor support
        raise ValueError(f"{name}: a DTensor parameter needs fastinit's DTensor support "
                         "(fastinit.torch._dtensor)") from None
    index = shard_indices(t)
    if index is None:
        raise ValueError(f"{name}: the DTensor's placements {t.placements} are not ones "
                         "fastinit fills (Partial, or this rank is not in the mesh)")
    local = t._local_tensor
    shape = tuple(int(n) for n in t.shape)
    buf = np.empty(tuple(local.shape), np.float64 if local.dtype == torch.float64
                   else np.float32)
    for combo in itertools.product(*(_runs(ix) for ix in index)):
        lo = tuple(slice(ls, ls + n) for ls, _, n in combo)
        region = tuple(slice(gs, gs + n) for _, gs, n in combo)
        init(shape, buf.dtype, region=region, out=buf[lo])
    local.copy_(torch.from_numpy(buf))


def _fill(name, param, init):
    t = param.detach()
    if _is_dtensor(t):
        _fill_dtensor(name, t, init)
        return
    shape = tuple(t.shape)
    if t.device.type == "cpu" and t.is_contiguous():
        if t.dtype == torch.bfloat16:
            import ml_dtypes
            init(shape, "bfloat16", out=t.view(torch.int16).numpy().view(ml_dtypes.bfloat16))
            return
        if t.dtype in _NP_DTYPES:
            init(shape, np.dtype(_NP_DTYPES[t.dtype]), out=t.numpy())
            return
    values = init(shape, np.float64 if t.dtype == torch.float64 else np.float32)
    t.copy_(torch.from_numpy(values))


def float_parameters(module):
    """``[(clean name, parameter)]`` of ``module``; ValueError naming any that
    has no storage (meta) or is not floating point, before anything is written."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    params = [(clean_name(n), p) for n, p in module.named_parameters()]
    bad = [n for n, p in params if p.device.type == "meta" or not p.dtype.is_floating_point]
    if bad:
        raise ValueError("apply_to_module fills floating-point parameters with storage; these "
                         "are meta tensors or not floating point (for a meta-device model use "
                         "fastinit.torch.materialize(..., scheme=), or to_empty() first): "
                         + ", ".join(bad[:20]) + (" ..." if len(bad) > 20 else ""))
    return params


def fill_parameters(params, table, seed):
    """Write each row's initializer (seeded with ``seed``) into its parameter."""
    seed = resolve_seed(seed)
    with torch.no_grad():
        for row, (name, p) in zip(table, params):
            _fill(name, p, row.initializer(seed))
