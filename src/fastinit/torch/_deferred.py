"""``fastinit.torch.deferred``: build on the meta device, record the init ops, replay them.

Under :func:`deferred` a torch function mode records, in order, every op that
creates or writes a meta tensor (keyed by the tensor's storage, so views and
``.data`` count as the tensor).  :func:`fastinit.torch.materialize` finds the
recording of a model through its tensors' storages and replays, on real
memory, the records its parameters and buffers depend on, with its own mode
supplying every random value from fastinit.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

__all__ = ["deferred"]

# trailing-underscore methods that do not write the tensor's values
_NOT_WRITES = frozenset({"requires_grad_", "share_memory_", "retain_grad", "record_stream",
                         "resize_", "set_", "detach_", "pin_memory"})
_EMPTY_FACTORIES = frozenset({"empty", "empty_like", "empty_strided", "new_empty",
                              "new_empty_strided"})

# torch.nn.init functions that return early on meta tensors (nothing to record
# at the level of tensor ops): deferred() records them as whole calls.
_META_SHORTCUT = ("dirac_", "orthogonal_", "sparse_")


def _writes(func, name):
    """True when ``func`` writes into its first tensor argument (or an ``out=``)."""
    if name == "__setitem__" or name == "copy_":
        return True
    return name.endswith("_") and not name.startswith("_") and name not in _NOT_WRITES


def _skey(t):
    """Identity of a meta tensor's storage (views and ``.data`` share it)."""
    return t.untyped_storage()._cdata


def _meta_tensors(tree, out=None):
    """The meta tensors in nested tuples, lists and dicts (cheaper than pytree's flatten)."""
    out = [] if out is None else out
    if isinstance(tree, torch.Tensor):
        if tree.is_meta:
            out.append(tree)
    elif isinstance(tree, (tuple, list)):
        for x in tree:
            _meta_tensors(x, out)
    elif isinstance(tree, dict):
        for x in tree.values():
            _meta_tensors(x, out)
    return out


class _Record:
    __slots__ = ("args", "creates", "func", "kwargs", "outs", "overwrites", "reads", "writes")

    def __init__(self, func, args, kwargs, outs, writes, reads, creates, overwrites=None):
        self.func, self.args, self.kwargs, self.outs = func, args, kwargs, outs
        self.writes, self.reads, self.creates = writes, reads, creates
        self.overwrites = overwrites  # storage key this op sets whole, old values unread


# in-place ops that set every element without reading the old values
_OVERWRITING = frozenset({"normal_", "uniform_", "fill_", "zero_", "random_", "exponential_",
                          "log_normal_", "cauchy_", "geometric_", "constant_",
                          "kaiming_uniform_", "copy_"})


def _whole(t):
    """True when meta tensor ``t`` covers its whole storage, each element once."""
    return (t.storage_offset() == 0 and t.is_contiguous()
            and t.numel() * t.element_size() == t.untyped_storage().nbytes())


def _overwritten(name, target, args, kwargs):
    """The storage key ``target`` is set whole by this op without reading it, else None."""
    if name not in _OVERWRITING or not _whole(target):
        return None
    key = _skey(target)
    if name == "copy_":
        src = args[1] if len(args) > 1 else kwargs.get("src")
        if isinstance(src, torch.Tensor) and src.device.type == "meta" and _skey(src) == key:
            return None
    elif name == "bernoulli_" or len(_meta_tensors((args, kwargs))) > 1:
        return None  # parameters given as tensors of the model
    return key


class _Recorder(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.records = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if name in ("__get__", "dim", "size", "numel", "__len__", "stride"):
            return out
        self.note(func, name, args, kwargs, out)
        return out

    def note(self, func, name, args, kwargs, out):
        ins = _meta_tensors((args, kwargs))
        outs = _meta_tensors(out)
        in_keys = {_skey(t) for t in ins}
        new = [t for t in outs if _skey(t) not in in_keys]
        if ins and (_writes(func, name) or isinstance(kwargs.get("out"), torch.Tensor)):
            written = kwargs.get("out") if isinstance(kwargs.get("out"), torch.Tensor) else ins[0]
            whole = None if "out" in kwargs else _overwritten(name, written, args, kwargs)
            self.records.append(_Record(func, args, kwargs, (), {_skey(written)}, in_keys, False,
                                        whole))
        elif new:
            self.records.append(_Record(func, args, kwargs, outs, {_skey(t) for t in new},
                                        in_keys, True))


_recording = threading.local()
# storage key of a meta tensor -> the recorder that saw it made; entries are
# dropped when the model that owns them is materialized
_DEFERRED: dict[int, _Recorder] = {}


def _recording_init(original):
    def init(tensor, *args, **kwargs):
        rec = getattr(_recording, "recorder", None)
        if rec is not None and isinstance(tensor, torch.Tensor) and tensor.device.type == "meta":
            whole = _skey(tensor) if _whole(tensor) else None
            rec.records.append(_Record(original, (tensor,) + args, kwargs, (),
                                       {_skey(tensor)}, {_skey(tensor)}, False, whole))
            return tensor
        return original(tensor, *args, **kwargs)
    init.__wrapped__ = original
    return init


@contextmanager
def deferred():
    r"""deferred() -> context manager

    Build models on the meta device and record the init calls each tensor
    receives, so that :func:`materialize` can replay them with fastinit.

    Inside the block ``torch.device("meta")`` is the default device, so
    constructors allocate nothing, and every op that creates or writes a meta
    tensor (``torch.empty``/``zeros``/``arange``, ``nn.init.kaiming_normal_``,
    ``nn.init.constant_``, ``.fill_``, ``.zero_``, ``.normal_``, the
    ``uniform_``/``erfinv_``/``mul_``/``add_``/``clamp_`` sequence of a
    hand-written truncated normal, a buffer computed with ``arange`` and
    ``pow`` ...) is recorded, in order.  :func:`materialize` replays, in the
    same order, the records that lead to the model's parameters and buffers
    on real storage, every random op drawing from fastinit on the tensor's
    named stream; ops whose result a later op overwrites whole before anything
    reads it (a layer's default init that the constructor replaces) are
    skipped.  ``torch.nn.init.trunc_normal_`` becomes fastinit's
    ``trunc_normal_`` on that stream, and ``dirac_``, ``orthogonal_`` and
    ``sparse_`` (which do nothing on meta tensors) are recorded as whole calls
    when reached through the ``torch.nn.init`` module.

    This is how models whose constructors initialize their own weights
    (torchvision's ``for m in self.modules(): nn.init.kaiming_normal_(...)``
    loops, timm models without an ``init_weights`` method) get their exact
    scheme.  A model built under the block stays on the meta device until
    :func:`materialize`; recordings take no tensor memory.

    >>> import torch, fastinit.torch as fi
    >>> class Net(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = torch.nn.Linear(64, 32)
    ...         torch.nn.init.normal_(self.fc.weight, std=0.01)
    ...         torch.nn.init.constant_(self.fc.bias, 0.5)
    >>> with fi.deferred():
    ...     net = Net()
    >>> net.fc.weight.is_meta
    True
    >>> net = fi.materialize(net, seed=0)
    >>> net.fc.bias.sum().item(), round(net.fc.weight.std().item(), 3)
    (16.0, 0.01)
    """
    recorder = _Recorder()
    previous = getattr(_recording, "recorder", None)
    _recording.recorder = recorder
    init = torch.nn.init
    saved = {name: getattr(init, name) for name in _META_SHORTCUT}
    saved["_no_grad_trunc_normal_"] = init._no_grad_trunc_normal_
    for name, fn in saved.items():
        if not hasattr(fn, "__wrapped__"):
            setattr(init, name, _recording_init(fn))
    try:
        with torch.device("meta"), recorder:
            yield
    finally:
        for name, fn in saved.items():
            setattr(init, name, fn)
        _recording.recorder = previous
        for rec in recorder.records:
            for t in rec.outs:
                _DEFERRED[_skey(t)] = recorder
            for key in rec.writes:
                _DEFERRED.setdefault(key, recorder)


class _Unreplayable(Exception):
    pass


class _Replay:
    """Maps meta storages to real memory and re-runs recorded ops there."""

    def __init__(self, device):
        self.device = device
        self.bases = {}  # storage key -> (real tensor, meta tensor of the same storage)

    def bind(self, meta, real):
        key = _skey(meta)
        if key in self.bases:
            return
        if any(r != m for r, m, n in zip(real.stride(), meta.stride(), meta.shape) if n > 1):
            raise _Unreplayable
        self.bases[key] = (real, meta)

    def real(self, t):
        if not isinstance(t, torch.Tensor) or t.device.type != "meta":
            if isinstance(t, torch.device) and t.type == "meta":
                return self.device
            return t
        entry = self.bases.get(_skey(t))
        if entry is None:
            raise _Unreplayable
        real, meta = entry
        offset = real.storage_offset() + t.storage_offset() - meta.storage_offset()
        if t.dtype != real.dtype or offset < 0:
            raise _Unreplayable
        return real.as_strided(t.size(), t.stride(), offset)

    def resolve(self, x):
        if isinstance(x, (torch.Tensor, torch.device)):
            return self.real(x)
        if isinstance(x, (tuple, list, dict)):
            return tree_map(self.real, x)
        return x

    def run(self, rec, owned, mode):
        """Re-run one record on real memory, only the op itself under ``mode``."""
        name = getattr(rec.func, "__name__", "")
        metas = [t for t in tree_flatten(rec.outs)[0]
                 if isinstance(t, torch.Tensor) and t.device.type == "meta"]
        if rec.creates and name in _EMPTY_FACTORIES and all(
                _skey(t) in owned for t in metas):
            return  # memory the model already has
        args = tuple(self.resolve(a) for a in rec.args)
        kwargs = {k: self.resolve(v) for k, v in rec.kwargs.items()}
        if kwargs.get("device") == "meta":
            kwargs["device"] = self.device
        if rec.creates:
            with torch.device(self.device), mode:
                out = rec.func(*args, **kwargs)
        else:
            with mode:
                out = rec.func(*args, **kwargs)
        if not rec.creates:
            return
        reals = tree_flatten(out)[0]
        metas = tree_flatten(rec.outs)[0]
        for meta, value in zip(metas, reals):
            if not (isinstance(meta, torch.Tensor) and meta.device.type == "meta"):
                continue
            if _skey(meta) in owned:
                if name not in _EMPTY_FACTORIES:
                    dst = self.real(meta)
                    dst.copy_(value)
                    target = mode.target_of(dst)
                    if target is not None:
                        target.written = True
            else:
                if value.stride() != meta.stride():
                    value = torch.empty_strided(meta.size(), meta.stride(), dtype=value.dtype,
                                                device=value.device).copy_(value)
                self.bases[_skey(meta)] = (value, meta)


def _replay(recorders, named_meta, real_of, mode, device):
    """Replay the recorded ops leading to the named tensors; returns the keys replayed into."""
    replay = _Replay(device)
    owned = set()
    for name, meta in named_meta:
        try:
            replay.bind(meta, real_of[name])
            owned.add(_skey(meta))
        except _Unreplayable:
            pass
    records = [r for rec in recorders for r in rec.records]
    # Dependency slice, backwards: the records that write what the model's
    # tensors are made of, less those a later op overwrites whole before
    # anything reads them (a module's default init that its model's
    # constructor then replaces): they would be wasted work, and their draws
    # would shift the stream counters.
    needed = set(owned)
    overwritten = set()  # keys set whole by a later kept record, unread since
    keep = []
    for r in reversed(records):
        if r.overwrites is not None and r.overwrites in overwritten:
            continue
        if r.writes & needed:
            keep.append(r)
            needed |= r.reads
            overwritten -= r.reads
            if r.overwrites is not None:
                overwritten.add(r.overwrites)
        else:
            overwritten -= r.reads
    keep.reverse()
    with torch.no_grad():
        for r in keep:
            try:
                if r.func in _TRUNC_ORIGINALS:
                    # fastinit's trunc_normal_ itself, outside the mode (it would
                    # see its own tensor ops)
                    t, *rest = r.args
                    mode.trunc_normal(replay.real(t), *rest, **r.kwargs)
                else:
                    replay.run(r, owned, mode)
            except (_Unreplayable, RuntimeError):
                continue  # what it would have written is reported as uninitialized
    return owned


_TRUNC_ORIGINALS = {torch.nn.init._no_grad_trunc_normal_}
