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
active (module ``_torch_patch``).  torch's private helpers that model code
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

import math
import numbers
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

import ml_dtypes
import numpy as np
import torch
from torch import nn
from torch.utils._device import DeviceContext

from . import _torch_dtensor
from ._core import (
    fill_normal,
    fill_raw,
    fill_truncated_normal,
    fill_uniform,
    get_num_threads,
    resolve_seed,
    stream_id,
)
from .fans import compute_fans

# the fills also take a DTensor's shard view (filled run by run at global offsets)
fill_normal, fill_raw, fill_truncated_normal, fill_uniform = map(
    _torch_dtensor.shard_aware, (fill_normal, fill_raw, fill_truncated_normal, fill_uniform))

#: The names of ``torch.nn.init`` that :func:`patch` routes to this module
#: (torch's ``__all__``, its deprecated aliases included).
INIT_NAMES = (
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
    "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
    "kaiming_normal_", "orthogonal_", "sparse_",
    "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
    "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse",
)

# every function of torch.nn.init, timm's trunc_normal_tf_, variance_scaling_ and
# lecun_normal_, and patch(), enable(), disable(), is_enabled(), reset_parameters()
# (torch's private helpers are here too, not in __all__)
__all__ = [
    "calculate_gain", "constant", "constant_", "dirac", "dirac_", "disable", "enable", "eye",
    "eye_", "is_enabled", "kaiming_normal", "kaiming_normal_", "kaiming_uniform",
    "kaiming_uniform_", "lecun_normal_", "normal", "normal_", "ones_", "orthogonal",
    "orthogonal_", "patch", "reset_parameters", "sparse", "sparse_", "trunc_normal_",
    "trunc_normal_tf_", "uniform", "uniform_", "variance_scaling_", "xavier_normal",
    "xavier_normal_", "xavier_uniform", "xavier_uniform_", "zeros_",
]

# torch's own functions, captured once: the fallbacks call these (never a
# ``torch.nn.init`` attribute looked up at call time, which may be ours).
_TORCH = {name: getattr(torch.nn.init, name) for name in INIT_NAMES}
#: torch's private helpers that are here too (in _torch_libs; not routed by patch())
# (annotated: _torch_libs reads it while this module is still being imported, and mypy,
# checking the import cycle, cannot infer it in time)
PRIVATE_NAMES: tuple[str, ...] = (
    "_calculate_fan_in_and_fan_out", "_calculate_correct_fan", "_no_grad_uniform_",
    "_no_grad_normal_", "_no_grad_trunc_normal_", "_no_grad_fill_", "_no_grad_zero_")

_MASK64 = (1 << 64) - 1
_NUMPY_DTYPE = {
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
    torch.float16: np.dtype(np.float16),
    torch.bfloat16: np.dtype(ml_dtypes.bfloat16),
}
# the zero pattern of sparse_ comes from this stream (xor the fill's stream)
_SPARSE_PATTERN_SALT = stream_id("fastinit.torch.sparse_.pattern")
# tensors with at least this many elements are filled one at a time, each by
# all of fastinit's threads; smaller ones share a thread pool (one per fill)
_LARGE = 1 << 19


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
        if _torch_dtensor.is_dtensor(tensor):  # its local shard, at its global offsets
            return _torch_dtensor.shard_view(tensor, _numpy_view)
        return None
    dtype = _NUMPY_DTYPE.get(tensor.dtype)
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


# Inside ``patch(seed=...)``: the source of the per-call seeds (set by the
# routing module, ``_torch_patch``); None: seeds come from torch's RNG.
_seeder = None


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
        seeder = _seeder
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


# ---------------------------------------------------------------------------
# the torch.nn.init functions


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    r"""uniform_(tensor, a=0.0, b=1.0, generator=None) -> tensor

    Fill ``tensor`` in place with samples of :math:`\mathcal{U}[a, b)`.

    One seed is drawn from ``generator`` (torch's global CPU generator when
    None); the values are ``fastinit.fill_uniform(view, a, b, seed=that, stream=0)``.

    >>> import torch, fastinit.torch as fi
    >>> w = fi.uniform_(torch.empty(3, 5), -1.0, 1.0)
    >>> bool(w.min() >= -1 and w.max() < 1)
    True
    """
    out = _fast_fill(tensor, generator, _fill_uniform, _real(a, "a"), _real(b, "b"))
    return _TORCH["uniform_"](tensor, a, b, generator) if out is None else out


def _fill_uniform(view, draw, low, high):
    seed, stream = draw()
    fill_uniform(view, low, high, seed=seed, stream=stream)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    r"""normal_(tensor, mean=0.0, std=1.0, generator=None) -> tensor

    Fill ``tensor`` in place with samples of :math:`\mathcal{N}(\text{mean}, \text{std}^2)`.

    >>> import torch, fastinit.torch as fi
    >>> w = fi.normal_(torch.empty(1000, 100), std=0.02)
    >>> round(float(w.std()), 3)
    0.02
    """
    out = _fast_fill(tensor, generator, _fill_normal, _real(mean, "mean"), _real(std, "std"))
    return _TORCH["normal_"](tensor, mean, std, generator) if out is None else out


def _fill_normal(view, draw, mean, std):
    seed, stream = draw()
    fill_normal(view, mean, std, seed=seed, stream=stream)


def _std_units(bound, mean, std, lower):
    """(bound - mean) / std, nudged so that mean + result * std stays inside [a, b]."""
    z = (bound - mean) / std
    if math.isfinite(z):
        if lower:
            while mean + z * std < bound:
                z = math.nextafter(z, math.inf)
        else:
            while mean + z * std > bound:
                z = math.nextafter(z, -math.inf)
    return z


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    r"""trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None) -> tensor

    Fill ``tensor`` in place with samples of
    :math:`\mathcal{N}(\text{mean}, \text{std}^2)` conditioned on
    :math:`a \le x \le b`.  As in torch, ``a`` and ``b`` are absolute values
    (not multiples of ``std``: with ``std=0.02`` the default window is
    :math:`\pm 100\sigma`).

    Sampled by inverting the normal CDF on the window -- one draw per element,
    exact for any window, even far in a tail, with no pile-up at the bounds in
    float16/bfloat16 (unlike rejection, torch's method).  ``std == 0`` gives
    ``min(max(mean, a), b)``.  A window ``a < b`` so narrow that its bounds in
    units of std round to the same float64 (e.g. ``mean=1, std=1, a=0,
    b=1e-260``) is sampled from the normal density's linearization on
    ``[a, b]`` (a truncated exponential, uniform for a flat density), still
    from the same seed and stream, with every value in ``[a, b]``.

    >>> import torch, fastinit.torch as fi
    >>> w = fi.trunc_normal_(torch.empty(100, 100), std=0.02, a=-0.04, b=0.04)
    >>> bool(w.abs().max() <= 0.04)
    True
    """
    out = _fast_fill(tensor, generator, _fill_trunc_normal,
                     _real(mean, "mean"), _real(std, "std"), _real(a, "a"), _real(b, "b"))
    return _TORCH["trunc_normal_"](tensor, mean, std, a, b, generator) if out is None else out


def _fill_trunc_normal(view, draw, mean, std, a, b):
    """trunc_normal_ with absolute bounds ``a < b`` on a NumPy view."""
    if not a < b:
        raise ValueError(f"a must be < b; got a={a} and b={b}")
    seed, stream = draw()
    if std == 0.0:
        view[...] = min(max(mean, a), b)
        return
    if std > 0:  # std < 0, NaN: the fill's own validation names the problem
        za, zb = _std_units(a, mean, std, True), _std_units(b, mean, std, False)
        if not za < zb and math.isfinite(mean) and math.isfinite(std):
            _fill_collapsed_window(view, mean, std, a, b, seed, stream)
            return
        a, b = za, zb
    fill_truncated_normal(view, mean, std, a, b, seed=seed, stream=stream)


def _fill_collapsed_window(view, mean, std, a, b, seed, stream):
    """``trunc_normal_`` for a window ``a < b`` that vanishes in units of std.

    When ``b - a`` is below the float64 resolution of ``(x - mean) / std``
    there (e.g. ``a=0, b=1e-260`` with ``mean=1, std=1``), the bounds in std
    units round to the same number and the fill cannot take them. Over such a
    window the log-density is linear to within rounding, so the conditioned
    normal is an exponential truncated to ``[a, b]`` (decaying away from
    ``mean``), uniform when the density ratio across the window is 1 to 1e-12.
    Sampled by inversion from ``fill_uniform(float64, 0, 1, seed, stream)``,
    one draw per element (so still a pure function of the flat index), then
    clipped to ``[a, b]`` and rounded once to the tensor's dtype.
    """
    # a and b must be finite in the tensor's dtype (the fills' rule); this
    # empty fill checks it before anything is written.
    fill_uniform(np.empty(0, view.dtype), a, b, seed=seed, stream=stream)
    u = fill_uniform(np.empty(view.shape, np.float64), 0.0, 1.0, seed=seed, stream=stream)
    width = b - a
    mid = a / 2 + b / 2
    # log of the density ratio across the window: |d/dx log pdf| * width
    k = abs(mid - mean) / std * (width / std)
    if not k > 1e-12 or not math.isfinite(k):
        x = a + u * width
    else:
        d = -np.log1p(u * math.expm1(-k)) / k  # in [0, 1], dense near 0
        x = a + d * width if mean <= mid else b - d * width
    np.clip(x, a, b, out=x)
    view[...] = x.astype(view.dtype)


def constant_(tensor, val):
    r"""constant_(tensor, val) -> tensor

    Fill ``tensor`` in place with the value :math:`\text{val}` (torch's own fill,
    which is already at memory speed).

    >>> import torch, fastinit.torch as fi
    >>> fi.constant_(torch.empty(2, 3), 0.5).sum().item()
    3.0
    """
    return _TORCH["constant_"](tensor, val)


def ones_(tensor):
    r"""ones_(tensor) -> tensor

    Fill ``tensor`` in place with :math:`1`.

    >>> import torch, fastinit.torch as fi
    >>> fi.ones_(torch.empty(2, 3)).sum().item()
    6.0
    """
    return _TORCH["ones_"](tensor)


def zeros_(tensor):
    r"""zeros_(tensor) -> tensor

    Fill ``tensor`` in place with :math:`0`.

    >>> import torch, fastinit.torch as fi
    >>> fi.zeros_(torch.empty(2, 3)).abs().sum().item()
    0.0
    """
    return _TORCH["zeros_"](tensor)


def eye_(tensor):
    r"""eye_(tensor) -> tensor

    Fill the 2-D ``tensor`` with the identity matrix: :math:`w_{ij} = [i = j]`
    (as many inputs preserved as possible in a ``Linear`` layer).

    >>> import torch, fastinit.torch as fi
    >>> fi.eye_(torch.empty(3, 5)).sum().item()
    3.0
    """
    return _TORCH["eye_"](tensor)


def dirac_(tensor, groups=1):
    r"""dirac_(tensor, groups=1) -> tensor

    Fill the {3, 4, 5}-D ``tensor`` with the Dirac delta: within each of the
    ``groups``, :math:`w[d, d, \lfloor k/2 \rfloor, \dots] = 1` for
    :math:`d < \min(\text{out}/\text{groups}, \text{in})`, zero elsewhere,
    so a convolution preserves as many input channels as possible.

    >>> import torch, fastinit.torch as fi
    >>> fi.dirac_(torch.empty(3, 16, 5, 5)).sum().item()
    3.0
    """
    return _TORCH["dirac_"](tensor, groups)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    r"""xavier_uniform_(tensor, gain=1.0, generator=None) -> tensor

    Glorot & Bengio (2010), also known as Glorot uniform:
    :math:`\mathcal{U}(-a, a)` with

    .. math::
        a = \text{gain} \times \sqrt{\frac{6}{\text{fan\_in} + \text{fan\_out}}}

    (fans as torch counts them, weights ``(out, in, *kernel)``).

    >>> import torch, fastinit.torch as fi
    >>> w = fi.xavier_uniform_(torch.empty(300, 100))
    >>> bool(w.abs().max() <= (6 / 400) ** 0.5)
    True
    """
    std = _xavier_std(tensor, gain)
    a = math.sqrt(3.0) * std  # the uniform bound with that standard deviation
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    r"""xavier_normal_(tensor, gain=1.0, generator=None) -> tensor

    Glorot & Bengio (2010), also known as Glorot normal:
    :math:`\mathcal{N}(0, \text{std}^2)` with

    .. math::
        \text{std} = \text{gain} \times \sqrt{\frac{2}{\text{fan\_in} + \text{fan\_out}}}

    >>> import torch, fastinit.torch as fi
    >>> w = fi.xavier_normal_(torch.empty(300, 100))
    >>> round(float(w.std()), 2)
    0.07
    """
    std = _xavier_std(tensor, gain)
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    r"""kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu",
                       generator=None) -> tensor

    He et al. (2015), also known as He uniform:
    :math:`\mathcal{U}(-\text{bound}, \text{bound})` with

    .. math::
        \text{bound} = \text{gain} \times \sqrt{\frac{3}{\text{fan\_mode}}}

    ``gain = calculate_gain(nonlinearity, a)``; ``mode`` is ``"fan_in"`` or
    ``"fan_out"``.  ``nn.Linear`` and ``nn.Conv*d`` use ``a=math.sqrt(5)``,
    i.e. :math:`\mathcal{U}(\pm 1/\sqrt{\text{fan\_in}})`.  A zero-element
    tensor is left as is, with a warning, as in torch.

    >>> import math, torch, fastinit.torch as fi
    >>> w = fi.kaiming_uniform_(torch.empty(128, 256), a=math.sqrt(5))
    >>> bool(w.abs().max() <= 1 / 16)
    True
    """
    out = _fast_fill(tensor, generator, _fill_kaiming, True, a, mode, nonlinearity)
    if out is None:
        return _TORCH["kaiming_uniform_"](tensor, a, mode, nonlinearity, generator)
    return out


def _fill_kaiming(view, draw, uniform, a, mode, nonlinearity):
    if 0 in view.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=4)
        return
    std = _kaiming_std(view, a, mode, nonlinearity)
    seed, stream = draw()
    if uniform:
        bound = math.sqrt(3.0) * std  # the uniform bound with that standard deviation
        fill_uniform(view, -bound, bound, seed=seed, stream=stream)
    else:
        fill_normal(view, 0.0, std, seed=seed, stream=stream)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    r"""kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu",
                      generator=None) -> tensor

    He et al. (2015), also known as He normal:
    :math:`\mathcal{N}(0, \text{std}^2)` with

    .. math::
        \text{std} = \frac{\text{gain}}{\sqrt{\text{fan\_mode}}}

    >>> import torch, fastinit.torch as fi
    >>> w = fi.kaiming_normal_(torch.empty(512, 200), nonlinearity="relu")
    >>> round(float(w.std()), 2)
    0.1
    """
    out = _fast_fill(tensor, generator, _fill_kaiming, False, a, mode, nonlinearity)
    if out is None:
        return _TORCH["kaiming_normal_"](tensor, a, mode, nonlinearity, generator)
    return out


def _orthogonal_matrix(rows, cols, dtype, seed, stream):
    """A (rows, cols) matrix with orthonormal rows or columns, Haar-distributed.

    QR of a standard normal matrix with the signs of R's diagonal moved into
    Q (Mezzadri 2007), as torch and JAX do.  The QR is torch's own
    (``torch.linalg.qr``, the LAPACK and threads ``torch.nn.init.orthogonal_``
    uses) in the working dtype, on the filled buffer itself (no copy).
    """
    tall = (max(rows, cols), min(rows, cols))
    # torch's allocation (64-byte aligned, which its LAPACK runs faster on)
    z = torch.empty(tall, dtype=torch.float64 if dtype == np.float64 else torch.float32)
    fill_normal(z.numpy(), 0.0, 1.0, seed=seed, stream=stream)
    q, r = torch.linalg.qr(z)
    q *= torch.sign(torch.diagonal(r))
    q = q.numpy()
    return q.T if rows < cols else q


def orthogonal_(tensor, gain=1, generator=None):
    r"""orthogonal_(tensor, gain=1, generator=None) -> tensor

    Saxe et al. (2013): fill ``tensor`` (at least 2-D, trailing dimensions
    flattened into columns) with :math:`\text{gain} \times Q`, where :math:`Q`
    is a (semi-)orthogonal matrix drawn uniformly (Haar): the QR factorization
    of a standard normal matrix, with the signs of :math:`\mathrm{diag}(R)`
    moved into :math:`Q`.

    The normal matrix comes from fastinit's stream; the QR is torch's
    (``torch.linalg.qr``) in float32 (float64 for a float64 tensor), so
    float16 and bfloat16 tensors work too (torch's QR refuses them).

    >>> import torch, fastinit.torch as fi
    >>> w = fi.orthogonal_(torch.empty(3, 5))
    >>> bool(torch.allclose(w @ w.T, torch.eye(3), atol=1e-5))
    True
    """
    if tensor.ndimension() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    out = _fast_fill(tensor, generator, _fill_orthogonal, _real(gain, "gain"))
    return _TORCH["orthogonal_"](tensor, gain, generator) if out is None else out


def _fill_orthogonal(view, draw, gain):
    seed, stream = draw()
    if view.size == 0:
        return
    rows = view.shape[0]
    cols = view.size // rows
    work = np.float64 if view.dtype == np.float64 else np.float32
    q = _orthogonal_matrix(rows, cols, work, seed, stream)
    if isinstance(view, np.ndarray) and view.flags.c_contiguous:
        # one pass: scale straight into the tensor (a DTensor's shard view keeps its part)
        np.multiply(q, work(gain), out=view.reshape(rows, cols), casting="unsafe")
    else:
        view[...] = (q * work(gain)).reshape(view.shape)


def _sparse_zero(view, num_zeros, seed, stream):
    """Zero ``num_zeros`` random rows in each column of the 2-D ``view``."""
    rows, cols = view.shape
    num_zeros = min(num_zeros, rows)
    if num_zeros <= 0 or cols == 0:
        return
    # a random permutation of the rows per column: the order of random keys
    keys = fill_raw(np.empty((cols, rows), np.uint32), seed=seed,
                    stream=stream ^ _SPARSE_PATTERN_SALT)
    zero_rows = np.argsort(keys, axis=1, kind="stable")[:, :num_zeros]
    view[zero_rows.T, np.arange(cols)] = 0


def sparse_(tensor, sparsity, std=0.01, generator=None):
    r"""sparse_(tensor, sparsity, std=0.01, generator=None) -> tensor

    Martens (2010): fill the 2-D ``tensor`` with :math:`\mathcal{N}(0, \text{std}^2)`
    samples, then set :math:`\lceil \text{sparsity} \times \text{rows} \rceil`
    randomly chosen entries of each column to zero.

    Both the values and the zero pattern come from the one seed drawn from
    ``generator`` (torch draws the pattern from the global RNG whatever
    ``generator`` is; here ``generator`` controls everything).

    >>> import torch, fastinit.torch as fi
    >>> w = fi.sparse_(torch.empty(10, 4), sparsity=0.3)
    >>> (w == 0).sum(dim=0).tolist()
    [3, 3, 3, 3]
    """
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    out = _fast_fill(tensor, generator, _fill_sparse, sparsity, std)
    return _TORCH["sparse_"](tensor, sparsity, std, generator) if out is None else out


def _fill_sparse(view, draw, sparsity, std):
    num_zeros = math.ceil(sparsity * view.shape[0])
    seed, stream = draw()
    fill_normal(view, 0.0, float(std), seed=seed, stream=stream)
    _sparse_zero(view, num_zeros, seed, stream)


def _make_deprecate(meth):
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args, **kwargs):
        warnings.warn(
            f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
            FutureWarning,
            stacklevel=2,
        )
        return meth(*args, **kwargs)

    deprecated_init.__doc__ = (
        f"{old_name}(...)\n\n    Deprecated alias of :func:`{new_name}` (as in torch.nn.init); "
        f"warns with FutureWarning.\n\n    >>> import fastinit.torch as fi\n"
        f"    >>> fi.{old_name}.__name__\n    '{old_name}'\n")
    deprecated_init.__name__ = old_name
    deprecated_init.__qualname__ = old_name
    deprecated_init.__module__ = __name__
    return deprecated_init


uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
eye = _make_deprecate(eye_)
dirac = _make_deprecate(dirac_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
sparse = _make_deprecate(sparse_)


# ---------------------------------------------------------------------------
# reset_parameters(): torch's default scheme per module type, named streams
#
# A plan entry is (kind, *args) with kind "uniform" (low, high), "normal"
# (mean, std), "constant" (value) or "embedding" (padding_idx: normal(0, 1),
# then that row zeroed).


def _kaiming_sqrt5(weight):
    """nn.Linear / nn.Conv*d: kaiming_uniform_(weight, a=sqrt(5)) and the bias bound."""
    if 0 in weight.shape:
        return None, None  # torch warns and leaves it
    fan_in, _ = _fans(weight)
    std = calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(fan_in)
    bound = math.sqrt(3.0) * std
    bias_bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    return ("uniform", -bound, bound), ("uniform", -bias_bound, bias_bound)


def _plan_linear(m):
    w, b = _kaiming_sqrt5(m.weight)
    plan = {"weight": w}
    if m.bias is not None:
        if b is None:  # zero-element weight: torch still bounds the bias by fan_in
            fan_in = _fans(m.weight)[0]
            bb = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            b = ("uniform", -bb, bb)
        plan["bias"] = b
    return plan


def _plan_bilinear(m):
    bound = 1 / math.sqrt(m.weight.size(1))
    plan = {"weight": ("uniform", -bound, bound)}
    if m.bias is not None:
        plan["bias"] = ("uniform", -bound, bound)
    return plan


def _plan_embedding(m):
    return {"weight": ("embedding", m.padding_idx)}


def _plan_affine(flag):
    def plan(m):
        if not getattr(m, flag):
            return {}
        out = {"weight": ("constant", 1.0)}
        if getattr(m, "bias", None) is not None:
            out["bias"] = ("constant", 0.0)
        return out
    return plan


def _plan_batchnorm(m):
    m.reset_running_stats()  # buffers: cheap torch ops, done right away
    return _plan_affine("affine")(m)


def _xavier_uniform_plan(p, gain=1.0):
    a = math.sqrt(3.0) * _xavier_std(p, gain)
    return ("uniform", -a, a)


def _plan_mha(m):
    plan = {}
    if m._qkv_same_embed_dim:
        plan["in_proj_weight"] = _xavier_uniform_plan(m.in_proj_weight)
    else:
        for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
            plan[name] = _xavier_uniform_plan(getattr(m, name))
    if m.in_proj_bias is not None:
        plan["in_proj_bias"] = ("constant", 0.0)
        plan["out_proj.bias"] = ("constant", 0.0)
    for name in ("bias_k", "bias_v"):
        if getattr(m, name) is not None:
            plan[name] = ("normal", 0.0, _xavier_std(getattr(m, name), 1.0))
    return plan


def _plan_rnn(m):
    stdv = 1.0 / math.sqrt(m.hidden_size) if m.hidden_size > 0 else 0
    return {name: ("uniform", -stdv, stdv) for name, _ in m.named_parameters()}


def _plan_prelu(m):
    return {"weight": ("constant", float(m.init))}


def _plan_transformer(m):
    # nn.Transformer re-initializes every matrix of its tree (its children's too)
    return {name: _xavier_uniform_plan(p) for name, p in m.named_parameters() if p.dim() > 1}


# (class, the method whose default scheme the plan reproduces, plan builder);
# a subclass that overrides that method gets its own method called instead.
_KNOWN: tuple[tuple[type[nn.Module], str, Callable[[nn.Module], Any]], ...] = (
    (nn.Linear, "reset_parameters", _plan_linear),
    (nn.modules.conv._ConvNd, "reset_parameters", _plan_linear),
    (nn.Bilinear, "reset_parameters", _plan_bilinear),
    (nn.Embedding, "reset_parameters", _plan_embedding),
    (nn.EmbeddingBag, "reset_parameters", _plan_embedding),
    (nn.LayerNorm, "reset_parameters", _plan_affine("elementwise_affine")),
    (nn.GroupNorm, "reset_parameters", _plan_affine("affine")),
    (nn.modules.batchnorm._NormBase, "reset_parameters", _plan_batchnorm),
    (nn.MultiheadAttention, "_reset_parameters", _plan_mha),
    (nn.RNNBase, "reset_parameters", _plan_rnn),
    (nn.RNNCellBase, "reset_parameters", _plan_rnn),
    (nn.PReLU, "reset_parameters", _plan_prelu),
    (nn.Transformer, "_reset_parameters", _plan_transformer),
)
if hasattr(nn, "RMSNorm"):  # torch >= 2.4
    _KNOWN += ((nn.RMSNorm, "reset_parameters", _plan_affine("elementwise_affine")),)


def _known_plan(m):
    for cls, method, builder in _KNOWN:
        if isinstance(m, cls):
            if getattr(type(m), method, None) is getattr(cls, method):
                return builder
            return None
    return None


def _apply_plan(view, spec, seed, stream):
    kind = spec[0]
    if kind == "uniform":
        fill_uniform(view, spec[1], spec[2], seed=seed, stream=stream)
    elif kind == "normal":
        fill_normal(view, spec[1], spec[2], seed=seed, stream=stream)
    elif kind == "embedding":
        fill_normal(view, 0.0, 1.0, seed=seed, stream=stream)
        if spec[1] is not None:
            view[spec[1]] = 0
    else:  # constant
        view[...] = spec[1]


def _run_entry(tensor, spec, seed, stream):
    view = _numpy_view(tensor)
    if view is not None:
        _apply_plan(view, spec, seed, stream)
        _written(tensor)
        return
    if tensor.is_meta:
        return  # no memory to fill
    # Another device or dtype: the same values, made on the CPU and copied.
    work = np.float64 if tensor.dtype is torch.float64 else np.float32
    scratch = np.empty(tuple(tensor.shape), work)
    _apply_plan(scratch, spec, seed, stream)
    with torch.no_grad():
        tensor.copy_(torch.from_numpy(scratch))


def _run_plan(entries):
    """Execute the plan entries: big tensors one by one, small ones in a pool."""
    large = [e for e in entries if e[0].numel() >= _LARGE]
    small = [e for e in entries if e[0].numel() < _LARGE]
    for entry in large:
        _run_entry(*entry)
    workers = min(get_num_threads(), len(small))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers,
                                thread_name_prefix="fastinit-reset") as pool:
            list(pool.map(lambda e: _run_entry(*e), small))
    else:
        for entry in small:
            _run_entry(*entry)


@contextmanager
def _named_streams(registry, seed, module_name):
    """Route init calls on the tree's parameters to their named streams (under patch()).

    Tensors that are not parameters of the tree (temporaries) draw from
    torch's global RNG, forked and seeded from (seed, module name) so the
    result is reproducible and the caller's RNG state is untouched.
    """
    previous = getattr(_local, "registry", None)
    _local.registry = registry
    try:
        with torch.random.fork_rng(devices=[]):
            # the CPU generator only: torch.manual_seed would reseed CUDA's too
            torch.default_generator.manual_seed(stream_id(f"{seed}:{module_name}") >> 1)
            yield
    finally:
        _local.registry = previous


def reset_parameters(module, *, seed, prefix=""):
    r"""reset_parameters(module, *, seed, prefix="") -> module

    Re-initialize every parameter of ``module``'s tree with torch's default
    scheme for its module type, parameter ``name`` (as ``named_parameters()``
    gives it) on the named stream
    ``stream_id(prefix + "." + name if prefix else name)`` of ``seed``:

    ============================== =============================================
    module                         parameters
    ============================== =============================================
    Linear, Conv*d, ConvTranspose  weight :math:`\mathcal{U}(\pm 1/\sqrt{\text{fan\_in}})`
                                   (``kaiming_uniform_(a=sqrt(5))``), bias the same
    Bilinear                       :math:`\mathcal{U}(\pm 1/\sqrt{\text{in1}})`
    Embedding, EmbeddingBag        :math:`\mathcal{N}(0, 1)`, ``padding_idx`` row 0
    LayerNorm, RMSNorm, GroupNorm  weight 1, bias 0
    BatchNorm*, InstanceNorm*      weight 1, bias 0; running stats reset
    MultiheadAttention             in-projections ``xavier_uniform_``, biases 0
                                   (``out_proj.bias`` too), ``bias_k``/``bias_v``
                                   ``xavier_normal_``
    RNN, LSTM, GRU and cells       :math:`\mathcal{U}(\pm 1/\sqrt{\text{hidden}})`
    PReLU                          ``init``
    Transformer                    every matrix of its tree ``xavier_uniform_``
    ============================== =============================================

    Any other module (or a subclass overriding its ``reset_parameters``) that
    has a ``reset_parameters`` or ``_reset_parameters`` method gets it called
    under :func:`patch`, with each init call on a parameter of the tree routed
    to that parameter's named stream.  Parameters nobody initializes are left
    as they are, with a warning naming them (buffers of such modules are not
    touched either).  As at construction, a parent's
    scheme overrides its children's (``MultiheadAttention`` zeroes
    ``out_proj.bias``); a parameter shared by several modules gets the scheme
    of the first one in ``named_modules()`` order.

    So the values do not depend on construction order or on the other
    modules of the model, and a model built on the meta device and
    materialized with ``to_empty(device="cpu")`` gets its default statistics.
    A module with parameters or buffers still on the meta device raises
    ``ValueError`` (call ``to_empty`` first).
    The fills run in parallel (large tensors each over all of fastinit's
    threads, small ones in a thread pool).  Tensors on other devices or of
    other dtypes get the same values, made on the CPU and copied.

    >>> import torch, fastinit.torch as fi
    >>> with torch.device("meta"):
    ...     model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.LayerNorm(32))
    >>> model = fi.reset_parameters(model.to_empty(device="cpu"), seed=0)
    >>> model[1].weight.sum().item()
    32.0
    """
    seed = resolve_seed(seed)
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str; got {type(prefix).__name__}")

    def full(name):
        return f"{prefix}.{name}" if prefix else name

    params = list(module.named_parameters())
    on_meta = [full(n) for n, t in params + list(module.named_buffers()) if t.is_meta]
    if on_meta:
        more = len(on_meta) - 5
        shown = ", ".join(on_meta[:5]) + (f" and {more} more" if more > 0 else "")
        raise ValueError(
            f"fastinit.torch.reset_parameters: module is on the meta device ({shown} have no "
            'memory); call module.to_empty(device="cpu") first, or use '
            "fastinit.torch.materialize(module, seed=...)")
    name_of = {id(p): full(n) for n, p in params}
    registry = {}
    for n, p in params:
        entry = (p, seed, stream_id(full(n)))
        registry[id(p)] = entry
        if not p.is_meta and p.numel() and not isinstance(p, nn.UninitializedParameter):
            registry[_storage_key(p)] = entry

    pending = {}  # id(param) -> (param, spec)
    covered = set()
    modules = list(module.named_modules())
    is_patched = False
    with torch.no_grad(), ExitStack() as patched:
        # descendants before ancestors, so a parent's scheme wins, as at construction
        for path, m in reversed(modules):
            builder = _known_plan(m)
            if builder is not None:
                for rel, spec in builder(m).items():
                    try:
                        p = m.get_parameter(rel)
                    except AttributeError:  # e.g. a parametrized weight: not a Parameter
                        continue
                    if spec is None:
                        covered.add(id(p))  # zero elements: torch leaves it too
                        continue
                    pending[id(p)] = (p, spec)
                    covered.add(id(p))
                continue
            method = getattr(m, "reset_parameters", None) or getattr(m, "_reset_parameters", None)
            if callable(method):
                _run_plan(_entries(pending, registry))  # the module may read its children
                pending.clear()
                if not is_patched:  # patch once, at the first such module
                    patched.enter_context(patch())
                    is_patched = True
                with _named_streams(registry, seed, full(path)):
                    method()
                covered.update(id(p) for p in m.parameters())
        _run_plan(_entries(pending, registry))
    missed = [name_of[id(p)] for _, p in params if id(p) not in covered]
    if missed:
        warnings.warn(
            "fastinit.torch.reset_parameters: no default initialization known for "
            + ", ".join(missed) + " (their modules have no reset_parameters); left unchanged",
            stacklevel=2)
    return module


def _entries(pending, registry):
    return [(p, spec, registry[id(p)][1], registry[id(p)][2]) for p, spec in pending.values()]


# torch's private helpers, the model libraries' init functions, materialize(),
# deferred() and patch() live in their own modules (each imports this one)
from ._torch_libs import (  # noqa: F401 (torch's private helpers, re-exported)
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
from ._torch_materialize import deferred, materialize
from ._torch_patch import disable, enable, is_enabled, patch

__all__ += ["deferred", "materialize"]
