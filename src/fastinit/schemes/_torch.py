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

import numpy as np
import torch

from .._core import resolve_seed
from ..torch._dtensor import index_runs, is_dtensor, shard_indices
from ..torch._fast import NUMPY_DTYPES
from ._roles import clean_name


def _fill_dtensor(name, t, init):
    index = shard_indices(t)
    if index is None:
        raise ValueError(f"{name}: the DTensor's placements {t.placements} are not ones "
                         "fastinit fills (Partial, or this rank is not in the mesh)")
    local = t._local_tensor
    shape = tuple(int(n) for n in t.shape)
    buf = np.empty(tuple(local.shape), np.float64 if local.dtype == torch.float64
                   else np.float32)
    prepared = init.prepare(shape, buf.dtype)  # checked once, then filled run by run
    for combo in itertools.product(*(index_runs(ix) for ix in index)):
        lo = tuple(slice(ls, ls + n) for ls, _, n in combo)
        region = tuple(slice(gs, gs + n) for _, gs, n in combo)
        prepared.fill(buf[lo], region=region)
    local.copy_(torch.from_numpy(buf))


def _fill(name, param, init):
    t = param.detach()
    if is_dtensor(t):
        _fill_dtensor(name, t, init)
        return
    shape = tuple(t.shape)
    dtype = NUMPY_DTYPES.get(t.dtype)
    if t.device.type == "cpu" and t.is_contiguous() and dtype is not None:
        view = t.view(torch.int16).numpy().view(dtype) if t.dtype == torch.bfloat16 else t.numpy()
        init(shape, dtype, out=view)
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
