"""JAX drop-in: ``jax.nn.initializers`` on fastinit's stream (docs/api.md §5).

The factories have JAX's names, arguments, defaults and formulas and return
``init(key, shape, dtype=<the factory's dtype>, out_sharding=None)``; ``zeros``
and ``ones`` are init functions themselves, as in JAX.  The samples are made on
the host by fastinit's compiled fills, then handed to JAX.

Importing this module does not import JAX.  When JAX is installed the
initializers return JAX arrays, otherwise NumPy arrays.

* Eager calls (a concrete key): the values are sampled into an aligned host
  buffer that JAX adopts without a copy on the CPU backend (DLPack).  With
  ``out_sharding`` (a ``Sharding``, or a ``PartitionSpec`` on the mesh set
  with ``jax.set_mesh``) each addressable shard is computed from its own index
  region (``jax.make_array_from_callback``), never the whole array on one
  device; the result equals the unsharded one bit for bit.
* Traced calls (``jax.jit``, ``jax.vmap``, ``jax.eval_shape``, flax
  ``init``/``apply``, ``nnx.jit``): a ``jax.pure_callback`` receives the key's
  data and runs the same host code, so a key gives the same bits traced or
  eager; under ``eval_shape`` only the shape and dtype are computed.  vmap
  over keys gives the per-key values.  ``out_sharding`` becomes a sharding
  constraint on the result.

Keys.  ``key`` is an ``int`` seed (or anything ``fastinit.resolve_seed``
accepts), a JAX PRNG key (typed, from ``jax.random.key``, or raw uint32, from
``jax.random.PRNGKey``) or a uint32 NumPy array of key data.  Key data of two
words ``(hi, lo)`` gives the 64-bit seed ``hi * 2**32 + lo``, so
``jax.random.key(42)`` and ``42`` give the same values; other key data
(e.g. ``rbg`` keys, four words) gives the first 8 bytes, little-endian, of
``blake2b(data as little-endian uint32, digest_size=8)``.  All values come
from stream 0 of that seed.

dtypes: float16, bfloat16, float32, float64 (``dtype=None`` is JAX's default
float dtype: float32, or float64 with ``jax_enable_x64``; float64 is computed
as float32 without it, as JAX does).  Complex dtypes where JAX takes them
(``normal`` and ``variance_scaling`` and its presets): element ``i``'s real and
imaginary parts are elements ``2i`` and ``2i + 1`` of the real stream (the
array viewed as real), each with half the variance for normals; the uniform
disk and truncated complex normal of ``variance_scaling`` are made from two
uniforms ``(u, v)`` per element, as JAX's formulas:
radius ``sqrt(2u)`` resp. ``sqrt(-log(1 - (1 - e^-4) u))``, angle ``2 pi v``.
``zeros``, ``ones`` and ``constant`` take integer and bool dtypes too.

>>> import fastinit.jax as fij
>>> init = fij.glorot_uniform()
>>> w = init(0, (64, 32))
>>> bool(abs(w).max() <= (6 / 96) ** 0.5)
True
"""
from __future__ import annotations

import math
import typing

import numpy as np

from .._core import PreparedFill, fill_normal
from .._dtypes import FLOAT_DTYPES, FLOAT_NAMES
from .._regions import runs as _runs
from .._validate import check_shape
from ..fans import MODES, compute_fans, mode_fan
from ..initializers.random import TRUNCATED_STDDEV_CORRECTION
from . import _bridge
from ._bridge import seed_from_key_data

__all__ = [
    "Initializer",
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
    "seed_from_key_data",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

#: stddev of the standard normal truncated to (-2, 2): variance_scaling divides
#: by it so the truncated samples have the intended standard deviation.
TRUNCATED_NORMAL_STD_2 = TRUNCATED_STDDEV_CORRECTION
#: stddev of the complex standard normal truncated to modulus 2 (JAX's constant).
COMPLEX_TRUNCATED_NORMAL_STD_2 = 0.95311164380491208

_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")
_COMPLEX = (np.dtype(np.complex64), np.dtype(np.complex128))


@typing.runtime_checkable
class Initializer(typing.Protocol):
    """What every initializer here is (as ``jax.nn.initializers.Initializer``):
    ``init(key, shape, dtype=None, out_sharding=None) -> Array``.

    >>> import fastinit.jax as fij
    >>> isinstance(fij.he_normal(), fij.Initializer)
    True
    """

    def __call__(self, key, shape, dtype=None, out_sharding=None):
        raise NotImplementedError


def _default_float():
    jax = _bridge.jax_module()
    if jax is not None and jax.config.jax_enable_x64:
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _canonical(dt):
    """JAX's dtype for ``dt`` (float64 -> float32 without x64, as JAX does)."""
    jax = _bridge.jax_module()
    if jax is not None:
        return np.dtype(jax.dtypes.canonicalize_dtype(dt))
    return dt


def _check_dtype(dtype, *, complex_ok=False, int_ok=False):
    dt = _default_float() if dtype is None else np.dtype(dtype)
    ok = dt in FLOAT_DTYPES or (complex_ok and dt in _COMPLEX) or (int_ok and dt.kind in "biuc")
    if not ok:
        accepted = FLOAT_NAMES
        if complex_ok:
            accepted += " (or complex64, complex128)"
        if int_ok:
            accepted = "a float, complex, integer or bool dtype"
        raise TypeError(f"dtype must be {accepted}; got {dt}")
    return dt


def _check_shape(shape):
    return check_shape(shape, int_ok=True)  # JAX takes an int for a vector


class _Plan:
    """One call's work: ``fill(out, box, seed)`` writes the values of the full
    ``shape`` inside ``box`` into ``out`` (whose shape is the box's)."""

    constant = False

    def __init__(self, shape, dtype, fill):
        self.shape, self.dtype, self._fill = shape, dtype, fill
        # what JAX holds: float64 is computed, then rounded to float32 without x64
        self.out_dtype = _canonical(dtype)

    def fill(self, out, box, seed):
        """Write the values inside ``box`` into ``out`` (of dtype ``out_dtype``)."""
        if out.dtype == self.dtype:
            self._fill(out, box, seed)
        else:
            tmp = np.empty(out.shape, self.dtype)
            self._fill(tmp, box, seed)
            out[...] = tmp

    def host(self, seed):
        out = np.empty(self.shape, self.out_dtype)
        self.fill(out, [(0, n) for n in self.shape], seed)
        return out


class _ConstantPlan(_Plan):
    constant = True

    def __init__(self, shape, dtype, value):
        value = np.asarray(value)
        with np.errstate(over="ignore", invalid="ignore"):
            cast = value.astype(dtype)
        try:
            full = np.broadcast_to(cast, shape)
        except ValueError:
            raise ValueError(f"value of shape {value.shape} does not broadcast to "
                             f"shape {shape}") from None

        self.value = cast

        def fill(out, box, seed):
            out[...] = full[tuple(slice(a, b) for a, b in box)]
        super().__init__(shape, dtype, fill)


def _elementwise(dist, *params, negate=False):
    """``make(shape) -> fill(out, box, seed)`` of a real fastinit fill (``dist`` as
    :class:`~fastinit._core.PreparedFill` names it), by C-order offsets: the
    parameters are checked once per fill, then each contiguous run is written."""
    def make(shape):
        def fill(out, box, seed):
            prepared = None
            for view, offset in _runs(out, shape, box):
                if prepared is None:
                    prepared = PreparedFill(dist, view.dtype, *params, seed=seed)
                prepared(view, offset)
            if negate:
                np.negative(out, out=out)
        return fill
    return make


def _complex(make_real, shape, dtype, transform=None):
    """The fill of a complex array as its real view ``shape + (2,)``."""
    real_dtype = np.dtype(np.float32 if dtype == np.complex64 else np.float64)
    real_shape = shape + (2,)
    real_fill = make_real(real_shape)

    def fill(out, box, seed):
        view = out.view(real_dtype).reshape(out.shape + (2,)) if out.size else \
            np.empty(out.shape + (2,), real_dtype)
        real_fill(view, list(box) + [(0, 2)], seed)
        if transform is not None and out.size:
            transform(out, view)
    return fill


def _polar(radius):
    """Complex ``radius(u) * exp(2 pi i v)`` from the uniforms ``(u, v)`` of each element."""
    def transform(out, view):
        u, v = view[..., 0].copy(), view[..., 1].copy()
        out[...] = radius(u) * np.exp(1j * (2 * np.pi) * v)
    return transform


def _plan(key_shape, dtype, make, *, complex_make=None, complex_transform=None):
    if dtype in _COMPLEX:
        return _Plan(key_shape, dtype, _complex(complex_make or make, key_shape, dtype,
                                                complex_transform))
    return _Plan(key_shape, dtype, make(key_shape))


def zeros(key, shape, dtype=None, out_sharding=None):
    """zeros(key, shape, dtype=None, out_sharding=None) -> array

    An initializer returning an array of zeros (``key`` is ignored).

    >>> import fastinit.jax as fij
    >>> fij.zeros(0, (2, 3)).sum().item()
    0.0
    """
    plan = _ConstantPlan(_check_shape(shape), _check_dtype(dtype, int_ok=True), 0)
    return _bridge.run(plan, key, out_sharding)


def ones(key, shape, dtype=None, out_sharding=None):
    """ones(key, shape, dtype=None, out_sharding=None) -> array

    An initializer returning an array of ones (``key`` is ignored).

    >>> import fastinit.jax as fij
    >>> fij.ones(0, (3, 2)).sum().item()
    6.0
    """
    plan = _ConstantPlan(_check_shape(shape), _check_dtype(dtype, int_ok=True), 1)
    return _bridge.run(plan, key, out_sharding)


def constant(value, dtype=None):
    """constant(value, dtype=None) -> init

    Builds an initializer returning arrays full of ``value``.

    >>> import fastinit.jax as fij
    >>> fij.constant(-7)(0, (2, 3)).sum().item()
    -42.0
    """
    def init(key, shape, dtype=dtype, out_sharding=None):
        plan = _ConstantPlan(_check_shape(shape), _check_dtype(dtype, int_ok=True), value)
        return _bridge.run(plan, key, out_sharding)
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
        make = _elementwise("uniform", 0.0, abs(scale), negate=scale < 0)
        plan = _plan(_check_shape(shape), _check_dtype(dtype), make)
        return _bridge.run(plan, key, out_sharding)
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
        # complex: real and imaginary parts each N(0, stddev**2 / 2), as jax.random.normal
        plan = _plan(_check_shape(shape), _check_dtype(dtype, complex_ok=True),
                     _elementwise("normal", 0.0, abs(stddev)),
                     complex_make=_elementwise("normal", 0.0, abs(stddev) / math.sqrt(2)))
        return _bridge.run(plan, key, out_sharding)
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
        plan = _plan(_check_shape(shape), _check_dtype(dtype),
                     _elementwise("truncated_normal", 0.0, abs(stddev), a, b))
        return _bridge.run(plan, key, out_sharding)
    return init


def variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=(),
                     dtype=None):
    r"""variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=(),
                         dtype=None) -> init

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
    if mode not in MODES:
        raise ValueError(f"invalid mode for variance scaling initializer: {mode}; "
                         f"accepted: {', '.join(MODES)}")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"invalid distribution for variance scaling initializer: "
                         f"{distribution}; accepted: {', '.join(_DISTRIBUTIONS)}")
    scale = float(scale)

    def init(key, shape, dtype=dtype, out_sharding=None):
        shape = _check_shape(shape)
        dt = _check_dtype(dtype, complex_ok=True)
        fan_in, fan_out = compute_fans(shape, layout="jax", in_axis=in_axis,
                                       out_axis=out_axis, batch_axis=batch_axis)
        denominator = mode_fan(fan_in, fan_out, mode)
        if denominator == 0:
            raise ValueError(f"variance_scaling: mode {mode!r} gives n = 0 for shape {shape}")
        variance = scale / denominator
        complex_make = complex_transform = None
        if distribution == "truncated_normal":
            stddev = math.sqrt(variance) / TRUNCATED_NORMAL_STD_2
            make = _elementwise("truncated_normal", 0.0, stddev, -2.0, 2.0)
            # complex: modulus of a complex normal truncated to 2, uniform angle
            c_std = math.sqrt(variance) / COMPLEX_TRUNCATED_NORMAL_STD_2
            t = 1 - math.exp(-4.0)
            complex_make = _elementwise("uniform", 0.0, 1.0)
            complex_transform = _polar(lambda u: np.sqrt(-np.log1p(-t * u)) * c_std)
        elif distribution == "normal":
            make = _elementwise("normal", 0.0, math.sqrt(variance))
            complex_make = _elementwise("normal", 0.0, math.sqrt(variance / 2))
        else:
            limit = math.sqrt(3 * variance)
            make = _elementwise("uniform", -limit, limit)
            # complex: uniform on the disk of radius sqrt(2 variance)
            complex_make = _elementwise("uniform", 0.0, 1.0)
            complex_transform = _polar(lambda u: np.sqrt(2 * u) * math.sqrt(variance))
        plan = _plan(shape, dt, make, complex_make=complex_make,
                     complex_transform=complex_transform)
        return _bridge.run(plan, key, out_sharding)
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
        shape = _check_shape(shape)
        dt = _check_dtype(dtype)
        if len(shape) < 2:
            raise ValueError("orthogonal initializer requires at least a 2D shape")

        def fill(out, box, seed):  # the whole matrix, then the box (QR couples all)
            q = _orthogonal_array(seed, shape, scale, column_axis, dt)
            out[...] = q[tuple(slice(a, b) for a, b in box)]
        return _bridge.run(_Plan(shape, dt, fill), key, out_sharding)
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

        def fill(out, box, seed):
            w = np.zeros(shape, dt)
            if 0 not in shape:  # an empty array has no centre (JAX raises IndexError)
                ortho = _orthogonal_array(seed, shape[-2:], scale, column_axis, dt)
                w[tuple((k - 1) // 2 for k in shape[:-2])] = ortho
            out[...] = w[tuple(slice(a, b) for a, b in box)]
        return _bridge.run(_Plan(shape, dt, fill), key, out_sharding)
    return init
