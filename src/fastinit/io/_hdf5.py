"""HDF5 reading through h5py (the optional extra ``fastinit-nn[h5]``):
:class:`H5Checkpoint`, every dataset keyed by its path without the leading "/".
"""
from __future__ import annotations

import numpy as np

from ._base import Checkpoint, shape_str

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


# What h5py raises for a corrupt file (its OSError means a bad file, not the
# file system: that was checked by opening the file first).
_H5_ERRORS = (OSError, ValueError, RuntimeError, KeyError, TypeError, IndexError,
              OverflowError, AttributeError, MemoryError, SystemError)


class _Refused(Exception):
    """A file that is valid but that fastinit will not read (see docs/robustness.md)."""


class H5Checkpoint(Checkpoint):
    """An HDF5 file (h5py): every dataset, keyed by its path without the leading "/"."""

    format = "h5"

    def __init__(self, path):
        super().__init__(path)
        try:
            import h5py
        except ImportError:
            raise ImportError("reading HDF5 files needs h5py: pip install "
                              "'fastinit-nn[h5]' (or pip install h5py)") from None
        with open(self.path, "rb"):
            pass  # OSError for the file system; h5py's own OSError means a bad file
        try:
            self._file = h5py.File(self.path, "r")
        except _H5_ERRORS as e:
            raise ValueError(f"{self.path}: not a valid HDF5 file ({e})") from None
        self._datasets = {}

        def visit(name, obj):
            if isinstance(name, bytes):  # h5py's name for a path that is not UTF-8
                name = name.decode("utf-8", "surrogateescape")
            if isinstance(obj, h5py.Dataset):
                # Raw data kept in other files would make this file's reader
                # read them: refused (external links are not followed at all).
                if obj.is_virtual:
                    raise _Refused(f"{self.path}: dataset {name!r} is a virtual dataset "
                                   "(its data comes from other files); refused")
                if obj.external:
                    raise _Refused(f"{self.path}: dataset {name!r} keeps its raw data in "
                                   f"external files ({obj.external[0][0]!r}...); refused")
                self._info[name] = (tuple(obj.shape), obj.dtype)
                self._datasets[name] = obj

        try:
            # corrupted object headers surface here as RuntimeError, KeyError, ...
            self._file.visititems(visit)
        except _Refused as e:
            self._file.close()
            raise ValueError(str(e)) from None
        except _H5_ERRORS as e:
            self._file.close()
            raise ValueError(f"{self.path}: not a valid HDF5 file (corrupt object: "
                             f"{type(e).__name__}: {e})") from None

    def _read(self, name):
        shape, dtype = self._info[name]
        try:
            return np.asarray(self._datasets[name][()])
        except _H5_ERRORS as e:
            raise ValueError(f"{self.path}: cannot read dataset {name!r} ({dtype}, shape "
                             f"{shape_str(shape)}): {e}") from None

    def read_into(self, name, index, out):
        """Copy a block into ``out``, reading only that block from the file."""
        shape, dtype = self._info[name]
        try:
            block = self._datasets[name][index] if shape else self._datasets[name][()]
        except _H5_ERRORS as e:
            raise ValueError(f"{self.path}: cannot read dataset {name!r} ({dtype}, shape "
                             f"{shape_str(shape)}): {e}") from None
        np.copyto(out, block, casting="unsafe")

    def close(self):
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()
