"""PyTorch drop-in: ``torch.nn.init`` on fastinit's stream (docs/api.md, section 5).

Every function of ``torch.nn.init`` is here with torch's name, signature,
defaults and formula.  On a plain CPU tensor of float16, bfloat16, float32 or
float64 (contiguous or not) the samples are written in place, zero-copy,
through a NumPy view of the tensor's memory by fastinit's compiled fills (which
release the GIL and use several threads for large tensors); the tensor is
returned.  The value at a multi-index is fastinit's value of its C-order flat
index, whatever the strides.

Seeds.  Each call of a random function draws one 64-bit seed from ``generator``
(or from torch's global CPU generator when ``generator is None``) and fills on
stream 0 of that seed, so ``torch.manual_seed(s)`` makes a run reproducible
exactly as it does with torch's own functions (the values differ from torch's,
the distributions do not).  Inside ``patch(seed=S)`` the calls without a
``generator`` take their seeds from ``S`` and the call order instead.

Fallback.  Anything else -- CUDA, meta or sparse tensors, other dtypes, tensor
subclasses with ``__torch_function__``/``__torch_dispatch__`` (fake tensors,
functional tensors, ...), an active torch function or dispatch mode other than
``torch.device(...)``, a generator on another device, overlapping memory -- is
handed to torch's own function unchanged.

Routing unchanged model code.  :func:`patch` (also :func:`enable` /
:func:`disable`) routes ``torch.nn.init.*`` to these functions -- and the
references to them held by other modules, dispatch tables such as
transformers' included, and timm's init functions (``trunc_normal_tf_``,
``variance_scaling_``, ``lecun_normal_`` are here with timm's semantics) --
so ``nn.Linear``, ``nn.Conv2d``, ``nn.MultiheadAttention``, transformers,
timm and torchvision models are initialized through fastinit while it is
active (module ``_patch``).  torch's private helpers that model code
calls (``_calculate_fan_in_and_fan_out``, ``_no_grad_normal_``, ...) are
here too, with torch's signatures.

Order-independent models.  :func:`reset_parameters` re-initializes a module
tree with torch's default scheme for each module type, every parameter on the
named stream ``stream_id(name)``: adding, removing or reordering modules never
changes the values of the others, and a model built on the meta device and
materialized with ``to_empty(device="cpu")`` is filled in parallel.

>>> import torch, fastinit.torch
>>> with fastinit.torch.patch():
...     layer = torch.nn.Linear(256, 128)
>>> bool(layer.weight.abs().max() <= 1 / 16)
True
"""
from __future__ import annotations

# the fast path, seeds, gains and fans (everything the other modules share)
from ._fast import (  # noqa: F401 (re-exported, torch's own functions too)
    _TORCH,
    INIT_NAMES,
    NUMPY_DTYPES,
    PRIVATE_NAMES,
    calculate_gain,
    fill_normal,
    fill_raw,
    fill_truncated_normal,
    fill_uniform,
)

# torch's private helpers and the model libraries' init functions
from ._libs import (  # noqa: F401
    _calculate_correct_fan,
    _calculate_fan_in_and_fan_out,
    _no_grad_fill_,
    _no_grad_normal_,
    _no_grad_trunc_normal_,
    _no_grad_uniform_,
    _no_grad_zero_,
    lecun_normal_,
    trunc_normal_tf_,
    variance_scaling_,
)

# materialize() and deferred()
from ._materialize import deferred, materialize

# the torch.nn.init functions
from ._nn_init import (
    constant,
    constant_,
    dirac,
    dirac_,
    eye,
    eye_,
    kaiming_normal,
    kaiming_normal_,
    kaiming_uniform,
    kaiming_uniform_,
    normal,
    normal_,
    ones_,
    orthogonal,
    orthogonal_,
    sparse,
    sparse_,
    trunc_normal_,
    uniform,
    uniform_,
    xavier_normal,
    xavier_normal_,
    xavier_uniform,
    xavier_uniform_,
    zeros_,
)

# patch() and its kin; reset_parameters() and its per-module-type plans
from ._patch import disable, enable, is_enabled, patch
from ._reset import reset_parameters

# every function of torch.nn.init, timm's trunc_normal_tf_, variance_scaling_ and
# lecun_normal_, and patch(), enable(), disable(), is_enabled(), reset_parameters(),
# materialize(), deferred() (torch's private helpers are here too, not in __all__)
__all__ = [
    "calculate_gain", "constant", "constant_", "dirac", "dirac_", "disable", "enable", "eye",
    "eye_", "is_enabled", "kaiming_normal", "kaiming_normal_", "kaiming_uniform",
    "kaiming_uniform_", "lecun_normal_", "normal", "normal_", "ones_", "orthogonal",
    "orthogonal_", "patch", "reset_parameters", "sparse", "sparse_", "trunc_normal_",
    "trunc_normal_tf_", "uniform", "uniform_", "variance_scaling_", "xavier_normal",
    "xavier_normal_", "xavier_uniform", "xavier_uniform_", "zeros_",
    "deferred", "materialize",
]
