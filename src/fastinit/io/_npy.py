"""``.npy`` and ``.npz`` reading: :class:`NpyCheckpoint` (memory-mapped),
:class:`NpzCheckpoint` (member by member) and the ``.npy`` header parser they
share, which lets no lie in a header get further than a ``ValueError``.
``.npz`` files are written by :func:`fastinit.io.save`.
"""
from __future__ import annotations

import ast
import math
import os
import struct
import zipfile
import zlib

import numpy as np

from ._base import Checkpoint, _drop_pages, check_dims, shape_str

# NumPy's own limit on a .npy header (np.load refuses longer ones by default).
_NPY_MAX_HEADER = 10_000
_NPY_MAGIC = b"\x93NUMPY"
# Errors the zip/zlib layer raises for a bad archive (not the file system's OSError).
_ZIP_ERRORS = (ValueError, zipfile.BadZipFile, EOFError, OSError, NotImplementedError,
               RuntimeError, zlib.error, struct.error, OverflowError, KeyError)
# deflate expands at most ~1032:1; a member cannot hold more than this.
_DEFLATE_RATIO = 1032


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
            raise ValueError(f"its header declares {dtype}, shape {shape_str(shape)} "
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
                             f"{shape_str(shape)}): {e}") from None

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
    check_dims(shape, dtype.itemsize)
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
                             f"{shape_str(shape)} needs {offset + need} bytes, the file "
                             f"has {size}")
        try:
            self._arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OverflowError, SyntaxError, TypeError, MemoryError) as e:
            raise ValueError(f"{self.path}: truncated or corrupt .npy file: tensor of "
                             f"{dtype}, shape {shape_str(shape)} ({e})") from None
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
