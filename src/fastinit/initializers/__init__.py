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

The protocol other code may rely on (:class:`Initializer`): ``init.prepare(shape,
dtype)`` checks everything once and returns a :class:`Prepared` whose
``fill(out=None, *, region=None)`` writes the values any number of times;
``init.check_dtype(dtype)``; ``init.reseeded(seed, stream)``; and the class
attributes ``shardable`` (a region is computed on its own) and
``accepts_integers``.

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

import inspect

from .. import _keras_compat as _keras_compat
from ._base import Initializer, Prepared
from .constant import Constant, Identity, Ones, Zeros
from .random import (
    TRUNCATED_STDDEV_CORRECTION as TRUNCATED_STDDEV_CORRECTION,
)
from .random import (
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
)
from .registry import _CLASSES as _CLASSES
from .registry import deserialize, get, register_keras, serialize
from .structured import STFT, Orthogonal

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
    "Prepared",
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

# Everything defined in the submodules shows ``fastinit.initializers`` as its
# ``__module__``, as when this package was one module: Keras' serialized configs
# name the classes' module, pickles find them here, and doctest collects their
# examples from this package. (``inspect.getsource`` of a class now looks in this
# file and fails; functions and methods keep their real source files.)
for _obj in list(globals().values()):
    if not (inspect.isclass(_obj) or inspect.isfunction(_obj)):
        continue
    if not getattr(_obj, "__module__", "").startswith(__name__ + "."):
        continue
    _obj.__module__ = __name__
    for _member in vars(_obj).values() if inspect.isclass(_obj) else ():
        _member = getattr(_member, "__func__", _member)  # classmethod, staticmethod
        if inspect.isfunction(_member) and _member.__module__.startswith(__name__ + "."):
            _member.__module__ = __name__
del _obj, _member

_keras_compat.install_keras_hook(_CLASSES)
