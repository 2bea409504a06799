"""The initializer protocol: :class:`Initializer` and :class:`Prepared`.

Every initializer is an :class:`Initializer`.  What the rest of the package
(``init_params``, Dask, the command line, the checkpoint writers, the
diagnostics) may rely on is public here, and nothing else:

* ``init(shape, dtype=None, *, out=None, region=None)`` -- the values;
* ``init.prepare(shape, dtype=None)`` -- checks everything that can fail for
  that shape and dtype, once, and returns a :class:`Prepared`, whose
  ``fill(out=None, *, region=None)`` writes the values (or a region of them)
  any number of times without checking them again;
* ``init.check_dtype(dtype)`` -- the NumPy dtype of a call, or TypeError;
* ``init.reseeded(seed, stream)`` -- the same initializer drawing from another
  ``(seed, stream)`` (itself when its values use no randomness);
* ``type(init).shardable`` -- whether a region is computed on its own
  (``False``: the whole tensor is computed and the region copied out);
* ``init.full_config()`` -- ``get_config()`` with the seed an unseeded
  initializer drew (its ``from_config`` rebuilds the same values);
* ``type(init).accepts_integers`` -- whether integer and bool dtypes are
  accepted besides the float dtypes.

A subclass implements two hooks: ``_prepare(shape, dtype)``, which checks what
can fail and returns a state (anything), and ``_fill(out, shape, box, state)``,
which writes the values inside ``box = [(start, stop), ...]`` into ``out``
(whose shape is the box's) and cannot fail on checked input.  Random
initializers implement ``_sampler(shape, dtype)`` instead, returning the
compiled core's :class:`~fastinit._core.PreparedFill`.
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import ClassVar

import numpy as np

from .. import _keras_compat
from .._core import PreparedFill, resolve_seed
from .._dtypes import FLOAT_DTYPES, FLOAT_NAMES, as_dtype
from .._dtypes import is_float as _is_float
from .._regions import check_region as _check_region
from .._regions import runs as _runs
from .._validate import check_shape
from .._validate import check_stream as _check_stream

__all__ = ["Initializer", "Prepared"]

_TWO64 = 1 << 64


# ---------------------------------------------------------------------------
# argument checks shared by all initializers


def _check_dtype(dtype, accepts_integers: bool) -> np.dtype:
    dt = np.dtype(np.float32) if dtype is None else as_dtype(dtype)
    if dt not in FLOAT_DTYPES and not (accepts_integers and dt.kind in "biu"):
        accepted = FLOAT_NAMES + (", integer and bool dtypes" if accepts_integers else "")
        raise TypeError(f"dtype must be one of {accepted}; got {dt}")
    return dt


def _out_dtype(dtype, out):
    """The dtype a call with ``out`` asks for (``out``'s in native order when
    ``dtype`` is None), after checking that ``out`` is an ndarray."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    return out.dtype.newbyteorder("=") if dtype is None else dtype


def _check_out(out, result_shape, dtype):
    """``out`` fits: an ndarray of ``dtype`` and ``result_shape``, writable,
    native byte order (a wrong dtype is reported before a byte order)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    if out.dtype.newbyteorder("=") != dtype:
        raise TypeError(f"out must have dtype {dtype}; got {out.dtype}")
    if not out.dtype.isnative:
        raise ValueError(f"out must be in native byte order; got dtype {out.dtype.str!r}")
    if tuple(out.shape) != result_shape:
        raise ValueError(f"out must have shape {result_shape}; got {tuple(out.shape)}")
    if not out.flags.writeable:
        raise ValueError("out must be writable; got a read-only array")


def _target(shape, dtype, out, region):
    """``(out, box)``: the region as a box and ``out`` checked against it, or
    a new array of the box's shape (allocated only once everything passed)."""
    box = _check_region(region, shape)
    result_shape = tuple(stop - start for start, stop in box)
    if out is not None:
        _check_out(out, result_shape, dtype)
        return out, box
    return None, box


def _cast_scalar(value, dtype, name):
    """``value`` as a 0-d array of ``dtype``; ValueError if it overflows there."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            cast = np.asarray(value).astype(dtype)
        finite = math.isfinite(value)
    except OverflowError:  # a Python int beyond the float64 or C integer range
        shown = repr(value) if abs(value) < 10**30 else "an integer of more than 30 digits"
        raise ValueError(f"{name} must be representable in {dtype}; got {shown}") from None
    is_float = _is_float(dtype)  # ml_dtypes' bfloat16 has kind "V"
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

    Subclasses implement ``_fill(out, shape, box, state)``, which writes the
    values of ``init(shape)`` inside the box ``[(start, stop), ...]`` into
    ``out`` (whose shape is the box's), and, when something can fail for a
    shape or dtype, ``_prepare(shape, dtype)``, which checks it before anything
    is written and returns the ``state`` ``_fill`` receives.

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

    #: Whether integer and bool dtypes are accepted besides the float dtypes.
    accepts_integers: ClassVar[bool] = False
    #: Whether ``region=`` computes the region alone (its cost proportional to
    #: its size).  False where the values couple the whole tensor
    #: (``Orthogonal``'s QR): the whole tensor is computed and the region
    #: copied out, so block-by-block writers compute it once per tensor.
    shardable: ClassVar[bool] = True

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
        shape = check_shape(shape)
        if out is not None:
            dtype = _out_dtype(dtype, out)
        dt = self.check_dtype(dtype)
        out, box = _target(shape, dt, out, region)
        state = self._prepare(shape, dt)
        if out is None:
            out = np.empty(tuple(stop - start for start, stop in box), dt)
        self._fill(out, shape, box, state)
        return out

    def check_dtype(self, dtype=None) -> np.dtype:
        """check_dtype(dtype=None) -> numpy.dtype

        The NumPy dtype of ``init(shape, dtype)`` (float32 for None), or
        TypeError naming the dtypes this initializer accepts.
        """
        return _check_dtype(dtype, self.accepts_integers)

    def prepare(self, shape, dtype=None) -> Prepared:
        """prepare(shape, dtype=None) -> Prepared

        Check everything that can fail for ``shape`` and ``dtype`` (a rank the
        initializer refuses, a parameter not finite in the dtype, a shape
        beyond the stream's 2**64 offsets) and return a :class:`Prepared`
        that writes the values, whole or by region, without checking again.
        For a seed drawn per call (a Keras ``SeedGenerator``), one draw is
        made here and serves every fill of the result.

        Examples
        --------
        >>> import numpy as np
        >>> from fastinit.initializers import HeNormal
        >>> init = HeNormal(seed=3)
        >>> p = init.prepare((64, 32))
        >>> top, bottom = p.fill(region=(slice(0, 40),)), p.fill(region=(slice(40, 64),))
        >>> bool((np.concatenate([top, bottom]) == init((64, 32))).all())
        True
        """
        shape = check_shape(shape)
        dt = self.check_dtype(dtype)
        return Prepared(self, shape, dt, self._prepare(shape, dt))

    def reseeded(self, seed, stream=0) -> Initializer:
        """reseeded(seed, stream=0) -> Initializer

        This initializer drawing from ``(seed, stream)``: a copy for a random
        initializer, ``self`` for one whose values use no randomness.
        """
        return self

    def _prepare(self, shape, dtype):
        """Validate for ``shape``/``dtype``; return what ``_fill`` needs."""
        return

    def _fill(self, out, shape, box, state):  # pragma: no cover - abstract
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

    def full_config(self) -> dict:
        """``get_config()`` with the seed this instance drew: ``from_config`` of it
        rebuilds the same values (``get_config()`` keeps ``seed=None`` as given,
        as Keras does, so that clones made by Keras draw their own seeds)."""
        return self.get_config()

    def clone(self):
        """A new instance with the same values: same configuration and, for an
        unseeded initializer, the seed this one drew (``from_config(get_config())``,
        as Keras layers clone, draws a new seed instead)."""
        return self.__class__.from_config(self.full_config())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _RandomInitializer(Initializer):
    """An initializer drawing from the stream ``(seed, stream)``.

    Subclasses implement ``_sampler(shape, dtype)``, the compiled core's
    :class:`~fastinit._core.PreparedFill` that writes flat index ``k`` of the
    tensor at stream offset ``k`` (or override ``_prepare`` and ``_fill``).
    """

    def __init__(self, seed=None, *, stream=0):
        self._set_seed(seed)
        self.stream = _check_stream(stream)

    def _set_seed(self, seed):
        resolved, generator = _check_seed(seed)
        self._generator = generator
        # Keras' `self.seed`: the int used (drawn once for seed=None) or the SeedGenerator.
        self.seed = generator if generator is not None else resolved
        # What get_config() stores: the seed as given (None stays None).
        self._init_seed = None if seed is None else self.seed

    def reseeded(self, seed, stream=0):
        """A copy drawing from ``(seed, stream)`` (``seed`` as the constructor's)."""
        new = copy.copy(self)
        new._set_seed(seed)
        new.stream = _check_stream(stream)
        return new

    def _call_seed(self):
        """The fastinit seed of one call: a fresh draw from a SeedGenerator, else ``seed``."""
        if self._generator is not None:
            return _keras_compat.draw_seed(self._generator)
        return self.seed

    def _sampler(self, shape, dtype) -> PreparedFill:
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
        return self._sampler(shape, dtype)

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

    def full_config(self):
        config = self.get_config()
        if self._generator is None:
            config["seed"] = self.seed
        return config


class Prepared:
    """An initializer checked for one shape and dtype (:meth:`Initializer.prepare`).

    ``fill(out=None, *, region=None)`` returns ``init(shape, dtype)[region]``
    (into ``out`` when given) and checks only ``region`` and ``out``.

    Attributes
    ----------
    initializer : Initializer
    shape : tuple of int
    dtype : numpy.dtype

    Examples
    --------
    >>> import numpy as np
    >>> from fastinit.initializers import GlorotUniform
    >>> p = GlorotUniform(seed=0).prepare((4, 6), "float16")
    >>> p.dtype.name, p.shape
    ('float16', (4, 6))
    >>> buf = np.empty((2, 6), np.float16)
    >>> bool((p.fill(buf, region=(slice(2, 4),)) == p.fill()[2:]).all())
    True
    """

    __slots__ = ("_state", "dtype", "initializer", "shape")

    def __init__(self, initializer, shape, dtype, state):
        self.initializer = initializer
        self.shape = shape
        self.dtype = dtype
        self._state = state

    def fill(self, out=None, *, region=None) -> np.ndarray:
        """fill(out=None, *, region=None) -> numpy.ndarray

        The values (``region``: a tuple of slices, steps 1) into ``out`` (an
        array of the region's shape and the prepared dtype) or a new array.
        """
        out, box = _target(self.shape, self.dtype, out, region)
        if out is None:
            out = np.empty(tuple(stop - start for start, stop in box), self.dtype)
        self.initializer._fill(out, self.shape, box, self._state)
        return out

    def __repr__(self):
        return f"Prepared({self.initializer!r}, shape={self.shape}, dtype={self.dtype})"
