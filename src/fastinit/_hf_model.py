"""``fastinit init --from-hf CONFIG``: a transformers model's initial weights, streamed.

The tensor list and the init scheme come from the model class of the config,
instantiated on the meta device; the values are exactly those of
``fastinit.torch.materialize(model, seed=N)``, computed per tensor and per
block, never the whole model in memory.

How.  ``materialize`` runs the model's own ``initialize_weights()`` under a
torch function mode that fills every random op on a model tensor from that
tensor's named stream (the ``k``-th op on ``name``: ``stream_id(name)``, then
``stream_id(f"{name}#{k}")``).  Here the same walk runs once with every tensor
still on the meta device, under a subclass of that mode which *records*, per
tensor, the ops it receives instead of executing them:

* random fills (``normal_``, ``uniform_``, ``kaiming_uniform_`` and the ops
  they are made of), with the stream the real run would use;
* in-place elementwise ops with scalar arguments (``fill_``, ``zero_``,
  ``mul_``, ``add_``, ``erfinv_``, ``clamp_``, ... -- ``trunc_normal_`` is
  ``uniform_`` followed by such ops; a padding row zeroed);

each on the whole tensor or on a contiguous view of it (a flat range).  A
tensor whose record is made only of those is *replayed block by block*: the
writer asks for one C-order block (a flat range) at a time, and the block's
values are the random fill at that block's offset followed by the recorded
elementwise ops restricted to it -- the same arithmetic, element by element,
as the whole-tensor run.  Any other tensor (one receiving ``copy_`` of a
computed tensor such as a rotary buffer, an op reading other tensors, a
non-contiguous view) is computed whole: the walk runs again with that tensor
alone on the CPU, all others on meta, and the block comes from it (such
tensors are small buffers in practice).

Names and tied weights follow ``save_pretrained``: ``state_dict()`` order, a
tensor shared by several names written once, under its first name.

With a scheme (``materialize(model, seed=N, scheme=S)``, which runs the model's
own init and then ``fastinit.schemes.apply_to_module(model, S, seed=N)``), every
parameter -- ``named_parameters()``, tied ones once, under the name that call
gives them -- takes the scheme's initializer instead, on ``(seed,
stream_id(name))``, filled block by block with ``region=``; its table is
resolved as ``apply_to_module`` resolves it (hyper-parameters from the meta
model's config) and a parameter without a rule is an error before anything is
written.  Buffers keep the model's own init.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import threading

import numpy as np

from ._regions import whole_filler


def canonical_hash(obj):
    """SHA-256 of ``obj`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

__all__ = ["HFSource", "load_config"]

# in-place Tensor methods that act element by element with scalar arguments
_ELEMENTWISE = frozenset({
    "fill_", "zero_", "mul_", "add_", "sub_", "div_", "neg_", "abs_", "clamp_", "clamp_min_",
    "clamp_max_", "clip_", "erfinv_", "erf_", "exp_", "log_", "sqrt_", "rsqrt_", "pow_",
    "reciprocal_", "tanh_", "sigmoid_", "sign_", "square_", "copysign_", "floor_", "ceil_",
    "round_", "trunc_", "addcmul_", "lerp_", "masked_fill_", "fmod_", "remainder_",
})


# one init walk at a time: shards may be written in threads, and the walk forks and
# seeds torch's global RNG
_WHOLE_LOCK = threading.Lock()

# torch.nn.init functions that return early on meta tensors (nothing to record)
_META_SHORTCUT = ("dirac_", "orthogonal_", "sparse_")


def _tm():
    """fastinit's materialize module (imported through fastinit.torch, which it extends)."""
    import importlib

    importlib.import_module("fastinit.torch")  # first: the package, then its submodule
    return importlib.import_module("fastinit.torch._materialize")


def load_config(path):
    """The config dict of ``path``: a ``config.json`` file or a directory holding one."""
    path = os.fspath(path)
    file = os.path.join(path, "config.json") if os.path.isdir(path) else path
    try:
        with open(file, encoding="utf-8") as f:
            config = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{file}: not a valid JSON config ({e})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise ValueError(f"{file}: a transformers config.json needs a 'model_type' entry")
    return config


def _torch_dtype(dtype):
    import torch

    if dtype is None:
        return None
    names = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
             "float64": torch.float64}
    key = str(dtype).replace("torch.", "")
    if key not in names:
        raise ValueError(f"--dtype must be one of {', '.join(names)} for --from-hf; "
                         f"got {dtype!r}")
    return names[key]


def build_meta_model(config_dict, dtype=None):
    """The model class of ``config_dict`` (its ``architectures``, else the causal-LM
    Auto class, else ``AutoModel``), instantiated on the meta device."""
    import torch
    import transformers
    from transformers import AutoConfig

    config_dict = dict(config_dict)
    model_type = config_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **config_dict)
    torch_dtype = _torch_dtype(dtype)
    if torch_dtype is None:
        torch_dtype = _torch_dtype(getattr(config, "dtype", None) or "float32")
    cls = None
    for arch in getattr(config, "architectures", None) or ():
        cls = getattr(transformers, arch, None)
        if cls is not None:
            break
    with torch.device("meta"):
        if cls is not None:
            model = cls._from_config(config, dtype=torch_dtype)
        else:
            try:
                model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
            except ValueError:
                model = transformers.AutoModel.from_config(config, dtype=torch_dtype)
    model.eval()
    return model


def saved_tensors(model):
    """(name, tensor) as ``save_pretrained`` writes them: state-dict order, shared once."""
    seen = set()
    out = []
    for name, t in model.state_dict(keep_vars=True).items():
        key = id(t)
        if key in seen:
            continue
        seen.add(key)
        out.append((name, t))
    return out


# --------------------------------------------------------------------------- the walk


def _walk_mode(seed, model, real=None):
    """A recording (or, for ``real``'s tensor, filling) mode over ``model``'s tensors."""
    import torch

    tm = _tm()

    class Mode(tm._FillMode):
        def __init__(self):
            super().__init__(seed)
            self.meta = {}      # meta storage key -> target
            self.records = {}   # target name -> list of ops, or None when not replayable

        def add_meta(self, tensor, target):
            self.meta.setdefault(tm._skey(tensor), target)
            self.records.setdefault(target.name, [])

        def target_of(self, tensor):
            if isinstance(tensor, torch.Tensor) and tensor.device.type == "meta":
                try:
                    return self.meta.get(tm._skey(tensor))
                except (RuntimeError, NotImplementedError):
                    return None
            return super().target_of(tensor)

        def _record(self, target, op):
            ops = self.records.get(target.name)
            if ops is not None:
                ops.append(op)

        def _broken(self, target):
            self.records[target.name] = None

        def fill(self, tensor, kind, a, b):
            if tensor.device.type != "meta":
                return super().fill(tensor, kind, a, b)
            target = self.target_of(tensor)
            stream = self.next_stream(tensor)
            if target is not None:
                span = _span(tensor)
                if span is None:
                    self._broken(target)
                else:
                    self._record(target, ("random", kind, float(a), float(b), stream) + span)
            return tensor

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            t = args[0] if args and isinstance(args[0], torch.Tensor) else kwargs.get("tensor")
            t = t if isinstance(t, torch.Tensor) else None
            target = self.target_of(t) if t is not None and t.device.type == "meta" else None
            name = getattr(func, "__name__", "")
            if target is not None:
                handler = tm._init_handler(func)
                if handler is tm._init_constant:
                    if not getattr(t, "_is_hf_initialized", False):
                        target.written = True
                        self._elementwise(target, t, "fill_", args[1:2] or (kwargs["val"],), {})
                    return t
                if handler is None and not tm._is_method(func):
                    if name in _META_SHORTCUT:  # returns early on meta: no record
                        self._broken(target)
                elif handler is None and name not in ("uniform_", "normal_"):
                    if name in tm._RANDOM_INPLACE:
                        self._broken(target)
                    elif tm._writes(func, name):
                        target.written = True
                        self._elementwise(target, t, name, args[1:], kwargs)
                        return t
            for value in list(args) + list(kwargs.values()):
                if value is t:
                    continue
                other = self.target_of(value) if isinstance(value, torch.Tensor) else None
                if other is not None and value.device.type == "meta":
                    self._broken(other)  # another op reads or writes it: compute it whole
            return super().__torch_function__(func, types, args, kwargs)

        def _elementwise(self, target, t, name, args, kwargs):
            span = _span(t)
            scalar = all(_is_scalar(a) for a in list(args) + list(kwargs.values()))
            if span is None or name not in _ELEMENTWISE or not scalar:
                self._broken(target)
                return
            self._record(target, ("op", name, tuple(args), dict(kwargs)) + span)

    return Mode()


def _is_scalar(value):
    import numbers

    return value is None or isinstance(value, (numbers.Number, bool, str))


def _span(view):
    """The flat range (start, stop) a contiguous view covers in its storage, or None."""
    if not view.is_contiguous():
        return None
    start = view.storage_offset()
    return (start, start + view.numel())


def _run_walk(model, mode):
    """``materialize``'s transformers branch under ``mode``: own init, ties, then the defaults."""
    import torch

    tm = _tm()

    with torch.random.fork_rng(devices=[]):
        from ._core import stream_id

        torch.default_generator.manual_seed(stream_id(f"{mode.seed}:fastinit.materialize") >> 1)
        with torch.no_grad(), mode:
            tm._hf_init(model)
            tm._fill_gaps(model, mode.all_targets)


class HFSource:
    """The tensors of a transformers model from its config, valued as ``materialize``."""

    def __init__(self, config, *, seed, dtype=None, scheme=None):
        from ._core import resolve_seed

        self.config = config if isinstance(config, dict) else load_config(config)
        self.seed = resolve_seed(seed)
        self.dtype = dtype
        self.scheme = scheme
        _torch_dtype(dtype)  # a bad --dtype fails now
        self._state = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_state"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._state = None

    def close(self):
        self._state = None

    def config_dict(self):
        """config.json as written beside the shards (the model's own config, dtype set)."""
        return json.loads(self._model().config.to_json_string(use_diff=False))

    def _model(self):
        if self._state is None:
            model = build_meta_model(self.config, self.dtype)
            self._state = {"model": model, "records": None, "scheme": None}
        return self._state["model"]

    def scheme_initializers(self):
        """id(parameter) -> the scheme's initializer (empty without a scheme), as
        ``apply_to_module(model, scheme, seed=seed)`` gives them; ValueError naming every
        parameter the scheme has no rule for."""
        model = self._model()
        if self.scheme is None:
            return {}
        if self._state["scheme"] is None:
            from .schemes import resolve
            from .schemes._roles import clean_name

            params = [(clean_name(n), p) for n, p in model.named_parameters()]
            table = resolve(self.scheme, [(n, tuple(p.shape)) for n, p in params],
                            module=model).check()
            self._state["scheme"] = {id(p): row.initializer(self.seed)
                                     for row, (_, p) in zip(table, params)}
        return self._state["scheme"]

    def tensors(self):
        return [(name, tuple(t.shape), _numpy_dtype(t.dtype))
                for name, t in saved_tensors(self._model())]

    def metadata(self):
        return {}

    def spec_hash(self):

        model = self._model()
        spec = {"class": type(model).__name__, "config": self.config, "dtype": str(self.dtype)}
        if self.scheme is not None:
            spec["scheme"] = self.scheme
        return canonical_hash(spec)

    def prepare(self):
        self.scheme_initializers()
        self.records()

    def records(self):
        """name -> list of recorded ops (None: compute whole); the walk runs once."""
        model = self._model()
        if self._state["records"] is None:
            self._state["records"] = _record_all(model, self.seed)
        return self._state["records"]

    def fills(self, names):
        records = self.records()
        model = self._model()
        by_name = dict(saved_tensors(model))
        scheme = self.scheme_initializers()
        out = {}
        for name in names:
            t = by_name[name]
            ops = records.get(name)
            if id(t) in scheme:
                out[name] = _scheme_fill(scheme[id(t)], tuple(t.shape))
            elif ops is not None:
                out[name] = _replay_fill(ops, tuple(t.shape), t.dtype, self.seed)
            else:
                out[name] = whole_filler(functools.partial(_compute_whole, self, name),
                                         tuple(t.shape))
        return out


def _numpy_dtype(torch_dtype):
    from . import torch as fit

    dt = fit.NUMPY_DTYPES.get(torch_dtype)
    if dt is None:
        import torch

        dt = np.dtype(torch.empty(0, dtype=torch_dtype).numpy().dtype)
    return dt


def _named_targets(model):
    tm = _tm()

    return [(name, t, tm._Target(name)) for name, t in tm._named_tensors(model)]


def _record_all(model, seed):
    """One walk over the all-meta model; each tensor's ops, or None when not replayable."""
    with _WHOLE_LOCK:  # the walk seeds torch's global RNG (forked): one at a time
        return _record_all_locked(model, seed)


def _record_all_locked(model, seed):
    mode = _walk_mode(seed, model)
    targets = _named_targets(model)
    for _, t, target in targets:
        if t.numel() == 0:
            target.written = True
        mode.add_meta(t, target)
    mode.all_targets = {id(t): target for _, t, target in targets}
    _run_walk(model, mode)
    unwritten = [name for name, _, target in targets if not target.written]
    if unwritten:
        raise ValueError("fastinit init --from-hf: the model's own initialization writes no "
                         "values into " + ", ".join(unwritten))
    return {name: mode.records.get(name) for name, _, _ in targets}


def _replay_fill(ops, shape, torch_dtype, seed):
    """fill(region, out) replaying ``ops`` on the block's flat range."""
    import torch

    from ._core import fill_normal, fill_uniform

    numel = math.prod(shape)
    # ops before the last one that overwrites everything leave no trace
    covered = False
    for i in range(len(ops) - 1, -1, -1):
        op = ops[i]
        if op[-2:] == (0, numel) and (op[0] == "random" or op[1] in ("fill_", "zero_")):
            ops, covered = ops[i:], True
            break

    def fill(region, out):
        flat = out.reshape(-1)
        r0 = sum(s.start * math.prod(shape[d + 1:]) for d, s in enumerate(region))
        r1 = r0 + flat.size
        if not covered:  # what no op writes is zero (never uninitialized memory)
            flat[...] = 0
        if str(out.dtype) == "bfloat16":  # NumPy has none: torch sees the bits
            tensor = torch.from_numpy(flat.view(np.int16)).view(torch.bfloat16)
        else:
            tensor = torch.from_numpy(flat)
        for op in ops:
            v0, v1 = op[-2], op[-1]
            lo, hi = max(v0, r0), min(v1, r1)
            if lo >= hi:
                continue
            if op[0] == "random":
                _, kind, a, b, stream = op[:5]
                f = fill_uniform if kind == "uniform" else fill_normal
                f(flat[lo - r0:hi - r0], a, b, seed=seed, stream=stream, offset=lo - v0)
            else:
                _, name, args, kwargs = op[:4]
                getattr(tensor[lo - r0:hi - r0], name)(*args, **kwargs)
    return fill


def _scheme_fill(init, shape):
    """fill(region, out) from a scheme's initializer: its values at the block's region
    (the initializer prepared once, on the first block, for the blocks' dtype)."""
    prepared = {}

    def fill(region, out):
        p = prepared.get(out.dtype)
        if p is None:
            p = prepared[out.dtype] = init.prepare(shape, out.dtype)
        p.fill(out, region=region)
    return fill


def _compute_whole(source, name):
    with _WHOLE_LOCK:
        return _compute_whole_locked(source, name)


def _compute_whole_locked(source, name):
    import torch

    model = build_meta_model(source.config, source.dtype)
    mode = _walk_mode(source.seed, model)
    targets = _named_targets(model)
    real = None
    for n, t, target in targets:
        if t.numel() == 0:
            target.written = True
        if n == name:
            real = _allocate(model, t)
            mode.add(real, target)
        else:
            mode.add_meta(t, target)
    mode.all_targets = {id(t): target for _, t, target in targets}
    if real is not None:
        mode.all_targets[id(real)] = next(tg for n, _, tg in targets if n == name)
    _run_walk(model, mode)
    for n, t in saved_tensors(model):
        if n == name:
            value = t.detach()
            if value.device.type == "meta":
                raise ValueError(f"--from-hf: {name} was not materialized")
            if value.dtype is torch.bfloat16:
                import ml_dtypes

                return value.contiguous().view(torch.int16).numpy().view(ml_dtypes.bfloat16)
            return value.contiguous().numpy()
    raise KeyError(name)


def _allocate(model, meta):
    """Give every slot holding ``meta`` one new CPU tensor (tied slots stay one object)."""
    import torch
    from torch import nn

    real = torch.empty(meta.shape, dtype=meta.dtype, device="cpu")
    for m in model.modules():
        for kind in ("_parameters", "_buffers"):
            slots = getattr(m, kind)
            for attr, t in list(slots.items()):
                if t is meta:
                    if kind == "_parameters":
                        if not isinstance(real, nn.Parameter):
                            real = nn.Parameter(real, requires_grad=meta.requires_grad)
                        slots[attr] = real
                    else:
                        slots[attr] = real
    return real
