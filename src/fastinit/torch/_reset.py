"""``fastinit.torch.reset_parameters``: torch's default scheme per module type, named streams.

Every parameter of the tree gets the values of the named stream
``stream_id(name)``; the module types whose default scheme is known get a
*plan* (filled in parallel), any other module's own ``reset_parameters`` runs
under ``patch()`` with its init calls routed to the named streams.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from .._core import get_num_threads, resolve_seed, stream_id
from . import _fast
from ._fast import (
    _fans,
    _local,
    _numpy_view,
    _storage_key,
    _written,
    _xavier_std,
    calculate_gain,
    fill_normal,
    fill_uniform,
)
from ._patch import patch

# tensors with at least this many elements are filled one at a time, each by
# all of fastinit's threads; smaller ones share a thread pool (one per fill)
_LARGE = 1 << 19


# reset_parameters(): torch's default scheme per module type, named streams
#
# A plan entry is (kind, *args) with kind "uniform" (low, high), "normal"
# (mean, std), "constant" (value) or "embedding" (padding_idx: normal(0, 1),
# then that row zeroed).


def _kaiming_sqrt5(weight):
    """nn.Linear / nn.Conv*d: kaiming_uniform_(weight, a=sqrt(5)) and the bias bound."""
    if 0 in weight.shape:
        return None, None  # torch warns and leaves it
    fan_in, _ = _fans(weight)
    std = calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(fan_in)
    bound = math.sqrt(3.0) * std
    bias_bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    return ("uniform", -bound, bound), ("uniform", -bias_bound, bias_bound)


def _plan_linear(m):
    w, b = _kaiming_sqrt5(m.weight)
    plan = {"weight": w}
    if m.bias is not None:
        if b is None:  # zero-element weight: torch still bounds the bias by fan_in
            fan_in = _fans(m.weight)[0]
            bb = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            b = ("uniform", -bb, bb)
        plan["bias"] = b
    return plan


def _plan_bilinear(m):
    bound = 1 / math.sqrt(m.weight.size(1))
    plan = {"weight": ("uniform", -bound, bound)}
    if m.bias is not None:
        plan["bias"] = ("uniform", -bound, bound)
    return plan


def _plan_embedding(m):
    return {"weight": ("embedding", m.padding_idx)}


def _plan_affine(flag):
    def plan(m):
        if not getattr(m, flag):
            return {}
        out = {"weight": ("constant", 1.0)}
        if getattr(m, "bias", None) is not None:
            out["bias"] = ("constant", 0.0)
        return out
    return plan


def _plan_batchnorm(m):
    m.reset_running_stats()  # buffers: cheap torch ops, done right away
    return _plan_affine("affine")(m)


def _xavier_uniform_plan(p, gain=1.0):
    a = math.sqrt(3.0) * _xavier_std(p, gain)
    return ("uniform", -a, a)


def _plan_mha(m):
    plan = {}
    if m._qkv_same_embed_dim:
        plan["in_proj_weight"] = _xavier_uniform_plan(m.in_proj_weight)
    else:
        for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
            plan[name] = _xavier_uniform_plan(getattr(m, name))
    if m.in_proj_bias is not None:
        plan["in_proj_bias"] = ("constant", 0.0)
        plan["out_proj.bias"] = ("constant", 0.0)
    for name in ("bias_k", "bias_v"):
        if getattr(m, name) is not None:
            plan[name] = ("normal", 0.0, _xavier_std(getattr(m, name), 1.0))
    return plan


def _plan_rnn(m):
    stdv = 1.0 / math.sqrt(m.hidden_size) if m.hidden_size > 0 else 0
    return {name: ("uniform", -stdv, stdv) for name, _ in m.named_parameters()}


def _plan_prelu(m):
    return {"weight": ("constant", float(m.init))}


def _plan_transformer(m):
    # nn.Transformer re-initializes every matrix of its tree (its children's too)
    return {name: _xavier_uniform_plan(p) for name, p in m.named_parameters() if p.dim() > 1}


# (class, the method whose default scheme the plan reproduces, plan builder);
# a subclass that overrides that method gets its own method called instead.
_KNOWN: tuple[tuple[type[nn.Module], str, Callable[[nn.Module], Any]], ...] = (
    (nn.Linear, "reset_parameters", _plan_linear),
    (nn.modules.conv._ConvNd, "reset_parameters", _plan_linear),
    (nn.Bilinear, "reset_parameters", _plan_bilinear),
    (nn.Embedding, "reset_parameters", _plan_embedding),
    (nn.EmbeddingBag, "reset_parameters", _plan_embedding),
    (nn.LayerNorm, "reset_parameters", _plan_affine("elementwise_affine")),
    (nn.GroupNorm, "reset_parameters", _plan_affine("affine")),
    (nn.modules.batchnorm._NormBase, "reset_parameters", _plan_batchnorm),
    (nn.MultiheadAttention, "_reset_parameters", _plan_mha),
    (nn.RNNBase, "reset_parameters", _plan_rnn),
    (nn.RNNCellBase, "reset_parameters", _plan_rnn),
    (nn.PReLU, "reset_parameters", _plan_prelu),
    (nn.Transformer, "_reset_parameters", _plan_transformer),
)
if hasattr(nn, "RMSNorm"):  # torch >= 2.4
    _KNOWN += ((nn.RMSNorm, "reset_parameters", _plan_affine("elementwise_affine")),)


def _known_plan(m):
    for cls, method, builder in _KNOWN:
        if isinstance(m, cls):
            if getattr(type(m), method, None) is getattr(cls, method):
                return builder
            return None
    return None


def _apply_plan(view, spec, seed, stream):
    kind = spec[0]
    if kind == "uniform":
        fill_uniform(view, spec[1], spec[2], seed=seed, stream=stream)
    elif kind == "normal":
        fill_normal(view, spec[1], spec[2], seed=seed, stream=stream)
    elif kind == "embedding":
        fill_normal(view, 0.0, 1.0, seed=seed, stream=stream)
        if spec[1] is not None:
            view[spec[1]] = 0
    else:  # constant
        view[...] = spec[1]


def _run_entry(tensor, spec, seed, stream):
    view = _numpy_view(tensor)
    if view is not None:
        _apply_plan(view, spec, seed, stream)
        _written(tensor)
        return
    if tensor.is_meta:
        return  # no memory to fill
    # Another device or dtype: the same values, made on the CPU and copied.
    work = np.float64 if tensor.dtype is torch.float64 else np.float32
    scratch = np.empty(tuple(tensor.shape), work)
    _apply_plan(scratch, spec, seed, stream)
    with torch.no_grad():
        tensor.copy_(torch.from_numpy(scratch))


def _run_plan(entries):
    """Execute the plan entries: big tensors one by one, small ones in a pool."""
    large = [e for e in entries if e[0].numel() >= _LARGE]
    small = [e for e in entries if e[0].numel() < _LARGE]
    for entry in large:
        _run_entry(*entry)
    workers = min(get_num_threads(), len(small))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers,
                                thread_name_prefix="fastinit-reset") as pool:
            list(pool.map(lambda e: _run_entry(*e), small))
    else:
        for entry in small:
            _run_entry(*entry)


@contextmanager
def _named_streams(registry, seed, module_name):
    """Route init calls on the tree's parameters to their named streams (under patch()).

    Tensors that are not parameters of the tree (temporaries) draw from
    torch's global RNG, forked and seeded from (seed, module name) so the
    result is reproducible and the caller's RNG state is untouched.
    """
    previous = getattr(_local, "registry", None)
    _local.registry = registry
    try:
        with torch.random.fork_rng(devices=[]):
            # the CPU generator only: torch.manual_seed would reseed CUDA's too
            torch.default_generator.manual_seed(_fast._torch_seed(seed, module_name))
            yield
    finally:
        _local.registry = previous


def reset_parameters(module, *, seed, prefix=""):
    r"""reset_parameters(module, *, seed, prefix="") -> module

    Re-initialize every parameter of ``module``'s tree with torch's default
    scheme for its module type, parameter ``name`` (as ``named_parameters()``
    gives it) on the named stream
    ``stream_id(prefix + "." + name if prefix else name)`` of ``seed``:

    ============================== =============================================
    module                         parameters
    ============================== =============================================
    Linear, Conv*d, ConvTranspose  weight :math:`\mathcal{U}(\pm 1/\sqrt{\text{fan\_in}})`
                                   (``kaiming_uniform_(a=sqrt(5))``), bias the same
    Bilinear                       :math:`\mathcal{U}(\pm 1/\sqrt{\text{in1}})`
    Embedding, EmbeddingBag        :math:`\mathcal{N}(0, 1)`, ``padding_idx`` row 0
    LayerNorm, RMSNorm, GroupNorm  weight 1, bias 0
    BatchNorm*, InstanceNorm*      weight 1, bias 0; running stats reset
    MultiheadAttention             in-projections ``xavier_uniform_``, biases 0
                                   (``out_proj.bias`` too), ``bias_k``/``bias_v``
                                   ``xavier_normal_``
    RNN, LSTM, GRU and cells       :math:`\mathcal{U}(\pm 1/\sqrt{\text{hidden}})`
    PReLU                          ``init``
    Transformer                    every matrix of its tree ``xavier_uniform_``
    ============================== =============================================

    Any other module (or a subclass overriding its ``reset_parameters``) that
    has a ``reset_parameters`` or ``_reset_parameters`` method gets it called
    under :func:`patch`, with each init call on a parameter of the tree routed
    to that parameter's named stream.  Parameters nobody initializes are left
    as they are, with a warning naming them (buffers of such modules are not
    touched either).  As at construction, a parent's
    scheme overrides its children's (``MultiheadAttention`` zeroes
    ``out_proj.bias``); a parameter shared by several modules gets the scheme
    of the first one in ``named_modules()`` order.

    So the values do not depend on construction order or on the other
    modules of the model, and a model built on the meta device and
    materialized with ``to_empty(device="cpu")`` gets its default statistics.
    A module with parameters or buffers still on the meta device raises
    ``ValueError`` (call ``to_empty`` first).
    The fills run in parallel (large tensors each over all of fastinit's
    threads, small ones in a thread pool).  Tensors on other devices or of
    other dtypes get the same values, made on the CPU and copied.

    >>> import torch, fastinit.torch as fi
    >>> with torch.device("meta"):
    ...     model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.LayerNorm(32))
    >>> model = fi.reset_parameters(model.to_empty(device="cpu"), seed=0)
    >>> model[1].weight.sum().item()
    32.0
    """
    seed = resolve_seed(seed)
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str; got {type(prefix).__name__}")

    def full(name):
        return f"{prefix}.{name}" if prefix else name

    params = list(module.named_parameters())
    on_meta = [full(n) for n, t in params + list(module.named_buffers()) if t.is_meta]
    if on_meta:
        more = len(on_meta) - 5
        shown = ", ".join(on_meta[:5]) + (f" and {more} more" if more > 0 else "")
        raise ValueError(
            f"fastinit.torch.reset_parameters: module is on the meta device ({shown} have no "
            'memory); call module.to_empty(device="cpu") first, or use '
            "fastinit.torch.materialize(module, seed=...)")
    name_of = {id(p): full(n) for n, p in params}
    registry = {}
    for n, p in params:
        entry = (p, seed, stream_id(full(n)))
        registry[id(p)] = entry
        if not p.is_meta and p.numel() and not isinstance(p, nn.UninitializedParameter):
            registry[_storage_key(p)] = entry

    pending = {}  # id(param) -> (param, spec)
    covered = set()
    modules = list(module.named_modules())
    is_patched = False
    with torch.no_grad(), ExitStack() as patched:
        # descendants before ancestors, so a parent's scheme wins, as at construction
        for path, m in reversed(modules):
            builder = _known_plan(m)
            if builder is not None:
                for rel, spec in builder(m).items():
                    try:
                        p = m.get_parameter(rel)
                    except AttributeError:  # e.g. a parametrized weight: not a Parameter
                        continue
                    if spec is None:
                        covered.add(id(p))  # zero elements: torch leaves it too
                        continue
                    pending[id(p)] = (p, spec)
                    covered.add(id(p))
                continue
            method = _fast._reset_method(m)
            if callable(method):
                _run_plan(_entries(pending, registry))  # the module may read its children
                pending.clear()
                if not is_patched:  # patch once, at the first such module
                    patched.enter_context(patch())
                    is_patched = True
                with _named_streams(registry, seed, full(path)):
                    method()
                covered.update(id(p) for p in m.parameters())
        _run_plan(_entries(pending, registry))
    missed = [name_of[id(p)] for _, p in params if id(p) not in covered]
    if missed:
        warnings.warn(
            "fastinit.torch.reset_parameters: no default initialization known for "
            + ", ".join(missed) + " (their modules have no reset_parameters); left unchanged",
            stacklevel=2)
    return module


def _entries(pending, registry):
    return [(p, spec, registry[id(p)][1], registry[id(p)][2]) for p, spec in pending.values()]
