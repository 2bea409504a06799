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

Layout
------
One module per concern, every name re-exported here (where the rest of
fastinit and the tests find, and replace, them): ``_base`` (the
:class:`Checkpoint` interface, the checks the formats share), ``_safetensors``,
``_npy`` (``.npy`` and ``.npz``), ``_hdf5``, ``_output`` (all-or-nothing
output, free space, the streaming writer), ``_dispatch`` (:func:`load`,
:func:`save`) and ``_pretrained`` (:class:`Pretrained`). Every writer calls
``_output.write_fully`` and ``_output._sync_file_range`` through that module, so
replacing them there (as the tests do) reaches every writer.
"""
from __future__ import annotations

import os  # noqa: F401 (re-exported: tests replace os.statvfs through fastinit.io.os)

from ._base import (  # noqa: F401 (re-exported)
    _MAX_BYTES,
    _MAX_NDIM,
    Checkpoint,
    MappingCheckpoint,
    _drop_pages,
    can_cast,
    check_dims,
    name_list,
    shape_str,
)
from ._dispatch import _FORMATS, _LOADERS, _sniff, as_checkpoint, load, save  # noqa: F401
from ._hdf5 import _H5_ERRORS, _HDF5_SIGNATURE, H5Checkpoint, _Refused  # noqa: F401
from ._npy import (  # noqa: F401 (re-exported)
    _DEFLATE_RATIO,
    _NPY_MAGIC,
    _NPY_MAX_HEADER,
    _ZIP_ERRORS,
    NpyCheckpoint,
    NpzCheckpoint,
    _npy_header,
    _read_exactly,
)
from ._output import (  # noqa: F401 (re-exported)
    _array_bytes,
    _sync_file_range,
    _Writeback,
    atomic_output,
    check_free_space,
    chunk_regions,
    write_fully,
    write_safetensors_stream,
)
from ._pretrained import Pretrained
from ._safetensors import (  # noqa: F401 (re-exported)
    _NP_TO_ST,
    _ST_ITEMSIZE,
    _ST_MAX_HEADER,
    _ST_TO_NP,
    SafetensorsCheckpoint,
    _check_utf8,
    safetensors_layout,
)

__all__ = ["Checkpoint", "Pretrained", "load", "save"]

# The public names keep the module they are documented (and pickled) under.
for _public in (Checkpoint, Pretrained, load, save):
    _public.__module__ = __name__
del _public
