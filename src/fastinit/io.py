"""Checkpoint files: ``load``, ``save`` and the ``Pretrained`` initializer (docs/api.md §6).

Formats
-------
==================  ======  ======  ==============================================
suffix              load    save    how
==================  ======  ======  ==============================================
``.safetensors``    yes     yes     own reader/writer: header parsed here, tensors
                                    memory-mapped; bfloat16 and float8 included
``.npz``            yes     yes     zip of ``.npy`` members, read member by member
``.npy``            yes     no      memory-mapped; the tensor is keyed by the stem
``.h5``/``.hdf5``   yes     no      h5py (optional extra ``fastinit-nn[h5]``);
                                    datasets keyed by their path without "/"
==================  ======  ======  ==============================================

The safetensors format is small enough to implement exactly (an 8-byte
little-endian header length, a JSON header, then the raw little-endian data),
and doing so here means bfloat16 works with any NumPy and any (or no)
``safetensors`` package: its NumPy API only learnt bfloat16 recently. Files
written here are read by the ``safetensors`` library and the other way round;
the tests check both directions.

Every loader returns a :class:`Checkpoint`: a read-only ``Mapping`` whose
``shape(name)`` and ``dtype(name)`` answer from the file's header and whose
``[name]`` reads that one tensor (a read-only memory map for ``.safetensors``
and ``.npy``). Errors: a file that is not what its name says, truncated data
or an unknown tensor raise ``ValueError`` naming the file and the tensor; the
file system itself (missing file, permissions, disk full) raises ``OSError``.
"""
from __future__ import annotations

import ast
import errno
import itertools
import json
import math
import mmap
import os
import queue
import stat
import struct
import threading
import zipfile
import zlib
from collections.abc import Mapping
from contextlib import contextmanager

import ml_dtypes
import numpy as np

from . import _st_header, _tempfiles
from .fans import _check_shape
from .initializers import Initializer, _as_dtype, _check_region

__all__ = ["Checkpoint", "Pretrained", "load", "save"]

# safetensors dtype names <-> NumPy dtypes (little-endian on disk).
_ST_TO_NP = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn),
    "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
    "C64": np.dtype("<c8"),
}
_ST_ITEMSIZE = {name: dt.itemsize for name, dt in _ST_TO_NP.items()}
_NP_TO_ST = {dt.newbyteorder("=") if dt.byteorder == "<" else dt: name
             for name, dt in _ST_TO_NP.items()}

# Floating types of ml_dtypes have kind "V" in NumPy; treat them as floats.
_ML_FLOATS = frozenset(np.dtype(t) for t in (
    ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2))

# The safetensors library refuses headers above 100 MB; so do we.
_ST_MAX_HEADER = _st_header.MAX_HEADER

_FORMATS = ".safetensors, .npz, .npy, .h5/.hdf5"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# NumPy's own limit on a .npy header (np.load refuses longer ones by default).
_NPY_MAX_HEADER = 10_000
_NPY_MAGIC = b"\x93NUMPY"
# An ndarray has at most 64 dimensions (NumPy 2) and at most 2**63 - 1 bytes.
_MAX_NDIM = 64
_MAX_BYTES = 2**63 - 1
# Errors the zip/zlib layer raises for a bad archive (not the file system's OSError).
_ZIP_ERRORS = (ValueError, zipfile.BadZipFile, EOFError, OSError, NotImplementedError,
               RuntimeError, zlib.error, struct.error, OverflowError, KeyError)
# deflate expands at most ~1032:1; a member cannot hold more than this.
_DEFLATE_RATIO = 1032


def _check_dims(shape, itemsize):
    """Raise ValueError (without a location) for a shape no ndarray can have."""
    if len(shape) > _MAX_NDIM:
        raise ValueError(f"{len(shape)} dimensions (an array has at most {_MAX_NDIM})")
    n = max(int(itemsize), 1)
    for d in shape:
        if d:
            n *= d
            if n > _MAX_BYTES:
                raise ValueError(f"shape {_shape_str(shape)} is too big for an array "
                                 f"(more than {_MAX_BYTES} bytes)")


def _is_float(dtype):
    return dtype.kind == "f" or dtype in _ML_FLOATS


def _can_cast(src, dst):
    """Casts a pretrained tensor may take: float to float (rounding), int to
    float, or any other cast NumPy calls ``same_kind``; never float to int."""
    return (src == dst or (_is_float(src) and _is_float(dst))
            or (src.kind in "biu" and _is_float(dst)) or np.can_cast(src, dst, "same_kind"))


def _shape_str(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _names(keys, limit=20):
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


# --------------------------------------------------------------------------- checkpoints


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
                           f"{_names(self._info)}") from None

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


class SafetensorsCheckpoint(Checkpoint):
    """A ``.safetensors`` file: header parsed and checked at open, data memory-mapped."""

    format = "safetensors"

    def __init__(self, path):
        super().__init__(path)
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(f"{self.path}: not a safetensors file: {size} bytes is too "
                                 "short for the 8-byte header length (empty or truncated)")
            (n,) = struct.unpack("<Q", head)
            if n > _ST_MAX_HEADER:
                raise ValueError(f"{self.path}: not a safetensors file: header length {n} "
                                 f"is implausible (limit {_ST_MAX_HEADER})")
            if 8 + n > size:
                raise ValueError(f"{self.path}: truncated safetensors file: the header "
                                 f"needs {8 + n} bytes, the file has {size}")
            raw = f.read(n)
            try:
                header = _st_header.decode(raw)
            except ValueError as e:
                raise ValueError(f"{self.path}: bad safetensors header ({e})") from None
            self._data_start = 8 + n
            self._data_size = size - self._data_start
            self._parse(header)
            # mmap cannot map an empty range; a file whose tensors are all
            # empty never needs the map.
            self._mm = (mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                        if self._data_size else None)

    def _parse(self, header):
        p = self.path
        try:
            meta, entries = _st_header.entries(header, _ST_TO_NP)
        except ValueError as e:
            raise ValueError(f"{p}: bad safetensors header {e}") from None
        self.metadata = dict(meta or {})
        self._offsets = {}
        for name, (shape, st, begin, end) in entries.items():
            dtype = _ST_TO_NP[st]
            try:
                _check_dims(shape, dtype.itemsize)
            except ValueError as e:
                raise ValueError(f"{p}: bad safetensors header entry for tensor {name!r}: "
                                 f"{e}") from None
            if end > self._data_size:
                raise ValueError(f"{p}: truncated safetensors file: tensor {name!r} "
                                 f"({st}, shape {_shape_str(shape)}) needs data bytes "
                                 f"[{begin}, {end}) but the data section has "
                                 f"{self._data_size}")
            self._info[name] = (shape, dtype)
            self._offsets[name] = begin
        try:
            _st_header.check_tiling(entries, _ST_ITEMSIZE, self._data_size)
        except ValueError as e:
            raise ValueError(f"{p}: bad safetensors file: {e}") from None

    def _read(self, name):
        shape, dtype = self._info[name]
        count = math.prod(shape)
        try:
            if count == 0:
                return np.empty(shape, dtype)
            if self._mm is None:
                raise ValueError("the file is closed")
            arr = np.frombuffer(self._mm, dtype=dtype, count=count,
                                offset=self._data_start + self._offsets[name])
            return arr.reshape(shape)
        except (ValueError, OverflowError, MemoryError) as e:
            raise ValueError(f"{self.path}: cannot read tensor {name!r} ({dtype}, shape "
                             f"{_shape_str(shape)}): {e}") from None

    def read_into(self, name, index, out):
        """Copy a block of tensor ``name`` into ``out``, then drop its pages
        from the resident set (see :func:`_drop_pages`)."""
        super().read_into(name, index, out)
        shape, dtype = self._info[name]
        if out.size == 0 or len(index) != len(shape):
            return
        # Bytes from the block's first to its last element.
        first = int(np.ravel_multi_index([s.start for s in index], shape)) if shape else 0
        last = int(np.ravel_multi_index([s.stop - 1 for s in index], shape)) if shape else 0
        base = self._data_start + self._offsets[name]
        _drop_pages(self._mm, base + first * dtype.itemsize,
                    base + (last + 1) * dtype.itemsize)

    def close(self):
        mm, self._mm = getattr(self, "_mm", None), None
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                # Arrays still view the map; it closes when the last one goes.
                pass


class NpzCheckpoint(Checkpoint):
    """A ``.npz`` file: member headers read at open, each member read on access."""

    format = "npz"

    def __init__(self, path):
        super().__init__(path)
        with open(self.path, "rb") as f:
            # OSError for a missing or unreadable file, before any parsing
            archive_size = os.fstat(f.fileno()).st_size
        try:
            self._zip = zipfile.ZipFile(self.path)
        except OSError as e:
            if isinstance(e, zipfile.BadZipFile) or e.errno is None:
                raise ValueError(f"{self.path}: not a valid .npz file (bad or truncated "
                                 f"zip: {e})") from None
            raise
        except _ZIP_ERRORS as e:
            raise ValueError(f"{self.path}: not a valid .npz file (bad or truncated zip: "
                             f"{e})") from None
        self._members = {}
        self._layout = {}  # name -> (fortran_order, data offset, bound on the data bytes)
        self._cached = None
        try:
            # NumPy's lookup: a name is first a member's exact name, then a
            # member's name without ".npy" ("a" is member "a" even when "a.npy"
            # exists; that one stays reachable as "a.npy").  A repeated member
            # name means its last copy, as zipfile reads it.
            infos = {i.filename: i for i in self._zip.infolist()}
            for member, info in infos.items():
                name = member.removesuffix(".npy")
                if name != member and name in infos:
                    name = member
                try:
                    shape, dtype, fortran, offset = self._member_header(info, archive_size)
                except _ZIP_ERRORS as e:
                    raise ValueError(f"{self.path}: member {member!r} is not a valid .npy "
                                     f"array ({e})") from None
                self._info[name] = (shape, dtype)
                self._members[name] = info
                self._layout[name] = (fortran, offset)
        except BaseException:
            self._zip.close()
            raise

    def _member_header(self, info, archive_size):
        if info.compress_size > archive_size:
            raise ValueError(f"the zip directory says it holds {info.compress_size} "
                             f"compressed bytes, but the whole file has {archive_size}")
        with self._zip.open(info) as f:
            shape, dtype, fortran, offset = _npy_header(f, info.file_size)
        need = math.prod(shape) * dtype.itemsize
        if offset + need > info.file_size:
            raise ValueError(f"its header declares {dtype}, shape {_shape_str(shape)} "
                             f"({need} data bytes) but the member holds "
                             f"{max(info.file_size - offset, 0)}")
        return shape, dtype, fortran, offset

    def read_into(self, name, index, out):
        """Copy a block of tensor ``name`` into ``out``.

        A zip member cannot be read from the middle, so the last tensor read
        is kept until another is asked for: reading a tensor block by block
        reads it once (and holds it in memory meanwhile).
        """
        if self._cached is None or self._cached[0] != name:
            self._cached = None
            self._cached = (name, self[name])
        np.copyto(out, self._cached[1][index], casting="unsafe")

    def _read(self, name):
        shape, dtype = self._info[name]
        info = self._members[name]
        fortran, offset = self._layout[name]
        need = math.prod(shape) * dtype.itemsize
        # The most bytes the member's compressed data can really expand to: a
        # size the zip directory merely declares is not trusted with memory.
        if info.compress_type == zipfile.ZIP_STORED:
            bound = info.compress_size
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            bound = info.compress_size * _DEFLATE_RATIO + 1024
        else:
            bound = 0
        try:
            with self._zip.open(info) as f:
                _read_exactly(f, offset, bound)  # the header, already checked
                data = _read_exactly(f, need, bound)
            if len(data) < need:
                raise ValueError(f"truncated member: {need} data bytes needed, "
                                 f"{len(data)} found")
            arr = np.frombuffer(data, dtype=dtype, count=math.prod(shape)) if need else \
                np.empty(0, dtype)
            return arr.reshape(shape, order="F" if fortran else "C")
        except (*_ZIP_ERRORS, MemoryError) as e:
            raise ValueError(f"{self.path}: cannot read tensor {name!r} ({dtype}, shape "
                             f"{_shape_str(shape)}): {e}") from None

    def close(self):
        self._cached = None
        z = getattr(self, "_zip", None)
        if z is not None:
            z.close()


def _read_exactly(f, n, bound, chunk=16 << 20):
    """Up to ``n`` bytes of ``f`` (fewer at its end), as a writable bytearray.

    Preallocated when ``n <= bound`` (the most the stream can really hold);
    otherwise grown as data arrives, so a lying size allocates nothing.
    """
    if n <= bound:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = f.readinto(view[got:got + chunk])
            if not k:
                break
            got += k
        view.release()
        if got < n:
            del buf[got:]
        return buf
    buf = bytearray()
    while len(buf) < n:
        part = f.read(min(n - len(buf), chunk))
        if not part:
            break
        buf += part
    return buf


def _npy_header(f, size=None):
    """(shape, dtype, fortran_order, data offset) from an open ``.npy`` stream.

    Parsed here rather than by NumPy so that no lie in the header (version,
    header length, dict, shape) gets further than a ``ValueError``: the header
    is read only up to NumPy's own limit and the file's ``size``, and the
    shape is checked to fit an ndarray. The data is not read.
    """
    magic = f.read(8)
    if len(magic) < 8 or not magic.startswith(_NPY_MAGIC):
        raise ValueError("not a .npy file (bad magic string)" if len(magic) == 8 and
                         not magic.startswith(_NPY_MAGIC) else "truncated .npy header")
    version = (magic[6], magic[7])
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]} "
                         "(known: 1.0, 2.0, 3.0)")
    fmt = "<H" if version == (1, 0) else "<I"
    raw = f.read(struct.calcsize(fmt))
    if len(raw) < struct.calcsize(fmt):
        raise ValueError("truncated .npy header")
    (hlen,) = struct.unpack(fmt, raw)
    offset = 8 + len(raw) + hlen
    if hlen > _NPY_MAX_HEADER:
        raise ValueError(f"header length {hlen} is implausible (limit {_NPY_MAX_HEADER})")
    if size is not None and offset > size:
        raise ValueError(f"truncated .npy header: it needs {offset} bytes, there are {size}")
    text = f.read(hlen)
    if len(text) < hlen:
        raise ValueError(f"truncated .npy header: {hlen} bytes declared, {len(text)} found")
    try:
        text = text.decode("utf-8" if version == (3, 0) else "latin1")
        header = ast.literal_eval(text)
    except Exception as e:  # noqa: BLE001 - any parse failure is a bad header
        raise ValueError(f"cannot parse the header {text[:100]!r}: "
                         f"{type(e).__name__}: {e}") from None
    keys = ("descr", "fortran_order", "shape")
    if not isinstance(header, dict) or sorted(header) != sorted(keys):
        raise ValueError(f"the header must be a dict with keys {keys}, got {text[:100]!r}")
    shape, fortran = header["shape"], header["fortran_order"]
    if not (isinstance(shape, tuple) and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise ValueError(f"the shape must be a tuple of non-negative integers, got {shape!r}")
    if not isinstance(fortran, bool):
        raise ValueError(f"fortran_order must be a bool, got {fortran!r}")  # noqa: TRY004
    try:
        dtype = np.lib.format.descr_to_dtype(header["descr"])
    except Exception as e:  # noqa: BLE001 - any descriptor NumPy rejects is bad
        raise ValueError(f"bad descr {header['descr']!r}: {e}") from None
    if dtype.hasobject:
        raise ValueError("object arrays are not supported (they would need pickle)")
    if dtype.subdtype is not None:
        raise ValueError(f"descr {header['descr']!r} is a subarray type, which no saved "
                         "array has")
    _check_dims(shape, dtype.itemsize)
    return shape, dtype, fortran, offset


class NpyCheckpoint(Checkpoint):
    """A ``.npy`` file: one tensor, keyed by the file's stem, memory-mapped."""

    format = "npy"

    def __init__(self, path):
        super().__init__(path)
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            try:
                shape, dtype, _, offset = _npy_header(f, size)
            except ValueError as e:
                raise ValueError(f"{self.path}: not a valid .npy file ({e})") from None
        need = math.prod(shape) * dtype.itemsize
        if offset + need > size:
            raise ValueError(f"{self.path}: truncated .npy file: tensor of {dtype}, shape "
                             f"{_shape_str(shape)} needs {offset + need} bytes, the file "
                             f"has {size}")
        try:
            self._arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OverflowError, SyntaxError, TypeError, MemoryError) as e:
            raise ValueError(f"{self.path}: truncated or corrupt .npy file: tensor of "
                             f"{dtype}, shape {_shape_str(shape)} ({e})") from None
        stem = os.path.basename(self.path)
        stem = stem[:-4] if stem.lower().endswith(".npy") else os.path.splitext(stem)[0]
        self._info[stem] = (shape, dtype)

    def _read(self, name):
        return self._arr

    def read_into(self, name, index, out):
        """Copy a block into ``out``, then drop the mapping's pages (see
        :func:`_drop_pages`)."""
        super().read_into(name, index, out)
        mm = getattr(self._arr, "_mmap", None)
        if mm is not None:
            _drop_pages(mm, 0, len(mm))


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
                             f"{_shape_str(shape)}): {e}") from None

    def read_into(self, name, index, out):
        """Copy a block into ``out``, reading only that block from the file."""
        shape, dtype = self._info[name]
        try:
            block = self._datasets[name][index] if shape else self._datasets[name][()]
        except _H5_ERRORS as e:
            raise ValueError(f"{self.path}: cannot read dataset {name!r} ({dtype}, shape "
                             f"{_shape_str(shape)}): {e}") from None
        np.copyto(out, block, casting="unsafe")

    def close(self):
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()


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


def _as_checkpoint(source):
    """(checkpoint, owned): open ``source`` if it is a path; wrap a mapping."""
    if isinstance(source, Checkpoint):
        return source, False
    if isinstance(source, Mapping):
        return MappingCheckpoint(source), False
    if isinstance(source, (str, bytes, os.PathLike)):
        return load(source), True
    raise TypeError(f"a checkpoint source must be a path or a mapping of arrays, got "
                    f"{type(source).__name__}")


# --------------------------------------------------------------------------- writing


@contextmanager
def atomic_output(path):
    """Write ``path`` through a binary file object, all or nothing.

    Regular files are written to a hidden temporary file in the same directory,
    synced and renamed over ``path`` at the end, so an error (or an interrupt)
    at any point leaves no partial output and any previous file untouched.
    Temporary files of writers on this host that were killed outright are
    removed first (:mod:`fastinit._tempfiles`).
    An existing non-regular file (``/dev/null``, ``/dev/full``, a pipe) is
    written directly instead: renaming over a device would replace it.
    """
    path = os.fspath(path)
    if not path:
        raise FileNotFoundError(errno.ENOENT, "the output path is empty", path)
    if os.path.islink(path):
        path = os.path.realpath(path)  # write through a link, as open() would
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        with open(path, "wb", buffering=0) as f:
            yield f
        return
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "output path is a directory", path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, "output directory does not exist", directory)
    _tempfiles.remove_stale(directory)  # leftovers of writers killed outright
    tmp = os.path.join(directory, _tempfiles.temp_name(os.path.basename(path)))
    # os.open with 0o666 honours the umask, as a plain open() of path would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                 0o666)
    _tempfiles.hold(fd)
    try:
        with open(fd, "wb", buffering=0) as f:
            if os.path.isfile(path):
                # A replaced file keeps its permissions.
                os.chmod(f.fileno(), stat.S_IMODE(os.stat(path).st_mode))
            yield f
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def check_free_space(path, nbytes):
    """Raise ``OSError(ENOSPC)`` up front if ``path``'s file system lacks ``nbytes``."""
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        st = os.statvfs(directory)
    except (OSError, AttributeError):
        return
    free = st.f_bavail * st.f_frsize
    if free < nbytes:
        raise OSError(errno.ENOSPC, f"not enough space for {os.fspath(path)}: it needs "
                      f"{nbytes:,} bytes, {free:,} are free")


def safetensors_layout(tensors, metadata=None):
    """Header bytes and data layout of a safetensors file.

    Parameters
    ----------
    tensors : sequence of (name, shape, dtype)
        In the order the caller wants; the data section orders them by
        decreasing item size (stable), so every tensor is aligned to its item
        size, as the ``safetensors`` library does.
    metadata : mapping of str to str, optional
        Stored as ``__metadata__``.

    Returns
    -------
    (header, order) : (bytes, list of (name, shape, dtype, begin, end))
        ``header`` includes the 8-byte length and is padded with spaces to a
        multiple of 8 bytes; ``order`` is the order the data must be written in.
    """
    entries = {}
    order = []
    pos = 0
    seen = set()
    for name, shape, dtype in sorted(tensors, key=lambda t: -np.dtype(t[2]).itemsize):
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"invalid tensor name {name!r} for safetensors")
        if name in seen:
            raise ValueError(f"duplicate tensor name {name!r}")
        seen.add(name)
        _check_utf8(name, "tensor name")
        dtype = np.dtype(dtype)
        st = _NP_TO_ST.get(dtype.newbyteorder("=") if dtype.byteorder in "<>" else dtype)
        if st is None:
            raise ValueError(f"tensor {name!r}: dtype {dtype} cannot be stored in safetensors "
                             f"(accepted: {', '.join(str(d) for d in _ST_TO_NP.values())})")
        try:  # what no reader could load back is refused before anything is written
            _check_dims(tuple(int(d) for d in shape), dtype.itemsize)
        except ValueError as e:
            raise ValueError(f"tensor {name!r}: {e}") from None
        end = pos + math.prod(shape) * dtype.itemsize
        entries[name] = {"dtype": st, "shape": [int(d) for d in shape],
                         "data_offsets": [pos, end]}
        order.append((name, tuple(shape), dtype, pos, end))
        pos = end
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("safetensors metadata must map strings to strings")
        for k, v in metadata.items():
            _check_utf8(k, "metadata key")
            _check_utf8(v, "metadata value")
        entries = {"__metadata__": dict(metadata), **entries}
    text = json.dumps(entries, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    if len(text) > _ST_MAX_HEADER:
        raise ValueError(f"the safetensors header would be {len(text):,} bytes; readers "
                         f"refuse more than {_ST_MAX_HEADER:,} (fewer tensors or shorter "
                         "names, or several files)")
    return struct.pack("<Q", len(text)) + text, order


def _check_utf8(text, what):
    """Refuse a lone surrogate (readers refuse the \\udXXX escape it would become)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {text!r:.80} is not valid Unicode (a lone surrogate); "
                         "safetensors cannot store it") from None


def write_fully(f, data, path):
    """Write all of ``data`` (bytes or a uint8 array) to the raw file ``f``.

    Raw writes may be short (a file-size limit, a signal), so this loops; a
    failing write raises ``OSError`` naming ``path``.
    """
    view = memoryview(data).cast("B")
    try:
        while view.nbytes:
            n = f.write(view)
            if n is None:  # pragma: no cover - non-blocking file
                continue
            view = view[n:]
    except OSError as e:
        raise OSError(e.errno, f"cannot write {os.fspath(path)}: {e.strerror}") from e


def _array_bytes(arr):
    """An array's data as a flat uint8 array in C order, little-endian."""
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr.reshape(-1).view(np.uint8)


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
            write_fully(f, header, path)
            for name, *_ in order:
                write_fully(f, _array_bytes(arrays[name]), path)
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


def chunk_regions(shape, itemsize, chunk_bytes):
    """Cut a tensor into C-order-contiguous blocks of at most ``chunk_bytes``.

    Yields ``region`` tuples (one slice per axis) in C order, so writing the
    blocks one after the other writes the tensor's bytes in order. A block is
    a run of whole trailing axes and a range of one axis, with single indices
    on the axes before it; it holds at least one element.

    >>> [r[0] for r in chunk_regions((5, 4), 4, 32)]
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    shape = tuple(shape)
    if math.prod(shape) == 0:
        return
    max_elems = max(1, chunk_bytes // itemsize)
    inner, k = 1, len(shape)
    while k > 0 and inner * shape[k - 1] <= max_elems:
        inner *= shape[k - 1]
        k -= 1
    whole = tuple(slice(0, n) for n in shape[k:])
    if k == 0:
        yield whole
        return
    n = shape[k - 1]
    step = max(1, max_elems // inner)
    for lead in itertools.product(*(range(d) for d in shape[:k - 1])):
        head = tuple(slice(i, i + 1) for i in lead)
        for a in range(0, n, step):
            yield head + (slice(a, min(a + step, n)),) + whole


class _Writeback:
    """Keep a long sequential write flowing to the disk while it is produced.

    Left alone, the kernel lets dirty pages pile up until it throttles the
    writer, and the closing ``fsync`` then waits for most of the file: the
    disk idles while values are computed and the computation waits while the
    disk writes. Every ``window`` bytes this starts the writeback of the
    newest window (``sync_file_range(SYNC_FILE_RANGE_WRITE)``), waits for the
    window before it to reach the disk and drops it from the page cache
    (``posix_fadvise(DONTNEED)``), so dirty memory stays near two windows and
    the disk works alongside the producer. Linux only; elsewhere a no-op.
    """

    WAIT_BEFORE, WRITE, WAIT_AFTER = 1, 2, 4

    def __init__(self, fd, start, window=64 << 20):
        self.fd, self.window = fd, window
        self.synced = self.kicked = start
        self._sync = _sync_file_range()

    def advance(self, end):
        """The file now holds every byte before ``end``."""
        if self._sync is None:
            return
        while end - self.kicked >= self.window:
            begin, self.kicked = self.kicked, self.kicked + self.window
            if self._sync(self.fd, begin, self.window, self.WRITE) != 0:
                self._sync = None  # unsupported here (a pipe, an odd file system)
                return
            if begin - self.synced >= self.window:  # the window before: on disk, then drop
                done = self.synced
                self._sync(self.fd, done, begin - done,
                           self.WAIT_BEFORE | self.WRITE | self.WAIT_AFTER)
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(self.fd, done, begin - done, os.POSIX_FADV_DONTNEED)
                self.synced = begin


def _sync_file_range():
    """libc's ``sync_file_range`` through ctypes, or None where it is missing."""
    global _SYNC_FILE_RANGE
    if _SYNC_FILE_RANGE is False:
        _SYNC_FILE_RANGE = None
        try:
            import ctypes

            fn = ctypes.CDLL(None, use_errno=True).sync_file_range
            fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
            fn.restype = ctypes.c_int
            _SYNC_FILE_RANGE = fn
        except (OSError, AttributeError):  # not Linux/glibc
            pass
    return _SYNC_FILE_RANGE


_SYNC_FILE_RANGE = False


def write_safetensors_stream(path, tensors, *, metadata=None, chunk_bytes=16 << 20,
                             progress=None):
    """Write a safetensors file whose tensors are produced block by block.

    The header is written first (every shape and dtype is known up front),
    then each tensor in blocks of at most ``chunk_bytes`` from
    :func:`chunk_regions`: ``fill(region, out)`` writes the tensor's values
    for ``region`` into ``out`` (a view of one of two reusable buffers), and a
    writer thread writes the previous block meanwhile. Peak memory is about
    two blocks whatever the file's size. The output is atomic (see
    :func:`atomic_output`) and free space is checked before anything is written.

    Parameters
    ----------
    path : str or os.PathLike
    tensors : sequence of (name, shape, dtype, fill)
    metadata : mapping of str to str, optional
    chunk_bytes : int
    progress : callable, optional
        Called with the number of bytes of each block once it is produced.

    Returns
    -------
    int
        The file's size in bytes.
    """
    fills = {name: fill for name, _, _, fill in tensors}
    header, order = safetensors_layout([t[:3] for t in tensors], metadata)
    total = len(header) + (order[-1][4] if order else 0)
    if os.path.isfile(path) or not os.path.exists(path):
        check_free_space(path, total)
    largest = max((end - begin for *_, begin, end in order), default=0)
    size = max(8, min(int(chunk_bytes), largest))
    size += -size % 8
    free = queue.Queue()
    for _ in range(2):
        free.put(np.empty(size, np.uint8))
    work = queue.Queue()
    failed = []

    def writer(f):
        flow = _Writeback(f.fileno(), len(header))
        end = len(header)
        while True:
            item = work.get()
            if item is None:
                return
            buf, n = item
            if not failed:
                try:
                    write_fully(f, buf[:n], path)
                    end += n
                    flow.advance(end)
                except BaseException as e:  # noqa: BLE001 - re-raised by the producer
                    failed.append(e)
            free.put(buf)

    with atomic_output(path) as f:
        write_fully(f, header, path)
        thread = threading.Thread(target=writer, args=(f,), name="fastinit-writer",
                                  daemon=True)
        thread.start()
        try:
            for name, shape, dtype, _, _ in order:
                for region in chunk_regions(shape, dtype.itemsize, size):
                    block = tuple(s.stop - s.start for s in region)
                    n = math.prod(block) * dtype.itemsize
                    buf = free.get()
                    if failed:
                        raise failed[0]
                    out = buf[:n].view(dtype).reshape(block)
                    fills[name](region, out)
                    work.put((buf, n))
                    if progress is not None:
                        progress(n)
        finally:
            work.put(None)
            thread.join()
        if failed:
            raise failed[0]
    return total


# --------------------------------------------------------------------------- Pretrained


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
        self._ckpt, _ = _as_checkpoint(source)
        names = list(self._ckpt)
        if key is None:
            if len(names) != 1:
                raise ValueError(f"{self._ckpt.path}: key=None needs a source with exactly "
                                 f"one tensor; it holds {len(names)}: {_names(names)}")
            key = names[0]
        elif key not in self._ckpt:
            raise ValueError(f"{self._ckpt.path}: no tensor {key!r}; it holds "
                             f"{_names(names)}")
        self.key = key
        self.dtype = None if dtype is None else _as_dtype(dtype)

    @property
    def shape(self):
        """The stored tensor's shape."""
        return self._ckpt.shape(self.key)

    def __call__(self, shape, dtype=None, *, out=None, region=None):
        shape = _check_shape(shape)
        where = f"{self._ckpt.path}: tensor {self.key!r}"
        stored_shape, stored_dtype = self._ckpt.shape(self.key), self._ckpt.dtype(self.key)
        if shape != tuple(stored_shape):
            raise ValueError(f"{where}: requested shape {_shape_str(shape)} but the file "
                             f"has shape {_shape_str(stored_shape)}")
        if out is not None and not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
        if dtype is not None:
            dtype = _as_dtype(dtype)
        elif out is not None:
            dtype = out.dtype
        else:
            dtype = self.dtype or stored_dtype
        if not _can_cast(stored_dtype, dtype):
            raise ValueError(f"{where}: cannot cast the stored {stored_dtype} to {dtype}")
        box = _check_region(region, shape)
        target = tuple(b - a for a, b in box)
        if out is not None:
            if out.shape != target:
                raise ValueError(f"out must have shape {target}; got {out.shape}")
            if out.dtype != dtype:
                raise TypeError(f"out must have dtype {dtype}; got {out.dtype}")
            if not out.flags.writeable:
                raise ValueError("out must be writable; got a read-only array")
        else:
            out = np.empty(target, dtype)
        self._ckpt.read_into(self.key, tuple(slice(a, b) for a, b in box), out)
        return out

    def get_config(self):
        """Config for :meth:`from_config`; only a path source can be serialized."""
        if not isinstance(self.source, (str, os.PathLike)):
            raise TypeError("a Pretrained initializer over an in-memory mapping cannot be "
                            "serialized; give it a file path")
        return {"source": os.fspath(self.source), "key": self.key,
                "dtype": None if self.dtype is None else self.dtype.name}

    def __repr__(self):
        return f"Pretrained({self._ckpt.path!r}, key={self.key!r})"
