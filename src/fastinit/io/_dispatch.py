"""``load`` and ``save``: the format picked by the file's suffix (or, to load,
by its first bytes), and ``as_checkpoint`` for anything that names tensors.
"""
from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping

import numpy as np

from .._dtypes import ML_FLOATS as _ML_FLOATS
from . import _output  # write_fully looked up there at call time (tests replace it)
from ._base import Checkpoint, MappingCheckpoint
from ._hdf5 import _HDF5_SIGNATURE, H5Checkpoint
from ._npy import NpyCheckpoint, NpzCheckpoint
from ._output import _array_bytes, atomic_output
from ._safetensors import SafetensorsCheckpoint, safetensors_layout

_FORMATS = ".safetensors, .npz, .npy, .h5/.hdf5"


_LOADERS = {
    ".safetensors": SafetensorsCheckpoint,
    ".npz": NpzCheckpoint,
    ".npy": NpyCheckpoint,
    ".h5": H5Checkpoint,
    ".hdf5": H5Checkpoint,
}


def _sniff(path):
    """The loader for a file without a known suffix, from its first bytes."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"\x93NUMPY"):
        return NpyCheckpoint
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return NpzCheckpoint
    if head.startswith(_HDF5_SIGNATURE):
        return H5Checkpoint
    if len(head) >= 9 and head[8:9] == b"{":
        return SafetensorsCheckpoint
    raise ValueError(f"{path}: unknown checkpoint format (neither the suffix nor the first "
                     f"bytes match one of {_FORMATS})")


def load(path):
    """load(path) -> Mapping[str, numpy.ndarray]

    Open a checkpoint file and return a read-only mapping from tensor name to
    array that reads each tensor when it is accessed.

    * ``.safetensors``: the header is parsed and checked at once; tensors are
      read-only memory maps of the file (bfloat16 and float8 included).
    * ``.npz``: members' headers are read at once, each array when accessed.
    * ``.npy``: a single tensor keyed by the file's stem, memory-mapped.
    * ``.h5`` / ``.hdf5`` (needs h5py): every dataset, keyed by its full path
      without the leading "/" (``"dense/kernel"``).

    Other suffixes are recognised by their first bytes.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    Checkpoint
        A ``Mapping`` with ``shape(name)``, ``dtype(name)``, ``close()`` and
        context-manager support.

    Raises
    ------
    ValueError
        If the file is not a valid checkpoint of its format, or is truncated;
        the message names the file (and the tensor, where one is at fault).
    OSError
        If the file cannot be opened (missing, permissions).

    Examples
    --------
    >>> import numpy as np, fastinit, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> fastinit.save({"w": np.zeros((4, 2), np.float32)}, path)
    >>> ckpt = fastinit.load(path)
    >>> list(ckpt), ckpt["w"].shape
    (['w'], (4, 2))
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    loader = _LOADERS.get(suffix) or _sniff(path)
    return loader(path)


def as_checkpoint(source):
    """(checkpoint, owned): open ``source`` if it is a path; wrap a mapping."""
    if isinstance(source, Checkpoint):
        return source, False
    if isinstance(source, Mapping):
        return MappingCheckpoint(source), False
    if isinstance(source, (str, bytes, os.PathLike)):
        return load(source), True
    raise TypeError(f"a checkpoint source must be a path or a mapping of arrays, got "
                    f"{type(source).__name__}")


def save(params, path, *, metadata=None):
    """save(params, path, *, metadata=None)

    Write a mapping of arrays to ``.safetensors`` or ``.npz``, atomically (a
    temporary file in the same directory is renamed at the end; on any error
    nothing is left behind).

    * ``.safetensors`` keeps every dtype it can name, bfloat16 and float8
      included; ``metadata`` (str -> str) goes to the header's ``__metadata__``.
    * ``.npz`` (uncompressed) refuses bfloat16 and float8: NumPy's format would
      store them as anonymous 2-byte/1-byte records and lose the type.

    Parameters
    ----------
    params : mapping of str to array_like
        The tensors.
    path : str or os.PathLike
        The output file; its suffix picks the format.
    metadata : mapping of str to str, optional
        safetensors only.

    Raises
    ------
    ValueError
        For an unsupported suffix or dtype.
    TypeError
        For a non-string name.
    OSError
        If the file cannot be written (missing directory, disk full, ...).

    Examples
    --------
    >>> import numpy as np, ml_dtypes, fastinit, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> fastinit.save({"w": np.ones(3, ml_dtypes.bfloat16)}, path)
    >>> fastinit.load(path)["w"].dtype.name
    'bfloat16'
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping of name -> array, got "
                        f"{type(params).__name__}")
    arrays = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be strings, got {name!r}")
        arrays[name] = np.asarray(value)
    if suffix == ".safetensors":
        header, order = safetensors_layout(
            [(n, a.shape, a.dtype) for n, a in arrays.items()], metadata)
        with atomic_output(path) as f:
            _output.write_fully(f, header, path)
            for name, *_ in order:
                _output.write_fully(f, _array_bytes(arrays[name]), path)
    elif suffix == ".npz":
        if metadata:
            raise ValueError("metadata= is only stored in .safetensors files")
        for name, arr in arrays.items():
            if arr.dtype in _ML_FLOATS:
                raise ValueError(f"tensor {name!r}: {arr.dtype} cannot be stored in .npz "
                                 "without losing its type; save to .safetensors instead")
            if arr.dtype.hasobject:
                raise ValueError(f"tensor {name!r}: object arrays are not supported")
            if "\0" in name:
                # zipfile cuts member names at NUL: the tensor would come back
                # under another name, or overwrite one.
                raise ValueError(f"tensor {name!r}: a .npz member name cannot contain "
                                 "NUL; save to .safetensors instead")
        # Written member by member (not numpy.savez) so that any name works,
        # "file" and "allow_pickle" included.
        with atomic_output(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED,
                                                       allowZip64=True) as z:
            for name, arr in arrays.items():
                with z.open(name + ".npy", "w", force_zip64=True) as m:
                    np.lib.format.write_array(m, arr, allow_pickle=False)
    else:
        raise ValueError(f"{path}: cannot save to {suffix or 'a file without suffix'!r}; "
                         "accepted: .safetensors, .npz")
