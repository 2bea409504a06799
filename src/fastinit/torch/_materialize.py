"""``fastinit.torch.materialize``: meta-built models initialized by their own code.

A model built on the meta device has shapes but no memory.  :func:`materialize`
allocates its storage and runs the model's *own* initialization code -- a
transformers ``PreTrainedModel``'s ``initialize_weights``, a timm model's
``init_weights``, the init calls recorded under :func:`deferred`, or each
submodule's ``reset_parameters`` -- inside a torch function mode that redirects
every random value to fastinit.  The mode sees each in-place op on a tensor,
finds the parameter or buffer whose storage it touches (views such as ``.data``
or slices included) and fills random ops from that tensor's named stream, so
the values are a pure function of (seed, names, shapes, the scheme).

Streams.  The ``k``-th random op (``k = 0, 1, ...``) applied to the tensor
``name`` fills from ``stream_id(name)`` when ``k == 0`` and from
``stream_id(f"{name}#{k}")`` after that, so a second op on the same tensor (a
rejection loop, a fused weight initialized chunk by chunk) gets new values.
A temporary made from a tensor (``w.new_empty``, ``torch.empty_like(w)``,
``w.clone()``: the Gaussian matrix ``orthogonal_`` factors, a rejection
sampler's redraws) counts as that tensor.  Random values drawn into any other
temporary come from ``stream_id(f"fastinit.materialize.temporary#{j}")``
with ``j`` counting such ops in call order.  Ops fastinit has no kernel for (``bernoulli_``,
``random_``, ``exponential_``, ...; non-float dtypes) run torch's own sampler
with a ``torch.Generator`` seeded from the same (seed, stream).
"""
from __future__ import annotations

import math
import sys
import warnings
import weakref

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .._core import resolve_seed, stream_id
from . import _fast, _nn_init
from ._deferred import _DEFERRED, _replay, _skey, _writes, deferred
from ._dtensor import is_dtensor, local_tensor

__all__ = ["deferred", "materialize"]  # deferred: from ._deferred

# path components that wrappers insert into parameter names
_WRAPPER_PARTS = frozenset({"_orig_mod", "_checkpoint_wrapped_module", "_fsdp_wrapped_module"})

# in-place Tensor methods whose values are random; uniform_/normal_ have fastinit kernels
_RANDOM_INPLACE = frozenset({"normal_", "uniform_", "random_", "bernoulli_", "exponential_",
                             "log_normal_", "cauchy_", "geometric_"})
# functions returning fresh random tensors (temporaries)
_RANDOM_FACTORIES = frozenset({"rand", "randn", "rand_like", "randn_like", "randint",
                               "randint_like", "randperm", "normal", "bernoulli",
                               "multinomial", "poisson"})


# ---------------------------------------------------------------------------
# materialize(): writes through an index of a DTensor parameter
#
# Init code such as ``weight[padding_idx].zero_()`` indexes a parameter and
# writes into the view.  On a DTensor the index is a collective that returns a
# new, redistributed tensor, so the write never reaches the shard.  Under
# materialize's mode the index of a DTensor model tensor returns a meta view
# instead (no communication); a constant write into that view (``fill_``,
# ``zero_``, ``torch.nn.init.constant_/zeros_/ones_``) is applied to the
# elements of this rank's shard that the index selects.

_CONSTANT_WRITES = {"fill_": None, "zero_": 0.0, "constant_": None, "zeros_": 0.0,
                    "ones_": 1.0}


def view_write(mode, func, args, kwargs):
    """Handle an index of, or a constant write into an index of, a DTensor model tensor.

    Returns the op's result, or None when the op is none of those (the caller
    goes on as usual).  ``mode`` is materialize's torch function mode (its
    ``target_of`` finds the tensor's entry; tracked views live on it).
    """
    name = getattr(func, "__name__", "")
    if not args:
        return None
    first = args[0]
    views = mode.__dict__.setdefault("_dtensor_views", {})
    if name == "__getitem__" and is_dtensor(first) and mode.target_of(first) is not None:
        key = args[1] if len(args) > 1 else kwargs.get("idx")
        view = torch.empty(first.shape, dtype=first.dtype, device="meta")[key]
        views[id(view)] = (view, first, key)
        return view
    if name not in _CONSTANT_WRITES:
        return None
    hit = views.get(id(first))
    if hit is None or hit[0] is not first:
        return None
    _, base, key = hit
    value = _CONSTANT_WRITES[name]
    if value is None:
        value = args[1] if len(args) > 1 else kwargs.get("val", kwargs.get("value"))
    view = _fast._numpy_view(base)
    if view is None:
        raise TypeError(f"fastinit.torch.materialize: cannot write into {type(base).__name__} "
                        "shards of this device or dtype")
    if hasattr(key, "numpy"):
        key = key.cpu().numpy()
    view[key] = float(value)
    _fast._written(base)
    target = mode.target_of(base)
    if target is not None:
        target.written = True
    return first


def _data_ptr(t):
    return local_tensor(t).data_ptr()


def _storage_ptr(t):
    """The identity of ``t``'s memory (for a DTensor: its local shard's)."""
    return local_tensor(t).untyped_storage().data_ptr()


def _clean_name(name):
    return ".".join(p for p in name.split(".") if p not in _WRAPPER_PARTS)


def _is_method(func):
    return getattr(func, "__qualname__", "").startswith(("TensorBase.", "Tensor."))


def _first_tensor(args, kwargs):
    for a in args:
        if isinstance(a, torch.Tensor):
            return a
    for key in ("tensor", "input", "self"):
        if isinstance(kwargs.get(key), torch.Tensor):
            return kwargs[key]
    return None


def _generator_for(seed, stream, device):
    gen = torch.Generator(device=device)
    gen.manual_seed(_fast._torch_seed(seed, stream))
    return gen


# ---------------------------------------------------------------------------
# the one place a tensor is filled from a named stream


def fill_on_stream(tensor, kind, a, b, seed, stream):
    """Fill ``tensor`` (a parameter, buffer or a view of one) with ``kind`` on (seed, stream).

    ``kind`` is ``"uniform"`` (``[a, b)``) or ``"normal"`` (mean ``a``, std
    ``b``).  CPU float tensors are filled in place through a NumPy view; any
    other tensor gets the same values made on the CPU and copied.  This is
    where a sharded (DTensor) parameter gets its branch: each local shard
    filled with the ``offset`` of its region.
    """
    # _fast's fills: they also fill a DTensor's shard view at its global offsets
    fill = _fast.fill_uniform if kind == "uniform" else _fast.fill_normal
    view = _fast._numpy_view(tensor)
    if view is not None:
        fill(view, float(a), float(b), seed=seed, stream=stream)
        _fast._written(tensor)
        return tensor
    work = torch.float64 if tensor.dtype is torch.float64 else torch.float32
    scratch = torch.empty(tuple(tensor.shape), dtype=work, device="cpu")
    fill(scratch.numpy(), float(a), float(b), seed=seed, stream=stream)
    with torch.no_grad():
        tensor.copy_(scratch)
    return tensor


# ---------------------------------------------------------------------------
# materialize's torch function mode


class _Target:
    """A named tensor's random-op counter; ``root`` is set for temporaries made from it."""

    __slots__ = ("__weakref__", "calls", "name", "root", "written")

    def __init__(self, name, root=None):
        self.name, self.calls, self.written, self.root = name, 0, False, root


# methods and functions whose result is a new tensor made from their first
# argument: random values drawn into it count as that tensor's (the Gaussian
# matrix of orthogonal_, the redraws of a rejection sampler)
_DERIVING = frozenset({"new_empty", "new_empty_strided", "new_zeros", "new_ones", "new_full",
                       "empty_like", "zeros_like", "ones_like", "full_like", "clone"})


class _FillMode(TorchFunctionMode):
    """Random in-place ops on the model's tensors come from fastinit's named streams."""

    def __init__(self, seed):
        super().__init__()
        self.seed = seed
        self.by_ptr = {}  # storage data_ptr -> _Target
        self.temporaries = 0

    def add(self, tensor, target):
        if is_dtensor(tensor):  # a rank's shard may be empty: known by the object too
            self.__dict__.setdefault("by_id", {})[id(tensor)] = (tensor, target)
        if local_tensor(tensor).numel() and tensor.device.type != "meta":
            self.by_ptr.setdefault(_storage_ptr(tensor), target)

    def target_of(self, tensor):
        if not isinstance(tensor, torch.Tensor) or tensor.device.type == "meta":
            return None
        hit = self.__dict__.get("by_id", {}).get(id(tensor))
        if hit is not None and hit[0] is tensor:
            return hit[1]
        try:
            return self.by_ptr.get(_storage_ptr(tensor))
        except (RuntimeError, NotImplementedError):  # tensors without storage
            return None

    def derive(self, source, out):
        """``out`` was made from ``source``: its random values come from source's name."""
        target = self.target_of(source)
        if target is None or not isinstance(out, torch.Tensor) or not out.numel():
            return
        try:
            ptr = out.untyped_storage().data_ptr()
        except (RuntimeError, NotImplementedError):
            return
        if ptr in self.by_ptr:
            return
        self.by_ptr[ptr] = _Target(target.name, target.root or target)
        # forget it with the tensor, before its memory can be reused
        weakref.finalize(out, self.by_ptr.pop, ptr, None)

    def next_stream(self, tensor, writes=True):
        """The stream of the next random op on ``tensor`` (``writes``: it fills ``tensor``)."""
        target = self.target_of(tensor)
        if target is None:
            k = self.temporaries
            self.temporaries += 1
            return stream_id(f"fastinit.materialize.temporary#{k}")
        root = target.root or target
        k = root.calls
        root.calls += 1
        if writes and target.root is None:
            target.written = True
        return stream_id(root.name if k == 0 else f"{root.name}#{k}")

    def trunc_normal(self, tensor, mean, std, a, b, generator=None):
        return _trunc_normal(self, tensor, mean, std, a, b)

    def fill(self, tensor, kind, a, b):
        stream = self.next_stream(tensor)
        if tensor.numel():
            fill_on_stream(tensor, kind, a, b, self.seed, stream)
        return tensor

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        done = view_write(self, func, args, kwargs)  # writes through an index of a DTensor
        if done is not None:
            return done
        handler = _init_handler(func)
        if handler is not None:
            tensor = args[0] if args else kwargs.get("tensor")
            if getattr(tensor, "_is_hf_initialized", False):
                return tensor  # transformers' guard: loaded, not to be initialized
            return handler(self, *args, **kwargs)
        name = getattr(func, "__name__", "")
        if _is_method(func) and args and isinstance(args[0], torch.Tensor):
            t = args[0]
            if name in ("uniform_", "normal_") and t.dtype in _fast.NUMPY_DTYPES:
                a, b = (0.0, 1.0)
                names = ("from", "to") if name == "uniform_" else ("mean", "std")
                vals = list(args[1:3]) + [kwargs.get(n) for n in names[len(args) - 1:]]
                a = a if vals[0] is None else vals[0]
                b = b if vals[1] is None else vals[1]
                with torch.no_grad():
                    return self.fill(t, "uniform" if name == "uniform_" else "normal", a, b)
            if name in _RANDOM_INPLACE:
                kwargs = dict(kwargs, generator=_generator_for(
                    self.seed, self.next_stream(t), t.device))
                return func(*args, **kwargs)
            if _writes(func, name):
                target = self.target_of(t)
                if target is not None and target.root is None:
                    target.written = True
            if name in _DERIVING:
                out = func(*args, **kwargs)
                self.derive(t, out)
                return out
        if name in _RANDOM_FACTORIES and not _is_method(func) or (
                _is_method(func) and name in ("bernoulli", "multinomial")):
            stream = self.next_stream(_first_tensor(args, kwargs), writes=False)
            device = kwargs.get("device") or next(
                (a.device for a in args if isinstance(a, torch.Tensor)), None)
            device = torch.device(device) if device is not None else torch.get_default_device()
            if device.type != "meta":
                kwargs = dict(kwargs, generator=_generator_for(self.seed, stream, device))
            return func(*args, **kwargs)
        out = kwargs.get("out")
        if isinstance(out, torch.Tensor):
            target = self.target_of(out)
            if target is not None and target.root is None:
                target.written = True
        out = func(*args, **kwargs)
        if name in _DERIVING and args:
            self.derive(args[0], out)
        return out


def _init_uniform(fm, tensor, a=0.0, b=1.0, generator=None):
    with torch.no_grad():
        return fm.fill(tensor, "uniform", a, b)


def _init_normal(fm, tensor, mean=0.0, std=1.0, generator=None):
    with torch.no_grad():
        return fm.fill(tensor, "normal", mean, std)


def _init_kaiming_uniform(fm, tensor, a=0, mode="fan_in", nonlinearity="leaky_relu",
                          generator=None):
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return tensor
    bound = math.sqrt(3.0) * _fast._kaiming_std(tensor, a, mode, nonlinearity)
    with torch.no_grad():
        return fm.fill(tensor, "uniform", -bound, bound)


def _init_constant(fm, tensor, val):
    target = fm.target_of(tensor)
    if target is not None and target.root is None:
        target.written = True
    with torch.no_grad():
        return tensor.fill_(val)


# torch.nn.init functions that dispatch through torch function modes themselves.
# They hand the mode whatever ``torch.nn.init.<name>`` is at call time: torch's
# function, or the stand-in a library installed there for the moment
# (transformers' guarded copies during ``initialize_weights``, fastinit's
# under ``patch()``); all take torch's arguments.
_INIT_HANDLERS = {
    "uniform_": _init_uniform,
    "normal_": _init_normal,
    "kaiming_uniform_": _init_kaiming_uniform,
    "constant_": _init_constant,
}
# (fastinit.torch._nn_init: where fastinit.torch's init functions are defined)
_INIT_MODULES = ("torch.nn.init", "transformers.initialization", "fastinit.torch",
                 "fastinit.torch._nn_init")


def _init_handler(func):
    if _is_method(func):
        return None
    handler = _INIT_HANDLERS.get(getattr(func, "__name__", None))
    if handler is not None and getattr(func, "__module__", None) in _INIT_MODULES:
        return handler
    return None


def _trunc_normal(mode, tensor, mean, std, a, b, generator=None):
    """torch.nn.init's trunc_normal_ (recorded whole by deferred()): fastinit's, named stream."""
    stream = mode.next_stream(tensor)
    if tensor.numel():
        previous = getattr(_fast._local, "registry", None)
        _fast._local.registry = {id(tensor): (tensor, mode.seed, stream)}
        try:
            with torch.no_grad():
                if _fast._numpy_view(tensor) is not None:
                    _nn_init.trunc_normal_(tensor, mean, std, a, b)
                else:
                    scratch = torch.empty(tuple(tensor.shape), dtype=torch.float64, device="cpu")
                    _fast._local.registry = {id(scratch): (scratch, mode.seed, stream)}
                    _nn_init.trunc_normal_(scratch, mean, std, a, b)
                    tensor.copy_(scratch)
        finally:
            _fast._local.registry = previous
    return tensor


# ---------------------------------------------------------------------------
# materialize()


def _unwrapped(module):
    """The model inside torch.compile's wrapper (``OptimizedModule._orig_mod``)."""
    while isinstance(getattr(module, "_orig_mod", None), nn.Module) and len(module._modules) == 1:
        module = module._orig_mod
    return module


def _hf_model(module):
    tf = sys.modules.get("transformers")
    cls = getattr(tf, "PreTrainedModel", None) if tf is not None else None
    return cls is not None and isinstance(module, cls)


def _timm_model(module):
    return (type(module).__module__.startswith("timm.")
            and callable(getattr(module, "init_weights", None)))


def _hf_init(model):
    for obj in list(model.modules()) + list(model.parameters()) + list(model.buffers()):
        if "_is_hf_initialized" in getattr(obj, "__dict__", {}):
            del obj.__dict__["_is_hf_initialized"]
    model.initialize_weights()
    model.tie_weights()


def _reset_all(module):
    # children before parents, as at construction: a parent's scheme wins
    for m in reversed(list(module.modules())):
        method = _fast._reset_method(m)
        if callable(method):
            method()
        elif callable(getattr(m, "reset_running_stats", None)):
            m.reset_running_stats()


def _fill_gaps(module, target_of):
    """Run ``reset_parameters`` of modules holding unwritten tensors, for those tensors only.

    A normal build runs each module's defaults at construction and the
    model's own init afterwards, so a tensor the own init leaves alone keeps
    its default; tensors it did write are kept as they are.
    """
    def unwritten(m):
        return [t for t in list(m.parameters(recurse=False)) + list(m.buffers(recurse=False))
                if id(t) in target_of and not target_of[id(t)].written]

    for m in reversed(list(module.modules())):
        method = _fast._reset_method(m)
        if not callable(method):
            method = getattr(m, "reset_running_stats", None)
        if not callable(method) or not unwritten(m):
            continue
        keep = [(t, t.detach().clone()) for t in list(m.parameters()) + list(m.buffers())
                if id(t) in target_of and target_of[id(t)].written]
        method()
        for t, value in keep:
            t.detach().copy_(value)


def _allocate(module, device):
    """Give every meta parameter and buffer memory on ``device``; tied ones stay one object.

    As ``Module.to_empty`` (``torch.empty_like``, so dense strides are kept),
    but only for meta tensors, and a tensor held by several modules is
    replaced by one new tensor everywhere.
    """
    made = {}  # id(meta tensor) -> (meta tensor, its replacement)
    for m in module.modules():
        for kind in ("_parameters", "_buffers"):
            slots = getattr(m, kind)
            for attr, t in list(slots.items()):
                if t is None or not t.is_meta:
                    continue
                hit = made.get(id(t))
                if hit is None:
                    data = torch.empty_like(t.detach(), device=device)
                    if isinstance(t, nn.Parameter):
                        new = nn.Parameter(data, requires_grad=t.requires_grad)
                        new.__dict__.update(t.__dict__)  # attributes libraries set on it
                    else:
                        new = data
                    hit = made[id(t)] = (t, new)
                slots[attr] = hit[1]


def materialize(module, *, seed, device="cpu", strict=True, scheme=None):
    r"""materialize(module, *, seed, device="cpu", strict=True, scheme=None) -> module

    Allocate a meta-built model's memory and initialize it as the model's own
    code would, every random value from fastinit on the tensor's named stream.

    ``module`` was built on the meta device (``with torch.device("meta"):``
    or under :func:`deferred`), or already moved with ``to_empty``.  Its meta
    tensors get memory on ``device`` (tied parameters stay one object; real
    tensors beside meta ones are kept as they are), then the model's own
    initialization runs:

    =================================== =======================================
    model                               initialization
    =================================== =======================================
    built under :func:`deferred`        the recorded constructor ops, replayed
    transformers ``PreTrainedModel``    its ``initialize_weights()``
                                        (``_init_weights`` per module: rotary
                                        ``inv_freq``, ``position_ids`` too),
                                        then ``tie_weights()``
    timm model with ``init_weights``    ``init_weights()`` with its defaults
    anything else                       each submodule's ``reset_parameters()``
                                        (children first) or
                                        ``reset_running_stats()``
    =================================== =======================================

    (A transformers model built under :func:`deferred` gets both: the replay,
    then its ``initialize_weights()``.)  While it runs, the ``k``-th random op
    on tensor ``name`` (as ``named_parameters()``/``named_buffers()`` give it,
    with wrapper parts such as ``_orig_mod`` and
    ``_checkpoint_wrapped_module`` removed) is filled by fastinit from
    ``stream_id(name)`` for ``k = 0`` and ``stream_id(f"{name}#{k}")`` after
    that: ``Tensor.normal_(m, s)`` gives :math:`\mathcal{N}(m, s^2)`,
    ``uniform_(a, b)`` :math:`\mathcal{U}[a, b)`, ``torch.nn.init``'s
    functions their usual formulas.  So the values are a pure function of
    (seed, names, shapes, the scheme): independent of construction order, of
    ``torch.manual_seed`` and of the other tensors of the model, and
    non-random tensors (ones, zeros, ``inv_freq``) equal a normal build's
    bit for bit.

    Every tensor that no step wrote is reported: with ``strict=True`` a
    ``ValueError`` names all of them (after zero-filling them, so the module
    never holds uninitialized memory), with ``strict=False`` they are
    zero-filled with a warning naming them.  ``scheme`` (not None) is then
    applied with ``fastinit.schemes.apply_to_module(module, scheme, seed=seed)``.

    Parameters
    ----------
    module : torch.nn.Module
    seed : int, numpy.random.Generator or numpy.random.SeedSequence
    device : str or torch.device
        Where meta tensors get their memory.
    strict : bool
    scheme : optional
        A fastinit scheme applied after the model's own initialization.

    Returns
    -------
    module (the same object).

    >>> import torch, fastinit.torch as fi
    >>> with torch.device("meta"):
    ...     model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.LayerNorm(32))
    >>> model = fi.materialize(model, seed=0)
    >>> model[1].weight.sum().item(), bool(model[0].weight.abs().max() <= 0.125)
    (32.0, True)
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    if seed is None:
        raise ValueError("seed must be given (an int in [0, 2**64), a numpy Generator or "
                         "SeedSequence); None would make the model unreproducible")
    seed = resolve_seed(seed)
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must name a torch device such as 'cpu'; got {device!r}") from exc
    if device.type == "meta":
        raise ValueError("device must be a real device (e.g. 'cpu'); got 'meta'")
    if not isinstance(strict, bool):
        raise TypeError(f"strict must be a bool; got {type(strict).__name__}")

    named = list(_named_tensors(module))
    named_meta = [(n, t) for n, t in named if t.device.type == "meta"]
    recorders = []
    for _, t in named_meta:
        rec = _DEFERRED.get(_skey(t))
        if rec is not None and all(rec is not r for r in recorders):
            recorders.append(rec)

    # Tensors already real beside meta ones (weights loaded into part of the
    # model) are kept as they are; a model with no meta tensor left (moved
    # with to_empty) is initialized whole.
    kept = []
    if named_meta:
        kept = [(t, t.detach().clone()) for _, t in named if not t.is_meta]
        _allocate(module, device)

    mode = _FillMode(seed)
    allocated = {}
    for name, t in _named_tensors(module):
        target = _Target(name)
        allocated[name] = (t, _data_ptr(t) if t.device.type != "meta" else None, target)
        if local_tensor(t).numel() == 0:  # (a DTensor: this rank's shard)
            target.written = True
        mode.add(t, target)
    with torch.random.fork_rng(devices=[]):
        # whatever still draws from torch's RNG is reproducible and leaves the caller's alone
        torch.default_generator.manual_seed(_fast._torch_seed(seed, "fastinit.materialize"))
        if recorders:
            real_of = {n: allocated[n][0] for n, _ in named_meta if n in allocated}
            _replay(recorders, named_meta, real_of, mode, device)
            for rec in recorders:
                for key in [k for k, v in _DEFERRED.items() if v is rec]:
                    del _DEFERRED[key]
        model = _unwrapped(module)
        with torch.no_grad(), mode:
            if _hf_model(model):
                _hf_init(model)
            elif not recorders:
                _reset_all(model)  # the defaults a normal build starts from
                if _timm_model(model):
                    model.init_weights()
            # torch's defaults where the model's own init wrote nothing
            _fill_gaps(module, {id(t): target for t, _, target in allocated.values()})
        for t, value in kept:
            t.detach().copy_(value)
            target = mode.target_of(t)
            if target is not None:
                target.written = True

    missing = []
    for name, t in _named_tensors(module):
        entry = allocated.get(name)
        if entry is None or entry[0] is not t or entry[1] != _data_ptr(t):
            continue  # replaced by the init code: new memory it made
        if not entry[2].written:
            missing.append(name)
            with torch.no_grad():
                t.zero_()
    if missing:
        listing = ", ".join(missing)
        if strict:
            raise ValueError(
                f"fastinit.torch.materialize: no initialization step wrote {listing} "
                "(zero-filled now); give their modules a reset_parameters(), build the model "
                "under fastinit.torch.deferred(), or pass strict=False to accept zeros")
        warnings.warn(f"fastinit.torch.materialize: nothing initialized {listing}; "
                      "zero-filled", stacklevel=2)

    if scheme is not None:
        try:
            from ..schemes import apply_to_module
        except ImportError as exc:
            raise ImportError("scheme= needs fastinit.schemes, which this installation "
                              "of fastinit lacks") from exc
        apply_to_module(module, scheme, seed=seed)
    return module


def _named_tensors(module):
    seen = set()
    out = []
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        if t is None or id(t) in seen:
            continue
        seen.add(id(t))
        out.append((_clean_name(name), t))
    return out
