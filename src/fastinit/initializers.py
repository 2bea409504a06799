"""Keras 3 initializers on fastinit's counter-based stream.

The classes here have the names, arguments, defaults and formulas of
``keras.initializers`` (Keras 3.15) and return NumPy arrays filled by
fastinit's compiled core. An initializer with seed ``s`` and stream ``k``
fills with ``seed=s, stream=k``, so each value is a pure function of
``(s, k, parameters, dtype, C-order flat index)``: the same for any thread
count or instruction set, on every call, and for any sub-block asked for with
``region=``.

Calling convention (all initializers)::

    init(shape, dtype=None, *, out=None, region=None) -> numpy.ndarray

* ``dtype``: float32 by default (or ``out.dtype``); NumPy dtypes, their names,
  Keras dtype strings and ``"bfloat16"`` are accepted. Sampled initializers
  support float16, bfloat16, float32 and float64; ``Zeros``, ``Ones``,
  ``Constant`` and ``Identity`` also integer and bool dtypes, as in Keras.
* ``out``: fill this preallocated array in place and return it. Its shape
  must be the shape of the result (the region's shape when ``region`` is
  given), else ``ValueError``; its dtype must be ``dtype``, else ``TypeError``.
* ``region``: a tuple of slices (step 1, Python's negative indices, missing
  trailing axes meaning whole axes); returns exactly ``init(shape)[region]``
  without computing the rest. Bounds outside the axis raise ``ValueError``.

Nothing is written to ``out`` when a call raises.

Seeds follow Keras 3: an instance returns the same values on every call for
the same shape and dtype. ``seed=None`` draws one seed from OS entropy at
construction, which the instance keeps using (``region=``, :meth:`clone`, Dask
chunks, diagnostics), but ``get_config()`` stores the seed *as given*: ``None``,
so an initializer rebuilt from the config (as Keras' ``MultiHeadAttention``
does for its query, key and value kernels) draws its own seed and differs. An
explicit seed is stored and repeats. Seeds may also be a
``numpy.random.Generator`` or ``SeedSequence`` (see :func:`fastinit.resolve_seed`;
the config stores the seed drawn from it), or a ``keras.random.SeedGenerator``:
then, as in Keras, each call draws a fresh fastinit seed from it, so calls
differ (region and Dask consistency need an int seed).

Keras interoperability: an instance is a valid ``kernel_initializer`` /
``bias_initializer`` for Keras 3 layers, and the classes are registered with
Keras serialization under ``"fastinit>ClassName"`` (see
:mod:`fastinit._keras_compat` for how this happens without importing Keras).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import numbers

import numpy as np

from . import _keras_compat
from ._core import (
    fill_normal,
    fill_truncated_normal,
    fill_uniform,
    resolve_seed,
    stream_id,
)
from .fans import _check_shape, compute_fans

try:
    import ml_dtypes as _ml_dtypes

    _BF16 = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is a dependency
    _BF16 = None

__all__ = [
    "STFT",
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "deserialize",
    "get",
    "register_keras",
    "serialize",
]

#: Standard deviation of the standard normal truncated to [-2, 2]; Keras and
#: JAX divide by it so that VarianceScaling's *truncated* samples have the
#: target variance.
TRUNCATED_STDDEV_CORRECTION = 0.87962566103423978

_TWO64 = 1 << 64
_FLOAT_DTYPES = tuple(
    d
    for d in (np.dtype(np.float16), _BF16, np.dtype(np.float32), np.dtype(np.float64))
    if d is not None
)
_FLOAT_NAMES = "float16, bfloat16, float32, float64"


# ---------------------------------------------------------------------------
# argument checks shared by all initializers


def _as_dtype(dtype) -> np.dtype:
    """A NumPy dtype from a dtype, a type, a name or a torch dtype."""
    if isinstance(dtype, np.dtype):
        return dtype
    name = dtype if isinstance(dtype, str) else None
    if name is None and type(dtype).__module__.startswith("torch"):
        name = str(dtype)  # "torch.float32"
    if name is not None:
        name = name.removeprefix("torch.")
        if name == "bfloat16":
            if _BF16 is None:  # pragma: no cover
                raise TypeError("dtype 'bfloat16' needs the ml_dtypes package")
            return _BF16
        if name == "half":
            name = "float16"
        dtype = name
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"dtype must be one of {_FLOAT_NAMES} (or a NumPy dtype); got {dtype!r}"
        ) from None


def _check_dtype(dtype, out, allow_int: bool) -> np.dtype:
    if out is not None and not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    if out is not None and not out.dtype.isnative:  # a wrong dtype stays a TypeError
        _check_dtype(dtype, out.view(out.dtype.newbyteorder("=")), allow_int)
        raise ValueError(f"out must be in native byte order; got dtype {out.dtype.str!r}")
    if dtype is None:
        dt = out.dtype if out is not None else np.dtype(np.float32)
    else:
        dt = _as_dtype(dtype)
    if dt not in _FLOAT_DTYPES and not (allow_int and dt.kind in "biu"):
        accepted = _FLOAT_NAMES + (", integer and bool dtypes" if allow_int else "")
        raise TypeError(f"dtype must be one of {accepted}; got {dt}")
    if out is not None and out.dtype != dt:
        raise TypeError(f"out must have dtype {dt}; got {out.dtype}")
    return dt


def _check_region(region, shape):
    """Normalize ``region`` to a list of (start, stop) pairs, one per axis."""
    if region is None:
        return [(0, n) for n in shape]
    if isinstance(region, slice):
        region = (region,)
    if not isinstance(region, (tuple, list)):
        raise TypeError(f"region must be a tuple of slices; got {type(region).__name__}")
    if len(region) > len(shape):
        raise ValueError(
            f"region has {len(region)} entries but shape {shape} has only {len(shape)} axes"
        )
    box = []
    for axis, n in enumerate(shape):
        sl = region[axis] if axis < len(region) else slice(None)
        if not isinstance(sl, slice):
            raise TypeError(
                f"region entries must be slices; entry {axis} is {sl!r} "
                f"(use slice(i, i + 1) for a single index)"
            )
        step = sl.step
        if step is not None and (
            isinstance(step, bool) or not isinstance(step, numbers.Integral) or step != 1
        ):
            raise ValueError(f"region steps must be 1 or None; entry {axis} has step {step!r}")
        bounds = []
        for value, default, what in ((sl.start, 0, "start"), (sl.stop, n, "stop")):
            if value is None:
                bounds.append(default)
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"region {what} must be an int or None; entry {axis} has {value!r}")
            value = int(value)
            index = value + n if value < 0 else value
            if not 0 <= index <= n:
                raise ValueError(
                    f"region {what} {value} is out of bounds for axis {axis} of size {n} "
                    f"(accepted: -{n} <= {what} <= {n})"
                )
            bounds.append(index)
        start, stop = bounds
        box.append((start, max(start, stop)))  # start > stop selects nothing, as in Python
    return box


def _check_out(out, result_shape):
    if tuple(out.shape) != result_shape:
        raise ValueError(f"out must have shape {result_shape}; got {tuple(out.shape)}")
    if not out.flags.writeable:
        raise ValueError("out must be writable; got a read-only array")
    if not out.dtype.isnative:
        raise ValueError(f"out must be in native byte order; got dtype {out.dtype.str!r}")


def _runs(out, shape, box):
    """Yield ``(view, offset)`` for each maximal contiguous run of the region.

    ``view`` is the part of ``out`` that holds the run and ``offset`` the
    C-order flat index, in the full ``shape``, of its first element. Axes from
    ``k`` on are covered whole, so each run spans axis ``k - 1`` partially and
    everything after it: one run per index of the leading ``k - 1`` axes.
    """
    if any(stop == start for start, stop in box):
        return
    k = len(shape)
    while k > 0 and box[k - 1] == (0, shape[k - 1]):
        k -= 1
    if k == 0:
        yield out, 0
        return
    strides = [math.prod(shape[i + 1 :]) for i in range(len(shape))]
    run_axis = k - 1
    base = box[run_axis][0] * strides[run_axis]
    lead = box[:run_axis]
    for index in itertools.product(*(range(start, stop) for start, stop in lead)):
        offset = base + sum(i * s for i, s in zip(index, strides))
        local = tuple(i - start for i, (start, _) in zip(index, lead))
        yield out[local], offset


def _check_real(value, name, *, finite=True):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond the double range, e.g. 10**400
        raise ValueError(
            f"{name} must be a finite real number; got a value beyond the float64 range"
        ) from None
    if finite and not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    return value


def _cast_scalar(value, dtype, name):
    """``value`` as a 0-d array of ``dtype``; ValueError if it overflows there."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            cast = np.asarray(value).astype(dtype)
        finite = math.isfinite(value)
    except OverflowError:  # a Python int beyond the float64 or C integer range
        shown = repr(value) if abs(value) < 10**30 else "an integer of more than 30 digits"
        raise ValueError(f"{name} must be representable in {dtype}; got {shown}") from None
    is_float = dtype.kind == "f" or dtype == _BF16  # ml_dtypes' bfloat16 has kind "V"
    if is_float and finite and not np.isfinite(cast.astype(np.float64)):
        raise ValueError(f"{name} {value!r} is not finite in {dtype}")
    return cast


def _check_seed(seed):
    """``(seed, generator)``: the 64-bit seed, or None and a Keras SeedGenerator."""
    if isinstance(seed, dict):
        gen = _keras_compat.deserialize_seed(seed)
        if gen is None:
            raise TypeError(
                "`seed` argument should be an instance of `keras.random.SeedGenerator()` "
                "or an integer: a dict seed must be a serialized keras.random.SeedGenerator "
                f"(with Keras loaded); got {seed!r}"
            )
        return None, gen
    if _keras_compat.is_seed_generator(seed):
        return None, seed
    return resolve_seed(seed), None


def _check_stream(stream):
    if isinstance(stream, str):
        return stream_id(stream)
    if isinstance(stream, (bool, np.bool_)) or not isinstance(stream, numbers.Integral):
        raise TypeError(f"stream must be an int in [0, 2**64) or a str; got {stream!r}")
    stream = int(stream)
    if not 0 <= stream < _TWO64:
        raise ValueError(f"stream must be in [0, 2**64); got {stream}")
    return stream


def _check_axes_arg(axes, name):
    if axes is None:
        return None
    if isinstance(axes, numbers.Integral) and not isinstance(axes, bool):
        axes = [axes]
    try:
        items = list(axes)
    except TypeError:
        raise TypeError(f"{name} must be None or a list of ints; got {axes!r}") from None
    for ax in items:
        if isinstance(ax, bool) or not isinstance(ax, numbers.Integral):
            raise TypeError(f"{name} must be None or a list of ints; got {axes!r}")
    return [int(ax) for ax in items]


# ---------------------------------------------------------------------------
# base classes


class Initializer:
    """Base class of fastinit's Keras-compatible initializers.

    Subclasses implement ``_fill(out, shape, box)``, which writes the values
    of ``init(shape)`` inside the box ``[(start, stop), ...]`` into ``out``
    (whose shape is the box's), and ``_prepare(shape, dtype)``, which checks
    everything that can fail before anything is written.

    Examples
    --------
    >>> import numpy as np
    >>> import fastinit
    >>> init = fastinit.initializers.Ones()
    >>> init((2, 3), dtype="float16")
    array([[1., 1., 1.],
           [1., 1., 1.]], dtype=float16)
    >>> buf = np.empty((2, 3), np.float32)
    >>> init((2, 3), out=buf) is buf
    True
    """

    #: whether integer and bool dtypes are accepted
    _allow_int = False

    def __call__(self, shape, dtype=None, *, out=None, region=None):
        """init(shape, dtype=None, *, out=None, region=None) -> numpy.ndarray

        Values of this initializer for a tensor of ``shape``.

        Parameters
        ----------
        shape : tuple of int
            The full tensor's shape (non-negative Python or NumPy ints).
        dtype : dtype-like, optional
            float32 by default, or ``out.dtype`` when ``out`` is given.
        out : numpy.ndarray, optional
            Preallocated array to fill in place (shape of the result, dtype
            ``dtype``); returned.
        region : tuple of slice, optional
            Return ``init(shape)[region]`` without computing the rest.

        Returns
        -------
        numpy.ndarray
        """
        shape = _check_shape(shape)
        dt = _check_dtype(dtype, out, self._allow_int)
        box = _check_region(region, shape)
        result_shape = tuple(stop - start for start, stop in box)
        if out is not None:
            _check_out(out, result_shape)
        prepared = self._prepare(shape, dt)
        if out is None:
            out = np.empty(result_shape, dt)
        self._fill(out, shape, box, prepared)
        return out

    def _prepare(self, shape, dtype):
        """Validate for ``shape``/``dtype``; return what ``_fill`` needs."""
        return

    def _fill(self, out, shape, box, prepared):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        """The constructor arguments, as a JSON-serializable dict."""
        _keras_compat.register_with_keras()
        return {}

    @classmethod
    def from_config(cls, config: dict):
        """Instantiate from the output of :meth:`get_config`.

        Examples
        --------
        >>> from fastinit.initializers import GlorotUniform
        >>> a = GlorotUniform(seed=7)
        >>> b = GlorotUniform.from_config(a.get_config())
        >>> bool((a((3, 4)) == b((3, 4))).all())
        True
        """
        return cls(**config)

    def _full_config(self) -> dict:
        """``get_config()`` with the seed this instance drew (rebuilds the same values)."""
        return self.get_config()

    def clone(self):
        """A new instance with the same values: same configuration and, for an
        unseeded initializer, the seed this one drew (``from_config(get_config())``,
        as Keras layers clone, draws a new seed instead)."""
        return self.__class__.from_config(self._full_config())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _RandomInitializer(Initializer):
    """An initializer drawing from the stream ``(seed, stream)``."""

    def __init__(self, seed=None, *, stream=0):
        resolved, generator = _check_seed(seed)
        self._generator = generator
        # Keras' `self.seed`: the int used (drawn once for seed=None) or the SeedGenerator.
        self.seed = generator if generator is not None else resolved
        # What get_config() stores: the seed as given (None stays None).
        self._init_seed = None if seed is None else self.seed
        self.stream = _check_stream(stream)

    def _call_seed(self):
        """The fastinit seed of one call: a fresh draw from a SeedGenerator, else ``seed``."""
        if self._generator is not None:
            return _keras_compat.draw_seed(self._generator)
        return self.seed

    def _filler(self, shape):
        """Return ``fill(view, offset)`` for a tensor of ``shape``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _prepare(self, shape, dtype):
        size = math.prod(shape)
        if size > _TWO64:
            # Flat C-order indices are the stream's 64-bit offsets: refuse up
            # front rather than from the fill of a later run, after earlier
            # runs have been written into ``out``.
            raise ValueError(
                f"shape {shape} has {size} elements; random initializers accept at most "
                "2**64 (flat indices are 64-bit stream offsets)"
            )
        fill = self._filler(shape)
        # An empty fill validates the parameters for this dtype (finite in
        # float16, say) before a single element is written.
        fill(np.empty(0, dtype), 0)
        return fill

    def _fill(self, out, shape, box, fill):
        for view, offset in _runs(out, shape, box):
            fill(view, offset)

    def get_config(self):
        config = super().get_config()
        seed = self._init_seed
        if self._generator is not None:
            seed = _keras_compat.serialize_seed(self._generator)
        config["seed"] = seed
        if self.stream:
            # Left out at its default 0, so that the config is Keras' own and a
            # .keras file loads where fastinit is not imported (with Keras'
            # class of the same name; see docs/migrating-from-keras.md).
            config["stream"] = self.stream
        return config

    def _full_config(self):
        config = self.get_config()
        if self._generator is None:
            config["seed"] = self.seed
        return config


# ---------------------------------------------------------------------------
# constant initializers


class Zeros(Initializer):
    r"""Zeros()

    Initializer that generates tensors initialized to 0: :math:`w = 0`.

    Examples
    --------
    >>> from fastinit.initializers import Zeros
    >>> Zeros()((2, 2))
    array([[0., 0.],
           [0., 0.]], dtype=float32)
    """

    _allow_int = True

    def _fill(self, out, shape, box, prepared):
        out[...] = 0


class Ones(Initializer):
    r"""Ones()

    Initializer that generates tensors initialized to 1: :math:`w = 1`.

    Examples
    --------
    >>> from fastinit.initializers import Ones
    >>> w = Ones()((3,), dtype="bfloat16")
    >>> w.dtype.name, w.astype("float32").tolist()
    ('bfloat16', [1.0, 1.0, 1.0])
    """

    _allow_int = True

    def _fill(self, out, shape, box, prepared):
        out[...] = 1


class Constant(Initializer):
    r"""Constant(value=0.0)

    Initializer that generates tensors with a constant value:
    :math:`w = \mathrm{value}`, a scalar or, as in Keras 3.15, an array
    broadcast to the shape (Keras computes ``cast(value) * ones(shape)``).

    Parameters
    ----------
    value : int, float, bool or array_like
        The value, cast to the requested dtype. An array (a NumPy array, a
        nested list, a backend tensor) must broadcast to every shape asked
        for, else ``ValueError``; ``get_config()`` stores it as a nested list.

    Examples
    --------
    >>> from fastinit.initializers import Constant
    >>> Constant(0.5)((2, 3))
    array([[0.5, 0.5, 0.5],
           [0.5, 0.5, 0.5]], dtype=float32)
    >>> Constant([1, 2, 3])((2, 3), "int32")
    array([[1, 2, 3],
           [1, 2, 3]], dtype=int32)
    """

    _allow_int = True

    def __init__(self, value=0.0):
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":
            value = value["config"]["value"]  # Keras' serialized NumPy array
        if not isinstance(value, (numbers.Real, np.generic, np.ndarray, list, tuple)):
            value = _keras_compat.to_numpy(value)  # a backend tensor
        if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
            value = value.item()
        if isinstance(value, (list, tuple, np.ndarray)):
            array = np.asarray(value)
            if array.dtype.kind not in "biuf" and array.dtype != _BF16:
                raise TypeError(f"value must be real numbers; got an array of {array.dtype}")
            value = array.astype(np.float64) if array.dtype == _BF16 else array.copy()
            value.flags.writeable = False
            if value.ndim == 0:
                value = value.item()
        if not isinstance(value, (numbers.Real, np.ndarray)):
            raise TypeError(
                f"value must be a real scalar (int, float or bool) or an array; got {value!r}"
            )
        self.value = value

    def _prepare(self, shape, dtype):
        if not isinstance(self.value, np.ndarray):
            return _cast_scalar(self.value, dtype, "value")
        try:
            np.broadcast_shapes(self.value.shape, shape)
            full = np.broadcast_to(self.value, shape)
        except ValueError:
            raise ValueError(
                f"value of shape {self.value.shape} does not broadcast to shape {shape}"
            ) from None
        with np.errstate(over="ignore", invalid="ignore"):
            cast = self.value.astype(dtype)
        is_float = dtype.kind == "f" or dtype == _BF16
        if is_float and not np.array_equal(
            np.isfinite(cast.astype(np.float64)), np.isfinite(self.value.astype(np.float64))
        ):
            raise ValueError(f"value has entries that are not finite in {dtype}")
        return np.broadcast_to(cast, full.shape)

    def _fill(self, out, shape, box, value):
        if isinstance(value, np.ndarray) and value.ndim:
            value = value[tuple(slice(a, b) for a, b in box)]
        out[...] = value

    def get_config(self):
        config = super().get_config()
        value = self.value
        config["value"] = value.tolist() if isinstance(value, np.ndarray) else value
        return config


class Identity(Initializer):
    r"""Identity(gain=1.0)

    Initializer that generates the (possibly rectangular) identity matrix
    times ``gain``: :math:`w_{ij} = \mathrm{gain}\,\delta_{ij}`. Only 2-D shapes.

    Parameters
    ----------
    gain : float
        Multiplicative factor applied to the identity matrix.

    Examples
    --------
    >>> from fastinit.initializers import Identity
    >>> Identity(gain=2.0)((2, 3))
    array([[2., 0., 0.],
           [0., 2., 0.]], dtype=float32)
    """

    _allow_int = True

    def __init__(self, gain=1.0):
        self.gain = _check_real(gain, "gain")

    def _prepare(self, shape, dtype):
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices; "
                f"got shape {shape} of rank {len(shape)}"
            )
        return _cast_scalar(self.gain, dtype, "gain")

    def _fill(self, out, shape, box, gain):
        out[...] = 0
        (r0, r1), (c0, c1) = box
        lo, hi = max(r0, c0), min(r1, c1)  # diagonal entries (i, i) inside the box
        if lo < hi:
            i = np.arange(lo, hi)
            out[i - r0, i - c0] = gain

    def get_config(self):
        config = super().get_config()
        config["gain"] = self.gain
        return config


def _cosine_window(coefficients, n, periodic):
    # scipy.signal.windows.general_cosine, the same operations in the same
    # order, so hann/hamming/blackman match SciPy bit for bit without SciPy.
    if n <= 1:
        return np.ones(n)
    m = n + 1 if periodic else n
    fac = np.linspace(-np.pi, np.pi, m)
    w = np.zeros(m)
    for k, a in enumerate(coefficients):
        w += a * np.cos(k * fac)
    return w[:-1] if periodic else w


_NUMPY_WINDOWS = {
    "hann": (0.5, 0.5),
    "hamming": (0.54, 1.0 - 0.54),  # SciPy's general_hamming(0.54), not 0.46
    "blackman": (0.42, 0.50, 0.08),
    "boxcar": (1.0,),
}


def _get_window(window, n, periodic):
    try:
        import scipy.signal
    except ImportError:
        if isinstance(window, str) and window in _NUMPY_WINDOWS:
            return _cosine_window(_NUMPY_WINDOWS[window], n, periodic)
        raise ImportError(
            f"STFT window {window!r} needs SciPy (without it: "
            + ", ".join(sorted(_NUMPY_WINDOWS))
            + ")"
        ) from None
    return np.asarray(scipy.signal.get_window(window, n, fftbins=periodic), np.float64)


class STFT(Initializer):
    r"""STFT(side="real", window="hann", scaling="density", periodic=False)

    Initializer of Conv1D kernels computing a short-time Fourier transform, as
    ``keras.initializers.STFT`` (used by ``STFTSpectrogram``).

    For a kernel of shape ``(T, C, F)`` (frame length, input channels,
    frequency bins ``F = n_fft // 2 + 1``), with :math:`N = 2(F - 1)`:

    .. math::

        w_{t,c,f} = \frac{\mathrm{win}_t}{s}\,
                    \{\cos,\ \sin\}\!\left(-2\pi\,\frac{t f}{N}\right)

    (``cos`` for ``side="real"``, ``sin`` for ``side="imag"``), where
    :math:`s = \sqrt{\sum_t \mathrm{win}_t^2}` for ``scaling="density"``,
    :math:`s = \sum_t |\mathrm{win}_t|` for ``"spectrum"`` and 1 for ``None``.
    Values are computed in float64 and rounded once to the dtype (Keras
    computes in the dtype, so float32 results may differ from Keras' in the
    last bits). The kernel is the same for every input channel ``c`` (Keras
    returns ``(T, 1, F)`` whatever ``C``).

    Parameters
    ----------
    side : {"real", "imag"}
        Real or imaginary part of the transform.
    window : str, tuple, array_like or None
        A ``scipy.signal.get_window`` name or ``(name, *params)`` spec
        (``"hann"``, ``"hamming"``, ``"blackman"`` and ``"boxcar"`` also work
        without SciPy, with SciPy's values bit for bit), window values of
        length ``T``, or None for no window.
    scaling : {"density", "spectrum", None}
        Normalization of the window.
    periodic : bool
        Periodic (``fftbins=True``) rather than symmetric window.

    Examples
    --------
    >>> from fastinit.initializers import STFT
    >>> k = STFT(window=None, scaling=None)((4, 1, 3), dtype="float64")
    >>> k[:, 0, :].round(6)
    array([[ 1.,  1.,  1.],
           [ 1.,  0., -1.],
           [ 1., -1.,  1.],
           [ 1., -0., -1.]])
    """

    _SIDES = ("imag", "real")
    _SCALINGS = ("density", "spectrum")

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in self._SIDES:
            raise ValueError(f"side must be one of 'imag', 'real'; got {side!r}")
        if scaling is not None and scaling not in self._SCALINGS:
            raise ValueError(f"scaling must be None, 'density' or 'spectrum'; got {scaling!r}")
        if isinstance(window, (tuple, list)) and window and isinstance(window[0], str):
            window = list(window)  # a SciPy spec with parameters: ["kaiser", 8.0]
        if isinstance(window, (str, list)) and window and isinstance(window[0], str):
            _get_window(window if isinstance(window, str) else tuple(window), 1, bool(periodic))
        elif window is not None:
            window = [float(v) for v in np.asarray(window, np.float64).reshape(-1)]
        self.side = side
        self.window = window
        self.scaling = scaling
        self.periodic = bool(periodic)

    def _prepare(self, shape, dtype):
        if len(shape) != 3:
            raise ValueError(f"STFT kernels have shape (frame_length, channels, bins); got {shape}")
        frame_length, _, bins = shape
        if bins < 2:
            raise ValueError(f"STFT kernels need at least 2 frequency bins; got shape {shape}")
        win = None
        scale = 1.0
        if self.window is not None:
            if isinstance(self.window, str):
                win = _get_window(self.window, frame_length, self.periodic)
            elif self.window and isinstance(self.window[0], str):
                win = _get_window(tuple(self.window), frame_length, self.periodic)
            else:
                win = np.asarray(self.window, np.float64)
            if win.shape != (frame_length,):
                raise ValueError(
                    f"window must have length {frame_length} (the frame length); got {win.shape[0]}"
                )
            if self.scaling == "density":
                scale = math.sqrt(float(np.sum(np.square(win))))
            elif self.scaling == "spectrum":
                scale = float(np.sum(np.abs(win)))
        return win, scale

    def _fill(self, out, shape, box, prepared):
        win, scale = prepared
        (t0, t1), _, (f0, f1) = box
        t = np.arange(t0, t1, dtype=np.float64)[:, None]
        f = np.arange(f0, f1, dtype=np.float64)[None, :]
        args = -2.0 * t * (f / (2 * (shape[2] - 1))) * np.pi
        kernel = np.cos(args) if self.side == "real" else np.sin(args)
        if win is not None:
            kernel = kernel * win[t0:t1, None] / scale
        out[...] = kernel[:, None, :].astype(out.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            side=self.side, window=self.window, periodic=self.periodic, scaling=self.scaling
        )
        return config


# ---------------------------------------------------------------------------
# random initializers


class RandomUniform(_RandomInitializer):
    r"""RandomUniform(minval=-0.05, maxval=0.05, seed=None, *, stream=0)

    Samples of :math:`U[\mathrm{minval}, \mathrm{maxval})`.

    Parameters
    ----------
    minval, maxval : float
        Bounds of the interval.
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        ``None`` draws a seed once, at construction.
    stream : int or str
        Stream of the Philox generator (a str is hashed by :func:`fastinit.stream_id`).

    Examples
    --------
    >>> from fastinit.initializers import RandomUniform
    >>> init = RandomUniform(-1.0, 1.0, seed=0)
    >>> w = init((256, 256))
    >>> bool((w >= -1).all() and (w < 1).all()), bool((w == init((256, 256))).all())
    (True, True)
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None, *, stream=0):
        self.minval = _check_real(minval, "minval")
        self.maxval = _check_real(maxval, "maxval")
        if self.minval > self.maxval:
            raise ValueError(
                f"minval must be <= maxval; got minval={self.minval}, maxval={self.maxval}"
            )
        super().__init__(seed, stream=stream)

    def _filler(self, shape):
        low, high, seed, stream = self.minval, self.maxval, self._call_seed(), self.stream
        return lambda view, offset: fill_uniform(
            view, low, high, seed=seed, stream=stream, offset=offset
        )

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class RandomNormal(_RandomInitializer):
    r"""RandomNormal(mean=0.0, stddev=0.05, seed=None, *, stream=0)

    Samples of :math:`\mathcal N(\mathrm{mean}, \mathrm{stddev}^2)`.

    Parameters
    ----------
    mean, stddev : float
        Mean and standard deviation (``stddev >= 0``).
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        ``None`` draws a seed once, at construction.
    stream : int or str
        Stream of the Philox generator.

    Examples
    --------
    >>> from fastinit.initializers import RandomNormal
    >>> w = RandomNormal(mean=1.0, stddev=0.5, seed=0)((512, 512))
    >>> round(float(w.mean()), 1), round(float(w.std()), 1)
    (1.0, 0.5)
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None, *, stream=0):
        self.mean = _check_real(mean, "mean")
        self.stddev = _check_real(stddev, "stddev")
        if self.stddev < 0:
            raise ValueError(f"stddev must be >= 0; got {self.stddev}")
        super().__init__(seed, stream=stream)

    def _filler(self, shape):
        mean, std, seed, stream = self.mean, self.stddev, self._call_seed(), self.stream
        return lambda view, offset: fill_normal(
            view, mean, std, seed=seed, stream=stream, offset=offset
        )

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(_RandomInitializer):
    r"""TruncatedNormal(mean=0.0, stddev=0.05, seed=None, *, stream=0)

    Samples of :math:`\mathcal N(\mathrm{mean}, \mathrm{stddev}^2)` conditioned
    on :math:`|w - \mathrm{mean}| \le 2\,\mathrm{stddev}` (Keras' truncation).
    ``stddev`` is that of the normal *before* truncation: the samples' standard
    deviation is :math:`0.8796\ldots\times\mathrm{stddev}`.

    Parameters
    ----------
    mean, stddev : float
        Mean and standard deviation before truncation (``stddev >= 0``).
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        ``None`` draws a seed once, at construction.
    stream : int or str
        Stream of the Philox generator.

    Examples
    --------
    >>> from fastinit.initializers import TruncatedNormal
    >>> w = TruncatedNormal(stddev=1.0, seed=0)((100_000,))
    >>> bool(abs(w).max() <= 2.0)
    True
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None, *, stream=0):
        self.mean = _check_real(mean, "mean")
        self.stddev = _check_real(stddev, "stddev")
        if self.stddev < 0:
            raise ValueError(f"stddev must be >= 0; got {self.stddev}")
        super().__init__(seed, stream=stream)

    def _filler(self, shape):
        mean, std, seed, stream = self.mean, self.stddev, self._call_seed(), self.stream
        return lambda view, offset: fill_truncated_normal(
            view, mean, std, -2.0, 2.0, seed=seed, stream=stream, offset=offset
        )

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class VarianceScaling(_RandomInitializer):
    r"""VarianceScaling(scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                    input_axes=None, output_axes=None, *, stream=0)

    Initializer whose scale adapts to the shape of the weights (Keras 3).

    With :math:`n` = ``fan_in``, ``fan_out`` or :math:`(\mathrm{fan\_in} +
    \mathrm{fan\_out})/2` by ``mode`` (fans of :func:`fastinit.compute_fans`,
    Keras layout), and :math:`\sigma^2 = \mathrm{scale} / \max(1, n)`:

    * ``"truncated_normal"`` (also ``"normal"``, as in Keras): normal with
      standard deviation :math:`\sigma / 0.87962566103423978` truncated to
      :math:`\pm 2` of it, so the samples have standard deviation
      :math:`\sigma` (0.8796... is the standard deviation of a standard normal
      truncated to [-2, 2]);
    * ``"untruncated_normal"``: :math:`\mathcal N(0, \sigma^2)`;
    * ``"uniform"``: :math:`U[-\ell, \ell)` with :math:`\ell = \sqrt{3}\,\sigma`.

    Parameters
    ----------
    scale : float
        Positive scaling factor.
    mode : {"fan_in", "fan_out", "fan_avg"}
    distribution : {"truncated_normal", "untruncated_normal", "uniform", "normal"}
        Case-insensitive; stored lower-case with ``"normal"`` mapped to
        ``"truncated_normal"``.
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        ``None`` draws a seed once, at construction.
    input_axes, output_axes : list of int, optional
        Axes whose sizes multiply into fan-in and fan-out (used only when both
        are given, as in Keras).
    stream : int or str
        Stream of the Philox generator.

    Examples
    --------
    >>> from fastinit.initializers import VarianceScaling
    >>> init = VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform", seed=0)
    >>> w = init((3, 3, 64, 128))       # fan_in = 3 * 3 * 64 = 576
    >>> limit = (3 * 2.0 / 576) ** 0.5
    >>> bool(abs(w).max() <= limit), round(float(w.std() / (2.0 / 576) ** 0.5), 2)
    (True, 1.0)
    """

    _MODES = ("fan_avg", "fan_in", "fan_out")
    _DISTRIBUTIONS = ("normal", "truncated_normal", "uniform", "untruncated_normal")

    def __init__(
        self,
        scale=1.0,
        mode="fan_in",
        distribution="truncated_normal",
        seed=None,
        input_axes=None,
        output_axes=None,
        *,
        stream=0,
    ):
        scale = _check_real(scale, "scale", finite=False)
        if not scale > 0 or math.isinf(scale):
            raise ValueError(
                f"Argument `scale` must be positive float. Received: scale={scale} "
                "(a positive finite number)"
            )
        if mode not in self._MODES:
            raise ValueError(
                f"Invalid `mode` argument: {mode}. Please use one of "
                + ", ".join(repr(m) for m in self._MODES)
            )
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        if dist not in self._DISTRIBUTIONS:
            raise ValueError(
                f"Invalid `distribution` argument: {distribution}. Please use one of "
                + ", ".join(repr(d) for d in self._DISTRIBUTIONS)
            )
        if dist == "normal":
            dist = "truncated_normal"
        self.scale = scale
        self.mode = mode
        self.distribution = dist
        self.input_axes = _check_axes_arg(input_axes, "input_axes")
        self.output_axes = _check_axes_arg(output_axes, "output_axes")
        super().__init__(seed, stream=stream)

    def _scale(self, shape):
        """Keras' ``scale / max(1, n)``: the variance of the samples."""
        fan_in, fan_out = compute_fans(
            shape, layout="keras", input_axes=self.input_axes, output_axes=self.output_axes
        )
        scale = self.scale
        if self.mode == "fan_in":
            scale /= max(1.0, fan_in)
        elif self.mode == "fan_out":
            scale /= max(1.0, fan_out)
        else:
            scale /= max(1.0, (fan_in + fan_out) / 2.0)
        return scale

    def _filler(self, shape):
        scale = self._scale(shape)
        seed, stream = self._call_seed(), self.stream
        if self.distribution == "truncated_normal":
            std = math.sqrt(scale) / TRUNCATED_STDDEV_CORRECTION
            return lambda view, offset: fill_truncated_normal(
                view, 0.0, std, -2.0, 2.0, seed=seed, stream=stream, offset=offset
            )
        if self.distribution == "untruncated_normal":
            std = math.sqrt(scale)
            return lambda view, offset: fill_normal(
                view, 0.0, std, seed=seed, stream=stream, offset=offset
            )
        limit = math.sqrt(3.0 * scale)
        return lambda view, offset: fill_uniform(
            view, -limit, limit, seed=seed, stream=stream, offset=offset
        )

    def get_config(self):
        base = super().get_config()
        config = {
            "seed": base["seed"],
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }
        if "stream" in base:
            config["stream"] = base["stream"]
        return config


class _VarianceScalingPreset(VarianceScaling):
    """A VarianceScaling with fixed scale, mode and distribution."""

    _preset: tuple[float, str, str]

    def __init__(self, seed=None, input_axes=None, output_axes=None, *, stream=0):
        scale, mode, distribution = self._preset
        super().__init__(
            scale=scale,
            mode=mode,
            distribution=distribution,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
            stream=stream,
        )

    def get_config(self):
        config = super().get_config()
        return {
            key: config[key]
            for key in ("seed", "input_axes", "output_axes", "stream")
            if key in config
        }


_PRESET_PARAMS = """
    Parameters
    ----------
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        ``None`` draws a seed once, at construction.
    input_axes, output_axes : list of int, optional
        Axes whose sizes multiply into fan-in and fan-out (both or neither).
    stream : int or str
        Stream of the Philox generator."""


class GlorotUniform(_VarianceScalingPreset):
    r"""GlorotUniform(seed=None, input_axes=None, output_axes=None, *, stream=0)

    The Glorot (Xavier) uniform initializer: :math:`U[-\ell, \ell)` with
    :math:`\ell = \sqrt{6 / (\mathrm{fan\_in} + \mathrm{fan\_out})}`;
    ``VarianceScaling(1.0, "fan_avg", "uniform")``. Glorot & Bengio (2010).
    Also known as ``"xavier_uniform"``.
    {params}

    Examples
    --------
    >>> from fastinit.initializers import GlorotUniform
    >>> w = GlorotUniform(seed=0)((300, 500))
    >>> bool(abs(w).max() <= (6 / 800) ** 0.5)
    True
    """

    _preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_VarianceScalingPreset):
    r"""GlorotNormal(seed=None, input_axes=None, output_axes=None, *, stream=0)

    The Glorot (Xavier) normal initializer: truncated normal (±2 of its
    parameter) with standard deviation
    :math:`\sqrt{2 / (\mathrm{fan\_in} + \mathrm{fan\_out})}` after truncation;
    ``VarianceScaling(1.0, "fan_avg", "truncated_normal")``. Glorot & Bengio (2010).
    {params}

    Examples
    --------
    >>> from fastinit.initializers import GlorotNormal
    >>> w = GlorotNormal(seed=0)((300, 500))
    >>> round(float(w.std() / (2 / 800) ** 0.5), 2)
    1.0
    """

    _preset = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_VarianceScalingPreset):
    r"""HeUniform(seed=None, input_axes=None, output_axes=None, *, stream=0)

    The He (Kaiming) uniform initializer: :math:`U[-\ell, \ell)` with
    :math:`\ell = \sqrt{6 / \mathrm{fan\_in}}`;
    ``VarianceScaling(2.0, "fan_in", "uniform")``. He et al. (2015).
    Also known as ``"kaiming_uniform"``.
    {params}

    Examples
    --------
    >>> from fastinit.initializers import HeUniform
    >>> w = HeUniform(seed=0)((3, 3, 16, 32))
    >>> bool(abs(w).max() <= (6 / 144) ** 0.5)
    True
    """

    _preset = (2.0, "fan_in", "uniform")


class HeNormal(_VarianceScalingPreset):
    r"""HeNormal(seed=None, input_axes=None, output_axes=None, *, stream=0)

    The He (Kaiming) normal initializer: truncated normal with standard
    deviation :math:`\sqrt{2 / \mathrm{fan\_in}}` after truncation;
    ``VarianceScaling(2.0, "fan_in", "truncated_normal")``. He et al. (2015).
    {params}

    Examples
    --------
    >>> from fastinit.initializers import HeNormal
    >>> w = HeNormal(seed=0)((3, 3, 64, 128))
    >>> round(float(w.std() / (2 / 576) ** 0.5), 2)
    1.0
    """

    _preset = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_VarianceScalingPreset):
    r"""LecunUniform(seed=None, input_axes=None, output_axes=None, *, stream=0)

    The LeCun uniform initializer: :math:`U[-\ell, \ell)` with
    :math:`\ell = \sqrt{3 / \mathrm{fan\_in}}`;
    ``VarianceScaling(1.0, "fan_in", "uniform")``. Klambauer et al. (2017).
    {params}

    Examples
    --------
    >>> from fastinit.initializers import LecunUniform
    >>> w = LecunUniform(seed=0)((300, 100))
    >>> bool(abs(w).max() <= 0.1)
    True
    """

    _preset = (1.0, "fan_in", "uniform")


class LecunNormal(_VarianceScalingPreset):
    r"""LecunNormal(seed=None, input_axes=None, output_axes=None, *, stream=0)

    The LeCun normal initializer: truncated normal with standard deviation
    :math:`\sqrt{1 / \mathrm{fan\_in}}` after truncation;
    ``VarianceScaling(1.0, "fan_in", "truncated_normal")``. Klambauer et al. (2017).
    {params}

    Examples
    --------
    >>> from fastinit.initializers import LecunNormal
    >>> w = LecunNormal(seed=0)((400, 300))
    >>> round(float(w.std() * 400 ** 0.5), 2)
    1.0
    """

    _preset = (1.0, "fan_in", "truncated_normal")


for _cls in (GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal):
    if _cls.__doc__ is not None:  # None under ``python -OO``
        _cls.__doc__ = _cls.__doc__.replace("{params}", _PRESET_PARAMS)
del _cls


class Orthogonal(_RandomInitializer):
    r"""Orthogonal(gain=1.0, seed=None, *, stream=0)

    Initializer that generates a (semi-)orthogonal matrix, Saxe et al. (2014).

    The shape is flattened to a matrix of :math:`r = \prod \mathrm{shape}[:-1]`
    rows and :math:`c = \mathrm{shape}[-1]` columns (as Keras does for conv
    kernels). A Gaussian matrix :math:`A` of shape :math:`(\max(r, c),
    \min(r, c))` is drawn with :func:`fastinit.fill_normal` (seed and stream
    of the initializer, in float64 whatever the dtype), factored
    :math:`A = QR` (``numpy.linalg.qr``, float64), and the sign of each
    column of :math:`Q` fixed by the sign of :math:`R`'s diagonal, which makes
    :math:`Q` Haar-distributed. The result is
    :math:`\mathrm{gain}\cdot Q` (:math:`Q^\top` when :math:`r < c`) reshaped
    to ``shape`` and rounded once to the dtype, so columns (rows when
    :math:`r < c`) are orthonormal times ``gain``.

    ``region=`` is supported, but the whole matrix is computed first (the QR
    factorization couples all entries); only the requested block is copied
    out.

    Parameters
    ----------
    gain : float
        Multiplicative factor applied to the orthogonal matrix.
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        ``None`` draws a seed once, at construction.
    stream : int or str
        Stream of the Philox generator.

    Examples
    --------
    >>> import numpy as np
    >>> from fastinit.initializers import Orthogonal
    >>> q = Orthogonal(gain=2.0, seed=0)((64, 32), dtype="float64")
    >>> bool(np.allclose(q.T @ q, 4.0 * np.eye(32)))
    True
    """

    def __init__(self, gain=1.0, seed=None, *, stream=0):
        self.gain = _check_real(gain, "gain")
        super().__init__(seed, stream=stream)

    def _prepare(self, shape, dtype):
        if len(shape) < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional; "
                f"got shape {shape} of rank {len(shape)}"
            )
        _cast_scalar(self.gain, dtype, "gain")

    def matrix(self, shape):
        """The float64 result for ``shape`` (before rounding to the dtype)."""
        rows = math.prod(shape[:-1])
        cols = shape[-1]
        if rows == 0 or cols == 0:
            return np.zeros(shape)
        a = np.empty((max(rows, cols), min(rows, cols)), np.float64)
        fill_normal(a, 0.0, 1.0, seed=self._call_seed(), stream=self.stream)
        q, r = np.linalg.qr(a)
        # Multiply each column by the sign of R's diagonal (a zero counts as
        # +1), so that Q does not depend on the QR implementation's convention.
        q *= np.where(np.diagonal(r) < 0, -1.0, 1.0)
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def _fill(self, out, shape, box, prepared):
        full = self.matrix(shape)
        # one rounding pass straight into out (no intermediate cast copy)
        np.copyto(out, full[tuple(slice(a, b) for a, b in box)], casting="unsafe")

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


# ---------------------------------------------------------------------------
# names, get, serialize

_CLASSES = (
    Zeros,
    Ones,
    Constant,
    RandomUniform,
    RandomNormal,
    TruncatedNormal,
    VarianceScaling,
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
    Orthogonal,
    Identity,
    STFT,
)


def _snake(name):
    # Keras' to_snake_case for these class names.
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


# torch's normal-distribution schemes: VarianceScaling with its first arguments fixed
_xavier_normal = functools.partial(VarianceScaling, 1.0, "fan_avg", "untruncated_normal")
_kaiming_normal = functools.partial(VarianceScaling, 2.0, "fan_in", "untruncated_normal")
_Factory = type[Initializer] | functools.partial[VarianceScaling]


#: Every accepted name -> class or factory (called with the config's kwargs).
_REGISTRY: dict[str, _Factory] = {cls.__name__: cls for cls in _CLASSES}
_REGISTRY.update({_snake(cls.__name__): cls for cls in _CLASSES})
_REGISTRY.update(
    {
        # Keras' own aliases
        "IdentityInitializer": Identity,
        "OrthogonalInitializer": Orthogonal,
        "STFTInitializer": STFT,
        "normal": RandomNormal,
        "uniform": RandomUniform,
        "one": Ones,
        "zero": Zeros,
        # torch.nn.init names, with torch's distributions on Keras-layout fans
        "xavier_uniform": GlorotUniform,
        "xavier_normal": _xavier_normal,
        "kaiming_uniform": HeUniform,
        "kaiming_normal": _kaiming_normal,
    }
)


def _lookup(name) -> _Factory:
    if isinstance(name, str) and name.startswith("fastinit>"):
        name = name[len("fastinit>") :]  # Keras' registered name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown initializer {name!r}; accepted names are " + ", ".join(sorted(_REGISTRY))
        ) from None


def deserialize(config: dict) -> Initializer:
    """deserialize(config) -> Initializer

    Instantiate an initializer from ``{"class_name": name, "config": {...}}``
    (the output of :func:`serialize`; Keras' own serialized form, with its
    ``module`` and ``registered_name`` keys, is accepted too).

    Examples
    --------
    >>> from fastinit.initializers import deserialize
    >>> deserialize({"class_name": "HeNormal", "config": {"seed": 3}})
    HeNormal(seed=3, input_axes=None, output_axes=None)
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "an initializer config must be a dict with keys 'class_name' and 'config'; "
            f"got {config!r}"
        )
    name = config.get("registered_name") or config["class_name"]
    target = _lookup(name)
    kwargs = dict(config.get("config") or {})
    if inspect.isclass(target):
        return target.from_config(kwargs)
    return target(**kwargs)


class _TensorInitializer(Initializer):
    """What :func:`get` makes of an array or tensor: returns it, cast, for its own shape only."""

    _allow_int = True

    def __init__(self, value):
        self.value = value

    def _prepare(self, shape, dtype):
        if tuple(shape) != tuple(self.value.shape):
            raise ValueError(
                f"Expected `shape` to be {tuple(self.value.shape)} for direct tensor as "
                f"initializer. Received shape={tuple(shape)}"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            return self.value.astype(dtype)

    def _fill(self, out, shape, box, value):
        out[...] = value[tuple(slice(a, b) for a, b in box)]

    def get_config(self):
        raise NotImplementedError("an initializer made from a tensor has no config")

    def __repr__(self):
        return f"<initializer returning an array of shape {tuple(self.value.shape)}>"


def get(identifier):
    """get(identifier) -> Initializer, callable or None

    An initializer from an instance (returned as is), a class (instantiated
    with its defaults), a name or alias, or a ``{"class_name": ..., "config":
    ...}`` dict. ``None`` gives ``None``. As Keras' ``get``, it also takes a
    NumPy array or backend tensor (torch, JAX, ...), giving an initializer that
    returns it (cast to the dtype asked for; any other shape raises
    ``ValueError``), and returns a plain callable (``f(shape, dtype=None)``)
    or a Keras initializer object as it is; any other class is instantiated.

    Names: the class names (``"GlorotUniform"``), Keras' snake-case names
    (``"glorot_uniform"``, ``"he_normal"``, ``"zeros"``, ``"ones"``,
    ``"constant"``, ``"orthogonal"``, ``"identity"``, ``"variance_scaling"``,
    ...), Keras' aliases (``"uniform"``, ``"normal"``, ``"zero"``, ``"one"``,
    ``"IdentityInitializer"``, ``"OrthogonalInitializer"``,
    ``"STFTInitializer"``) and torch's: ``"xavier_uniform"`` = GlorotUniform,
    ``"xavier_normal"`` = ``VarianceScaling(1, "fan_avg", "untruncated_normal")``,
    ``"kaiming_uniform"`` = HeUniform, ``"kaiming_normal"`` =
    ``VarianceScaling(2, "fan_in", "untruncated_normal")``. Names are
    case-sensitive, as in Keras.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the accepted ones, sorted).
    TypeError
        For an identifier of another type.

    Examples
    --------
    >>> import fastinit
    >>> fastinit.get("he_normal")                       # doctest: +ELLIPSIS
    HeNormal(seed=None, input_axes=None, output_axes=None)
    >>> fastinit.get({"class_name": "Constant", "config": {"value": 2.0}})
    Constant(value=2.0)
    >>> fastinit.get("kaiming_normal").distribution
    'untruncated_normal'
    >>> import numpy as np
    >>> fastinit.get(np.eye(2))((2, 2), "int8")
    array([[1, 0],
           [0, 1]], dtype=int8)
    """
    if identifier is None:
        return None
    if isinstance(identifier, Initializer):
        return identifier
    if inspect.isclass(identifier):
        made = identifier()  # fastinit's classes, and any other, as Keras does
        if not callable(made):
            raise TypeError(f"initializer class {identifier.__name__} makes a non-callable")
        return made
    if isinstance(identifier, str):
        target = _lookup(identifier)
        return target()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if _keras_compat.is_tensor(identifier):
        return _TensorInitializer(_keras_compat.to_numpy(identifier))
    if callable(identifier):
        return identifier  # a plain function or a Keras initializer object
    raise TypeError(
        "initializer identifier must be a fastinit initializer, its class, a name, a "
        "{'class_name': ..., 'config': ...} dict, an array or tensor, or a callable; "
        f"got {type(identifier).__name__}"
    )


def serialize(initializer) -> dict | None:
    """serialize(initializer) -> dict

    ``{"class_name": ..., "config": ...}`` for an initializer (``None`` for
    ``None``); :func:`get` and :func:`deserialize` invert it.

    Examples
    --------
    >>> import fastinit
    >>> fastinit.serialize(fastinit.initializers.Orthogonal(gain=0.5, seed=1))
    {'class_name': 'Orthogonal', 'config': {'gain': 0.5, 'seed': 1}}
    >>> fastinit.serialize(fastinit.initializers.RandomNormal(seed=2, stream=3))
    {'class_name': 'RandomNormal', 'config': {'mean': 0.0, 'stddev': 0.05, 'seed': 2, 'stream': 3}}
    """
    if initializer is None:
        return None
    if not isinstance(initializer, Initializer):
        raise TypeError(
            f"serialize expects a fastinit initializer; got {type(initializer).__name__}"
        )
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


def register_keras() -> bool:
    """register_keras() -> bool

    Register the initializer classes with Keras serialization (as
    ``"fastinit>ClassName"``) now; True when Keras is loaded and this
    succeeded. Normally not needed: it happens automatically when Keras is
    imported (before or after fastinit).

    Examples
    --------
    >>> from fastinit.initializers import register_keras
    >>> isinstance(register_keras(), bool)
    True
    """
    return _keras_compat.register_with_keras(_CLASSES)


_keras_compat.install_keras_hook(_CLASSES)
