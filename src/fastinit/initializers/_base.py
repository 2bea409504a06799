"""The base classes of the initializers and the argument checks they share.

:class:`Initializer` (``__call__`` with ``out=`` and ``region=``),
:class:`_RandomInitializer` (seed and stream), the dtype, region, ``out``,
scalar, seed, stream and axes checks, and :func:`_runs`, which splits a region
into the contiguous runs one fill call writes each.
"""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

from .. import _keras_compat
from .._core import resolve_seed, stream_id
from ..fans import _check_shape

try:
    import ml_dtypes as _ml_dtypes

    _BF16 = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is a dependency
    _BF16 = None

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
