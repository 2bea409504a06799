"""``fastinit.torch``'s shared fast path: tensors, seeds, streams, gains and fans.

:func:`_fast_fill` writes a plain CPU tensor in place through a NumPy view of
its memory (:func:`_numpy_view`); :func:`_seed_stream` gives each call its
``(seed, stream)``.  ``fastinit.torch`` re-exports the public names of this
module.  The package's one mutable state lives here: ``_seeder``, set by
``patch(seed=...)`` (module ``_patch``) and read at each call.
"""
from __future__ import annotations

import math
import numbers
import threading

import numpy as np
import torch
from torch import nn
from torch.utils._device import DeviceContext

from .._core import fill_normal, fill_raw, fill_truncated_normal, fill_uniform, stream_id
from .._dtypes import BFLOAT16
from ..fans import compute_fans
from . import _dtensor

# the fills also take a DTensor's shard view (filled run by run at global offsets)
fill_normal, fill_raw, fill_truncated_normal, fill_uniform = map(
    _dtensor.shard_aware, (fill_normal, fill_raw, fill_truncated_normal, fill_uniform))

#: The names of ``torch.nn.init`` that :func:`patch` routes to this module
#: (torch's ``__all__``, its deprecated aliases included).
INIT_NAMES = (
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
    "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
    "kaiming_normal_", "orthogonal_", "sparse_",
    "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
    "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse",
)

# torch's own functions, captured once: the fallbacks call these (never a
# ``torch.nn.init`` attribute looked up at call time, which may be ours).
_TORCH = {name: getattr(torch.nn.init, name) for name in INIT_NAMES}
#: torch's private helpers that are here too (in _libs; not routed by patch())
PRIVATE_NAMES: tuple[str, ...] = (
    "_calculate_fan_in_and_fan_out", "_calculate_correct_fan", "_no_grad_uniform_",
    "_no_grad_normal_", "_no_grad_trunc_normal_", "_no_grad_fill_", "_no_grad_zero_")

_MASK64 = (1 << 64) - 1

# Inside ``patch(seed=...)``, the source of the per-call seeds (set by the
# routing module, ``_patch``; read by :func:`_seed_stream`); None: seeds come
# from torch's RNG.
_seeder = None
NUMPY_DTYPES = {
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
    torch.float16: np.dtype(np.float16),
    torch.bfloat16: BFLOAT16,
}


# ---------------------------------------------------------------------------
# tensors, seeds and streams


def _modes_active() -> bool:
    """True when a torch function/dispatch mode other than ``torch.device`` is on."""
    if torch._C._len_torch_dispatch_stack():
        return True
    if torch._C._is_torch_function_mode_enabled():
        return any(not isinstance(mode, DeviceContext)
                   for mode in torch.overrides._get_current_function_mode_stack())
    return False


def _numpy_view(tensor):
    """A writable NumPy view of ``tensor``'s memory, or None if fastinit can't fill it.

    Only plain strided CPU tensors (``torch.Tensor`` or ``nn.Parameter``) of
    a supported dtype, with no two elements sharing memory, qualify.
    """
    cls = type(tensor)
    if cls is not torch.Tensor and cls is not nn.Parameter:
        if _dtensor.is_dtensor(tensor):  # its local shard, at its global offsets
            return _dtensor.shard_view(tensor, _numpy_view)
        return None
    dtype = NUMPY_DTYPES.get(tensor.dtype)
    if dtype is None or tensor.device.type != "cpu" or tensor.layout is not torch.strided:
        return None
    if _modes_active():
        return None
    for size, stride in zip(tensor.shape, tensor.stride()):
        if stride == 0 and size > 1:  # an expanded tensor: one value, many indices
            return None
    if torch._debug_has_internal_overlap(tensor) == 1:
        return None
    try:
        plain = tensor.detach()
        if tensor.dtype is torch.bfloat16:
            # NumPy has no bfloat16: view the bits as int16 (same strides), then
            # reinterpret them as ml_dtypes.bfloat16, which fastinit fills.
            return plain.view(torch.int16).numpy().view(dtype)
        return plain.numpy()
    except (RuntimeError, TypeError, ValueError):  # e.g. functorch wrappers
        return None


def _fast_view(tensor, generator):
    """``_numpy_view(tensor)``, or None also when ``generator`` isn't a CPU generator."""
    if generator is not None and (not isinstance(generator, torch.Generator)
                                  or generator.device.type != "cpu"):
        return None
    return _numpy_view(tensor)


_increment_version = getattr(torch.autograd.graph, "increment_version", None)


def _written(tensor):
    """Record the in-place write that went through NumPy, as a torch op would."""
    if _increment_version is not None and not tensor.is_inference():
        _increment_version(tensor)
    return tensor


def _draw_seed(generator=None) -> int:
    """One uniformly random 64-bit seed from ``generator`` (None: torch's global RNG)."""
    t = torch.empty((), dtype=torch.int64, device="cpu")
    # from = int64 min with to = None samples the full 64-bit range
    t.random_(-(1 << 63), None, generator=generator)
    return int(t) & _MASK64


# While reset_parameters calls a module's own reset_parameters(), the init
# functions find the named stream of each parameter of the tree here.
_local = threading.local()




def _seed_stream(tensor, generator):
    """(seed, stream) for one call.

    The parameter's named stream inside :func:`reset_parameters` (other
    tensors there draw from its forked, seeded torch RNG); else, inside
    ``patch(seed=...)`` and without an explicit ``generator``, the next seed
    of that block; else one seed drawn from ``generator`` / torch's RNG.
    """
    registry = getattr(_local, "registry", None)
    if registry is not None:
        hit = registry.get(id(tensor))
        if hit is None or hit[0] is not tensor:
            hit = registry.get(_storage_key(tensor))
        if hit is not None:
            return hit[1], hit[2]
    elif generator is None:
        seeder = _seeder  # patch(seed=...)'s
        if seeder is not None:
            return seeder.next_seed(), 0
    return _draw_seed(generator), 0


def _real(value, name):
    """``float(value)``, with torch's TypeError for arguments that are not numbers."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _fast_fill(tensor, generator, fill, *args):
    """The fast path shared by every random function; None when it does not apply.

    When ``tensor`` is a plain CPU tensor fastinit can write (see
    :func:`_fast_view`), calls ``fill(view, draw, *args)`` -- ``view`` a NumPy
    view of its memory, ``draw()`` returning the call's ``(seed, stream)``
    (:func:`_seed_stream`; ``fill`` calls it after its own checks, at most
    once) -- records the write and returns ``tensor``.  Otherwise returns None
    and the caller hands the tensor to torch's own function.
    """
    view = _fast_view(tensor, generator)
    if view is None:
        return None
    # looked up at each call (tests wrap fastinit.torch._fast._seed_stream)
    fill(view, lambda: _seed_stream(tensor, generator), *args)
    return _written(tensor)


def _storage_key(tensor):
    # ``p.data`` or ``p.detach()`` is a new tensor object on the same memory
    return ("storage", tensor.data_ptr(), tuple(tensor.shape), tensor.stride(), tensor.dtype)


# ---------------------------------------------------------------------------
# gains and fans


_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d",
               "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity, param=None):
    r"""calculate_gain(nonlinearity, param=None) -> float

    The recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``
    (always a ``float``):

    ================================ ===========================================
    nonlinearity                     gain
    ================================ ===========================================
    linear, conv*d, conv_transpose*d :math:`1`
    sigmoid                          :math:`1`
    tanh                             :math:`5/3`
    relu                             :math:`\sqrt{2}`
    leaky_relu                       :math:`\sqrt{2 / (1 + \text{negative\_slope}^2)}`
                                     (``param``, default 0.01)
    selu                             :math:`3/4`
    ================================ ===========================================

    >>> import fastinit.torch as fi
    >>> fi.calculate_gain("leaky_relu", 0.2)
    1.3867504905630728
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, (bool, np.bool_)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4  # found empirically, https://github.com/pytorch/pytorch/pull/50664
    raise ValueError(
        f"Unsupported nonlinearity {nonlinearity}; accepted: "
        + ", ".join(_LINEAR_FNS + ("sigmoid", "tanh", "relu", "leaky_relu", "selu")))


def _fans(tensor):
    """torch's ``_calculate_fan_in_and_fan_out`` of ``tensor`` (weights ``(out, in, *k)``)."""
    return compute_fans(tuple(tensor.shape), layout="torch")


def _correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _fans(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _xavier_std(tensor, gain):
    fan_in, fan_out = _fans(tensor)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan = _correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan)


def _reset_method(module):
    """A module's own ``reset_parameters`` (``_reset_parameters`` for MultiheadAttention
    and Transformer), or None."""
    return getattr(module, "reset_parameters", None) or getattr(module, "_reset_parameters", None)


def _torch_seed(seed, label):
    """The seed of a torch generator for ``label`` under ``seed`` (63 bits, as
    ``manual_seed`` takes): code that still draws from torch's RNG is reproducible."""
    return stream_id(f"{seed}:{label}") >> 1
