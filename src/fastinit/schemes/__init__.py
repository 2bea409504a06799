"""Init schemes of today's training code (``fastinit.schemes``).

Keras, ``torch.nn.init`` and ``jax.nn.initializers`` stop at per-tensor
formulas; training code initializes by *scheme*: a rule per tensor that
depends on its role and depth. A scheme here maps each tensor's name, shape
and the model's hyper-parameters (``n_layers``, ``d_model``, the layer index
read from the name) to a fastinit initializer:

=====================  ==========================================================
``"gpt2"``             nanoGPT / transformers GPT-2: N(0, 0.02), residual outputs
                       0.02/sqrt(2 n_layers)
``"megatron"``         Megatron-LM ``init_method_normal`` / ``scaled_init_method_normal``
``"llama3-depth"``     torchtitan's Llama 3 depth init (0.02/sqrt(2(layer+1)))
``"olmo-normal"``,     OLMo-core ``InitMethod`` normal, llama, llama_depth,
``"olmo-llama"``,      normalized (nGPT)
``"olmo-llama-depth"``,
``"olmo-normalized"``
``"mup"``              muP width multipliers against base shapes (Yang et al. 2022)
``"deepnet"``          DeepNet's beta gains (Wang et al. 2022)
``"small-init"``       small init (Nguyen & Salazar 2019) + Wang's output init
=====================  ==========================================================

Each scheme's docstring (``fastinit.schemes.get(name).doc``, and
docs/schemes.md) gives its source and exact formula.

A scheme is named by a string, or by a dict ``{"name": ..., **hyper}`` (the
form a JSON spec or ``--scheme`` can carry, e.g. ``{"name": "gpt2",
"n_layers": 12}``). Hyper-parameters come from keyword arguments (or that
dict), else from the model's config when a module is given (transformers'
``num_hidden_layers``/``n_layer``, ``hidden_size``/``n_embd``, ...; torchtitan's
``model_args``), else from the names: ``n_layers`` = the largest layer index
+ 1, ``d_model`` = the last dimension of the token embedding (else the most
common norm-weight length), else the scheme's default.

Shapes are as the framework stores them: a torch ``(out, in, *kernel)``
weight, transformers' GPT-2 ``Conv1D`` ``(in, out)``. Only DeepNet's Xavier
rule uses fans (fan_in + fan_out: the same in either order for matrices; its
``layout`` hyper-parameter says how to read a kernel's). muP reads the
width multiplier from its base shapes.

A tensor whose name matches no pattern, or whose role the scheme has no rule
for, is never guessed: :func:`explain` marks it and :func:`apply_to_module`,
``init_params(..., scheme=)`` and ``fastinit init --scheme`` raise
``ValueError`` naming every such tensor.

Examples
--------
>>> import fastinit.schemes as fs
>>> table = fs.explain("gpt2", {"transformer.h.0.attn.c_proj.weight": (768, 768),
...                             "transformer.h.11.mlp.c_fc.weight": (768, 3072)})
>>> [row.rule.describe() for row in table]
['N(0, 0.00408248)', 'N(0, 0.02)']
>>> table.hyper["n_layers"], table.hyper_source["n_layers"]
(12, 'names')
"""
from __future__ import annotations

import collections
import json
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass

from .._core import resolve_seed, stream_id
from ._library import SCHEMES, Scheme
from ._roles import ROLES, classify, clean_name
from ._rules import Rule, TruncatedNormalAbs

__all__ = ["ROLES", "Rule", "Scheme", "SchemeRow", "SchemeTable", "TruncatedNormalAbs",
           "apply_to_module", "explain", "get", "initializers", "names", "resolve"]


def names():
    """names() -> list of str: the named schemes.

    Examples
    --------
    >>> import fastinit.schemes as fs
    >>> fs.names()[:3]
    ['gpt2', 'megatron', 'llama3-depth']
    """
    return list(SCHEMES)


def _parse(scheme):
    """(Scheme, hyper from the spec) for a name, a {"name": ...} dict or a Scheme."""
    if isinstance(scheme, Scheme):
        return scheme, {}
    if isinstance(scheme, str):
        text = scheme.strip()
        if text.startswith("{"):
            try:
                scheme = json.loads(text)
            except ValueError as e:
                raise ValueError(f"scheme: invalid JSON {text!r}: {e}") from None
        else:
            name, extra = scheme, {}
    if isinstance(scheme, Mapping):
        extra = dict(scheme)
        name = extra.pop("name", None)
        if not isinstance(name, str):
            raise ValueError(  # noqa: TRY004
                f"scheme: a dict scheme needs a 'name' (one of {', '.join(SCHEMES)})"
                             f"; got {scheme!r}")
    elif not isinstance(scheme, str):
        raise TypeError("scheme must be a name, a {'name': ..., **hyper} dict or a "
                        f"fastinit.schemes.Scheme; got {type(scheme).__name__}")
    if name not in SCHEMES:
        raise ValueError(f"unknown scheme {name!r}; the schemes are {', '.join(SCHEMES)}")
    return SCHEMES[name], extra


def get(scheme):
    """get(scheme) -> Scheme

    The :class:`Scheme` named ``scheme`` (its ``doc`` is the formula and
    source, ``hyper`` its hyper-parameters).

    Examples
    --------
    >>> import fastinit.schemes as fs
    >>> fs.get("megatron").source.split()[0]
    'Megatron-LM'
    >>> sorted(fs.get("gpt2").hyper)
    ['n_layers', 'std']
    """
    return _parse(scheme)[0]


# ---------------------------------------------------------------------------
# inputs


def _pairs(names_and_shapes):
    """[(name, shape)] from a mapping (shapes or spec entries), pairs, or a torch module."""
    if hasattr(names_and_shapes, "named_parameters"):
        return [(clean_name(n), tuple(p.shape))
                for n, p in names_and_shapes.named_parameters()]
    items = names_and_shapes.items() if isinstance(names_and_shapes, Mapping) \
        else names_and_shapes
    out = []
    for item in items:
        try:
            name, shape = item
        except (TypeError, ValueError):
            raise TypeError("names_and_shapes must be a mapping name -> shape, (name, shape) "
                            f"pairs or a torch module; got the item {item!r}") from None
        if isinstance(shape, Mapping):
            shape = shape.get("shape")
        elif hasattr(shape, "shape") and hasattr(shape, "dtype"):
            shape = shape.shape              # an array or tensor (a state dict)
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be str; got {name!r}")
        try:
            shape = tuple(int(d) for d in shape)
        except TypeError:
            raise TypeError(f"{name}: shape must be a sequence of ints; got {shape!r}") from None
        out.append((name, shape))
    return out


def _config_of(module):
    """The object holding a module's hyper-parameters (transformers config, ...), or None."""
    if module is None:
        return None
    for attr in ("config", "model_args", "args", "cfg"):
        obj = getattr(module, attr, None)
        if obj is not None and not callable(obj):
            return obj
    return None


def _from_config(config, keys):
    if config is None:
        return None
    for key in keys:
        value = config.get(key) if isinstance(config, Mapping) else getattr(config, key, None)
        if value is not None and not callable(value):
            return value
    return None


def _from_names(what, tensors):
    if what == "n_layers":
        layers = [t.layer for t in tensors if t.layer is not None]
        return max(layers) + 1 if layers else None
    if what in ("n_encoder_layers", "n_decoder_layers"):
        stack = what.split("_")[1]
        layers = [t.layer for t in tensors if t.layer is not None and t.stack == stack]
        return max(layers) + 1 if layers else None
    if what == "d_model":
        for t in tensors:
            if t.role == "embedding" and len(t.shape) == 2:
                return t.shape[-1]
        sizes = collections.Counter(t.shape[0] for t in tensors
                                    if t.role == "norm_weight" and len(t.shape) == 1)
        return sizes.most_common(1)[0][0] if sizes else None
    return None  # pragma: no cover


class _MissingHyper(Exception):
    pass


class _Hyper(dict):
    """The resolved hyper-parameters; reading one that has no value raises _MissingHyper."""

    def __getitem__(self, key):
        value = dict.__getitem__(self, key)
        if value is None and key not in ("embedding_std",):
            raise _MissingHyper(key)
        return value


def _load_base_shapes(value):
    if value is None:
        return None
    if hasattr(value, "named_parameters"):
        return {n: tuple(s) for n, s in _pairs(value)}
    if isinstance(value, (str, os.PathLike)):
        with open(value, encoding="utf-8") as f:
            value = json.load(f)
    if isinstance(value, Mapping):
        return {n: tuple(int(d) for d in s) for n, s in value.items()}
    raise TypeError("base_shapes must be a mapping name -> shape, a torch module or a JSON "
                    f"file path; got {type(value).__name__}")


def _resolve_hyper(scheme, tensors, config, given):
    """(_Hyper, {key: origin}) for ``scheme``; ValueError for unknown keywords."""
    table = dict(scheme.hyper)
    base = None
    if scheme.name == "mup":
        base = get(given.get("base") or "gpt2")
        if base.name == "mup":
            raise ValueError("mup: base must be another scheme, not 'mup'")
        for key, spec in base.hyper.items():
            table.setdefault(key, spec)
    unknown = sorted(set(given) - set(table))
    if unknown:
        raise ValueError(f"scheme {scheme.name!r} has no hyper-parameter "
                         f"{', '.join(map(repr, unknown))}; it takes {', '.join(sorted(table))}")
    values, origin = _Hyper(), {}
    for key, spec in table.items():
        value, where = given.get(key), "keyword"
        if value is None:
            value, where = _from_config(config, spec.config), "config"
        if value is None and spec.from_names:
            value, where = _from_names(spec.from_names, tensors), "names"
        if value is None:
            value, where = spec.default, "default"
        values[key], origin[key] = value, where
    if "arch" in values and values["arch"] == "auto":
        stacks = {t.stack for t in tensors if t.layer is not None}
        values["arch"] = ("encoder-decoder" if {"encoder", "decoder"} <= stacks else
                          "encoder-only" if stacks == {"encoder"} else "decoder-only")
        origin["arch"] = "names"
    if "arch" in values and values["arch"] not in ("decoder-only", "encoder-only",
                                                   "encoder-decoder"):
        raise ValueError(f"deepnet: arch must be 'auto', 'decoder-only', 'encoder-only' or "
                         f"'encoder-decoder'; got {values['arch']!r}")
    if "layout" in values and values["layout"] not in ("torch", "keras", "jax"):
        raise ValueError(f"deepnet: layout must be 'torch', 'keras' or 'jax'; got "
                         f"{values['layout']!r}")
    if "embedding" in values and values["embedding"] not in ("small", "uniform"):
        raise ValueError("small-init: embedding must be 'small' or 'uniform'; got "
                         f"{values['embedding']!r}")
    for key in ("n_layers", "n_encoder_layers", "n_decoder_layers", "d_model"):
        v = dict.get(values, key)
        if v is not None and (not isinstance(v, numbers.Real) or isinstance(v, bool)
                              or int(v) != v or v < 1):
            raise ValueError(f"{key} must be a positive integer; got {v!r}")
    for key in ("std", "sigma", "multiplier", "embedding_std"):
        v = dict.get(values, key)
        if v is not None and (not isinstance(v, numbers.Real) or isinstance(v, bool)
                              or not math.isfinite(v) or v <= 0):
            raise ValueError(f"{key} must be a positive finite number; got {v!r}")
    for key in ("depth_init", "readout_zero_init", "query_zero_init"):
        v = dict.get(values, key)
        if v is not None and not isinstance(v, bool):
            raise ValueError(f"{key} must be True or False; got {v!r}")
    if base is not None:
        values["base_shapes"] = _load_base_shapes(dict.get(values, "base_shapes"))
        values["base"] = base.name
        values["_base_hyper"] = _Hyper({k: dict.get(values, k) for k in base.hyper})
    return values, origin


# ---------------------------------------------------------------------------
# the table


@dataclass(frozen=True)
class SchemeRow:
    """One tensor of a :class:`SchemeTable`: its role, layer, and rule or problem.

    Examples
    --------
    >>> import fastinit.schemes as fs
    >>> row = fs.explain("gpt2", {"h.0.attn.c_proj.weight": (8, 8)})[0]
    >>> row.role, row.layer, row.rule.describe(), row.initializer(seed=0)((8, 8)).shape
    ('attn_out', 0, 'N(0, 0.0141421)', (8, 8))
    """

    name: str
    shape: tuple
    role: str | None
    layer: int | None
    rule: Rule | None
    problem: str | None = None

    def initializer(self, seed):
        """The fastinit initializer of this tensor: the rule on ``(seed, stream_id(name))``."""
        if self.rule is None:
            raise ValueError(f"{self.name}: {self.problem}")
        return self.rule.initializer(seed, stream_id(self.name))


class SchemeTable(list):
    """What each tensor gets under a scheme: a list of :class:`SchemeRow`.

    Attributes: ``scheme`` (the :class:`Scheme`), ``hyper`` (the values used)
    and ``hyper_source`` (for each: ``"keyword"``, ``"config"``, ``"names"`` or
    ``"default"``), ``unrecognized`` (the rows without a rule). ``str(table)``
    is a readable table; :meth:`check` raises for unrecognized tensors.

    Examples
    --------
    >>> import fastinit.schemes as fs
    >>> t = fs.explain("gpt2", {"h.0.mlp.c_fc.weight": (4, 16), "rotary.freq": (8,)})
    >>> [row.name for row in t.unrecognized]
    ['rotary.freq']
    >>> print(str(t).splitlines()[1])
    hyper: n_layers=1 (names), std=0.02 (default)
    >>> t.check()
    Traceback (most recent call last):
    ...
    ValueError: scheme 'gpt2' has no rule for 1 tensor (nothing was initialized):
      rotary.freq [8]: name matches no pattern of the schemes
    """

    def __init__(self, rows, scheme, hyper, hyper_source):
        super().__init__(rows)
        self.scheme = scheme
        self.hyper = {k: v for k, v in hyper.items() if not k.startswith("_")}
        self.hyper_source = hyper_source

    @property
    def unrecognized(self):
        return [row for row in self if row.rule is None]

    def check(self):
        """Raise ValueError naming every tensor the scheme has no rule for."""
        bad = self.unrecognized
        if bad:
            lines = [f"  {row.name} {list(row.shape)}: {row.problem}" for row in bad[:50]]
            if len(bad) > 50:
                lines.append(f"  ... and {len(bad) - 50} more")
            raise ValueError(f"scheme {self.scheme.name!r} has no rule for {len(bad)} tensor"
                             f"{'s' if len(bad) != 1 else ''} (nothing was initialized):\n"
                             + "\n".join(lines))
        return self

    def __str__(self):
        hyper = ", ".join(f"{k}={_short(v)} ({self.hyper_source.get(k, '-')})"
                          for k, v in self.hyper.items()
                          if k not in ("base_shapes",) or v is not None)
        head = [f"scheme {self.scheme.name!r} ({self.scheme.source})", f"hyper: {hyper}", ""]
        cols = [("tensor", [r.name for r in self]),
                ("shape", [str(list(r.shape)) for r in self]),
                ("role", [r.role or "?" for r in self]),
                ("layer", ["" if r.layer is None else str(r.layer) for r in self]),
                ("init", [r.rule.describe() if r.rule else "UNRECOGNIZED" for r in self]),
                ("formula", [r.rule.formula if r.rule else r.problem for r in self])]
        widths = [max([len(h)] + [len(v) for v in vals]) for h, vals in cols]
        lines = ["  ".join(h.ljust(w) for (h, _), w in zip(cols, widths)).rstrip()]
        lines.append("  ".join("-" * w for w in widths))
        for i in range(len(self)):
            lines.append("  ".join(vals[i].ljust(w) for (_, vals), w
                                   in zip(cols, widths)).rstrip())
        bad = self.unrecognized
        tail = [f"\n{len(bad)} tensor(s) without a rule: "
                + ", ".join(r.name for r in bad[:10]) + (" ..." if len(bad) > 10 else "")] \
            if bad else []
        return "\n".join(head + lines + tail)

    __repr__ = list.__repr__


def _short(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, Mapping):
        return f"<{len(v)} shapes>"
    return repr(v)


def resolve(scheme, names_and_shapes, *, module=None, config=None, **hyper):
    """resolve(scheme, names_and_shapes, *, module=None, config=None, **hyper) -> SchemeTable

    :func:`explain` with the model's config taken from ``module`` (or given as
    ``config``: an object or mapping with transformers-style attributes).

    Examples
    --------
    >>> import fastinit.schemes as fs
    >>> t = fs.resolve("megatron", {"layers.0.mlp.linear_fc2.weight": (8, 32)},
    ...                config={"num_layers": 24, "init_method_std": 0.01})
    >>> t.hyper["n_layers"], t.hyper_source["sigma"], t[0].rule.describe()
    (24, 'config', 'N(0, 0.00144338)')
    """
    sch, spec_hyper = _parse(scheme)
    given = {**spec_hyper, **{k: v for k, v in hyper.items() if v is not None}}
    pairs = _pairs(names_and_shapes)
    if module is None and hasattr(names_and_shapes, "named_parameters"):
        module = names_and_shapes
    if config is None:
        config = _config_of(module)
    tensors = [classify(n, s) for n, s in pairs]
    h, origin = _resolve_hyper(sch, tensors, config, given)
    rows = []
    for t in tensors:
        problem = None
        try:
            rule = sch.rule(t, h)
        except _MissingHyper as e:
            key = e.args[0]
            rule, problem = None, (f"needs {key}= (not given, not in the config, not "
                                   "derivable from the names)")
        if rule is None and problem is None:
            problem = ("name matches no pattern of the schemes" if t.role is None else
                       f"no rule for role {t.role}")
        elif isinstance(rule, str):
            rule, problem = None, rule
        rows.append(SchemeRow(t.name, t.shape, t.role, t.layer, rule, problem))
    return SchemeTable(rows, sch, h, origin)


def explain(scheme, names_and_shapes, **hyper):
    """explain(scheme, names_and_shapes, **hyper) -> SchemeTable

    The table of what each tensor gets under ``scheme``.

    Parameters
    ----------
    scheme : str, dict or Scheme
        A name of :func:`names`, or ``{"name": ..., **hyper}``.
    names_and_shapes : mapping, iterable of pairs, or torch module
        ``name -> shape`` (spec entries ``{"shape": ...}`` and arrays or
        tensors, as in a state dict, too), ``(name, shape)`` pairs, or a
        torch module (its ``named_parameters()``; its config supplies
        hyper-parameters).
    **hyper
        The scheme's hyper-parameters (``n_layers=``, ``d_model=``, ``std=``,
        ...); unknown ones raise ValueError listing the accepted ones.

    Returns
    -------
    SchemeTable
        A list of :class:`SchemeRow` (``name``, ``shape``, ``role``, ``layer``,
        ``rule`` or ``problem``) with ``hyper``, ``hyper_source`` and a
        readable ``str()``. Tensors without a rule are listed in
        ``unrecognized``, not raised; :meth:`SchemeTable.check` raises.

    Examples
    --------
    >>> import fastinit.schemes as fs
    >>> names = {"model.embed_tokens.weight": (1000, 64),
    ...          "model.layers.0.self_attn.o_proj.weight": (64, 64),
    ...          "model.layers.1.self_attn.o_proj.weight": (64, 64),
    ...          "lm_head.weight": (1000, 64)}
    >>> for row in fs.explain("llama3-depth", names):
    ...     print(row.name, row.rule.describe())
    model.embed_tokens.weight N(0, 1)
    model.layers.0.self_attn.o_proj.weight TN(0, 0.0141421; [-2, 2])
    model.layers.1.self_attn.o_proj.weight TN(0, 0.01; [-2, 2])
    lm_head.weight TN(0, 0.125; [-0.375, 0.375])
    """
    return resolve(scheme, names_and_shapes, **hyper)


def initializers(scheme, names_and_shapes, *, seed, **hyper):
    """initializers(scheme, names_and_shapes, *, seed, **hyper) -> dict[str, Initializer]

    Each tensor's fastinit initializer on ``(seed, stream_id(name))``; raises
    ValueError naming every tensor the scheme has no rule for.

    Examples
    --------
    >>> import fastinit.schemes as fs
    >>> inits = fs.initializers("gpt2", {"h.0.mlp.c_proj.weight": (64, 16)}, seed=0)
    >>> inits["h.0.mlp.c_proj.weight"]((64, 16)).shape
    (64, 16)
    """
    table = resolve(scheme, names_and_shapes, **hyper).check()
    seed = resolve_seed(seed)
    return {row.name: row.initializer(seed) for row in table}


def apply_to_module(module, scheme, *, seed, **hyper):
    """apply_to_module(module, scheme, *, seed, **hyper) -> module

    Fill every parameter of a torch module by ``scheme``, in place (CPU
    tensors through a zero-copy view; other devices by a copy of the values;
    a DTensor's local shard from its region of the global tensor): parameter
    ``name`` (as ``named_parameters()`` gives it, wrapper prefixes such as
    ``_orig_mod.`` removed) gets its rule's values on
    ``(seed, fastinit.stream_id(name))`` -- the same values as
    ``init_params`` gives that name -- in the parameter's dtype
    (float16/bfloat16 values are the float32 ones rounded once). Tied
    parameters are filled once. Hyper-parameters: keywords, else the module's
    config, else the names. Buffers are left alone. Raises ValueError naming
    every parameter the scheme has no rule for, before anything is written.

    Examples
    --------
    >>> import torch, fastinit.schemes as fs
    >>> m = torch.nn.ModuleDict({"h": torch.nn.ModuleList(
    ...     [torch.nn.ModuleDict({"mlp": torch.nn.ModuleDict(
    ...         {"c_proj": torch.nn.Linear(256, 64)})}) for _ in range(2)])})
    >>> _ = fs.apply_to_module(m, "gpt2", seed=0)
    >>> w, b = m.h[0].mlp.c_proj.weight.detach(), m.h[1].mlp.c_proj.bias.detach()
    >>> round(float(w.std()), 3), float(b.abs().max())
    (0.01, 0.0)
    """
    from ._torch import fill_parameters, float_parameters

    params = float_parameters(module)
    table = resolve(scheme, [(n, tuple(p.shape)) for n, p in params], module=module,
                    **hyper).check()
    fill_parameters(params, table, seed)
    return module


def scheme_entries(scheme, entries, pretrained=None):
    """``init_params(..., scheme=)``: the spec entries with the scheme's initializers.

    Tensors that ``pretrained`` holds with the same shape are loaded, so they
    need no rule; every other tensor without one is named in the ValueError.
    """
    import dataclasses

    table = resolve(scheme, [(e.name, e.shape) for e in entries])
    loaded = set()
    bad = [row for row in table if row.rule is None]
    if bad and pretrained is not None:
        from ..io import as_checkpoint
        ckpt, owned = as_checkpoint(pretrained)
        try:
            loaded = {row.name for row in bad
                      if row.name in ckpt and tuple(ckpt.shape(row.name)) == row.shape}
        finally:
            if owned:
                ckpt.close()
    SchemeTable([row for row in table if row.name not in loaded], table.scheme, {},
                {}).check()
    out = []
    for e, row in zip(entries, table):
        init = row.rule.initializer(0, 0) if row.rule is not None else e.init
        out.append(dataclasses.replace(e, init=init))
    return out
