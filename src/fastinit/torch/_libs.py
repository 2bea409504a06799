"""Model libraries' own init functions, on fastinit's stream, for ``fastinit.torch``.

torch's private helpers that public model code calls
(``_calculate_fan_in_and_fan_out``, ``_calculate_correct_fan``,
``_no_grad_uniform_``, ``_no_grad_normal_``, ``_no_grad_trunc_normal_``,
``_no_grad_fill_``, ``_no_grad_zero_``) are here with torch's signatures and
results (the random ones fill through fastinit).

timm initializes through functions of its own (``timm.layers.weight_init``)
built on torch's RNG.  Here are fastinit implementations with the same
signatures and semantics -- :func:`trunc_normal_tf_`, :func:`variance_scaling_`,
:func:`lecun_normal_` -- exported by ``fastinit.torch``, and the table
(:data:`LIBRARY_ROUTES`) that :func:`fastinit.torch.patch` uses to route each
library function to its fastinit counterpart.

The values follow fastinit.torch's seed rule: one seed per call, drawn from
``generator`` (torch's global CPU generator when None), or inside
``patch(seed=...)`` the block's next seed.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..fans import mode_fan
from ..initializers.random import TRUNCATED_STDDEV_CORRECTION
from . import _fast, _nn_init

_TORCH_PRIVATE = {name: getattr(torch.nn.init, name) for name in _fast.PRIVATE_NAMES}


# ---------------------------------------------------------------------------
# torch's private helpers that public model code calls, with torch's signatures


def _calculate_fan_in_and_fan_out(tensor):
    r"""_calculate_fan_in_and_fan_out(tensor) -> (fan_in, fan_out)

    torch's helper: for a weight ``(out, in, *kernel)`` with receptive field
    :math:`r = \prod \text{kernel}`, :math:`\text{fan\_in} = \text{in} \cdot r`,
    :math:`\text{fan\_out} = \text{out} \cdot r` (ints); fewer than 2
    dimensions raise ``ValueError``, as in torch.

    >>> import torch, fastinit.torch as fi
    >>> fi._calculate_fan_in_and_fan_out(torch.empty(32, 16, 3, 3))
    (144, 288)
    """
    if tensor.dim() < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    return _fast._fans(tensor)


def _calculate_correct_fan(tensor, mode):
    """_calculate_correct_fan(tensor, mode) -> int

    torch's helper: ``fan_in`` or ``fan_out`` of ``tensor`` for ``mode``
    (case-insensitive); another mode raises ``ValueError``, as in torch.

    >>> import torch, fastinit.torch as fi
    >>> fi._calculate_correct_fan(torch.empty(32, 16), "fan_out")
    32
    """
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    return _fast._correct_fan(tensor, mode)


def _no_grad_uniform_(tensor, a, b, generator=None):
    r"""_no_grad_uniform_(tensor, a, b, generator=None) -> tensor

    torch's helper: :math:`\mathcal{U}[a, b)` in place, as :func:`uniform_`.

    >>> import torch, fastinit.torch as fi
    >>> bool(fi._no_grad_uniform_(torch.empty(4, 4), -1, 1).abs().max() <= 1)
    True
    """
    out = _fast._fast_fill(tensor, generator, _nn_init._fill_uniform, float(a), float(b))
    return _TORCH_PRIVATE["_no_grad_uniform_"](tensor, a, b, generator) if out is None else out


def _no_grad_normal_(tensor, mean, std, generator=None):
    r"""_no_grad_normal_(tensor, mean, std, generator=None) -> tensor

    torch's helper: :math:`\mathcal{N}(\text{mean}, \text{std}^2)` in place, as :func:`normal_`.

    >>> import torch, fastinit.torch as fi
    >>> round(float(fi._no_grad_normal_(torch.empty(1000, 100), 0.0, 0.5).std()), 2)
    0.5
    """
    out = _fast._fast_fill(tensor, generator, _nn_init._fill_normal, float(mean), float(std))
    return _TORCH_PRIVATE["_no_grad_normal_"](tensor, mean, std, generator) if out is None else out


def _no_grad_trunc_normal_(tensor, mean, std, a, b, generator=None):
    """_no_grad_trunc_normal_(tensor, mean, std, a, b, generator=None) -> tensor

    torch's helper: the truncated normal of :func:`trunc_normal_` (absolute
    bounds ``a < b``) in place.

    >>> import torch, fastinit.torch as fi
    >>> w = fi._no_grad_trunc_normal_(torch.empty(100, 100), 0.0, 1.0, -0.5, 0.5)
    >>> bool(w.abs().max() <= 0.5)
    True
    """
    out = _fast._fast_fill(tensor, generator, _nn_init._fill_trunc_normal,
                          float(mean), float(std), float(a), float(b))
    if out is None:
        return _TORCH_PRIVATE["_no_grad_trunc_normal_"](tensor, mean, std, a, b, generator)
    return out


def _no_grad_fill_(tensor, val):
    """_no_grad_fill_(tensor, val) -> tensor

    torch's helper: ``tensor.fill_(val)`` under ``torch.no_grad()``.

    >>> import torch, fastinit.torch as fi
    >>> fi._no_grad_fill_(torch.empty(2, 2), 3.0).sum().item()
    12.0
    """
    with torch.no_grad():
        return tensor.fill_(val)


def _no_grad_zero_(tensor):
    """_no_grad_zero_(tensor) -> tensor

    torch's helper: ``tensor.zero_()`` under ``torch.no_grad()``.

    >>> import torch, fastinit.torch as fi
    >>> fi._no_grad_zero_(torch.ones(2, 2)).sum().item()
    0.0
    """
    with torch.no_grad():
        return tensor.zero_()


# ---------------------------------------------------------------------------
# timm's functions

# the standard deviation of N(0, 1) truncated to [-2, 2] (timm's, JAX's constant)


def _fill_trunc_normal_tf(view, draw, mean, std, a, b):
    if not a < b:
        raise ValueError(f"a must be < b; got a={a} and b={b}")
    seed, stream = draw()
    if std == 0.0:
        view[...] = mean
        return
    # _fast's fill: it also fills a DTensor's shard view at its global offsets
    _fast.fill_truncated_normal(view, mean, std, a, b, seed=seed, stream=stream)


def trunc_normal_tf_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    r"""trunc_normal_tf_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None) -> tensor

    timm's ``trunc_normal_tf_`` (TensorFlow/JAX convention): samples of
    :math:`\mathcal{N}(0, 1)` conditioned on :math:`a \le z \le b`, then
    scaled and shifted, :math:`x = \text{mean} + \text{std} \cdot z` -- the
    bounds are in units of ``std`` (unlike :func:`trunc_normal_`, whose
    bounds are absolute):

    .. math::
        x \sim \mathcal{N}(\text{mean}, \text{std}^2)
        \text{ conditioned on } \text{mean} + a\,\text{std} \le x \le \text{mean} + b\,\text{std}

    The values are ``fastinit.fill_truncated_normal(view, mean, std, a, b,
    seed, stream=0)`` with one seed per call as in :func:`normal_`;
    ``std == 0`` gives ``mean``.  ``generator`` is an addition to timm's
    signature.  Tensors fastinit cannot fill go to torch's ``trunc_normal_``
    on ``[a, b]`` followed by ``mul_(std).add_(mean)``, as timm does.

    >>> import torch, fastinit.torch as fi
    >>> w = fi.trunc_normal_tf_(torch.empty(256, 256), std=0.02)
    >>> bool(w.abs().max() <= 0.04), round(float(w.std()) / 0.02, 2)
    (True, 0.88)
    """
    out = _fast._fast_fill(tensor, generator, _fill_trunc_normal_tf,
                          float(mean), float(std), float(a), float(b))
    if out is not None:
        return out
    with torch.no_grad():
        _fast._TORCH["trunc_normal_"](tensor, 0.0, 1.0, a, b, generator)
        return tensor.mul_(std).add_(mean)


def _variance(tensor, scale, mode):
    if mode not in ("fan_in", "fan_out", "fan_avg"):
        raise ValueError(f"mode must be 'fan_in', 'fan_out' or 'fan_avg'; got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return scale / mode_fan(fan_in, fan_out, mode)


def variance_scaling_(tensor, scale=1.0, mode="fan_in", distribution="normal", generator=None):
    r"""variance_scaling_(tensor, scale=1.0, mode="fan_in", distribution="normal",
                          generator=None) -> tensor

    timm's ``variance_scaling_`` (JAX's variance scaling, torch fans
    ``(out, in, *kernel)``): with :math:`\sigma^2 = \text{scale} / n`, where
    :math:`n` is ``fan_in``, ``fan_out`` or their mean (``mode="fan_avg"``),

    =================== =====================================================
    distribution        values
    =================== =====================================================
    "truncated_normal"  :func:`trunc_normal_tf_` with ``std`` :math:`\sigma / 0.8796\ldots`
                        (bounds :math:`\pm 2` std units: the result has std :math:`\sigma`)
    "normal"            :math:`\mathcal{N}(0, \sigma^2)`
    "uniform"           :math:`\mathcal{U}(\pm\sqrt{3}\,\sigma)`
    =================== =====================================================

    An unknown ``mode`` or ``distribution`` raises ``ValueError`` naming it.
    Returns ``tensor`` (timm's returns None).

    >>> import torch, fastinit.torch as fi
    >>> w = fi.variance_scaling_(torch.empty(512, 256), mode="fan_in", distribution="uniform")
    >>> bool(w.abs().max() <= (3 / 256) ** 0.5)
    True
    """
    variance = _variance(tensor, scale, mode)
    if distribution == "truncated_normal":
        return trunc_normal_tf_(tensor, std=math.sqrt(variance) / TRUNCATED_STDDEV_CORRECTION,
                                generator=generator)
    if distribution == "normal":
        return _nn_init.normal_(tensor, 0.0, math.sqrt(variance), generator)
    if distribution == "uniform":
        bound = math.sqrt(3 * variance)
        return _nn_init.uniform_(tensor, -bound, bound, generator)
    raise ValueError("distribution must be 'truncated_normal', 'normal' or 'uniform'; "
                     f"got {distribution!r}")


def lecun_normal_(tensor, generator=None):
    r"""lecun_normal_(tensor, generator=None) -> tensor

    timm's ``lecun_normal_``: ``variance_scaling_(tensor, mode="fan_in",
    distribution="truncated_normal")``, i.e. a normal truncated at
    :math:`\pm 2` standard deviations with standard deviation
    :math:`1 / \sqrt{\text{fan\_in}}`.

    >>> import torch, fastinit.torch as fi
    >>> w = fi.lecun_normal_(torch.empty(256, 400))
    >>> round(float(w.std()) * 400 ** 0.5, 1)
    1.0
    """
    return variance_scaling_(tensor, mode="fan_in", distribution="truncated_normal",
                             generator=generator)


def _timm_trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """timm's ``trunc_normal_`` (absolute bounds, as torch's): ``fastinit.torch.trunc_normal_``.

    A function object of its own, so that patch() can tell what it stands for.
    """
    return _nn_init.trunc_normal_(tensor, mean, std, a, b)


#: module -> {attribute: fastinit replacement}: the library functions that
#: ``patch()`` routes besides torch.nn.init's (and references to them held in
#: other modules, found by identity).  Every replacement is a distinct object.
LIBRARY_ROUTES: dict[str, dict[str, Callable[..., Any]]] = {
    "timm.layers.weight_init": {
        "trunc_normal_": _timm_trunc_normal_,
        "trunc_normal_tf_": trunc_normal_tf_,
        "variance_scaling_": variance_scaling_,
        "lecun_normal_": lecun_normal_,
    },
}
