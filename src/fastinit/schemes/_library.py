"""The named schemes: one function per scheme, ``rule(tensor, hyper) -> Rule``.

Each function's docstring is the scheme's documentation (source and exact
formula). A function returns a :class:`Rule`, or a string saying why this
scheme has no rule for the tensor (reported, never guessed), or None when
the tensor's role is not one the scheme knows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..fans import compute_fans
from ._rules import Rule

__all__ = ["SCHEMES", "Hyper", "Scheme"]

_LINEAR_IN = ("attn_q", "attn_k", "attn_v", "attn_qkv", "mlp_gate", "mlp_up", "mlp_in")
_RESIDUAL_OUT = ("attn_out", "mlp_out")


def _common(t):
    """Rules shared by every scheme: norms and biases."""
    if t.role == "norm_weight":
        return Rule.ones()
    if t.role in ("norm_bias", "bias"):
        return Rule.zeros()
    return None


def _need_layer(t):
    if t.layer is None:
        return f"role {t.role} needs a layer index in the name (h.N, layers.N, blocks.N)"
    return None


@dataclass(frozen=True)
class Hyper:
    """A hyper-parameter of a scheme: default, config attributes, derivable from names."""

    default: object = None
    config: tuple = ()
    from_names: str | None = None     # "n_layers", "d_model", "n_encoder_layers", ...
    doc: str = ""


@dataclass(frozen=True)
class Scheme:
    """A named scheme: ``name``, ``rule(tensor, hyper)``, its ``hyper`` table, ``source``.

    ``doc`` is the scheme's documentation: its source and exact formula.

    Examples
    --------
    >>> import fastinit.schemes as fs
    >>> s = fs.get("llama3-depth")
    >>> s.name, sorted(s.hyper)
    ('llama3-depth', ['d_model', 'depth_init', 'n_layers', 'std'])
    >>> "torchtitan" in s.doc
    True
    """

    name: str
    rule: object
    hyper: dict = field(default_factory=dict)
    source: str = ""

    @property
    def doc(self):
        return self.rule.__doc__ or ""

    def __repr__(self):
        return f"<fastinit scheme {self.name!r}: {self.source}>"


_N_LAYERS = Hyper(None, ("num_hidden_layers", "n_layer", "n_layers", "num_layers"), "n_layers",
                  "number of transformer blocks")
_D_MODEL = Hyper(None, ("hidden_size", "n_embd", "d_model", "dim"), "d_model", "model width")


# ---------------------------------------------------------------------------
# GPT-2 / nanoGPT


def gpt2(t, h):
    r"""GPT-2 (Radford et al. 2019) as in nanoGPT ``model.py`` (``GPT._init_weights``
    and the "special scaled init to the residual projections") and transformers'
    ``GPT2PreTrainedModel._init_weights``.

    * every linear weight, token and position embedding: :math:`\mathcal N(0, \sigma)`,
      :math:`\sigma` = ``std`` = 0.02 (transformers: ``config.initializer_range``);
    * residual output projections (``attn.c_proj``, ``mlp.c_proj``, and the same
      roles in other families: ``o_proj``, ``down_proj``, ...):
      :math:`\mathcal N(0, \sigma/\sqrt{2 n_\text{layers}})`;
    * biases 0; LayerNorm weight 1, bias 0.
    """
    s = h["std"]
    if t.role in ("embedding", "position_embedding", "lm_head", "head_dense") + _LINEAR_IN:
        return Rule.normal(s, "std")
    if t.role in _RESIDUAL_OUT:
        return Rule.normal(s / math.sqrt(2 * h["n_layers"]), "std/sqrt(2*n_layers)")
    return _common(t)


# ---------------------------------------------------------------------------
# Megatron-LM


def megatron(t, h):
    r"""Megatron-LM (Shoeybi et al. 2019), ``megatron/core/utils.py``:
    ``init_method_normal(sigma)`` = :math:`\mathcal N(0, \sigma)` and
    ``scaled_init_method_normal(sigma, num_layers, multiplier=2.0)`` =
    :math:`\mathcal N(0, \sigma/\sqrt{\text{multiplier}\cdot n_\text{layers}})`, wired
    as ``TransformerConfig`` does: ``init_method`` for QKV, ``linear_fc1``, the
    output layer and heads; ``output_layer_init_method`` (the scaled one) for
    ``linear_proj`` and ``linear_fc2`` (the residual outputs); embeddings with
    ``embedding_init_method_std`` (default: ``sigma``). ``sigma`` =
    ``init_method_std`` = 0.02; ``multiplier`` = 2.0 (1.0 in Megatron's hybrid
    models). Biases 0; LayerNorm weight 1, bias 0.
    """
    s = h["sigma"]
    if t.role in ("embedding", "position_embedding"):
        e = h["embedding_std"]
        return Rule.normal(s if e is None else e, "sigma" if e is None else "embedding_std")
    if t.role in ("lm_head", "head_dense") + _LINEAR_IN:
        return Rule.normal(s, "init_method_normal(sigma)")
    if t.role in _RESIDUAL_OUT:
        return Rule.normal(s / math.sqrt(h["multiplier"] * h["n_layers"]),
                           "scaled_init_method_normal: sigma/sqrt(multiplier*n_layers)")
    return _common(t)


# ---------------------------------------------------------------------------
# torchtitan Llama 3


def llama3_depth(t, h):
    r"""torchtitan's Llama 3 (``torchtitan/models/llama3/model/model.py``,
    ``Transformer.init_weights`` and the blocks' ``init_weights``), ``depth_init=True``
    (its default). With :math:`s_\ell = 0.02/\sqrt{2(\ell+1)}` for block
    :math:`\ell` (0-based; :math:`0.02/\sqrt{2 n_\text{layers}}` with
    ``depth_init=False``) and ``trunc_normal_``'s *absolute* default bounds
    :math:`[-2, 2]`:

    * ``tok_embeddings``: :math:`\mathcal N(0, 1)` (``nn.init.normal_``);
    * ``wq``, ``wk``, ``wv`` and ``w1`` (gate): :math:`TN(0, 0.02; [-2, 2])`;
    * ``wo``, ``w2`` (down) and ``w3`` (up): :math:`TN(0, s_\ell; [-2, 2])`;
    * ``output``: :math:`TN(0, d^{-1/2}; [-3 d^{-1/2}, 3 d^{-1/2}])`, :math:`d` = ``d_model``;
    * RMSNorm weights 1.

    ``std`` (0.02) replaces the constant 0.02. torchtitan's Llama 3 has no biases
    and no fused QKV or position embeddings: biases and norm shifts get 0 (marked
    in the table), the others are reported as unsupported.
    """
    s = h["std"]
    if t.role == "embedding":
        return Rule.normal(1.0, "1 (nn.init.normal_)")
    if t.role in ("attn_q", "attn_k", "attn_v", "mlp_gate"):
        return Rule.trunc(s, -2.0, 2.0, "std, absolute bounds +-2")
    if t.role in ("attn_out", "mlp_out", "mlp_up"):
        why = _need_layer(t)
        if why:
            return why
        if h["depth_init"]:
            return Rule.trunc(s / math.sqrt(2 * (t.layer + 1)), -2.0, 2.0,
                              "std/sqrt(2*(layer+1)), absolute bounds +-2")
        return Rule.trunc(s / math.sqrt(2 * h["n_layers"]), -2.0, 2.0,
                          "std/sqrt(2*n_layers), absolute bounds +-2")
    if t.role == "lm_head":
        d = h["d_model"] ** -0.5
        return Rule.trunc(d, -3 * d, 3 * d, "d_model**-0.5, bounds +-3 std")
    if t.role == "norm_weight":
        return Rule.ones()
    if t.role in ("bias", "norm_bias"):
        return Rule.zeros("zeros (not in torchtitan's Llama 3)")
    if t.role is not None:
        return f"torchtitan's Llama 3 has no {t.role} tensors"
    return None


# ---------------------------------------------------------------------------
# OLMo-core


def _olmo(method):
    def rule(t, h):
        d = h["d_model"]
        base = d ** -0.5 if method == "normalized" else h["std"]
        base_f = "d_model**-0.5" if method == "normalized" else "std"

        def tn(std, formula):
            return Rule.trunc_sigma(std, 3.0, formula + ", bounds +-3 std")

        if t.role == "embedding":
            if method in ("llama", "llama_depth"):
                return Rule.normal(1.0, "1 (nn.init.normal_)")
            if method == "normalized":
                return Rule.normal(d ** -0.5, "d_model**-0.5")
            return tn(h["std"], "std")
        if t.role == "lm_head":
            if method == "normal":
                return tn(h["std"], "std")
            return tn(d ** -0.5, "d_model**-0.5")
        if t.role in ("attn_q", "attn_k", "attn_v", "attn_qkv", "mlp_gate"):
            return tn(base, base_f)
        if t.role in ("attn_out", "mlp_up", "mlp_out"):
            if method == "normal":
                return tn(base, base_f)
            if method == "normalized" and t.role == "mlp_up":
                return tn(base, base_f)
            if method in ("llama", "normalized"):
                return tn(base / math.sqrt(2 * h["n_layers"]), base_f + "/sqrt(2*n_layers)")
            why = _need_layer(t)
            if why:
                return why
            return tn(base / math.sqrt(2 * (t.layer + 1)), base_f + "/sqrt(2*(layer+1))")
        common = _common(t)
        if common is not None:
            return common
        if t.role is not None:
            return f"OLMo-core's transformer has no {t.role} tensors"
        return None
    return rule


_OLMO_DOC = r"""OLMo-core ``InitMethod.{method}`` (``src/olmo_core/nn/transformer/init.py``;
Groeneveld et al. 2024, OLMo 2 2025). Every linear weight is
``trunc_normal_(std=s, a=-3s, b=3s)`` (bounds *3 std*), its bias 0; norms 1/0.
With :math:`\sigma` = ``std`` = 0.02 (``init_std``), :math:`d` = ``d_model``,
:math:`L` = ``n_layers`` and :math:`\ell` the block index:

{body}
"""

_OLMO_BODIES = {
    "normal": (
        "* embeddings, w_q/w_k/w_v (w_qkv), w_out, w1, w2, w3 and lm_head: :math:`TN(0, \\sigma)`."),
    "llama": (
        "* embeddings :math:`\\mathcal N(0, 1)`; lm_head :math:`TN(0, d^{-1/2})`;\n"
        "* w_q/w_k/w_v and w1 (gate) :math:`TN(0, \\sigma)`;\n"
        "* w_out, w3 (up), w2 (down): :math:`TN(0, \\sigma/\\sqrt{2L})`."),
    "llama_depth": (
        "* embeddings :math:`\\mathcal N(0, 1)`; lm_head :math:`TN(0, d^{-1/2})`;\n"
        "* w_q/w_k/w_v and w1 (gate) :math:`TN(0, \\sigma)`;\n"
        "* w_out, w3 (up), w2 (down): :math:`TN(0, \\sigma/\\sqrt{2(\\ell+1)})`."),
    "normalized": (
        "the nGPT scheme (Loshchilov et al. 2024):\n"
        "* embeddings :math:`\\mathcal N(0, d^{-1/2})`; lm_head :math:`TN(0, d^{-1/2})`;\n"
        "* w_q/w_k/w_v, w1 and w3: :math:`TN(0, d^{-1/2})`;\n"
        "* w_out and w2: :math:`TN(0, d^{-1/2}/\\sqrt{2L})`.\n"
        "nGPT's own scaling vectors (``sqk``, ``alpha``, ...) are not covered (reported)."),
}


# ---------------------------------------------------------------------------
# GPT-NeoX small init + Wang init


def small_init(t, h):
    r"""Small init (Nguyen & Salazar 2019, "Transformers without Tears") with
    Wang's scaled output init, as GPT-NeoX's ``init_method="small_init"``,
    ``output_layer_init_method="wang_init"`` (``megatron/model/init_functions.py``,
    the Pythia configurations):

    * every weight except the residual outputs, embeddings and the LM head included:
      :math:`\mathcal N(0, \sqrt{2/(5d)})`, :math:`d` = ``d_model``;
    * residual outputs (attention dense / ``o_proj``, ``dense_4h_to_h`` / ``down_proj``):
      :math:`\mathcal N(0, 2/(L\sqrt d))`, :math:`L` = ``n_layers``;
    * ``embedding="uniform"``: token embeddings :math:`U(-10^{-4}, 10^{-4})`
      instead (the "small init embedding" of RWKV, Peng et al. 2023, BlinkDL's
      RWKV-LM), meant for a LayerNorm right after the embedding;
    * biases 0; norms 1/0.
    """
    d, L = h["d_model"], h["n_layers"]
    if t.role == "embedding" and h["embedding"] == "uniform":
        return Rule.uniform(-1e-4, 1e-4, "RWKV small-init embedding U(+-1e-4)")
    if t.role in ("embedding", "position_embedding", "lm_head", "head_dense") + _LINEAR_IN:
        return Rule.normal(math.sqrt(2.0 / (5.0 * d)), "sqrt(2/(5*d_model))")
    if t.role in _RESIDUAL_OUT:
        return Rule.normal(2.0 / L / math.sqrt(d), "2/(n_layers*sqrt(d_model))")
    return _common(t)


# ---------------------------------------------------------------------------
# DeepNet


def deepnet_beta(h, stack):
    """(beta, formula) of DeepNet's Table 1 for a tensor of ``stack``."""
    arch = h["arch"]
    if arch == "encoder-decoder":
        n, m = h["n_encoder_layers"], h["n_decoder_layers"]
        if stack == "encoder":
            return 0.87 * (n ** 4 * m) ** (-1 / 16), "0.87*(N**4*M)**(-1/16)"
        return (12.0 * m) ** -0.25, "(12*M)**(-1/4)"
    return (8.0 * h["n_layers"]) ** -0.25, "(8*N)**(-1/4)"


def deepnet(t, h):
    r"""DeepNet / DeepNorm (Wang et al. 2022, "DeepNet: Scaling Transformers to
    1,000 Layers", Fig. 2 and Table 1; torchscale ``deepnorm=True``). Xavier
    normal, :math:`\mathcal N(0, g\sqrt{2/(\text{fan}_\text{in}+\text{fan}_\text{out})})`,
    with gain :math:`g = \beta` for the FFN weights, ``v_proj`` and ``out_proj``
    and :math:`g = 1` for ``q_proj`` and ``k_proj``:

    * decoder-only or encoder-only with :math:`N` layers: :math:`\beta = (8N)^{-1/4}`;
    * encoder-decoder (``arch="encoder-decoder"``, :math:`N` encoder and :math:`M`
      decoder layers): encoder :math:`\beta = 0.87 (N^4 M)^{-1/16}`, decoder
      :math:`\beta = (12M)^{-1/4}`.

    (The residual weight :math:`\alpha` is an architecture constant, not an
    initialization.) Embeddings and the output projection:
    :math:`\mathcal N(0, d^{-1/2})` as in torchscale/fairseq; biases 0; norms 1/0.
    Fans use ``layout`` ("torch": ``(out, in, *kernel)``; "keras"). A fused QKV
    weight needs two gains and is reported: split it.
    """
    if t.role in ("embedding", "position_embedding", "lm_head"):
        return Rule.normal(h["d_model"] ** -0.5, "d_model**-0.5")
    if t.role == "attn_qkv":
        return "DeepNet gives q/k gain 1 and v gain beta: a fused QKV weight is not supported"
    if t.role in ("attn_q", "attn_k", "attn_v", "attn_out", "mlp_gate", "mlp_up", "mlp_in",
                  "mlp_out"):
        if len(t.shape) < 2:
            return f"a {t.role} weight of rank {len(t.shape)} has no fans"
        fan_in, fan_out = compute_fans(t.shape, layout=h["layout"])
        xavier = math.sqrt(2.0 / (fan_in + fan_out))
        if t.role in ("attn_q", "attn_k"):
            return Rule.normal(xavier, "xavier_normal, gain 1")
        beta, formula = deepnet_beta(h, t.stack)
        return Rule.normal(beta * xavier, f"xavier_normal, gain beta={formula}")
    common = _common(t)
    if common is not None:
        return common
    if t.role is not None:
        return f"DeepNet defines no rule for {t.role} tensors"
    return None


# ---------------------------------------------------------------------------
# muP


def mup(t, h):
    r"""muP (Yang et al. 2022, "Tensor Programs V"), as ``mup.init`` of
    microsoft/mup after ``set_base_shapes``: a tensor's dimensions that differ
    from its base shape are "infinite"; the *base* scheme's rule (``base``,
    default ``"gpt2"``, with its ``std``) is kept for vector-like tensors (at most
    one infinite dimension: embeddings, the readout, biases, norms) and, for
    matrix-like ones (two infinite dimensions), every scale is divided by
    :math:`\sqrt{m}`, :math:`m` = the width multiplier of the last infinite
    dimension (the fan-in of a torch ``(out, in)`` weight): ``dim/base_dim``.
    ``readout_zero_init=True`` gives the LM head zeros, ``query_zero_init=True`` the
    query projection zeros (mutransformers' options). ``base_shapes``: a mapping
    ``name -> shape`` (or a torch module of base width, or a JSON file of it); a
    tensor without a base shape is reported.
    """
    base = SCHEMES[h["base"]]
    if t.role == "lm_head" and h["readout_zero_init"]:
        return Rule.zeros("zeros (readout_zero_init)")
    if t.role == "attn_q" and h["query_zero_init"]:
        return Rule.zeros("zeros (query_zero_init)")
    if t.role is None:
        return None
    rule = base.rule(t, h["_base_hyper"])
    if not isinstance(rule, Rule):
        return rule
    shapes = h["base_shapes"]
    if t.name not in shapes:
        return "no base shape for this tensor in base_shapes"
    bshape = tuple(int(d) for d in shapes[t.name])
    if len(bshape) != len(t.shape):
        return f"base shape {bshape} has another rank than {t.shape}"
    inf = [i for i, (b, d) in enumerate(zip(bshape, t.shape)) if b != d]
    if len(inf) > 2:
        return "muP supports at most 2 infinite dimensions"
    if len(inf) <= 1:
        return rule
    main = inf[-1]
    m = t.shape[main] / bshape[main]
    return rule.scaled(m ** -0.5, f"width_mult**-0.5 (m={m:.6g})")


# ---------------------------------------------------------------------------
# the registry

_STD = Hyper(0.02, (), None, "base standard deviation")
SCHEMES = {}


def _register(name, rule, source, hyper, doc=None):
    if doc is not None:
        rule.__doc__ = doc
    SCHEMES[name] = Scheme(name, rule, hyper, source)


_register("gpt2", gpt2, "nanoGPT model.py / transformers GPT2PreTrainedModel._init_weights",
          {"n_layers": _N_LAYERS,
           "std": Hyper(0.02, ("initializer_range",), None, "initializer_range")})
_register("megatron", megatron, "Megatron-LM megatron/core/utils.py init_method_normal, "
          "scaled_init_method_normal",
          {"n_layers": _N_LAYERS,
           "sigma": Hyper(0.02, ("init_method_std",), None, "init_method_std"),
           "multiplier": Hyper(2.0, (), None, "scaled init multiplier"),
           "embedding_std": Hyper(None, ("embedding_init_method_std",), None,
                                  "embedding std (None: sigma)")})
_register("llama3-depth", llama3_depth, "torchtitan models/llama3/model/model.py init_weights",
          {"n_layers": _N_LAYERS, "d_model": _D_MODEL, "std": _STD,
           "depth_init": Hyper(True, ("depth_init",), None, "per-layer depth scaling")})
for _m in ("normal", "llama", "llama_depth", "normalized"):
    _register("olmo-" + _m.replace("_", "-"), _olmo(_m),
              f"OLMo-core src/olmo_core/nn/transformer/init.py InitMethod.{_m}",
              {"n_layers": _N_LAYERS, "d_model": _D_MODEL,
               "std": Hyper(0.02, ("init_std",), None, "init_std")},
              _OLMO_DOC.format(method=_m, body=_OLMO_BODIES[_m]))
_register("mup", mup, "Yang et al. 2022 (Tensor Programs V); microsoft/mup mup.init",
          {"base_shapes": Hyper(None, (), None, "name -> base shape"),
           "base": Hyper("gpt2", (), None, "scheme giving the base-width rule"),
           "readout_zero_init": Hyper(False, (), None, "zero LM head"),
           "query_zero_init": Hyper(False, (), None, "zero query projection")})
_register("deepnet", deepnet, "Wang et al. 2022 (DeepNet), Table 1; torchscale deepnorm",
          {"n_layers": _N_LAYERS, "d_model": _D_MODEL,
           "arch": Hyper("auto", (), None, "decoder-only, encoder-only, encoder-decoder"),
           "n_encoder_layers": Hyper(None, ("encoder_layers",), "n_encoder_layers",
                                     "encoder layers (encoder-decoder)"),
           "n_decoder_layers": Hyper(None, ("decoder_layers",), "n_decoder_layers",
                                     "decoder layers (encoder-decoder)"),
           "layout": Hyper("torch", (), None, "weight layout for fans")})
_register("small-init", small_init, "Nguyen & Salazar 2019; GPT-NeoX small_init + wang_init",
          {"n_layers": _N_LAYERS, "d_model": _D_MODEL,
           "embedding": Hyper("small", (), None, "'small' or 'uniform' (RWKV U(+-1e-4))")})
