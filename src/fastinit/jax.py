"""JAX drop-in: ``jax.nn.initializers`` on fastinit's stream (API.md section 5).

The factories have JAX's names, arguments, defaults and formulas and return
``init(key, shape, dtype=<the factory's dtype>, out_sharding=None)``; ``zeros``
and ``ones`` are init functions themselves, as in JAX.  The samples are made on
the host by fastinit's compiled fills, then handed to JAX
(``jax.numpy.asarray``, or ``jax.device_put(x, out_sharding)``).

Importing this module does not import JAX.  When JAX is installed the
initializers return JAX arrays, otherwise NumPy arrays.  They run eagerly on
concrete keys: call them outside ``jax.jit`` (as parameter initialization
usually is).

Keys.  ``key`` is an ``int`` seed (or anything ``fastinit.resolve_seed``
accepts), a JAX PRNG key (typed, from ``jax.random.key``, or raw uint32, from
``jax.random.PRNGKey``) or a uint32 NumPy array of key data.  Key data of two
words ``(hi, lo)`` gives the 64-bit seed ``hi * 2**32 + lo``, so
``jax.random.key(42)`` and ``42`` give the same values; other key data
(e.g. ``rbg`` keys, four words) gives the first 8 bytes, little-endian, of
``blake2b(data as little-endian uint32, digest_size=8)``.  All values come
from stream 0 of that seed.

dtypes: float16, bfloat16, float32, float64 (``dtype=None`` is JAX's default
float dtype: float32, or float64 with ``jax_enable_x64``).  Complex dtypes
raise ``TypeError``.

>>> import fastinit.jax as fij
>>> init = fij.glorot_uniform()
>>> w = init(0, (64, 32))
>>> bool(abs(w).max() <= (6 / 96) ** 0.5)
True
"""
from __future__ import annotations

import hashlib
import math
import numbers
import sys

import ml_dtypes
import numpy as np

from ._core import fill_normal, fill_truncated_normal, fill_uniform, resolve_seed
from .fans import compute_fans

__all__ = [
    "constant",
    "delta_orthogonal",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "orthogonal",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

#: stddev of the standard normal truncated to (-2, 2): variance_scaling divides
#: by it so the truncated samples have the intended standard deviation.
TRUNCATED_NORMAL_STD_2 = 0.87962566103423978

_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")
_FLOATS = tuple(np.dtype(t) for t in (np.float16, ml_dtypes.bfloat16, np.float32, np.float64))

_jax_module = None
_jax_checked = False


def _jax():
    """The jax module if it is installed (imported on first need), else None."""
    global _jax_module, _jax_checked
    if not _jax_checked:
        try:
            import jax
        except ImportError:
            jax = None
        _jax_module, _jax_checked = jax, True
    return _jax_module


def _seed_from_key(key) -> int:
    """The 64-bit fastinit seed of an int seed or a JAX PRNG key (see the module doc)."""
    if key is None or isinstance(key, (numbers.Integral, np.random.Generator,
                                       np.random.SeedSequence)):
        return resolve_seed(key)
    jax = sys.modules.get("jax")  # a JAX key implies JAX is already imported
    if jax is not None and isinstance(key, jax.Array):
        tracer = getattr(jax.core, "Tracer", ())
        if tracer and isinstance(key, tracer):
            raise TypeError(
                "fastinit.jax initializers need a concrete key: call them outside "
                "jax.jit / vmap (got a traced key)")
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
    data = np.asarray(key)
    if data.dtype != np.uint32:
        raise TypeError(
            "key must be an int seed, a JAX PRNG key or uint32 key data; "
            f"got {type(key).__name__} of dtype {data.dtype}")
    if data.ndim != 1 or data.size == 0:
        raise ValueError(f"key must be a single PRNG key; got key data of shape {data.shape}")
    if data.size == 2:
        return (int(data[0]) << 32) | int(data[1])
    digest = hashlib.blake2b(data.astype("<u4").tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _default_float():
    jax = sys.modules.get("jax")
    if jax is not None and jax.config.jax_enable_x64:
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _check_dtype(dtype):
    dt = _default_float() if dtype is None else np.dtype(dtype)
    if dt not in _FLOATS:
        raise TypeError(
            f"dtype must be float16, bfloat16, float32 or float64; got {dt}"
            + (" (complex initializers: use jax.nn.initializers)" if dt.kind == "c" else ""))
    return dt


def _check_shape(shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of non-negative ints; got {shape!r}") from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral):
            raise TypeError(f"shape must be a tuple of non-negative ints; got {shape!r}")
        if d < 0:
            raise ValueError(f"shape must be a tuple of non-negative ints; got {shape!r}")
    return tuple(int(d) for d in dims)


def _out(array, out_sharding=None):
    """Hand a NumPy result to JAX when it is installed."""
    jax = _jax()
    if jax is None:
        if out_sharding is not None:
            raise ValueError("out_sharding needs JAX, which is not installed")
        return array
    if out_sharding is not None:
        return jax.device_put(array, out_sharding)
    return jax.numpy.asarray(array)


def zeros(key, shape, dtype=None, out_sharding=None):
    """zeros(key, shape, dtype=None, out_sharding=None) -> array

    An initializer returning an array of zeros (``key`` is ignored).

    >>> import fastinit.jax as fij
    >>> fij.zeros(0, (2, 3)).sum().item()
    0.0
    """
    return _out(np.zeros(_check_shape(shape), _check_dtype(dtype)), out_sharding)


def ones(key, shape, dtype=None, out_sharding=None):
    """ones(key, shape, dtype=None, out_sharding=None) -> array

    An initializer returning an array of ones (``key`` is ignored).

    >>> import fastinit.jax as fij
    >>> fij.ones(0, (3, 2)).sum().item()
    6.0
    """
    return _out(np.ones(_check_shape(shape), _check_dtype(dtype)), out_sharding)


def constant(value, dtype=None):
    """constant(value, dtype=None) -> init

    Builds an initializer returning arrays full of ``value``.

    >>> import fastinit.jax as fij
    >>> fij.constant(-7)(0, (2, 3)).sum().item()
    -42.0
    """
    def init(key, shape, dtype=dtype, out_sharding=None):
        return _out(np.full(_check_shape(shape), value, _check_dtype(dtype)), out_sharding)
    return init


def uniform(scale=1e-2, dtype=None):
    r"""uniform(scale=1e-2, dtype=None) -> init

    Builds an initializer of :math:`\mathcal{U}[0, \text{scale})` samples
    (for a negative ``scale``, :math:`(\text{scale}, 0]`, as JAX's
    ``uniform[0, 1) * scale``).

    >>> import fastinit.jax as fij
    >>> x = fij.uniform(10.0)(0, (1000,))
    >>> bool(x.min() >= 0 and x.max() < 10)
    True
    """
    scale = float(scale)

    def init(key, shape, dtype=dtype, out_sharding=None):
        out = np.empty(_check_shape(shape), _check_dtype(dtype))
        fill_uniform(out, 0.0, abs(scale), seed=_seed_from_key(key))
        if scale < 0:
            np.negative(out, out=out)
        return _out(out, out_sharding)
    return init


def normal(stddev=1e-2, dtype=None):
    r"""normal(stddev=1e-2, dtype=None) -> init

    Builds an initializer of :math:`\mathcal{N}(0, \text{stddev}^2)` samples.

    >>> import fastinit.jax as fij
    >>> x = fij.normal(5.0)(0, (100_000,))
    >>> round(float(x.std()))
    5
    """
    stddev = float(stddev)

    def init(key, shape, dtype=dtype, out_sharding=None):
        out = np.empty(_check_shape(shape), _check_dtype(dtype))
        fill_normal(out, 0.0, abs(stddev), seed=_seed_from_key(key))
        return _out(out, out_sharding)
    return init


def truncated_normal(stddev=1e-2, dtype=None, lower=-2.0, upper=2.0):
    r"""truncated_normal(stddev=1e-2, dtype=None, lower=-2.0, upper=2.0) -> init

    Builds an initializer of :math:`\text{stddev} \cdot z`, :math:`z` a
    standard normal truncated to :math:`[\text{lower}, \text{upper}]` (so the
    samples lie in :math:`[\text{lower} \cdot \text{stddev}, \text{upper} \cdot
    \text{stddev}]`).  As in JAX, ``stddev`` is the standard deviation *before*
    truncation: no 0.8796 correction here (``variance_scaling`` applies it).

    >>> import fastinit.jax as fij
    >>> x = fij.truncated_normal(5.0)(0, (10_000,))
    >>> bool(abs(x).max() <= 10.0)
    True
    """
    stddev, lower, upper = float(stddev), float(lower), float(upper)
    if not lower < upper:
        raise ValueError(f"lower must be < upper; got lower={lower} and upper={upper}")
    # x = stddev * z: a negative stddev mirrors the window
    a, b = (lower, upper) if stddev >= 0 else (-upper, -lower)

    def init(key, shape, dtype=dtype, out_sharding=None):
        out = np.empty(_check_shape(shape), _check_dtype(dtype))
        fill_truncated_normal(out, 0.0, abs(stddev), a, b, seed=_seed_from_key(key))
        return _out(out, out_sharding)
    return init


def variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=(),
                     dtype=None):
    r"""variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> init

    Builds an initializer whose samples have mean 0 and variance
    :math:`\text{scale} / n`, with :math:`n` for ``mode``: ``"fan_in"``,
    ``"fan_out"``, ``"fan_avg"`` :math:`(\text{fan\_in} + \text{fan\_out}) / 2`,
    ``"fan_geo_avg"`` :math:`\sqrt{\text{fan\_in} \cdot \text{fan\_out}}`.
    The fans are JAX's: axes not in ``in_axis``, ``out_axis``, ``batch_axis``
    are the receptive field (``fastinit.compute_fans(layout="jax")``).

    * ``"truncated_normal"``: :math:`\sigma z`, :math:`z` standard normal
      truncated to :math:`(-2, 2)`, :math:`\sigma = \sqrt{\text{scale}/n}
      / 0.87962566103423978` (the standard deviation of that truncated normal).
    * ``"normal"``: :math:`\mathcal{N}(0, \text{scale}/n)`, untruncated (unlike
      Keras' ``"normal"``).
    * ``"uniform"``: :math:`\mathcal{U}[-\ell, \ell)`,
      :math:`\ell = \sqrt{3\,\text{scale}/n}`.

    ``mode`` and ``distribution`` are checked here (JAX checks them at the
    first call).

    >>> import fastinit.jax as fij
    >>> init = fij.variance_scaling(2.0, "fan_in", "normal")
    >>> w = init(0, (1000, 500))
    >>> round(float(w.std()), 3)  # sqrt(2 / 1000)
    0.045
    """
    if mode not in _MODES:
        raise ValueError(f"invalid mode for variance scaling initializer: {mode}; "
                         f"accepted: {', '.join(_MODES)}")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"invalid distribution for variance scaling initializer: "
                         f"{distribution}; accepted: {', '.join(_DISTRIBUTIONS)}")
    scale = float(scale)

    def init(key, shape, dtype=dtype, out_sharding=None):
        shape = _check_shape(shape)
        dt = _check_dtype(dtype)
        fan_in, fan_out = compute_fans(shape, layout="jax", in_axis=in_axis,
                                       out_axis=out_axis, batch_axis=batch_axis)
        if mode == "fan_in":
            denominator = fan_in
        elif mode == "fan_out":
            denominator = fan_out
        elif mode == "fan_avg":
            denominator = (fan_in + fan_out) / 2
        else:
            denominator = (fan_in * fan_out) ** 0.5
        if denominator == 0:
            raise ValueError(f"variance_scaling: mode {mode!r} gives n = 0 for shape {shape}")
        variance = scale / denominator
        seed = _seed_from_key(key)
        out = np.empty(shape, dt)
        if distribution == "truncated_normal":
            stddev = math.sqrt(variance) / TRUNCATED_NORMAL_STD_2
            fill_truncated_normal(out, 0.0, stddev, -2.0, 2.0, seed=seed)
        elif distribution == "normal":
            fill_normal(out, 0.0, math.sqrt(variance), seed=seed)
        else:
            limit = math.sqrt(3 * variance)
            fill_uniform(out, -limit, limit, seed=seed)
        return _out(out, out_sharding)
    return init


def glorot_uniform(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None):
    r"""glorot_uniform(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> init

    Glorot (Xavier) uniform: ``variance_scaling(1.0, "fan_avg", "uniform")``,
    :math:`\mathcal{U}[-\ell, \ell)`, :math:`\ell = \sqrt{6 / (\text{fan\_in} + \text{fan\_out})}`.

    >>> import fastinit.jax as fij
    >>> bool(abs(fij.glorot_uniform()(0, (30, 10))).max() <= 0.3873)
    True
    """
    return variance_scaling(1.0, "fan_avg", "uniform", in_axis=in_axis,
                            out_axis=out_axis, batch_axis=batch_axis, dtype=dtype)


def glorot_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None):
    r"""glorot_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> init

    Glorot (Xavier) normal: ``variance_scaling(1.0, "fan_avg", "truncated_normal")``,
    standard deviation :math:`\sqrt{2 / (\text{fan\_in} + \text{fan\_out})}`
    after truncation at :math:`\pm 2\sigma`.

    >>> import fastinit.jax as fij
    >>> w = fij.glorot_normal()(0, (1000, 1000))
    >>> round(float(w.std()), 3)
    0.032
    """
    return variance_scaling(1.0, "fan_avg", "truncated_normal", in_axis=in_axis,
                            out_axis=out_axis, batch_axis=batch_axis, dtype=dtype)


def lecun_uniform(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None):
    r"""lecun_uniform(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> init

    LeCun uniform: ``variance_scaling(1.0, "fan_in", "uniform")``,
    :math:`\mathcal{U}[-\ell, \ell)`, :math:`\ell = \sqrt{3 / \text{fan\_in}}`.

    >>> import fastinit.jax as fij
    >>> bool(abs(fij.lecun_uniform()(0, (300, 10))).max() <= 0.1)
    True
    """
    return variance_scaling(1.0, "fan_in", "uniform", in_axis=in_axis,
                            out_axis=out_axis, batch_axis=batch_axis, dtype=dtype)


def lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None):
    r"""lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> init

    LeCun normal: ``variance_scaling(1.0, "fan_in", "truncated_normal")``,
    standard deviation :math:`\sqrt{1 / \text{fan\_in}}` after truncation.

    >>> import fastinit.jax as fij
    >>> w = fij.lecun_normal()(0, (400, 2500))
    >>> round(float(w.std()), 3)
    0.05
    """
    return variance_scaling(1.0, "fan_in", "truncated_normal", in_axis=in_axis,
                            out_axis=out_axis, batch_axis=batch_axis, dtype=dtype)


def he_uniform(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None):
    r"""he_uniform(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> init

    He (Kaiming) uniform: ``variance_scaling(2.0, "fan_in", "uniform")``,
    :math:`\mathcal{U}[-\ell, \ell)`, :math:`\ell = \sqrt{6 / \text{fan\_in}}`.

    >>> import fastinit.jax as fij
    >>> bool(abs(fij.he_uniform()(0, (600, 10))).max() <= 0.1)
    True
    """
    return variance_scaling(2.0, "fan_in", "uniform", in_axis=in_axis,
                            out_axis=out_axis, batch_axis=batch_axis, dtype=dtype)


def he_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None):
    r"""he_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> init

    He (Kaiming) normal: ``variance_scaling(2.0, "fan_in", "truncated_normal")``,
    standard deviation :math:`\sqrt{2 / \text{fan\_in}}` after truncation.

    >>> import fastinit.jax as fij
    >>> w = fij.he_normal()(0, (800, 1000))
    >>> round(float(w.std()), 3)
    0.05
    """
    return variance_scaling(2.0, "fan_in", "truncated_normal", in_axis=in_axis,
                            out_axis=out_axis, batch_axis=batch_axis, dtype=dtype)


xavier_uniform = glorot_uniform
xavier_normal = glorot_normal
kaiming_uniform = he_uniform
kaiming_normal = he_normal


def _orthogonal(seed, n_rows, n_cols, dt):
    """A (n_rows, n_cols) matrix with orthonormal rows or columns (jax.random.orthogonal)."""
    work = np.float64 if dt == np.float64 else np.float32
    z = fill_normal(np.empty((max(n_rows, n_cols), min(n_rows, n_cols)), work), 0.0, 1.0,
                    seed=seed)
    q, r = np.linalg.qr(z)
    q *= np.sign(np.diagonal(r))  # Haar measure (Mezzadri 2007)
    return q.T if n_rows < n_cols else q


def _orthogonal_array(seed, shape, scale, column_axis, dt):
    if len(shape) < 2:
        raise ValueError("orthogonal initializer requires at least a 2D shape")
    if any(d == 0 for d in shape):
        return np.zeros(shape, dt)
    n_rows, n_cols = math.prod(shape) // shape[column_axis], shape[column_axis]
    q = _orthogonal(seed, n_rows, n_cols, dt)
    q = q.reshape(tuple(np.delete(shape, column_axis)) + (shape[column_axis],))
    q = np.moveaxis(q, -1, column_axis)
    return (q * q.dtype.type(scale)).astype(dt)


def orthogonal(scale=1.0, column_axis=-1, dtype=None):
    r"""orthogonal(scale=1.0, column_axis=-1, dtype=None) -> init

    Builds an initializer of :math:`\text{scale} \cdot Q`, :math:`Q` uniformly
    (Haar) distributed with orthonormal columns along ``column_axis`` (rows
    when there are fewer of them): the matrix of shape
    ``(size / shape[column_axis], shape[column_axis])`` from the QR
    factorization of a standard normal matrix, with the signs of
    :math:`\mathrm{diag}(R)` moved into :math:`Q`, reshaped and its columns
    moved to ``column_axis``.  The QR runs in NumPy (float32, or float64 for
    float64) on the whole matrix.

    >>> import numpy as np, fastinit.jax as fij
    >>> w = np.asarray(fij.orthogonal()(0, (3, 5)))
    >>> bool(np.allclose(w @ w.T, np.eye(3), atol=1e-5))
    True
    """
    def init(key, shape, dtype=dtype, out_sharding=None):
        if out_sharding is not None and _jax() is None:
            raise ValueError("out_sharding needs JAX, which is not installed")
        shape = _check_shape(shape)
        dt = _check_dtype(dtype)
        q = _orthogonal_array(_seed_from_key(key), shape, scale, column_axis, dt)
        return _out(q, out_sharding)
    return init


def delta_orthogonal(scale=1.0, column_axis=-1, dtype=None):
    r"""delta_orthogonal(scale=1.0, column_axis=-1, dtype=None) -> init

    Builds an initializer of delta-orthogonal convolution kernels (Xiao et al.
    2018): for a 3-, 4- or 5-D shape ``(*spatial, in, out)`` with
    ``in <= out``, zeros everywhere except at the spatial centre
    ``(k - 1) // 2`` of each spatial axis, which holds
    ``orthogonal(scale, column_axis)`` of shape ``(in, out)``.

    >>> import numpy as np, fastinit.jax as fij
    >>> w = np.asarray(fij.delta_orthogonal()(0, (3, 3, 4, 4)))
    >>> bool(np.allclose(w[1, 1] @ w[1, 1].T, np.eye(4), atol=1e-5)), float(abs(w[0]).sum())
    (True, 0.0)
    """
    def init(key, shape, dtype=dtype, out_sharding=None):
        shape = _check_shape(shape)
        dt = _check_dtype(dtype)
        if len(shape) not in (3, 4, 5):
            raise ValueError("Delta orthogonal initializer requires a 3D, 4D or 5D shape.")
        if shape[-1] < shape[-2]:
            raise ValueError("`fan_in` must be less or equal than `fan_out`. ")
        seed = _seed_from_key(key)
        w = np.zeros(shape, dt)
        if 0 in shape:  # an empty array: no centre to set (JAX raises IndexError)
            return _out(w, out_sharding)
        ortho = _orthogonal_array(seed, shape[-2:], scale, column_axis, dt)
        w[tuple((k - 1) // 2 for k in shape[:-2])] = ortho
        return _out(w, out_sharding)
    return init
