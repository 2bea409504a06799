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
One module per concern; the public names, and the checks and writers the
rest of fastinit shares, are re-exported here: ``_base`` (the
:class:`Checkpoint` interface, the checks the formats share), ``_safetensors``,
``_npy`` (``.npy`` and ``.npz``), ``_hdf5``, ``_output`` (all-or-nothing
output, free space, the streaming writer), ``_dispatch`` (:func:`load`,
:func:`save`) and ``_pretrained`` (:class:`Pretrained`). Every writer calls
``_output.write_fully`` and ``_output._sync_file_range`` through that module, so
replacing them there (as the tests do) reaches every writer.
"""
from __future__ import annotations

import os  # noqa: F401 (re-exported: tests replace os.statvfs through fastinit.io.os)

from ._base import (  # noqa: F401 (re-exported: shared by params, schemes, the writers)
    Checkpoint,
    MappingCheckpoint,
    can_cast,
    check_dims,
    name_list,
    shape_str,
)
from ._dispatch import as_checkpoint, load, save  # noqa: F401
from ._hdf5 import H5Checkpoint  # noqa: F401
from ._npy import NpyCheckpoint, NpzCheckpoint  # noqa: F401
from ._output import (  # noqa: F401 (re-exported)
    _Writeback,
    atomic_output,
    check_free_space,
    chunk_regions,
    write_fully,
    write_safetensors_stream,
)
from ._pretrained import Pretrained
from ._safetensors import SafetensorsCheckpoint, safetensors_layout  # noqa: F401

__all__ = ["Checkpoint", "Pretrained", "load", "save"]

# The public names keep the module they are documented (and pickled) under.
for _public in (Checkpoint, Pretrained, load, save):
    _public.__module__ = __name__
del _public
