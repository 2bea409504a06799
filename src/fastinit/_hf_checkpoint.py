"""Sharded checkpoints in the Hugging Face layout, streaming (``fastinit init -o DIR/``).

    fastinit init SPEC.json -o DIR/ [--max-shard-size 5GB] [--resume]
                  [--workers N | --scheduler ADDRESS]
    fastinit init --from-hf CONFIG -o DIR/ [--seed N] [--dtype D] ...

Layout: transformers' ``save_pretrained``.  Tensors are cut into shards in
order, as ``huggingface_hub.split_state_dict_into_shards_factory`` does: a
shard is closed before the tensor that would push it past
``--max-shard-size`` (decimal ``KB``/``MB``/``GB``/``TB`` as transformers
parses them, binary ``KiB``/``MiB``/``GiB`` and plain bytes too), and a tensor
larger than that limit gets a shard of its own.  Files are
``model-00001-of-0000N.safetensors`` plus ``model.safetensors.index.json``
(``{"metadata": {"total_size", "total_parameters", ...}, "weight_map": {name:
file}}``); a single shard is ``model.safetensors`` with no index.

Each shard is written by :func:`fastinit.io.write_safetensors_stream`: header
first, then each tensor block by block from reusable buffers, to a hidden
temporary file renamed at the end.  Peak memory is two blocks plus what the
tensor source holds (nothing for a spec; for ``--from-hf`` the module being
initialized, see :mod:`fastinit._hf_model`).

Provenance: every file's ``__metadata__`` holds ``format: pt`` (as transformers
writes), ``fastinit.version``, ``fastinit.stream_version``, ``fastinit.seed``
and ``fastinit.spec_sha256`` (the SHA-256 of the canonical JSON of the tensor
list: names, shapes, dtypes and initializers -- for ``--from-hf``, of the
config and model class).  The index's ``metadata`` has them too.

``--resume`` keeps a shard already in place when its header bytes equal the
header this run would write (so the same tensors, layout, seed, versions and
spec) and its size is the expected one; shards are renamed into place only
when complete, so a kept shard is a finished one.  Other shards are written.

Parallel: with ``workers`` (a local Dask cluster of that many processes) or a
``scheduler`` address, each shard is one Dask task writing its own file into
the shared output directory; the bytes equal a single-process run's.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re

import numpy as np

from ._hf_model import canonical_hash
from ._regions import whole_filler

__all__ = ["SpecSource", "parse_max_shard_size", "shard_plan", "write_checkpoint"]

_DEFAULT_MAX_SHARD = "5GB"
_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"


def parse_max_shard_size(value):
    """Bytes of a ``max_shard_size``: an int, or ``"5GB"``, ``"1.5GB"``, ``"500MB"``, ``"2GiB"``.

    Decimal units as transformers (``huggingface_hub.parse_size_to_int``):
    KB = 1e3, MB = 1e6, GB = 1e9, TB = 1e12; binary KiB, MiB, GiB, TiB too.

    >>> parse_max_shard_size("5GB"), parse_max_shard_size("1.5MB"), parse_max_shard_size(4096)
    (5000000000, 1500000, 4096)
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        size = int(value)
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]i?b|b)?\s*", value.lower())
        if m is None:
            raise ValueError(f"max_shard_size must be a size such as 5GB, 500MB, 2GiB or a "
                             f"number of bytes; got {value!r}")
        size = int(float(m.group(1)) * _SIZE_UNITS[m.group(2) or ""])
    else:
        raise TypeError(f"max_shard_size must be an int or a str such as '5GB'; "
                        f"got {type(value).__name__}")
    if size < 1:
        raise ValueError(f"max_shard_size must be positive; got {value!r}")
    return size


def shard_plan(sizes, max_shard_size):
    """Group tensor indices into shards, in order, as huggingface_hub does.

    >>> shard_plan([6, 6, 2, 6, 2, 2], 10)
    [[0], [1, 2], [3, 4, 5]]
    >>> shard_plan([12, 3], 10)
    [[0], [1]]
    """
    shards, current, current_size = [], [], 0
    for i, size in enumerate(sizes):
        if size > max_shard_size:
            shards.append([i])
            continue
        if current_size + size > max_shard_size and current:
            shards.append(current)
            current, current_size = [], 0
        current.append(i)
        current_size += size
    if current:
        shards.append(current)
    return shards or [[]]


def shard_names(count):
    if count == 1:
        return [SINGLE_NAME]
    return [f"model-{k + 1:05d}-of-{count:05d}.safetensors" for k in range(count)]


# --------------------------------------------------------------------------- sources
#
# A source gives the tensors of a checkpoint: ``tensors()`` -> list of
# (name, shape, numpy dtype), ``fills(names)`` -> {name: fill(region, out)}
# for the tensors of one shard, ``provenance()`` -> dict of str.  Sources are
# picklable descriptions (a spec path or mapping, a config), so a Dask worker
# rebuilds what it needs for its shard.


_FORMATS = {"pt": "torch", "torch": "torch", "pytorch": "torch", "flax": "jax", "jax": "jax",
            "tf": "keras", "keras": "keras"}


def cli_layout(args, plan):
    """``(layout, why)``: ``--layout``, else for a .safetensors SPEC its writer's layout
    (``__metadata__["format"]`` as transformers writes it, else torch's parameter names
    ``*.weight`` without any Keras/Flax ``kernel``), else keras (``why`` None for a JSON
    spec: nothing to report)."""
    if args.layout:
        return args.layout, "--layout"
    try:
        with open(args.spec, "rb") as f:
            head = f.read(9)
    except OSError:
        head = b""
    if head[8:9] != b"{" or head[:1] in b" \t\r\n{":  # a JSON spec: axes are in its entries
        return "keras", None
    fmt = str(plan.metadata.get("format", "")).lower()
    if fmt in _FORMATS:
        return _FORMATS[fmt], f"the file's __metadata__ format {fmt!r}"
    last = [t.name.replace("/", ".").rsplit(".", 1)[-1] for t in plan.tensors
            if len(t.shape) >= 2]
    if "kernel" not in last and any(c == "weight" or c.endswith("_weight") for c in last):
        return "torch", "torch's parameter names (*.weight)"
    return "keras", "the default"


def apply_layout(plan, layout):
    """Give torch-layout fans to the rank >= 2 initializers without explicit axes
    (keras and jax count fans alike, on (*spatial, in, out))."""
    if layout != "torch":
        return
    for i, t in enumerate(plan.tensors):
        config = t.init.get_config() if hasattr(t.init, "get_config") else {}
        if len(t.shape) >= 2 and config.get("input_axes", 0) is None \
                and config.get("output_axes", 0) is None:
            spatial = list(range(2, len(t.shape)))
            config.update(input_axes=[1, *spatial], output_axes=[0, *spatial])
            plan.tensors[i] = dataclasses.replace(t, init=type(t.init).from_config(config))


class SpecSource:
    """Tensors of a fastinit spec (a JSON path, a mapping or a .safetensors header)."""

    def __init__(self, spec, *, seed, dtype=None, init="glorot_uniform", pretrained=None,
                 strict=False, scheme=None, layout=None):
        from ._core import resolve_seed

        self.spec = os.path.abspath(spec) if isinstance(spec, (str, os.PathLike)) else spec
        self.seed = resolve_seed(seed)
        self.dtype = dtype
        self.init = init
        self.pretrained = (os.path.abspath(pretrained)
                           if isinstance(pretrained, (str, os.PathLike)) else pretrained)
        self.strict = strict
        self.scheme = scheme
        self.layout = layout  # "torch": torch-layout fans, as the single-file writer gives
        self._plan = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_plan"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._plan = None

    def plan(self):
        if self._plan is None:
            from .params import make_plan

            plan = make_plan(self.spec, seed=self.seed, dtype=self.dtype, init=self.init,
                              pretrained=self.pretrained, strict=self.strict,
                              scheme=self.scheme)
            if self.layout is not None:
                apply_layout(plan, self.layout)
            self._plan = plan
        return self._plan

    def set_layout(self, layout):
        """The fans' layout of the rank >= 2 initializers (applied to the plan if built)."""
        self.layout = layout
        if self._plan is not None:
            apply_layout(self._plan, layout)

    def tensors(self):
        return [(t.name, t.shape, t.dtype) for t in self.plan().tensors]

    def metadata(self):
        return dict(self.plan().metadata or {})

    def spec_hash(self):
        from .initializers import serialize

        rows = []
        for t in self.plan().tensors:
            try:
                config = serialize(t.init)
            except Exception:  # noqa: BLE001 - an initializer without a config
                config = repr(t.init)
            rows.append([t.name, list(t.shape), str(t.dtype), config])
        return canonical_hash(rows)

    def prepare(self):
        self.plan()

    def fills(self, names):
        by_name = {t.name: t for t in self.plan().tensors}
        return {n: block_filler(by_name[n]) for n in names}

    def close(self):
        if self._plan is not None:
            self._plan.close()
            self._plan = None


def block_filler(t):
    """``fill(region, out)`` writing planned tensor ``t``'s values block by block."""
    if getattr(t.init, "shardable", True) is False:  # e.g. Orthogonal's QR: once
        return whole_filler(t.fill, t.shape)

    def fill(region, out):
        t.fill(out, region)
    return fill


# --------------------------------------------------------------------------- writing


class Layout:
    """Which tensor goes to which file, the headers' metadata, the index."""

    def __init__(self, source, max_shard_size):
        from . import STREAM_VERSION, __version__

        self.tensors = source.tensors()
        self.max_shard_size = parse_max_shard_size(max_shard_size)
        sizes = [math.prod(shape) * np.dtype(dtype).itemsize for _, shape, dtype in self.tensors]
        self.shards = shard_plan(sizes, self.max_shard_size)
        self.names = shard_names(len(self.shards))
        self.total_size = sum(sizes)
        self.total_parameters = sum(math.prod(shape) for _, shape, _ in self.tensors)
        meta = dict(source.metadata())
        meta.update({"format": "pt", "fastinit.version": __version__,
                     "fastinit.stream_version": str(STREAM_VERSION),
                     "fastinit.seed": str(source.seed),
                     "fastinit.spec_sha256": source.spec_hash()})
        self.metadata = meta

    def shard_tensors(self, k):
        return [self.tensors[i] for i in self.shards[k]]

    def index(self):
        weight_map = {}
        for k, shard in enumerate(self.shards):
            for i in shard:
                weight_map[self.tensors[i][0]] = self.names[k]
        provenance = {k: v for k, v in self.metadata.items() if k.startswith("fastinit.")}
        return {"metadata": {"total_parameters": self.total_parameters,
                             "total_size": self.total_size, **provenance},
                "weight_map": dict(sorted(weight_map.items()))}


def _expected_header(layout, k):
    from .io import safetensors_layout

    header, order = safetensors_layout(layout.shard_tensors(k), layout.metadata)
    return header, len(header) + (order[-1][4] if order else 0)


def shard_is_complete(directory, layout, k, expected=None):
    """True when shard ``k`` is in place with this run's exact header and full size
    (``expected``: its ``(header, size)``, when the caller has computed them)."""
    path = os.path.join(directory, layout.names[k])
    header, size = expected or _expected_header(layout, k)
    try:
        if os.path.getsize(path) != size:
            return False
        with open(path, "rb") as f:
            return f.read(len(header)) == header
    except OSError:
        return False


def write_shard(directory, source, max_shard_size, k, chunk_bytes=16 << 20, progress=None,
                layout=None):
    """Write shard ``k`` of ``source``'s checkpoint into ``directory``; return its size.
    ``layout``: the run's :class:`Layout`, when the caller has it (else built here)."""
    from .io import write_safetensors_stream

    if layout is None:
        layout = Layout(source, max_shard_size)
    entries = layout.shard_tensors(k)
    fills = source.fills([name for name, _, _ in entries])
    tensors = [(name, shape, dtype, fills[name]) for name, shape, dtype in entries]
    return write_safetensors_stream(os.path.join(directory, layout.names[k]), tensors,
                                    metadata=layout.metadata, chunk_bytes=chunk_bytes,
                                    progress=progress)


def _write_shard_task(directory, source, max_shard_size, k, chunk_bytes):
    """A Dask task: one shard (threads of the worker process fill it)."""
    try:
        return write_shard(directory, source, max_shard_size, k, chunk_bytes)
    finally:
        source.close()


def _write_json(path, obj):
    from .io import _output

    data = (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8")
    with _output.atomic_output(path) as f:
        _output.write_fully(f, data, path)


def write_checkpoint(directory, source, *, max_shard_size=_DEFAULT_MAX_SHARD,
                     chunk_bytes=16 << 20, resume=False, workers=None, scheduler=None,
                     progress=None, extra_files=None):
    """Write ``source``'s tensors as a sharded checkpoint into ``directory``.

    Returns a dict: ``files`` (shard names), ``written`` and ``kept`` (shard
    names), ``bytes`` (total size of the shard files), ``index`` (the index
    file name or None).  ``extra_files`` maps file names to JSON objects
    written beside the shards (``config.json``).
    """
    from .io import check_free_space

    os.makedirs(directory, exist_ok=True)
    layout = Layout(source, max_shard_size)
    expected = [_expected_header(layout, k) for k in range(len(layout.shards))]
    todo, kept = [], []
    for k in range(len(layout.shards)):
        if resume and shard_is_complete(directory, layout, k, expected[k]):
            kept.append(k)
        else:
            todo.append(k)
    need = sum(expected[k][1] for k in todo)
    check_free_space(os.path.join(directory, "x"), need)
    if workers is not None or scheduler is not None:
        _run_dask(directory, source, max_shard_size, todo, chunk_bytes, workers, scheduler)
    else:
        _write_local(directory, source, layout, todo, chunk_bytes, progress)
    index_name = None
    if len(layout.shards) > 1:
        index_name = INDEX_NAME
        _write_json(os.path.join(directory, INDEX_NAME), layout.index())
    for name, obj in (extra_files or {}).items():
        _write_json(os.path.join(directory, name), obj)
    total = sum(os.path.getsize(os.path.join(directory, n)) for n in layout.names)
    return {"files": layout.names, "written": [layout.names[k] for k in todo],
            "kept": [layout.names[k] for k in kept], "bytes": total, "index": index_name,
            "tensors": len(layout.tensors)}


def _write_local(directory, source, layout, todo, chunk_bytes, progress):
    """Write the shards ``todo`` in this process, two at a time.

    Each shard ends with an ``fsync`` that waits for the disk; with two shards
    in flight one is produced while the other is flushed, so the disk never
    idles (the files are independent: the bytes are the same in any order).
    """
    from concurrent.futures import ThreadPoolExecutor

    source.prepare()  # one-time work (the spec, the recording walk) before the threads
    if len(todo) <= 1:
        for k in todo:
            write_shard(directory, source, layout.max_shard_size, k, chunk_bytes, progress,
                        layout)
        return
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="fastinit-shard") as pool:
        futures = [pool.submit(write_shard, directory, source, layout.max_shard_size, k,
                               chunk_bytes, progress, layout) for k in todo]
        for f in futures:
            f.result()


def _run_dask(directory, source, max_shard_size, todo, chunk_bytes, workers, scheduler):
    """One task per shard on a Dask cluster: local (``workers`` processes) or at ``scheduler``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError("--workers/--scheduler need dask.distributed "
                          "(pip install 'dask[distributed]')") from exc
    if not todo:
        return
    if scheduler is not None:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        futures = [client.submit(_write_shard_task, directory, source, max_shard_size, k,
                                 chunk_bytes, key=f"fastinit-shard-{k}", pure=False)
                   for k in todo]
        client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --------------------------------------------------------------------------- command line


def is_directory_output(path):
    """``-o`` names a directory: it ends with a separator or is an existing directory."""
    return path.endswith(("/", os.sep)) or os.path.isdir(path)


def run_cli(args):
    """``fastinit init`` with a directory output or ``--from-hf``; return the exit status."""
    import contextlib
    import sys
    import time

    from ._threads import num_threads

    source = None
    try:
        if not is_directory_output(args.output):
            raise ValueError(f"--from-hf writes a sharded checkpoint directory: -o must end "
                             f"with '/' or name a directory; got {args.output!r}")
        if args.workers is not None and args.scheduler is not None:
            raise ValueError("give --workers or --scheduler, not both")
        extra = {}
        if args.from_hf is not None:
            if args.spec is not None:
                raise ValueError("give SPEC or --from-hf CONFIG, not both")
            from ._hf_model import HFSource

            source = HFSource(args.from_hf, seed=args.seed, dtype=args.dtype,
                              scheme=getattr(args, "scheme", None))
            source.scheme_initializers()  # a parameter without a rule fails now
            extra["config.json"] = source.config_dict()
        else:
            if args.spec is None:
                raise ValueError("SPEC (or --from-hf CONFIG) is required")
            source = SpecSource(args.spec, seed=args.seed, dtype=args.dtype, init=args.init,
                                pretrained=args.pretrained, strict=args.strict,
                                scheme=getattr(args, "scheme", None))
            if source.scheme is None:  # the fans' layout, as for a single file
                layout, why = cli_layout(args, source.plan())
                source.set_layout(layout)
                if why and not args.quiet:
                    print(f"fastinit init: layout {layout} ({why})", file=sys.stderr)
        threads = (num_threads(args.threads) if args.threads is not None
                   else contextlib.nullcontext())
        start = time.perf_counter()
        with threads:
            result = write_checkpoint(args.output, source, max_shard_size=args.max_shard_size,
                                      chunk_bytes=args.chunk_size, resume=args.resume,
                                      workers=args.workers, scheduler=args.scheduler,
                                      extra_files=extra)
        elapsed = time.perf_counter() - start
    except (ValueError, TypeError, OSError, ImportError) as e:
        print(f"fastinit init: error: {e}", file=sys.stderr)
        return 1
    finally:
        if source is not None:
            source.close()
    if not args.quiet:
        kept = f", {len(result['kept'])} kept (--resume)" if result["kept"] else ""
        print(f"fastinit init: wrote {args.output}: {result['tensors']} tensors in "
              f"{len(result['files'])} file(s){kept}, {result['bytes'] / 1e9:.3f} GB in "
              f"{elapsed:.2f} s ({result['bytes'] / 1e6 / max(elapsed, 1e-9):.0f} MB/s), "
              f"seed {source.seed}", file=sys.stderr)
    return 0
