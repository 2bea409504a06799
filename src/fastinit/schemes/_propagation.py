"""Signal propagation of init schemes through a transformer-shaped stack.

``fastinit check --propagation --scheme S [--scheme S2 ...]`` runs
:func:`propagate` for each scheme and prints (and optionally plots) how the
residual stream and each block's update grow with depth.

The stack is a pre-norm decoder with transformers' Llama names: token
embedding, ``n_layers`` blocks of causal multi-head attention (heads of 64,
or one head when ``d_model < 64``) and a SwiGLU MLP (hidden ``4 * d_model``),
each added to the residual stream after an RMSNorm, then a final RMSNorm
and the LM head. Every weight comes from the scheme (``fastinit.schemes``)
with the run's seed; the input is ``batch`` sequences of ``seq`` random
tokens. Forward only, in float32. (DeepNet's DeepNorm is post-norm; here
every scheme runs through the same pre-norm stack, so only the weights
differ.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["StackReport", "propagate", "stack_names"]


def stack_names(n_layers, d_model, vocab):
    """name -> shape of the stack (transformers Llama names, torch layout)."""
    ffn = 4 * d_model
    names = {"model.embed_tokens.weight": (vocab, d_model)}
    for i in range(n_layers):
        p = f"model.layers.{i}."
        names.update({
            p + "input_layernorm.weight": (d_model,),
            p + "self_attn.q_proj.weight": (d_model, d_model),
            p + "self_attn.k_proj.weight": (d_model, d_model),
            p + "self_attn.v_proj.weight": (d_model, d_model),
            p + "self_attn.o_proj.weight": (d_model, d_model),
            p + "post_attention_layernorm.weight": (d_model,),
            p + "mlp.gate_proj.weight": (ffn, d_model),
            p + "mlp.up_proj.weight": (ffn, d_model),
            p + "mlp.down_proj.weight": (d_model, ffn)})
    names["model.norm.weight"] = (d_model,)
    names["lm_head.weight"] = (vocab, d_model)
    return names


@dataclass
class StackReport:
    """Per-layer statistics of one scheme's forward pass."""

    scheme: str
    embedding_std: float
    residual_std: list = field(default_factory=list)     # after each block
    attention_std: list = field(default_factory=list)    # each block's attention update
    mlp_std: list = field(default_factory=list)          # each block's MLP update
    logits_std: float = 0.0

    @property
    def growth(self):
        """Residual-stream std after the last block / after the embedding."""
        return self.residual_std[-1] / self.embedding_std if self.embedding_std else math.inf


def _rmsnorm(x, w):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-6) * w


def _silu(x):
    return x / (1.0 + np.exp(-x))


def propagate(scheme, *, n_layers=24, d_model=256, vocab=512, batch=4, seq=32, seed=0,
              **hyper):
    """propagate(scheme, *, n_layers=24, d_model=256, vocab=512, batch=4, seq=32, seed=0,
              **hyper) -> StackReport

    Run the transformer-shaped stack (module docstring) initialized by
    ``scheme``. muP without ``base_shapes`` is measured against the same
    stack at width ``min(64, d_model)``.

    Examples
    --------
    >>> from fastinit.schemes._propagation import propagate
    >>> r = propagate("gpt2", n_layers=2, d_model=64, vocab=64, batch=2, seq=8)
    >>> len(r.residual_std), r.logits_std > 0
    (2, True)
    """
    from . import _parse, initializers

    sch, _ = _parse(scheme)
    names = stack_names(n_layers, d_model, vocab)
    if sch.name == "mup" and "base_shapes" not in hyper and not (
            isinstance(scheme, dict) and "base_shapes" in scheme):
        hyper["base_shapes"] = stack_names(n_layers, min(64, d_model), vocab)
    inits = initializers(scheme, names, seed=seed, **hyper)
    # weights as (in, out), contiguous: every product is one 2-D BLAS call
    w = {n: np.ascontiguousarray(inits[n](shape, np.float32).T) if len(shape) == 2
         and "embed" not in n else inits[n](shape, np.float32) for n, shape in names.items()}
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, size=batch * seq)
    x = w["model.embed_tokens.weight"][tokens]                    # (batch*seq, d)
    report = StackReport(sch.name, float(x.std()))
    heads = max(1, d_model // 64)
    hd = d_model // heads
    mask = np.triu(np.full((seq, seq), -np.inf, np.float32), 1)

    def split(t):
        return np.ascontiguousarray(t.reshape(batch, seq, heads, hd).transpose(0, 2, 1, 3))

    for i in range(n_layers):
        p = f"model.layers.{i}."
        h = _rmsnorm(x, w[p + "input_layernorm.weight"])
        q, k, v = (split(h @ w[p + f"self_attn.{n}_proj.weight"]) for n in "qkv")
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(hd)) + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        o = (scores / scores.sum(axis=-1, keepdims=True)) @ v
        a = o.transpose(0, 2, 1, 3).reshape(batch * seq, d_model) @ w[p + "self_attn.o_proj.weight"]
        x = x + a
        h = _rmsnorm(x, w[p + "post_attention_layernorm.weight"])
        m = (_silu(h @ w[p + "mlp.gate_proj.weight"]) * (h @ w[p + "mlp.up_proj.weight"])) \
            @ w[p + "mlp.down_proj.weight"]
        x = x + m
        report.attention_std.append(float(a.std()))
        report.mlp_std.append(float(m.std()))
        report.residual_std.append(float(x.std()))
    logits = _rmsnorm(x, w["model.norm.weight"]) @ w["lm_head.weight"]
    report.logits_std = float(logits.std())
    return report


def run_cli(args, depth, width, batch, seed):
    """``fastinit check --propagation --scheme S ...`` over ``depth`` blocks of
    ``width`` (the command resolves the sizes and the seed); returns the exit
    status (0)."""
    print(f"fastinit check --propagation: pre-norm transformer stack (Llama names), "
          f"{depth} blocks of width {width}, SwiGLU MLP {4 * width}, {batch} sequences of "
          f"32 tokens, seed {seed}\n")
    reports = [propagate(s, n_layers=depth, d_model=width, batch=batch, seed=seed)
               for s in args.scheme]
    labels = [s if isinstance(s, str) and not s.lstrip().startswith("{") else r.scheme
              for s, r in zip(args.scheme, reports)]
    lw = max(len("scheme"), *(len(label) for label in labels))
    mid = depth // 2
    head = (f"{'scheme':{lw}}  {'embed std':>9}  {'resid 1':>9}  {f'resid {mid + 1}':>9}  "
            f"{f'resid {depth}':>9}  {'growth':>8}  {'attn upd':>9}  {'mlp upd':>9}  "
            f"{'logit std':>9}")
    print(head)
    print("-" * len(head))
    for label, r in zip(labels, reports):
        print(f"{label:{lw}}  {r.embedding_std:9.3g}  {r.residual_std[0]:9.3g}  "
              f"{r.residual_std[mid]:9.3g}  {r.residual_std[-1]:9.3g}  {r.growth:8.3g}  "
              f"{np.mean(r.attention_std):9.3g}  {np.mean(r.mlp_std):9.3g}  "
              f"{r.logits_std:9.3g}")
    print("\nresid k: std of the residual stream after block k; growth: after the last block "
          "/ after the embedding; attn/mlp upd: mean std of the blocks' updates")
    if args.plot:
        _plot(reports, labels, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _plot(reports, labels, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    for k, (label, r) in enumerate(zip(labels, reports)):
        style = {"lw": 1.6, "ls": ("-", "--", "-.", ":")[k % 4], "label": label}
        layers = np.arange(len(r.residual_std) + 1)
        left.plot(layers, [r.embedding_std, *r.residual_std], **style)
        right.plot(layers[1:], np.add(r.attention_std, r.mlp_std) / 2, **style)
    left.set_title("std of the residual stream (0 = embedding)", fontsize=10)
    right.set_title("std of each block's update (attention, MLP mean)", fontsize=10)
    for ax in (left, right):
        ax.set_yscale("log")
        ax.set_xlabel("block")
        ax.grid(True, which="major", alpha=0.3)
    left.legend(fontsize=8)
    fig.savefig(path, dpi=110)
