"""Tensor roles read from parameter names (the name patterns of the schemes).

A scheme never sees a raw name: :func:`classify` turns ``(name, shape)`` into
a :class:`Tensor` with a *role* (what the tensor does in a transformer), the
*layer* index and the *stack* (``"encoder"``/``"decoder"`` for
encoder-decoder models), or ``role=None`` when the name matches no pattern.

Patterns cover the parameter names of transformers' GPT-2, Llama (and
Mistral, Qwen2, ...), BERT and GPT-NeoX models, nanoGPT, torchtitan's Llama 3,
OLMo-core, Megatron-LM (core and legacy) and torchscale/fairseq. A name is
split at ``"."`` (``"/"`` too); the last component is the parameter
(``weight``, ``bias``, Transformer Engine's ``layer_norm_weight``, ...), the
components before it the module path. The role comes from the last module
component, looked up in the tables below, with the parent component deciding
the ambiguous ones (``c_proj`` under ``attn`` or ``mlp``, BERT's
``attention.output.dense``/``output.dense``, ``dense`` under ``attention``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ROLES", "Tensor", "classify", "layer_of"]

#: role -> what it is (the roles a scheme gives a rule for)
ROLES = {
    "embedding": "token embedding (vocab, d_model)",
    "position_embedding": "learned position / token-type embedding",
    "attn_q": "attention query projection",
    "attn_k": "attention key projection",
    "attn_v": "attention value projection",
    "attn_qkv": "fused query/key/value projection",
    "attn_out": "attention output projection (writes to the residual stream)",
    "mlp_gate": "gated MLP: gate projection (SwiGLU w1 / gate_proj)",
    "mlp_up": "gated MLP: up projection (SwiGLU w3 / up_proj)",
    "mlp_in": "MLP input projection (c_fc / fc1 / intermediate, fused gate+up)",
    "mlp_out": "MLP output projection (writes to the residual stream)",
    "lm_head": "output (unembedding) layer",
    "head_dense": "dense layer of a task head (BERT pooler, prediction transform, classifier)",
    "norm_weight": "norm scale (LayerNorm / RMSNorm weight)",
    "norm_bias": "norm shift (LayerNorm bias)",
    "bias": "bias of a linear or head layer",
}

_MODULE_ROLES = {
    # token embeddings
    "wte": "embedding", "embed_tokens": "embedding", "word_embeddings": "embedding",
    "tok_embeddings": "embedding", "embed_in": "embedding", "embeddings": "embedding",
    # positions, token types
    "wpe": "position_embedding", "position_embeddings": "position_embedding",
    "token_type_embeddings": "position_embedding", "embed_positions": "position_embedding",
    # attention
    "q_proj": "attn_q", "query": "attn_q", "wq": "attn_q", "w_q": "attn_q",
    "k_proj": "attn_k", "key": "attn_k", "wk": "attn_k", "w_k": "attn_k",
    "v_proj": "attn_v", "value": "attn_v", "wv": "attn_v", "w_v": "attn_v",
    "c_attn": "attn_qkv", "qkv_proj": "attn_qkv", "w_qkv": "attn_qkv",
    "linear_qkv": "attn_qkv", "query_key_value": "attn_qkv", "Wqkv": "attn_qkv",
    "o_proj": "attn_out", "wo": "attn_out", "out_proj": "attn_out", "linear_proj": "attn_out",
    # MLP
    "gate_proj": "mlp_gate", "w1": "mlp_gate",
    "up_proj": "mlp_up", "w3": "mlp_up",
    "c_fc": "mlp_in", "fc1": "mlp_in", "linear_fc1": "mlp_in", "dense_h_to_4h": "mlp_in",
    "fc_in": "mlp_in",
    "down_proj": "mlp_out", "w2": "mlp_out", "fc2": "mlp_out", "linear_fc2": "mlp_out",
    "dense_4h_to_h": "mlp_out", "fc_out": "mlp_out",
    # heads
    "lm_head": "lm_head", "output_layer": "lm_head", "embed_out": "lm_head",
    "output_projection": "lm_head",
    "classifier": "head_dense", "score": "head_dense",
}

# (parent, module) pairs that the module name alone does not decide
_PAIR_ROLES = {
    ("attn", "c_proj"): "attn_out",
    ("mlp", "c_proj"): "mlp_out",
    ("attention", "dense"): "attn_out",        # GPT-NeoX
    ("self_attention", "dense"): "attn_out",   # Megatron legacy, Bloom
    ("attention", "w_out"): "attn_out",        # OLMo-core
    ("lm_head", "w_out"): "lm_head",           # OLMo-core
    ("intermediate", "dense"): "mlp_in",       # BERT
    ("pooler", "dense"): "head_dense",         # BERT
    ("transform", "dense"): "head_dense",      # BERT prediction head
    ("predictions", "decoder"): "lm_head",     # BERT MLM decoder
}

_NORM_PARAMS = {"layer_norm_weight": "norm_weight", "layer_norm_bias": "norm_bias"}
_LAYER_RE = re.compile(r"(?:^|\.)(?:h|layers|layer|blocks|block)\.(\d+)(?=\.|$)")
_STACK_RE = re.compile(r"(?:^|\.)(encoder|decoder)\.")
# wrapper prefixes that are not part of the model's own names
_WRAPPERS = ("_orig_mod.", "_checkpoint_wrapped_module.", "_fsdp_wrapped_module.")


@dataclass(frozen=True)
class Tensor:
    """One tensor as a scheme sees it."""

    name: str
    shape: tuple
    role: str | None
    layer: int | None
    stack: str | None


def clean_name(name):
    """``name`` without wrapper components (torch.compile's ``_orig_mod.``, ...)."""
    for w in _WRAPPERS:
        name = name.replace(w, "")
    return name


def layer_of(name):
    """The layer (block) index in ``name``, or None.

    The first ``h.N``, ``layers.N``, ``layer.N``, ``blocks.N`` or ``block.N``
    component pair: ``transformer.h.3.attn.c_proj.weight`` -> 3,
    ``model.layers.11.mlp.down_proj.weight`` -> 11, ``lm_head.weight`` -> None.
    """
    m = _LAYER_RE.search(clean_name(name).replace("/", "."))
    return int(m.group(1)) if m else None


def _is_norm(module):
    low = module.lower()
    return "norm" in low or low.startswith("ln_") or low in ("ln", "ln_f")


def classify(name, shape):
    """``Tensor(name, shape, role, layer, stack)`` for one parameter.

    Examples
    --------
    >>> from fastinit.schemes._roles import classify
    >>> classify("transformer.h.3.attn.c_proj.weight", (768, 768)).role
    'attn_out'
    >>> classify("model.layers.0.mlp.gate_proj.weight", (128, 64)).role
    'mlp_gate'
    >>> classify("model.layers.0.input_layernorm.weight", (64,)).role
    'norm_weight'
    >>> classify("mystery.weight", (3, 3)).role is None
    True
    """
    shape = tuple(int(d) for d in shape)
    full = clean_name(name).replace("/", ".")
    parts = full.split(".")
    param, path = parts[-1], parts[:-1]
    role = None
    if param in _NORM_PARAMS:
        role = _NORM_PARAMS[param]
    elif param in ("in_proj_weight", "in_proj_bias"):  # torch.nn.MultiheadAttention
        role = "attn_qkv" if param == "in_proj_weight" else "bias"
    elif not path:
        role = None
    else:
        module = path[-1]
        parent = path[-2] if len(path) > 1 else ""
        if _is_norm(module):
            role = {"weight": "norm_weight", "scale": "norm_weight", "gain": "norm_weight",
                    "bias": "norm_bias"}.get(param)
        else:
            base = _PAIR_ROLES.get((parent, module)) or _MODULE_ROLES.get(module)
            if base is None and module == "output" and len(path) == 1:
                base = "lm_head"                                  # torchtitan
            if base is None and module == "dense" and parent == "output":
                # BERT: attention.output.dense vs layer.N.output.dense
                base = "attn_out" if len(path) > 2 and path[-3] == "attention" else "mlp_out"
            if base is None and module == "predictions" and param == "bias":
                base = "lm_head"                                  # BERT cls.predictions.bias
            if base is not None:
                if param == "bias":
                    role = "bias"
                elif param == "weight":
                    role = base
    m = _STACK_RE.search(full)
    return Tensor(name, shape, role, layer_of(full), m.group(1) if m else None)
