"""The functions of ``torch.nn.init`` for ``fastinit.torch``, over its one fast path.

Each random function hands its tensor to ``_fast._fast_fill`` with a fill of
its own (``_fill_*``: the NumPy-view half, which draws the call's seed and
stream); when the fast path does not apply, torch's own function (captured in
``_fast._TORCH``) gets the tensor unchanged.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from .._bounds import std_units as _std_units
from .._core import PreparedFill, stream_id
from ._fast import (
    _TORCH,
    _fast_fill,
    _kaiming_std,
    _real,
    _xavier_std,
    fill_normal,
    fill_raw,
    fill_truncated_normal,
    fill_uniform,
)

# the zero pattern of sparse_ comes from this stream (xor the fill's stream)
_SPARSE_PATTERN_SALT = stream_id("fastinit.torch.sparse_.pattern")


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
    # a and b must be finite in the tensor's dtype (the fills' rule): checked
    # here, before anything is written
    PreparedFill("uniform", view.dtype, a, b, seed=seed, stream=stream)
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
