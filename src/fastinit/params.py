"""Whole models: ``init_params`` and ``InitReport`` (docs/api.md §6).

A *spec* maps each tensor name to ``{"shape": [...], "init": ..., "dtype": ...}``
(``init``: anything :func:`fastinit.get` accepts; ``dtype`` optional). Tensor
``name`` is initialized on its own stream, ``stream_id(name)``, with the
run's seed, so adding, removing or reordering entries never changes the
others, and a tensor's values do not depend on how it is produced: whole
(``init_params``) or block by block (``fastinit init``), bit for bit.

Spec sources accepted by :func:`load_spec`:

* a mapping (a top-level ``"__metadata__"`` mapping of strings is kept as
  the checkpoint's metadata, as in safetensors headers);
* a path to a JSON file holding such a mapping;
* a path to a ``.safetensors`` file: its header gives names, shapes and
  dtypes (the data is not read), and the initializers are the defaults of
  :func:`default_init`.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ._core import resolve_seed, stream_id
from ._dtypes import FLOAT_NAMES, as_dtype
from .initializers import Initializer, get
from .io import (
    Pretrained,
    SafetensorsCheckpoint,
    as_checkpoint,
    can_cast,
    check_dims,
    name_list,
    shape_str,
)

__all__ = ["InitReport", "default_init", "init_params", "load_spec"]

_ENTRY_KEYS = ("shape", "init", "dtype")

# Rank <= 1 tensors whose last name component is one of these are scales
# (norm weights, running variances): ones. Other vectors are shifts: zeros.
_ONES_NAMES = frozenset({"weight", "scale", "gamma", "g", "running_var", "moving_variance"})


def default_init(name, shape, init="glorot_uniform"):
    """default_init(name, shape, init="glorot_uniform") -> str

    The initializer ``fastinit init`` uses for a tensor known only by its name
    and shape (a spec taken from a ``.safetensors`` header): ``init`` for rank
    >= 2 (weights, kernels, embeddings); for rank <= 1, ``"ones"`` when the
    last component of the name (split at "." and "/") is ``weight``,
    ``scale``, ``gamma``, ``g``, ``running_var`` or ``moving_variance`` (norm
    scales and variances), else ``"zeros"`` (biases, shifts, means, counters).

    Examples
    --------
    >>> from fastinit.params import default_init
    >>> default_init("h.0.attn.c_attn.weight", (768, 2304))
    'glorot_uniform'
    >>> default_init("h.0.ln_1.weight", (768,)), default_init("h.0.ln_1.bias", (768,))
    ('ones', 'zeros')
    """
    if len(shape) >= 2:
        return init
    last = name.replace("/", ".").rsplit(".", 1)[-1]
    return "ones" if last in _ONES_NAMES else "zeros"


@dataclass(frozen=True)
class _Entry:
    name: str
    shape: tuple
    dtype: np.dtype
    init: object  # an Initializer, before the seed and stream are applied


def _check_spec_shape(shape, where):
    # A malformed spec is a ValueError whatever is wrong in it (docs/api.md §6).
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (list, tuple)):
        raise ValueError(  # noqa: TRY004
            f"{where}: shape must be a list of non-negative integers, got {shape!r}")
    dims = []
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise ValueError(  # noqa: TRY004
                f"{where}: shape {list(shape)!r} has a non-integer entry {d!r}")
        if d < 0:
            raise ValueError(f"{where}: shape {list(shape)!r} has a negative dimension {d}")
        dims.append(int(d))
    return tuple(dims)


def _check_entry_dtype(dtype, init, where):
    try:
        dt = as_dtype(dtype)
    except TypeError as e:
        raise ValueError(f"{where}: {e}") from None
    if isinstance(init, Pretrained) or not isinstance(init, Initializer):
        return dt
    try:
        return init.check_dtype(dt)
    except TypeError:
        accepted = FLOAT_NAMES + (", integer and bool dtypes" if init.accepts_integers else "")
        raise ValueError(f"{where}: dtype {dt} is not supported by {type(init).__name__} "
                         f"(accepted: {accepted})") from None


def load_spec(spec, *, dtype=None, init="glorot_uniform", scheme=None):
    """load_spec(spec, *, dtype=None, init="glorot_uniform", scheme=None) -> (entries, metadata)

    Read and check a model spec (see the module docstring) without sampling
    anything.

    Parameters
    ----------
    spec : mapping, str or os.PathLike
        A mapping, a JSON file, or a ``.safetensors`` file whose header is used.
    dtype : dtype or str, optional
        dtype of entries without their own (default float32). For a
        ``.safetensors`` header it replaces the file's dtypes.
    init : initializer identifier
        For a ``.safetensors`` header only: the initializer of rank >= 2
        tensors (see :func:`default_init`).
    scheme : optional
        When given (see :func:`init_params`), entries need no ``"init"``: the
        scheme decides every initializer.

    Returns
    -------
    (entries, metadata) : (list, dict)
        ``entries`` have ``name``, ``shape``, ``dtype`` and ``init`` (an
        initializer instance, its seed not yet applied).

    Raises
    ------
    ValueError
        For a malformed spec (bad JSON, a negative dimension, an unknown
        initializer name, an unsupported dtype...), naming the spec and entry.
    OSError
        If the spec file cannot be read.

    Examples
    --------
    >>> from fastinit.params import load_spec
    >>> entries, _ = load_spec({"w": {"shape": [3, 4], "init": "he_normal"}})
    >>> entries[0].name, entries[0].shape, entries[0].dtype.name
    ('w', (3, 4), 'float32')
    """
    label = "spec"
    metadata = {}
    if isinstance(spec, (str, os.PathLike)):
        path = os.fspath(spec)
        label = f"spec {path}"
        if path.lower().endswith(".safetensors"):
            return _spec_from_safetensors(path, dtype, init)
        with open(path, "rb") as f:
            raw = f.read()
        try:
            spec = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError) as e:  # bad JSON, UTF-8, a 4300-digit int
            if raw[8:9] == b"{" and not raw[:1].isspace() and raw[:1] != b"{":
                # No .safetensors suffix, but it looks like one.
                return _spec_from_safetensors(path, dtype, init)
            if isinstance(e, RecursionError):
                e = "nested too deeply"
            raise ValueError(f"{label}: not valid JSON: {e}") from None
    if not isinstance(spec, Mapping):
        raise ValueError(f"{label}: must be a mapping of tensor name -> "  # noqa: TRY004
                         f"{{'shape': ..., 'init': ..., 'dtype': ...}}, got "
                         f"{type(spec).__name__}")
    default_dtype = np.dtype(np.float32) if dtype is None else dtype
    entries = []
    for name, entry in spec.items():
        if name == "__metadata__":
            if not (isinstance(entry, Mapping) and all(
                    isinstance(k, str) and isinstance(v, str) for k, v in entry.items())):
                raise ValueError(f"{label}: __metadata__ must map strings to strings")
            metadata = dict(entry)
            continue
        where = f"{label}: tensor {name!r}"
        if not isinstance(name, str) or not name:
            raise ValueError(f"{label}: tensor names must be non-empty strings, got {name!r}")
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected a mapping with keys 'shape', 'init' and "  # noqa: TRY004
                             f"optionally 'dtype', got {entry!r}")
        unknown = [k for k in entry if k not in _ENTRY_KEYS]
        if unknown:
            raise ValueError(f"{where}: unknown keys {name_list(unknown)}; accepted: "
                             + ", ".join(_ENTRY_KEYS))
        for key in ("shape",) if scheme is not None else ("shape", "init"):
            if key not in entry:
                raise ValueError(f"{where}: missing {key!r}")
        shape = _check_spec_shape(entry["shape"], where)
        try:
            # With a scheme, a placeholder: make_plan puts the scheme's rule here.
            instance = get(entry["init"] if scheme is None else "random_normal")
        except (ValueError, TypeError) as e:
            raise ValueError(f"{where}: {e}") from None
        if instance is None:
            raise ValueError(f"{where}: 'init' must name an initializer, got None")
        dt = _check_entry_dtype(entry.get("dtype") or default_dtype, instance, where)
        try:  # a shape no array (and no checkpoint) can have
            check_dims(shape, dt.itemsize)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        entries.append(_Entry(name, shape, dt, instance))
    return entries, metadata


def _spec_from_safetensors(path, dtype, init):
    label = f"spec {path}"
    ckpt = SafetensorsCheckpoint(path)
    try:
        entries = []
        for name in ckpt:
            shape = ckpt.shape(name)
            where = f"{label}: tensor {name!r}"
            try:
                instance = get(default_init(name, shape, init))
            except (ValueError, TypeError) as e:
                raise ValueError(f"{where}: {e}") from None
            dt = _check_entry_dtype(dtype if dtype is not None else ckpt.dtype(name),
                                    instance, where)
            entries.append(_Entry(name, tuple(shape), dt, instance))
        return entries, dict(ckpt.metadata)
    finally:
        ckpt.close()


def _configured(init, seed, stream):
    """``init`` with the run's seed and the tensor's stream (deterministic ones as is)."""
    if isinstance(init, Initializer):
        return init.reseeded(seed, stream)
    return init


def _fmt_names(names, limit=10):
    if not names:
        return "-"
    text = ", ".join(names[:limit])
    if len(names) > limit:
        text += f", ... ({len(names) - limit} more)"
    return text


@dataclass
class InitReport:
    """What :func:`init_params` (or ``fastinit init``) did with each tensor.

    Attributes
    ----------
    loaded : list of str
        Names taken from the pretrained source.
    initialized : list of str
        Names sampled from their initializer (missing and mismatched included).
    missing : list of str
        In the spec but not in the pretrained source.
    unexpected : list of str
        In the pretrained source but not in the spec (ignored).
    mismatched : list of (str, tuple, tuple)
        ``(name, spec_shape, file_shape)`` for names in both with different
        shapes (initialized).
    seed : int or None
        The seed used (the one drawn, when ``seed=None`` was passed).
    source : str or None
        The pretrained source, if any.

    Examples
    --------
    >>> from fastinit import InitReport
    >>> r = InitReport(loaded=["a"], initialized=["b"], missing=["b"], seed=0)
    >>> r.ok
    False
    >>> print(r)                                  # doctest: +NORMALIZE_WHITESPACE
    InitReport: 2 tensors, seed 0: 1 loaded, 1 initialized
      loaded (1): a
      initialized (1): b
      missing (1): b
    """

    loaded: list = field(default_factory=list)
    initialized: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    mismatched: list = field(default_factory=list)
    seed: int | None = None
    source: str | None = None

    @property
    def ok(self):
        """True when nothing is missing, unexpected or mismatched."""
        return not (self.missing or self.unexpected or self.mismatched)

    def problems(self):
        """One line per kind of problem (empty when :attr:`ok`)."""
        lines = []
        if self.missing:
            lines.append(f"missing from the file ({len(self.missing)}): "
                         + _fmt_names(self.missing))
        if self.unexpected:
            lines.append(f"unexpected, not in the spec ({len(self.unexpected)}): "
                         + _fmt_names(self.unexpected))
        if self.mismatched:
            items = [f"{n} (spec {shape_str(a)}, file {shape_str(b)})"
                     for n, a, b in self.mismatched]
            lines.append(f"mismatched shapes ({len(self.mismatched)}): " + _fmt_names(items))
        return lines

    def __str__(self):
        n = len(self.loaded) + len(self.initialized)
        head = f"InitReport: {n} tensors"
        if self.seed is not None:
            head += f", seed {self.seed}"
        head += f": {len(self.loaded)} loaded, {len(self.initialized)} initialized"
        lines = [head]
        src = f" from {self.source}" if self.source else ""
        if self.loaded:
            lines.append(f"  loaded ({len(self.loaded)}){src}: {_fmt_names(self.loaded)}")
        if self.initialized:
            lines.append(f"  initialized ({len(self.initialized)}): "
                         f"{_fmt_names(self.initialized)}")
        if self.missing:
            lines.append(f"  missing ({len(self.missing)}): {_fmt_names(self.missing)}")
        if self.unexpected:
            lines.append(f"  unexpected ({len(self.unexpected)}): "
                         f"{_fmt_names(self.unexpected)}")
        if self.mismatched:
            lines.append(f"  mismatched ({len(self.mismatched)}):")
            for name, a, b in self.mismatched[:10]:
                lines.append(f"    {name}: spec {shape_str(a)}, file {shape_str(b)}")
            if len(self.mismatched) > 10:
                lines.append(f"    ... ({len(self.mismatched) - 10} more)")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Planned:
    name: str
    shape: tuple
    dtype: np.dtype
    init: object  # the configured initializer, a Pretrained, or another callable
    prepared: object = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        # Everything that can fail for this shape and dtype (a rank Orthogonal
        # refuses, a parameter not finite in float16, a cast a stored tensor
        # cannot take) fails now, once, before anything is sampled or written.
        if isinstance(self.init, Initializer):
            try:
                object.__setattr__(self, "prepared", self.init.prepare(self.shape, self.dtype))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"tensor {self.name!r} (shape {shape_str(self.shape)}, "
                                 f"{self.dtype}): {exc}") from None

    @property
    def nbytes(self):
        return math.prod(self.shape) * self.dtype.itemsize

    def fill(self, out=None, region=None):
        """The tensor's values (``region``: a tuple of slices) into ``out`` or a new array."""
        if self.prepared is not None:
            return self.prepared.fill(out, region=region)
        return self.init(self.shape, self.dtype, out=out, region=region)


class _Plan:
    """The tensors of a run, each with the initializer that will produce it."""

    def __init__(self, tensors, report, metadata, checkpoint=None):
        self.tensors = tensors
        self.report = report
        self.metadata = metadata
        self._checkpoint = checkpoint  # opened here; closed by close()

    @property
    def nbytes(self):
        return sum(t.nbytes for t in self.tensors)

    def close(self):
        if self._checkpoint is not None:
            self._checkpoint.close()
            self._checkpoint = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def make_plan(spec, *, seed, dtype=None, pretrained=None, strict=False,
               init="glorot_uniform", scheme=None):
    """Check everything and decide, for each tensor, load or sample. Samples nothing.

    The package's planning step, shared by :func:`init_params`, ``fastinit
    init``, the checkpoint writers and ``fastinit.dask.init_params`` (not in
    ``__all__``): returns a context-managed plan whose ``tensors`` carry each
    entry's name, shape, dtype and initializer (reseeded with ``seed`` and the
    stream of the tensor's name, or a :class:`~fastinit.io.Pretrained`), every
    one already prepared once for its shape and dtype.
    """
    seed = resolve_seed(seed)
    entries, metadata = load_spec(spec, dtype=dtype, init=init, scheme=scheme)
    if scheme is not None:
        from .schemes import scheme_entries
        entries = scheme_entries(scheme, entries, pretrained)
    report = InitReport(seed=seed)
    ckpt, owned = (None, False) if pretrained is None else as_checkpoint(pretrained)
    try:
        if ckpt is not None:
            report.source = ckpt.path
            names = {e.name for e in entries}
            report.unexpected = [k for k in ckpt if k not in names]
        tensors = []
        for e in entries:
            if ckpt is not None and e.name in ckpt:
                file_shape = tuple(ckpt.shape(e.name))
                if file_shape == e.shape:
                    file_dtype = ckpt.dtype(e.name)
                    if not can_cast(file_dtype, e.dtype):
                        raise ValueError(
                            f"{ckpt.path}: tensor {e.name!r} (shape {shape_str(file_shape)}) "
                            f"has dtype {file_dtype}, which cannot be loaded as {e.dtype}")
                    report.loaded.append(e.name)
                    tensors.append(_Planned(e.name, e.shape, e.dtype, Pretrained(ckpt, e.name)))
                    continue
                report.mismatched.append((e.name, e.shape, file_shape))
            elif ckpt is not None:
                report.missing.append(e.name)
            report.initialized.append(e.name)
            init_ = _configured(e.init, seed, stream_id(e.name))
            tensors.append(_Planned(e.name, e.shape, e.dtype, init_))
        if strict and not report.ok:
            raise ValueError(f"strict=True and the pretrained weights {ckpt.path} do not "
                             "match the spec:\n  " + "\n  ".join(report.problems()))
    except BaseException:
        if owned:
            ckpt.close()
        raise
    return _Plan(tensors, report, metadata, ckpt if owned else None)


def progress_bar(total, desc, enabled=True):
    """A tqdm bar over ``total`` bytes on stderr (decimal units: kB, MB, GB), or None
    (disabled / no tqdm)."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1000, desc=desc,
                file=sys.stderr, dynamic_ncols=True, leave=True,
                bar_format="{l_bar}{bar}| {n_fmt}B/{total_fmt}B "
                           "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")


def init_params(spec, *, seed, dtype=None, pretrained=None, strict=False, scheme=None,
                progress=False):
    """init_params(spec, *, seed, dtype=None, pretrained=None, strict=False, scheme=None,
                   progress=False) -> (params, report)

    Initialize every tensor of a model spec, optionally loading some from
    pre-trained weights.

    Tensor ``name`` gets exactly the values of its initializer configured
    with ``seed=seed, stream=stream_id(name)`` (any seed or stream in the
    spec's initializer is overridden), so adding, removing or reordering
    entries never changes the others. Its dtype is the entry's own, else
    ``dtype``, else float32. With ``pretrained``, a name present in the source
    with the same shape is loaded instead (cast to the entry's dtype: float
    or int to float, never float to int); a name present with another
    shape is *mismatched* and sampled.

    Parameters
    ----------
    spec : mapping, str or os.PathLike
        ``name -> {"shape": [...], "init": <fastinit.get identifier>,
        "dtype": optional}``, or a JSON file of it, or a ``.safetensors``
        file whose header gives the shapes (see :mod:`fastinit.params`).
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        The run's seed (required; ``None`` draws one from OS entropy, reported
        in ``report.seed``).
    dtype : dtype or str, optional
        Default dtype of entries without one.
    pretrained : str, os.PathLike or mapping, optional
        A checkpoint (anything :func:`fastinit.load` reads) or a mapping of arrays.
    strict : bool
        Raise ``ValueError`` if any tensor is missing, unexpected or
        mismatched, naming them (before anything is sampled).
    scheme : str or dict, optional
        An init scheme of :mod:`fastinit.schemes` (``"gpt2"``,
        ``"llama3-depth"``, ...; or ``{"name": ..., **hyper}`` with its
        hyper-parameters, e.g. ``{"name": "gpt2", "n_layers": 12}``; missing
        ones are read from the names). It decides every sampled tensor's
        initializer from its name and shape (entries then need no ``"init"``;
        one they have is ignored); a tensor it has no rule for raises
        ``ValueError`` naming all of them, before anything is sampled.
    progress : bool
        Show a progress bar (tqdm, on stderr) while sampling.

    Returns
    -------
    params : dict of str to numpy.ndarray
        In spec order; new, writable arrays.
    report : InitReport
        ``loaded``, ``initialized``, ``missing``, ``unexpected``, ``mismatched``.

    Raises
    ------
    ValueError
        For a malformed spec or file, an unknown initializer name, a tensor the
        file holds in a dtype that cannot be cast, or with ``strict=True`` any
        mismatch; messages name the file, the tensor and both shapes.
    OSError
        If a file cannot be read.

    Examples
    --------
    >>> import fastinit
    >>> spec = {"dense/kernel": {"shape": [4, 3], "init": "glorot_uniform"},
    ...         "dense/bias": {"shape": [3], "init": "zeros"}}
    >>> params, report = fastinit.init_params(spec, seed=0)
    >>> params["dense/bias"]
    array([0., 0., 0.], dtype=float32)
    >>> k = fastinit.GlorotUniform(seed=0, stream=fastinit.stream_id("dense/kernel"))
    >>> bool((params["dense/kernel"] == k((4, 3))).all())
    True
    >>> params, report = fastinit.init_params(spec, seed=0, pretrained={"dense/bias": [1., 2., 3.]})
    >>> params["dense/bias"], report.loaded, report.missing
    (array([1., 2., 3.], dtype=float32), ['dense/bias'], ['dense/kernel'])
    """
    with make_plan(spec, seed=seed, dtype=dtype, pretrained=pretrained,
                    strict=strict, scheme=scheme) as plan:
        bar = progress_bar(plan.nbytes, "init_params", enabled=progress)
        start = time.perf_counter()
        params = {}
        try:
            for t in plan.tensors:
                params[t.name] = t.fill()
                if bar is not None:
                    bar.update(t.nbytes)
        finally:
            if bar is not None:
                bar.close()
        if progress and bar is None:
            elapsed = time.perf_counter() - start
            print(f"init_params: {len(params)} tensors, {plan.nbytes / 1e6:.1f} MB in "
                  f"{elapsed:.2f} s", file=sys.stderr)
        return params, plan.report
