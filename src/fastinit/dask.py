"""Scale-out on Dask: tensors generated chunk by chunk, where they are computed.

Every fastinit value is a pure function of (seed, stream, parameters, dtype,
logical index), so a chunk of a tensor can be generated on any machine from
the initializer's few-hundred-byte configuration and the chunk's slices. The
task graphs built here hold nothing else: no array data travels from the
client, whatever the tensor's size, and the computed array equals
``init(shape, dtype)`` bit for bit for any chunking and any scheduler
(synchronous, threads, processes, a ``distributed`` cluster).

Dask is an optional dependency (``pip install "fastinit-nn[dask]"``);
``import fastinit`` never imports it, only ``import fastinit.dask`` does.
Zarr (for :func:`to_zarr` and :func:`from_zarr`) is imported on first use.

Threads: a fill of ``n`` elements uses ``min(fastinit.get_num_threads(),
n // 2**18)`` threads in the process that runs the task. Where Dask already
runs one task per core (the threaded scheduler, workers with several threads), set
``FASTINIT_NUM_THREADS=1`` in the workers' environment to avoid
oversubscription; with one Dask thread per worker, leave the default.
"""
from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.base import tokenize
except ImportError as exc:  # pragma: no cover - exercised only without dask
    raise ImportError(
        "fastinit.dask needs Dask: pip install 'fastinit-nn[dask]' "
        "(or pip install 'dask[array]')"
    ) from exc

from ._core import STREAM_VERSION
from ._dtypes import as_dtype
from ._validate import check_shape as _check_shape
from ._version import __version__

__all__ = ["from_initializer", "from_zarr", "init_params", "to_zarr"]

# Group attribute under which to_zarr records what from_zarr needs.
_ZARR_ATTR = "fastinit"


# ---------------------------------------------------------------------------
# helpers


def _resolve_initializer(init):
    """An initializer instance from anything ``fastinit.initializers.get`` accepts."""
    if isinstance(init, (str, Mapping, type)) or not callable(init):
        from . import initializers

        init = initializers.get(init)
    if init is None:
        raise TypeError("init must be an initializer or an identifier of one, got None")
    return init


def _resolve_dtype(dtype) -> np.dtype:
    return np.dtype(np.float32) if dtype is None else as_dtype(dtype)


def _shardable(init) -> bool:
    """Whether ``init`` can produce any region without computing the whole tensor:
    its class's ``shardable`` (every fastinit initializer states it), else
    whether it takes ``region=``."""
    flag = getattr(init, "shardable", None)
    if isinstance(flag, bool):
        return flag
    try:
        params = inspect.signature(init).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return "region" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def _validate(init, shape, dtype):
    """Fail now, on the client, for what would fail in every task (a rank or
    dtype the initializer refuses, a parameter not finite in float16)."""
    from .initializers import Initializer

    if isinstance(init, Initializer):
        init.prepare(shape, dtype)  # other callables are checked by their tasks


def _describe(init):
    """``(factory, config)`` that rebuild ``init`` anywhere: its class and
    ``get_config()`` when it has a config that serializes, else ``(None, init)``
    (then the instance itself travels in the graph; it must be picklable)."""
    # full_config (fastinit's initializers): the config with the seed an unseeded one drew
    get_config = getattr(init, "full_config", None) or getattr(init, "get_config", None)
    from_config = getattr(type(init), "from_config", None)
    if get_config is not None and from_config is not None:
        try:
            return type(init), copy.deepcopy(get_config())
        except (TypeError, ValueError, NotImplementedError):
            pass  # e.g. Pretrained over an in-memory mapping
    return None, init


# Initializers rebuilt from their config, per process, by graph token: a
# worker builds each one once however many chunks it computes.
_INSTANCES: dict = {}
_INSTANCES_MAX = 256


@dataclass(frozen=True)
class _Recipe:
    """Everything a task needs to make a chunk: a few hundred bytes pickled."""

    token: str
    factory: Any  # the initializer's class, or None when ``config`` is the initializer
    config: Any
    shape: tuple
    dtype: np.dtype

    def initializer(self):
        if self.factory is None:
            return self.config
        init = _INSTANCES.get(self.token)
        if init is None:
            if len(_INSTANCES) >= _INSTANCES_MAX:
                _INSTANCES.clear()
            init = self.factory.from_config(copy.deepcopy(self.config))
            _INSTANCES[self.token] = init
        return init

    def region(self, region):
        init = self.initializer()
        block = init(self.shape, self.dtype, region=region)
        _check_block(block, tuple(s.stop - s.start for s in region), self.dtype, init)
        return block

    def whole(self):
        init = self.initializer()
        block = init(self.shape, self.dtype)
        _check_block(block, self.shape, self.dtype, init)
        return block


def _check_block(block, shape, dtype, init):
    # A wrong-shaped block would silently corrupt the dask array downstream.
    if not isinstance(block, np.ndarray) or block.shape != shape or block.dtype != dtype:
        got = (getattr(block, "shape", None), getattr(block, "dtype", type(block).__name__))
        name = getattr(init, "__name__", type(init).__name__)
        raise RuntimeError(
            f"{name} returned {got[0]} {got[1]} for a chunk that must be "
            f"{shape} {dtype}"
        )


def _generate_block(recipe: _Recipe, block_info=None):
    location = block_info[None]["array-location"]
    return recipe.region(tuple(slice(start, stop) for start, stop in location))


def _generate_whole(recipe: _Recipe):
    return recipe.whole()


# ---------------------------------------------------------------------------
# public API


def from_initializer(init, shape, *, chunks="auto", dtype=None):
    """from_initializer(init, shape, *, chunks="auto", dtype=None) -> dask.array.Array

    A Dask array holding ``init(shape, dtype)``, each chunk generated where it
    is computed.

    Chunk ``(i, j, ...)`` is the task ``init(shape, dtype, region=slices)``
    for that chunk's slices, so the graph holds only the initializer's class
    and ``get_config()`` (taken now, a few hundred bytes; each worker rebuilds
    the initializer once) and the slices, never array data: a 4-terabyte
    tensor makes a graph as small per chunk as a 4-kilobyte one. Because
    fastinit values depend only on their logical index, the computed array
    equals ``init(shape, dtype)`` bit for bit, for any ``chunks`` and any
    scheduler. An initializer without a working ``get_config``/``from_config``
    pair (a custom callable, ``Pretrained`` over an in-memory mapping) travels
    in the graph itself, pickled. ``Pretrained`` over a file reopens the file
    on the worker, which must see the same path.

    Initializers that cannot produce a region on its own (``Orthogonal``,
    whose values come from a QR decomposition of the whole matrix, and
    callables without a ``region=`` keyword) are computed whole, once, in a
    single task, and the requested chunks are sliced from that result: the
    values are still exact, but the whole tensor must fit in one worker's
    memory. An initializer class can declare ``shardable = False`` (or
    ``True``) to choose explicitly.

    Parameters
    ----------
    init : initializer or identifier
        A fastinit initializer instance, or anything
        ``fastinit.initializers.get`` accepts (a name such as
        ``"glorot_uniform"``, a class, a config dict). Note that an
        identifier without a seed draws a fresh random seed.
    shape : tuple of int
        Shape of the whole tensor.
    chunks : str, int, tuple or dict, default "auto"
        Any chunk specification ``dask.array`` accepts, irregular ones
        included (e.g. ``((300, 700), (512, 512))``). ``"auto"`` uses Dask's
        ``array.chunk-size`` setting.
    dtype : dtype or str, optional
        float32 by default; ``"bfloat16"`` is accepted.

    Returns
    -------
    dask.array.Array
        Lazy; its name is deterministic in (initializer config, shape,
        dtype, chunks), so equal arrays share keys.

    Raises
    ------
    TypeError
        For a bad ``shape`` or ``dtype``, or a dtype the initializer refuses.
    ValueError
        For chunks that do not fit ``shape`` (from Dask), an unknown
        initializer name, or a shape or parameters the initializer refuses
        (checked now, on the client, not in every task).

    Examples
    --------
    >>> import numpy as np
    >>> import fastinit.dask
    >>> from fastinit.initializers import GlorotUniform
    >>> init = GlorotUniform(seed=0)
    >>> w = fastinit.dask.from_initializer(init, (1000, 300), chunks=(256, 100))
    >>> w.numblocks
    (4, 3)
    >>> np.array_equal(w.compute(), init((1000, 300)))
    True
    """
    init = _resolve_initializer(init)
    shape = _check_shape(shape)
    dtype = _resolve_dtype(dtype)
    chunks = da.core.normalize_chunks(chunks, shape, dtype=dtype)
    shardable = _shardable(init)
    _validate(init, shape, dtype)
    factory, config = _describe(init)
    ident = config if factory is None else (factory.__module__, factory.__qualname__, config)
    token = tokenize(ident, shape, dtype.name, chunks, STREAM_VERSION)
    recipe = _Recipe(token, factory, config, shape, dtype)
    prefix = f"fastinit-{type(init).__name__.lower()}"
    meta = np.empty((0,) * len(shape), dtype=dtype)

    if shardable:
        return da.map_blocks(
            _generate_block, recipe, chunks=chunks, dtype=dtype, meta=meta,
            name=f"{prefix}-{token}",
        )
    whole = dask.delayed(_generate_whole, pure=True)(
        recipe, dask_key_name=f"{prefix}-whole-{token}"
    )
    return da.from_delayed(whole, shape, dtype=dtype, meta=meta).rechunk(chunks)


def init_params(spec, *, seed, chunks="auto", dtype=None):
    """init_params(spec, *, seed, chunks="auto", dtype=None) -> dict[str, dask.array.Array]

    The tensors of ``fastinit.init_params(spec, seed=seed, dtype=dtype)`` as
    Dask arrays, each chunk generated where it is computed.

    Tensor ``name`` holds exactly the values of its initializer configured
    with ``seed=seed, stream=stream_id(name)``, as in
    ``fastinit.init_params``: adding, removing or reordering entries never
    changes the others. Together with :func:`to_zarr` this creates a model
    larger than any one machine's memory, chunk by chunk, on a cluster.
    Pre-trained weights are not handled here: load them with
    ``fastinit.init_params(..., pretrained=...)`` or ``fastinit.load``.

    Parameters
    ----------
    spec : mapping or path
        ``name -> {"shape": [...], "init": <identifier>, "dtype": optional}``,
        a JSON file holding it, or a ``.safetensors`` file whose header gives
        the names and shapes -- anything ``fastinit.init_params`` accepts.
    seed : int, numpy.random.Generator, numpy.random.SeedSequence or None
        Resolved once, as ``fastinit.resolve_seed`` does (``None`` draws
        fresh entropy).
    chunks : str, int, tuple or mapping, default "auto"
        Applied to every tensor (any ``dask.array`` chunk specification), or a
        mapping from tensor name to its chunks; names not in the mapping get
        ``"auto"``.
    dtype : dtype or str, optional
        For entries without their own ``"dtype"``; float32 by default.

    Returns
    -------
    dict[str, dask.array.Array]
        In the order of ``spec``.

    Raises
    ------
    ValueError
        For a malformed entry, an unknown initializer name, or a chunks
        mapping naming tensors that are not in ``spec``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastinit, fastinit.dask
    >>> spec = {"dense.kernel": {"shape": [512, 256], "init": "glorot_uniform"},
    ...         "dense.bias": {"shape": [256], "init": "zeros"}}
    >>> lazy = fastinit.dask.init_params(spec, seed=42, chunks={"dense.kernel": (128, 256)})
    >>> lazy["dense.kernel"].numblocks
    (4, 1)
    >>> eager, _ = fastinit.init_params(spec, seed=42)
    >>> all(np.array_equal(lazy[k].compute(), eager[k]) for k in spec)
    True
    """
    from .params import make_plan

    # The plan is what fastinit.init_params samples from: the same spec
    # parsing, dtype rules and per-tensor (seed, stream_id(name)) initializers,
    # all validated here, before any graph is built.
    with make_plan(spec, seed=seed, dtype=dtype) as plan:
        tensors = plan.tensors
    per_tensor = isinstance(chunks, Mapping) and all(isinstance(k, str) for k in chunks)
    if per_tensor:
        names = {t.name for t in tensors}
        unknown = [k for k in chunks if k not in names]
        if unknown:
            raise ValueError(
                "chunks names tensors that are not in spec: "
                + ", ".join(map(repr, unknown))
            )
    return {
        t.name: from_initializer(
            t.init, t.shape, dtype=t.dtype,
            chunks=chunks.get(t.name, "auto") if per_tensor else chunks,
        )
        for t in tensors
    }


def _regular_chunks(chunks):
    """Chunk sizes zarr can hold: the largest chunk of each axis (at least 1)."""
    return tuple(max(max(c, default=0), 1) for c in chunks)


def _is_regular(chunks) -> bool:
    return all(
        all(c == axis[0] for c in axis[:-1]) and axis[-1] <= axis[0]
        for axis in chunks if axis
    )


def to_zarr(arrays, store, *, overwrite=False, compute=True, storage_options=None,
            **array_kwargs):
    """to_zarr(arrays, store, *, overwrite=False, compute=True, storage_options=None,
               **array_kwargs)

    Write a dict of Dask arrays to a new zarr group, one zarr array per name.

    Every chunk is written by the worker that generated it, so a tensor is
    never gathered anywhere: with a store that all workers can reach (a
    shared file system, an object store URL), a model larger than every
    machine's memory is written in one pass. The zarr chunks are the Dask
    chunks (irregular ones are first rechunked to the largest chunk of each
    axis). bfloat16, which zarr has no type for, is stored as its uint16 bit
    pattern and recorded as bfloat16; :func:`from_zarr` restores it.

    Parameters
    ----------
    arrays : mapping of str to dask.array.Array
        E.g. the result of :func:`init_params`. A name with ``/`` makes
        nested groups.
    store : str, path or zarr store
        Where to write the group (``zarr.open_group``'s ``store``).
    overwrite : bool, default False
        Replace an existing group; otherwise an existing one raises
        (``FileExistsError`` with zarr 3).
    compute : bool, default True
        Write now; with ``False``, return the ``dask.delayed`` object that
        writes when computed (the zarr metadata is created at once).
    storage_options : dict, optional
        Passed to ``zarr.open_group`` for fsspec URLs.
    **array_kwargs
        Passed to zarr's array creation (``Group.create_array`` with zarr 3,
        ``Group.empty`` with zarr 2), e.g. ``compressors=None`` (zarr 3) or
        ``compressor=None`` (zarr 2) to skip compressing random values, which
        barely compress.

    Returns
    -------
    zarr.Group or dask.delayed.Delayed
        The group opened read-only when ``compute`` is true.

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> import fastinit.dask
    >>> spec = {"w": {"shape": [1000, 500], "init": "he_normal", "dtype": "bfloat16"}}
    >>> lazy = fastinit.dask.init_params(spec, seed=0, chunks=(250, 500))
    >>> path = os.path.join(tempfile.mkdtemp(), "model.zarr")
    >>> group = fastinit.dask.to_zarr(lazy, path)
    >>> back = fastinit.dask.from_zarr(path)
    >>> back["w"].dtype.name, np.array_equal(back["w"].compute(), lazy["w"].compute())
    ('bfloat16', True)
    """
    import zarr

    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays must be a mapping name -> dask array, got {type(arrays).__name__}")
    for name, arr in arrays.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"array names must be non-empty strings, got {name!r}")
        if not isinstance(arr, da.Array):
            raise TypeError(f"arrays[{name!r}] must be a dask array, got {type(arr).__name__}")

    open_kwargs = {} if storage_options is None else {"storage_options": storage_options}
    group = zarr.open_group(store, mode="w" if overwrite else "w-", **open_kwargs)
    # zarr 3's array creation, else zarr 2's (their keyword sets differ)
    create = getattr(group, "create_array", None) or group.empty
    sources, targets, tensors = [], [], []
    for name, arr in arrays.items():
        if not _is_regular(arr.chunks):
            arr = arr.rechunk(_regular_chunks(arr.chunks))
        tensors.append([name, arr.dtype.name])
        if arr.dtype.name == "bfloat16":
            arr = arr.view(np.uint16)
        targets.append(create(name=name, shape=arr.shape, dtype=arr.dtype,
                              chunks=_regular_chunks(arr.chunks), **array_kwargs))
        sources.append(arr)
    group.attrs[_ZARR_ATTR] = {
        "version": __version__,
        "stream_version": STREAM_VERSION,
        # a list, not a mapping: zarr 2 sorts the keys of attributes
        "tensors": tensors,
    }
    # Chunks align with zarr chunks, so writers never share a zarr chunk: no lock.
    written = da.store(sources, targets, lock=False, compute=False)
    if not compute:
        return written
    dask.compute(written)
    return zarr.open_group(store, mode="r", **open_kwargs)


def from_zarr(store, *, storage_options=None):
    """from_zarr(store, *, storage_options=None) -> dict[str, dask.array.Array]

    The arrays that :func:`to_zarr` wrote, lazily, with their dtypes
    (bfloat16 included) and in their original order.

    Parameters
    ----------
    store : str, path or zarr store
        A group written by :func:`to_zarr`.
    storage_options : dict, optional
        Passed to ``zarr.open_group`` for fsspec URLs.

    Returns
    -------
    dict[str, dask.array.Array]
        Chunked as stored.

    Raises
    ------
    ValueError
        If the group was not written by :func:`to_zarr`.

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> import fastinit, fastinit.dask
    >>> init = fastinit.GlorotUniform(seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "w.zarr")
    >>> w = fastinit.dask.from_initializer(init, (600, 400), chunks=(200, 400), dtype="bfloat16")
    >>> _ = fastinit.dask.to_zarr({"w": w}, path)
    >>> back = fastinit.dask.from_zarr(path)["w"]
    >>> back.dtype.name, back.chunks
    ('bfloat16', ((200, 200, 200), (400,)))
    >>> np.array_equal(back.compute(), init((600, 400), "bfloat16"))
    True
    """
    import ml_dtypes
    import zarr

    open_kwargs = {} if storage_options is None else {"storage_options": storage_options}
    group = zarr.open_group(store, mode="r", **open_kwargs)
    meta = group.attrs.get(_ZARR_ATTR)
    if not isinstance(meta, Mapping) or "tensors" not in meta:
        raise ValueError(
            f"{store!r} was not written by fastinit.dask.to_zarr (no {_ZARR_ATTR!r} "
            f"group attribute)"
        )
    arrays = {}
    for name, dtype_name in meta["tensors"]:
        arr = da.from_zarr(group[name])
        if dtype_name == "bfloat16":
            arr = arr.view(ml_dtypes.bfloat16)
        arrays[name] = arr
    return arrays
