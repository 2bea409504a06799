"""Deterministic initializers: ``Zeros``, ``Ones``, ``Constant``, ``Identity``."""

from __future__ import annotations

import numbers

import numpy as np

from .. import _keras_compat
from .._dtypes import BFLOAT16
from .._dtypes import is_float as _is_float
from .._validate import check_real as _check_real
from ._base import Initializer, _cast_scalar

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

    accepts_integers = True

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

    accepts_integers = True

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

    accepts_integers = True

    def __init__(self, value=0.0):
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":
            value = value["config"]["value"]  # Keras' serialized NumPy array
        if not isinstance(value, (numbers.Real, np.generic, np.ndarray, list, tuple)):
            value = _keras_compat.to_numpy(value)  # a backend tensor
        if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
            value = value.item()
        if isinstance(value, (list, tuple, np.ndarray)):
            array = np.asarray(value)
            if array.dtype.kind not in "biuf" and array.dtype != BFLOAT16:
                raise TypeError(f"value must be real numbers; got an array of {array.dtype}")
            value = array.astype(np.float64) if array.dtype == BFLOAT16 else array.copy()
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
        is_float = _is_float(dtype)
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

    accepts_integers = True

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
