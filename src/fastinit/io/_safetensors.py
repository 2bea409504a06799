"""``.safetensors``: the dtype names, the reader (:class:`SafetensorsCheckpoint`:
header parsed and checked at open, data memory-mapped) and the header of a file
to write (:func:`safetensors_layout`). The header's own parsing and checks are
in :mod:`fastinit._st_header`.
"""
from __future__ import annotations

import json
import math
import mmap
import os
import struct

import ml_dtypes
import numpy as np

from .. import _st_header
from ._base import Checkpoint, _drop_pages, check_dims, shape_str

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

# The safetensors library refuses headers above 100 MB; so do we.
_ST_MAX_HEADER = _st_header.MAX_HEADER


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
                check_dims(shape, dtype.itemsize)
            except ValueError as e:
                raise ValueError(f"{p}: bad safetensors header entry for tensor {name!r}: "
                                 f"{e}") from None
            if end > self._data_size:
                raise ValueError(f"{p}: truncated safetensors file: tensor {name!r} "
                                 f"({st}, shape {shape_str(shape)}) needs data bytes "
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
                             f"{shape_str(shape)}): {e}") from None

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
            check_dims(tuple(int(d) for d in shape), dtype.itemsize)
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
