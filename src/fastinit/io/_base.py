"""The :class:`Checkpoint` interface every loader returns, the in-memory
:class:`MappingCheckpoint`, and what the formats share: the limits of an
ndarray, the casts a pretrained tensor may take, shapes and names in messages,
and dropping the pages of a memory map once a block is read.
"""
from __future__ import annotations

import mmap
import os
from collections.abc import Mapping

import numpy as np

from .._dtypes import is_float as _is_float

# An ndarray has at most 64 dimensions (NumPy 2) and at most 2**63 - 1 bytes.
_MAX_NDIM = 64
_MAX_BYTES = 2**63 - 1


def check_dims(shape, itemsize):
    """Raise ValueError (without a location) for a shape no ndarray can have."""
    if len(shape) > _MAX_NDIM:
        raise ValueError(f"{len(shape)} dimensions (an array has at most {_MAX_NDIM})")
    n = max(int(itemsize), 1)
    for d in shape:
        if d:
            n *= d
            if n > _MAX_BYTES:
                raise ValueError(f"shape {shape_str(shape)} is too big for an array "
                                 f"(more than {_MAX_BYTES} bytes)")


def can_cast(src, dst):
    """Casts a pretrained tensor may take: float to float (rounding), int to
    float, or any other cast NumPy calls ``same_kind``; never float to int."""
    return (src == dst or (_is_float(src) and _is_float(dst))
            or (src.kind in "biu" and _is_float(dst)) or np.can_cast(src, dst, "same_kind"))


def shape_str(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def name_list(keys, limit=20):
    keys = list(keys)
    text = ", ".join(repr(k) for k in keys[:limit])
    if len(keys) > limit:
        text += f", ... ({len(keys) - limit} more)"
    return text or "none"


def _drop_pages(mm, start, stop):
    """Take the pages of ``mm[start:stop]`` out of this process's resident set.

    On a read-only file mapping ``MADV_DONTNEED`` only unmaps them: the data
    stays in the page cache and is faulted back in on the next access. Reading
    a large checkpoint block by block through here keeps the RSS bounded.
    """
    if mm is None or stop <= start or not hasattr(mm, "madvise"):
        return
    start -= start % mmap.PAGESIZE
    try:
        mm.madvise(mmap.MADV_DONTNEED, start, min(stop, len(mm)) - start)
    except (OSError, ValueError, AttributeError):
        pass


class Checkpoint(Mapping):
    """Checkpoint(path)

    A checkpoint file opened by :func:`load`: a read-only mapping from tensor
    name to ``numpy.ndarray`` that reads a tensor only when it is accessed.
    ``shape(name)`` and ``dtype(name)`` answer from the header without reading
    data. Use it as a context manager (or call ``close()``) to release the file.

    Examples
    --------
    >>> import numpy as np, fastinit, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
    >>> fastinit.save({"w": np.ones((2, 3), np.float32)}, path)
    >>> with fastinit.load(path) as ckpt:
    ...     ckpt.shape("w"), float(ckpt["w"].sum())
    ((2, 3), 6.0)
    """

    format = ""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._info = {}  # name -> (shape, dtype), in file order

    def __getitem__(self, name):
        if name not in self._info:
            raise KeyError(name)
        return self._read(name)

    def __iter__(self):
        return iter(self._info)

    def __len__(self):
        return len(self._info)

    def __contains__(self, name):
        return name in self._info

    def shape(self, name):
        """The shape of tensor ``name``, from the header."""
        return self._lookup(name)[0]

    def dtype(self, name):
        """The dtype of tensor ``name``, from the header."""
        return self._lookup(name)[1]

    def _lookup(self, name):
        try:
            return self._info[name]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor {name!r}; it holds "
                           f"{name_list(self._info)}") from None

    def _read(self, name):  # pragma: no cover - abstract
        raise NotImplementedError

    def read_into(self, name, index, out):
        """Copy ``self[name][index]`` into ``out`` (cast as NumPy casts)."""
        np.copyto(out, self[name][index], casting="unsafe")

    def close(self):
        """Release the file (tensors already read stay valid)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<{type(self).__name__} {self.path!r}: {len(self)} tensors>"


class MappingCheckpoint(Checkpoint):
    """An in-memory mapping of arrays, seen through the Checkpoint interface."""

    format = "mapping"

    def __init__(self, mapping, label="<mapping>"):
        super().__init__(label)
        self._arrays = {}
        for name, value in mapping.items():
            if not isinstance(name, str):
                raise TypeError(f"tensor names must be strings, got {name!r}")
            arr = np.asarray(value)
            self._arrays[name] = arr
            self._info[name] = (arr.shape, arr.dtype)

    def _read(self, name):
        return self._arrays[name]
