"""The dtypes fastinit samples into, and the one conversion from dtype-likes.

Every module that accepts or names a floating-point dtype takes it from here:
the initializers, ``init_params`` specs, the JAX and torch adapters, the file
formats.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

__all__ = ["BFLOAT16", "FLOAT_DTYPES", "FLOAT_NAMES", "ML_FLOATS", "as_dtype", "is_float"]

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)

#: The dtypes the random fills write (the compiled core's four output codes).
FLOAT_DTYPES: tuple[np.dtype, ...] = (
    np.dtype(np.float16), BFLOAT16, np.dtype(np.float32), np.dtype(np.float64))

#: The same, as error messages list them.
FLOAT_NAMES = "float16, bfloat16, float32, float64"

#: Floating-point dtypes of ml_dtypes (NumPy gives them kind "V"), which files may hold.
ML_FLOATS = frozenset(np.dtype(t) for t in (
    ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2))


def is_float(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is a floating-point dtype (NumPy's or ml_dtypes')."""
    return dtype.kind == "f" or dtype in ML_FLOATS


def as_dtype(dtype) -> np.dtype:
    """A NumPy dtype from a dtype, a type, a name (``"bfloat16"``, ``"half"``)
    or a torch dtype (``torch.float16``), without importing torch.

    Raises TypeError naming the accepted float dtypes for anything else.
    """
    if isinstance(dtype, np.dtype):
        return dtype
    name = dtype if isinstance(dtype, str) else None
    if name is None and type(dtype).__module__.startswith("torch"):
        name = str(dtype)  # "torch.float32"
    if name is not None:
        name = name.removeprefix("torch.")
        if name == "bfloat16":
            return BFLOAT16
        if name == "half":
            name = "float16"
        dtype = name
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"dtype must be one of {FLOAT_NAMES} (or a NumPy dtype); got {dtype!r}"
        ) from None
