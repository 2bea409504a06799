"""The :class:`Pretrained` initializer: a stored tensor instead of a sampled one."""
from __future__ import annotations

import os

from .._dtypes import as_dtype
from ..initializers import Initializer
from ._base import can_cast, name_list, shape_str
from ._dispatch import as_checkpoint


class Pretrained(Initializer):
    """Pretrained(source, key=None, *, dtype=None)

    An initializer that returns a stored tensor instead of sampling one.

    Called like the other initializers, ``init(shape, dtype=None, *, out=None,
    region=None)``: ``shape`` must equal the stored shape (else ``ValueError``
    naming the file, the tensor and both shapes); the result has dtype
    ``dtype``, else ``out.dtype``, else the constructor's ``dtype``, else the
    stored dtype (not float32: a stored tensor keeps its type unless asked).
    Floating tensors cast to any floating dtype (rounded to nearest even, as
    NumPy casts), integers to floats; other casts only where NumPy calls them
    ``same_kind`` (never float to int). ``region``
    reads only that part of the file where the format allows (``.safetensors``,
    ``.npy``); ``out`` then has the region's shape. Each call without ``out``
    returns a new, writable array.

    Parameters
    ----------
    source : str, os.PathLike or mapping
        A checkpoint file (anything :func:`load` reads) or a mapping of arrays.
    key : str, optional
        The tensor's name; may be omitted only when the source holds exactly
        one tensor.
    dtype : dtype or str, optional
        Default output dtype.

    Raises
    ------
    ValueError
        If ``key`` is not in the source (the message lists what is), or is
        omitted for a source with several tensors; also from a call, for a
        shape other than the stored one or an impossible cast.

    Examples
    --------
    >>> import numpy as np, fastinit, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "emb.npy")
    >>> np.save(path, np.arange(6, dtype=np.float32).reshape(2, 3))
    >>> init = fastinit.Pretrained(path)        # the one tensor, key "emb"
    >>> init((2, 3), "float64")[1]
    array([3., 4., 5.])
    >>> init((2, 3), region=(slice(0, 1), slice(1, 3)))
    array([[1., 2.]], dtype=float32)
    """

    def __init__(self, source, key=None, *, dtype=None, seed=None, stream=0):
        # ``seed`` and ``stream`` are accepted and ignored, so that code which
        # configures every initializer with a seed and a stream works here too.
        self.source = source
        self._ckpt, _ = as_checkpoint(source)
        names = list(self._ckpt)
        if key is None:
            if len(names) != 1:
                raise ValueError(f"{self._ckpt.path}: key=None needs a source with exactly "
                                 f"one tensor; it holds {len(names)}: {name_list(names)}")
            key = names[0]
        elif key not in self._ckpt:
            raise ValueError(f"{self._ckpt.path}: no tensor {key!r}; it holds "
                             f"{name_list(names)}")
        self.key = key
        self.dtype = None if dtype is None else as_dtype(dtype)

    @property
    def shape(self):
        """The stored tensor's shape."""
        return self._ckpt.shape(self.key)

    #: Stored integer tensors stay integers unless a float dtype is asked for.
    accepts_integers = True

    def _where(self):
        return f"{self._ckpt.path}: tensor {self.key!r}"

    def check_dtype(self, dtype=None):
        """The dtype of a call: ``dtype``, else the constructor's, else the
        stored one; ValueError if the stored tensor cannot be cast to it."""
        stored = self._ckpt.dtype(self.key)
        dt = as_dtype(dtype) if dtype is not None else (self.dtype or stored)
        if not can_cast(stored, dt):
            raise ValueError(f"{self._where()}: cannot cast the stored {stored} to {dt}")
        return dt

    def _prepare(self, shape, dtype):
        stored_shape = self._ckpt.shape(self.key)
        if shape != tuple(stored_shape):
            raise ValueError(f"{self._where()}: requested shape {shape_str(shape)} but the "
                             f"file has shape {shape_str(stored_shape)}")

    def _fill(self, out, shape, box, state):
        self._ckpt.read_into(self.key, tuple(slice(a, b) for a, b in box), out)

    def reseeded(self, seed, stream=0):
        return self  # stored values: no seed, no stream

    def get_config(self):
        """Config for :meth:`from_config`; only a path source can be serialized."""
        if not isinstance(self.source, (str, os.PathLike)):
            raise TypeError("a Pretrained initializer over an in-memory mapping cannot be "
                            "serialized; give it a file path")
        return {"source": os.fspath(self.source), "key": self.key,
                "dtype": None if self.dtype is None else self.dtype.name}

    def __repr__(self):
        return f"Pretrained({self._ckpt.path!r}, key={self.key!r})"
