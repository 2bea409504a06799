"""``apply_to_module``: fill a torch module's parameters by a scheme."""
from __future__ import annotations

import numpy as np
import torch

from .._core import resolve_seed
from . import resolve
from ._roles import clean_name

_NP_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def _fill(param, init):
    t = param.detach()
    shape = tuple(t.shape)
    if t.dtype == torch.bfloat16 and t.is_contiguous():
        import ml_dtypes
        init(shape, "bfloat16", out=t.view(torch.int16).numpy().view(ml_dtypes.bfloat16))
    elif t.dtype in _NP_DTYPES and t.is_contiguous():
        init(shape, np.dtype(_NP_DTYPES[t.dtype]), out=t.numpy())
    else:
        values = init(shape, np.float64 if t.dtype == torch.float64 else np.float32)
        t.copy_(torch.from_numpy(values))


def fill_parameters(module, scheme, *, seed, **hyper):
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    params = [(clean_name(n), p) for n, p in module.named_parameters()]
    bad = [n for n, p in params if p.device.type != "cpu" or not p.dtype.is_floating_point]
    if bad:
        raise ValueError("apply_to_module fills real CPU floating-point parameters; these are "
                         "not (meta tensors: use fastinit.torch.materialize(..., scheme=), or "
                         "to_empty(device='cpu') first): " + ", ".join(bad[:20]))
    table = resolve(scheme, [(n, tuple(p.shape)) for n, p in params], module=module,
                    **hyper).check()
    seed = resolve_seed(seed)
    with torch.no_grad():
        for row, (_, p) in zip(table, params):
            _fill(p, row.initializer(seed))
    return module
