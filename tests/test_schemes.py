"""fastinit.schemes: every scheme against its source's formula on real models.

Each expected value below is written from the source (nanoGPT/transformers
GPT-2, Megatron-LM, torchtitan Llama 3, OLMo-core InitMethod, muP, DeepNet,
GPT-NeoX small/Wang init), independently of the scheme code. Sample checks
use fixed seeds and tolerances of 6 standard errors.
"""
import json
import math
import re
import sys

import ml_dtypes
import numpy as np
import pytest
from _deps import require

torch = require("torch")

import fastinit
import fastinit.schemes as fs
import fastinit.torch as fit


def _transformers():
    # A torchvision wheel that does not match the CPU torch fails to register
    # its ops and breaks ``import transformers``; transformers works without it.
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure: run transformers without it
        for key in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[key]
        sys.modules["torchvision"] = None
    return require("transformers")


SEED = 1234
D = 64
L = 3
VOCAB = 256


@pytest.fixture(scope="module")
def tf():
    tr = _transformers()
    tr.logging.set_verbosity_error()
    return tr


@pytest.fixture(scope="module")
def gpt2(tf):
    torch.manual_seed(0)
    return tf.GPT2LMHeadModel(tf.GPT2Config(n_layer=L, n_embd=D, n_head=4, vocab_size=VOCAB,
                                            n_positions=64))


def _llama(tf, hidden=D, inter=192):
    torch.manual_seed(0)
    return tf.LlamaForCausalLM(tf.LlamaConfig(
        num_hidden_layers=L, hidden_size=hidden, intermediate_size=inter, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=VOCAB, tie_word_embeddings=False))


@pytest.fixture(scope="module")
def llama(tf):
    return _llama(tf)


@pytest.fixture(scope="module")
def bert(tf):
    torch.manual_seed(0)
    return tf.BertModel(tf.BertConfig(num_hidden_layers=2, hidden_size=D, intermediate_size=256,
                                      num_attention_heads=4, vocab_size=VOCAB,
                                      max_position_embeddings=64))


@pytest.fixture(scope="module")
def neox(tf):
    torch.manual_seed(0)
    return tf.GPTNeoXForCausalLM(tf.GPTNeoXConfig(num_hidden_layers=2, hidden_size=D,
                                                  intermediate_size=256, num_attention_heads=4,
                                                  vocab_size=VOCAB))


def _tn_std(k):
    """std of a standard normal truncated to [-k, k]."""
    phi = math.exp(-k * k / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(k / math.sqrt(2))
    return math.sqrt(1 - 2 * k * phi / mass)


def _check_values(name, w, expected):
    """expected: ("normal", std) | ("trunc", std, abs_bound) | ("ones",) | ("zeros",)."""
    w = np.asarray(w, np.float64).ravel()
    kind = expected[0]
    if kind in ("ones", "zeros"):
        assert (w == (1.0 if kind == "ones" else 0.0)).all(), name
        return
    std = expected[1]
    n = w.size
    sample_std = std
    if kind == "trunc":
        bound = expected[2]
        sample_std = std * _tn_std(bound / std)
        assert np.abs(w).max() <= np.float32(bound), (name, np.abs(w).max(), bound)
        if bound / std < 4 and n >= 8192:
            # truncation exactly there: the sample reaches close to the bound
            assert np.abs(w).max() > 0.95 * bound, (name, np.abs(w).max(), bound)
    elif n >= 8192:
        # untruncated (a +-2 absolute window on std 0.02 included): beyond 3 std occurs
        assert np.abs(w).max() > 3 * std, (name, np.abs(w).max(), std)
    tol = 6 / math.sqrt(2 * n)
    assert abs(w.std() / sample_std - 1) < tol, (name, w.std(), sample_std, tol)
    assert abs(w.mean()) < 6 * sample_std / math.sqrt(n), (name, w.mean())


def _check_model(model, scheme, expected, **hyper):
    fs.apply_to_module(model, scheme, seed=SEED, **hyper)
    seen = 0
    for name, p in model.named_parameters():
        _check_values(name, p.detach().numpy(), expected(name, tuple(p.shape)))
        seen += 1
    assert seen > 0


def _layer(name):
    return int(re.search(r"\.(?:h|layers|layer)\.(\d+)\.", name).group(1))


# ---------------------------------------------------------------------------
# per scheme, on real models


def test_gpt2_on_transformers_gpt2(gpt2):
    def expected(name, shape):
        if ".ln_" in name:
            return ("ones",) if name.endswith("weight") else ("zeros",)
        if name.endswith(".bias"):
            return ("zeros",)
        if name.endswith("c_proj.weight"):                     # nanoGPT's special scaled init
            return ("normal", 0.02 / math.sqrt(2 * L))
        return ("normal", 0.02)

    _check_model(gpt2, "gpt2", expected)
    assert not fs.explain("gpt2", gpt2).unrecognized


def _llama3_expected(name, shape, std=0.02, depth=True):
    if "norm" in name:
        return ("ones",)
    if "embed_tokens" in name:
        return ("normal", 1.0)
    if name == "lm_head.weight":
        s = D ** -0.5
        return ("trunc", s, 3 * s)
    if re.search(r"(q_proj|k_proj|v_proj|gate_proj)", name):
        return ("trunc", std, 2.0)
    layer = _layer(name)
    s = std / math.sqrt(2 * (layer + 1)) if depth else std / math.sqrt(2 * L)
    return ("trunc", s, 2.0)                                   # o_proj, up_proj, down_proj


def test_llama3_depth_on_transformers_llama(llama):
    _check_model(llama, "llama3-depth", _llama3_expected)
    table = fs.explain("llama3-depth", llama)
    assert not table.unrecognized
    assert table.hyper["d_model"] == D and table.hyper_source["d_model"] == "config"


def test_llama3_depth_init_false(llama):
    _check_model(llama, "llama3-depth",
                 lambda n, s: _llama3_expected(n, s, depth=False), depth_init=False)


def _olmo_expected(method):
    def expected(name, shape):
        if "norm" in name:
            return ("ones",)
        base = D ** -0.5 if method == "normalized" else 0.02
        if "embed_tokens" in name:
            return {"normal": ("trunc", 0.02, 0.06), "normalized": ("normal", D ** -0.5)}.get(
                method, ("normal", 1.0))
        if name == "lm_head.weight":
            s = 0.02 if method == "normal" else D ** -0.5
            return ("trunc", s, 3 * s)
        unscaled = (re.search(r"(q_proj|k_proj|v_proj|gate_proj)", name) or method == "normal"
                    or (method == "normalized" and "up_proj" in name))
        if unscaled:
            s = base
        elif method in ("llama", "normalized"):
            s = base / math.sqrt(2 * L)
        else:
            s = base / math.sqrt(2 * (_layer(name) + 1))
        return ("trunc", s, 3 * s)
    return expected


@pytest.mark.parametrize("method", ["normal", "llama", "llama_depth", "normalized"])
def test_olmo_methods_on_transformers_llama(llama, method):
    name = "olmo-" + method.replace("_", "-")
    _check_model(llama, name, _olmo_expected(method))
    assert not fs.explain(name, llama).unrecognized


def test_megatron_on_transformers_bert(bert):
    n_layers = 2

    def expected(name, shape):
        if "LayerNorm" in name:
            return ("ones",) if name.endswith("weight") else ("zeros",)
        if name.endswith(".bias"):
            return ("zeros",)
        if name.endswith("output.dense.weight"):   # attention.output.dense and output.dense
            return ("normal", 0.02 / math.sqrt(2.0 * n_layers))
        return ("normal", 0.02)

    _check_model(bert, "megatron", expected)
    assert not fs.explain("megatron", bert).unrecognized


def test_small_init_on_transformers_gpt_neox(neox):
    n_layers = 2

    def expected(name, shape):
        if "layernorm" in name or "layer_norm" in name:
            return ("ones",) if name.endswith("weight") else ("zeros",)
        if name.endswith(".bias"):
            return ("zeros",)
        if "attention.dense" in name or "dense_4h_to_h" in name:
            return ("normal", 2 / n_layers / math.sqrt(D))      # wang_init
        return ("normal", math.sqrt(2 / (5 * D)))              # small_init

    _check_model(neox, "small-init", expected)
    assert not fs.explain("small-init", neox).unrecognized


def test_small_init_uniform_embedding(neox):
    fs.apply_to_module(neox, "small-init", seed=SEED, embedding="uniform")
    w = neox.gpt_neox.embed_in.weight.detach().numpy()
    assert np.abs(w).max() <= np.float32(1e-4)
    assert abs(w.std() / (2e-4 / math.sqrt(12)) - 1) < 6 / math.sqrt(2 * w.size)


def _xavier(shape):
    return math.sqrt(2.0 / (shape[0] + shape[1]))


def test_deepnet_on_transformers_llama(llama):
    beta = (8.0 * L) ** -0.25

    def expected(name, shape):
        if "norm" in name:
            return ("ones",)
        if "embed_tokens" in name or name == "lm_head.weight":
            return ("normal", D ** -0.5)
        if "q_proj" in name or "k_proj" in name:
            return ("normal", _xavier(shape))
        return ("normal", beta * _xavier(shape))

    _check_model(llama, "deepnet", expected)


def _torchscale_names(n_enc, n_dec, d=D, ffn=128):
    names = {"encoder.embed_tokens.weight": (VOCAB, d), "decoder.embed_tokens.weight": (VOCAB, d),
             "decoder.output_projection.weight": (VOCAB, d)}
    for stack, n in (("encoder", n_enc), ("decoder", n_dec)):
        attns = ("self_attn", "encoder_attn") if stack == "decoder" else ("self_attn",)
        for i in range(n):
            p = f"{stack}.layers.{i}."
            for a in attns:
                for w in ("q_proj", "k_proj", "v_proj", "out_proj"):
                    names[p + f"{a}.{w}.weight"] = (d, d)
                    names[p + f"{a}.{w}.bias"] = (d,)
                names[p + f"{a}_layer_norm.weight"] = (d,)
                names[p + f"{a}_layer_norm.bias"] = (d,)
            names[p + "ffn.fc1.weight"] = (ffn, d)
            names[p + "ffn.fc2.weight"] = (d, ffn)
            names[p + "final_layer_norm.weight"] = (d,)
    return names


def test_deepnet_encoder_decoder_torchscale_names():
    n, m = 2, 3
    names = _torchscale_names(n, m)
    table = fs.explain("deepnet", names)
    assert not table.unrecognized
    assert table.hyper["arch"] == "encoder-decoder"
    assert (table.hyper["n_encoder_layers"], table.hyper["n_decoder_layers"]) == (n, m)
    spec = {k: {"shape": list(v)} for k, v in names.items()}
    params, _ = fastinit.init_params(spec, seed=SEED, scheme="deepnet")
    beta_enc = 0.87 * (n ** 4 * m) ** (-1 / 16)
    beta_dec = (12.0 * m) ** -0.25
    for name, w in params.items():
        shape = names[name]
        if "norm" in name:
            exp = ("ones",) if name.endswith("weight") else ("zeros",)
        elif name.endswith(".bias"):
            exp = ("zeros",)
        elif "embed_tokens" in name or "output_projection" in name:
            exp = ("normal", D ** -0.5)
        elif "q_proj" in name or "k_proj" in name:
            exp = ("normal", _xavier(shape))
        else:
            beta = beta_enc if name.startswith("encoder.") else beta_dec
            exp = ("normal", beta * _xavier(shape))
        _check_values(name, w, exp)


def test_deepnet_refuses_fused_qkv(gpt2):
    table = fs.explain("deepnet", gpt2)
    bad = {row.name for row in table.unrecognized}
    assert bad == {f"transformer.h.{i}.attn.c_attn.weight" for i in range(L)}


def test_mup_against_base_shapes(tf):
    base = _llama(tf, hidden=32, inter=96)
    target = _llama(tf, hidden=128, inter=384)       # every width x4: multiplier 4

    def expected(name, shape):
        if "norm" in name:
            return ("ones",)
        if "embed_tokens" in name or name == "lm_head.weight":   # one infinite dimension
            return ("normal", 0.02)
        s = 0.02 / math.sqrt(2 * L) if ("o_proj" in name or "down_proj" in name) else 0.02
        return ("normal", s / math.sqrt(4))                     # matrix-like: / sqrt(m)

    _check_model(target, "mup", expected, base_shapes=base)
    fs.apply_to_module(target, "mup", seed=SEED, base_shapes=base, readout_zero_init=True)
    assert (target.lm_head.weight == 0).all()
    # at base width muP is the base scheme itself, bit for bit
    fs.apply_to_module(base, "mup", seed=SEED, base_shapes=base)
    ref = _llama(tf, hidden=32, inter=96)
    fs.apply_to_module(ref, "gpt2", seed=SEED)
    for (n, a), (_, b) in zip(base.named_parameters(), ref.named_parameters()):
        assert torch.equal(a, b), n
    missing = {k: tuple(v.shape) for k, v in base.named_parameters() if "lm_head" not in k}
    table = fs.explain("mup", target, base_shapes=missing)
    assert [row.name for row in table.unrecognized] == ["lm_head.weight"]


# ---------------------------------------------------------------------------
# name sets of torchtitan, nanoGPT, Megatron-LM and OLMo-core


def _torchtitan_names(n_layers=2, d=D, hidden=192):
    names = {"tok_embeddings.weight": (VOCAB, d), "norm.weight": (d,),
             "output.weight": (VOCAB, d)}
    for i in range(n_layers):
        p = f"layers.{i}."
        names.update({p + "attention.wq.weight": (d, d), p + "attention.wk.weight": (d // 2, d),
                      p + "attention.wv.weight": (d // 2, d), p + "attention.wo.weight": (d, d),
                      p + "feed_forward.w1.weight": (hidden, d),
                      p + "feed_forward.w2.weight": (d, hidden),
                      p + "feed_forward.w3.weight": (hidden, d),
                      p + "attention_norm.weight": (d,), p + "ffn_norm.weight": (d,)})
    return names


def test_llama3_depth_on_torchtitan_names():
    table = fs.explain("llama3-depth", _torchtitan_names())
    assert not table.unrecognized
    got = {row.name: row.rule for row in table}
    assert got["tok_embeddings.weight"].describe() == "N(0, 1)"
    for i in range(2):
        s = 0.02 / math.sqrt(2 * (i + 1))
        for w in ("attention.wo", "feed_forward.w2", "feed_forward.w3"):
            r = got[f"layers.{i}.{w}.weight"]
            assert (r.kind, r.std, r.a, r.b) == ("trunc_normal", s, -2.0, 2.0)
        for w in ("attention.wq", "attention.wk", "attention.wv", "feed_forward.w1"):
            r = got[f"layers.{i}.{w}.weight"]
            assert (r.kind, r.std, r.a, r.b) == ("trunc_normal", 0.02, -2.0, 2.0)
    r = got["output.weight"]
    assert (r.kind, r.std, r.a, r.b) == ("trunc_normal", D ** -0.5, -3 * D ** -0.5,
                                         3 * D ** -0.5)


def test_gpt2_on_nanogpt_names():
    names = {"transformer.wte.weight": (VOCAB, D), "transformer.wpe.weight": (64, D),
             "transformer.ln_f.weight": (D,), "lm_head.weight": (VOCAB, D)}
    for i in range(4):
        p = f"transformer.h.{i}."
        names.update({p + "ln_1.weight": (D,), p + "ln_2.weight": (D,),
                      p + "attn.c_attn.weight": (3 * D, D), p + "attn.c_proj.weight": (D, D),
                      p + "mlp.c_fc.weight": (4 * D, D), p + "mlp.c_proj.weight": (D, 4 * D)})
    table = fs.explain("gpt2", names)
    assert not table.unrecognized and table.hyper["n_layers"] == 4
    for row in table:
        want = (0.02 / math.sqrt(8) if row.name.endswith("c_proj.weight") else 0.02)
        if "ln_" not in row.name:
            assert (row.rule.kind, row.rule.std) == ("normal", want), row.name


def test_megatron_on_megatron_core_names():
    names = {"embedding.word_embeddings.weight": (VOCAB, D),
             "embedding.position_embeddings.weight": (64, D),
             "decoder.final_layernorm.weight": (D,), "decoder.final_layernorm.bias": (D,),
             "output_layer.weight": (VOCAB, D)}
    for i in range(4):
        p = f"decoder.layers.{i}."
        names.update({p + "self_attention.linear_qkv.weight": (3 * D, D),
                      p + "self_attention.linear_qkv.bias": (3 * D,),
                      p + "self_attention.linear_qkv.layer_norm_weight": (D,),
                      p + "self_attention.linear_qkv.layer_norm_bias": (D,),
                      p + "self_attention.linear_proj.weight": (D, D),
                      p + "self_attention.linear_proj.bias": (D,),
                      p + "mlp.linear_fc1.weight": (4 * D, D),
                      p + "mlp.linear_fc1.layer_norm_weight": (D,),
                      p + "mlp.linear_fc2.weight": (D, 4 * D)})
    table = fs.explain("megatron", names, sigma=0.01)
    assert not table.unrecognized
    for row in table:
        if row.name.endswith(("linear_proj.weight", "linear_fc2.weight")):
            assert row.rule.std == 0.01 / math.sqrt(2.0 * 4)
        elif row.name.endswith("layer_norm_weight") or "layernorm.weight" in row.name:
            assert row.rule.kind == "ones"
        elif row.name.endswith(("bias",)):
            assert row.rule.kind == "zeros"
        else:
            assert (row.rule.kind, row.rule.std) == ("normal", 0.01), row.name


def test_olmo_llama_depth_on_olmo_core_names():
    names = {"embeddings.weight": (VOCAB, D), "lm_head.norm.weight": (D,),
             "lm_head.w_out.weight": (VOCAB, D)}
    for i in range(2):
        p = f"blocks.{i}."
        names.update({p + "attention.w_q.weight": (D, D), p + "attention.w_k.weight": (D, D),
                      p + "attention.w_v.weight": (D, D), p + "attention.w_out.weight": (D, D),
                      p + "attention.q_norm.weight": (D,), p + "attention_norm.weight": (D,),
                      p + "feed_forward.w1.weight": (128, D),
                      p + "feed_forward.w2.weight": (D, 128),
                      p + "feed_forward.w3.weight": (128, D), p + "feed_forward_norm.weight": (D,)})
    table = fs.explain("olmo-llama-depth", names)
    assert not table.unrecognized
    got = {row.name: row.rule for row in table}
    assert got["embeddings.weight"].describe() == "N(0, 1)"
    assert got["lm_head.w_out.weight"].std == D ** -0.5
    assert got["blocks.1.attention.w_out.weight"].std == 0.02 / math.sqrt(4)
    r = got["blocks.1.feed_forward.w3.weight"]
    assert (r.std, r.a, r.b) == (0.02 / 2, -0.03, 0.03)


# ---------------------------------------------------------------------------
# streams, dtypes, invariances


def test_values_are_init_params_values_and_named_streams(gpt2):
    fs.apply_to_module(gpt2, "gpt2", seed=SEED)
    spec = {n: {"shape": list(p.shape)} for n, p in gpt2.named_parameters()}
    params, _ = fastinit.init_params(spec, seed=SEED, scheme="gpt2")
    for n, p in gpt2.named_parameters():
        assert np.array_equal(p.detach().numpy(), params[n]), n
    w = gpt2.transformer.h[1].mlp.c_proj.weight.detach().numpy()
    ref = fastinit.RandomNormal(0.0, 0.02 / math.sqrt(2 * L), seed=SEED,
                                stream=fastinit.stream_id("transformer.h.1.mlp.c_proj.weight"))
    assert np.array_equal(w, ref(w.shape))


def test_compiled_wrapper_names_and_bfloat16(tf):
    a, b = _llama(tf), _llama(tf)
    fs.apply_to_module(a, "llama3-depth", seed=SEED)
    compiled = torch.compile(b)          # names gain "_orig_mod.": streams must not
    assert next(iter(compiled.named_parameters()))[0].startswith("_orig_mod.")
    fs.apply_to_module(compiled, "llama3-depth", seed=SEED)
    for (n, x), (_, y) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(x, y), n
    c = _llama(tf).to(torch.bfloat16)
    fs.apply_to_module(c, "llama3-depth", seed=SEED)
    for (n, x), (_, y) in zip(a.named_parameters(), c.named_parameters()):
        assert torch.equal(x.to(torch.bfloat16), y), n


def test_trunc_normal_abs_regions():
    init = fs.TruncatedNormalAbs(0.0, 0.02, -0.05, 0.06, seed=3, stream="w")
    full = init((37, 53))
    assert np.array_equal(init((37, 53), region=(slice(5, 20), slice(7, 40))),
                          full[5:20, 7:40])
    assert full.min() >= np.float32(-0.05) and full.max() <= np.float32(0.06)
    with pytest.raises(ValueError, match="a must be < b"):
        fs.TruncatedNormalAbs(0.0, 1.0, 1.0, 1.0)


# ---------------------------------------------------------------------------
# unrecognized tensors, hyper-parameters, bad input


def test_unrecognized_tensor_is_reported_never_guessed(gpt2):
    model = torch.nn.ModuleDict({"transformer": gpt2.transformer,
                                 "adapter": torch.nn.Linear(D, 8)})
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with pytest.raises(ValueError, match=r"adapter\.weight") as info:
        fs.apply_to_module(model, "gpt2", seed=SEED)
    assert "adapter.bias" in str(info.value) and "2 tensors" in str(info.value)
    for n, p in model.named_parameters():
        assert torch.equal(before[n], p), n           # nothing was written
    table = fs.explain("gpt2", model)
    assert [r.name for r in table.unrecognized] == ["adapter.weight", "adapter.bias"]
    assert "UNRECOGNIZED" in str(table)
    with pytest.raises(ValueError, match="adapter"):
        fastinit.init_params({n: {"shape": list(p.shape)} for n, p in model.named_parameters()},
                             seed=0, scheme="gpt2")


def test_llama3_reports_tensors_torchtitan_does_not_have(gpt2):
    bad = {r.name: r.problem for r in fs.explain("llama3-depth", gpt2).unrecognized}
    assert "transformer.wpe.weight" in bad and "position_embedding" in bad["transformer.wpe.weight"]


def test_hyper_parameters_keyword_config_names(gpt2):
    t = fs.explain("gpt2", gpt2)
    assert (t.hyper["n_layers"], t.hyper_source["n_layers"]) == (L, "config")
    t = fs.explain("gpt2", gpt2, n_layers=12)
    assert (t.hyper["n_layers"], t.hyper_source["n_layers"]) == (12, "keyword")
    t = fs.explain({"name": "gpt2", "n_layers": 7}, gpt2)
    assert t.hyper["n_layers"] == 7
    by_state_dict = fs.explain("gpt2", gpt2.state_dict())      # arrays/tensors as shapes
    assert [r.shape for r in by_state_dict][:2] == [(VOCAB, D), (64, D)]
    names = {n: tuple(p.shape) for n, p in gpt2.named_parameters()}
    t = fs.explain("llama3-depth", {k: v for k, v in names.items() if "wpe" not in k})
    assert t.hyper_source["n_layers"] == "names" and t.hyper["d_model"] == D
    t = fs.explain("llama3-depth", {"lm_head.weight": (10, 4)})
    assert "needs d_model=" in t[0].problem
    assert fs.explain("llama3-depth", {"lm_head.weight": (10, 4)}, d_model=16)[0].rule.std == 0.25


def test_bad_input():
    with pytest.raises(ValueError, match="unknown scheme 'gpt3'.*gpt2, megatron"):
        fs.explain("gpt3", {})
    with pytest.raises(ValueError, match="no hyper-parameter 'n_layer'.*n_layers, std"):
        fs.explain("gpt2", {}, n_layer=3)
    with pytest.raises(ValueError, match="n_layers must be a positive integer"):
        fs.explain("gpt2", {}, n_layers=0)
    with pytest.raises(ValueError, match="std must be a positive finite number"):
        fs.explain("gpt2", {}, std=-0.02)
    with pytest.raises(ValueError, match="depth_init must be True or False"):
        fs.explain("llama3-depth", {}, depth_init="yes")
    with pytest.raises(TypeError, match="scheme must be"):
        fs.explain(3, {})
    with pytest.raises(ValueError, match="needs a 'name'"):
        fs.explain({"n_layers": 2}, {})
    meta = torch.nn.Linear(4, 4, device="meta")
    with pytest.raises(ValueError, match="meta tensors"):
        fs.apply_to_module(meta, "gpt2", seed=0)


def test_every_scheme_documents_source_and_formula():
    assert fs.names() == ["gpt2", "megatron", "llama3-depth", "olmo-normal", "olmo-llama",
                          "olmo-llama-depth", "olmo-normalized", "mup", "deepnet", "small-init"]
    for name in fs.names():
        s = fs.get(name)
        assert s.source and len(s.doc) > 200, name


# ---------------------------------------------------------------------------
# pytorch issue 155588: std 0.002 with absolute bounds +-2 (+-1000 std)

N_155588 = 10_000_000


def _moments_ok(x, std):
    x = np.asarray(x, np.float64)
    n = x.size
    m2 = np.mean(x * x)
    k = np.mean(x ** 4) / m2 ** 2
    assert abs(k - 3.0) < 6 * math.sqrt(24.0 / n), k           # kurtosis 3
    assert abs(math.sqrt(m2) / std - 1) < 6 / math.sqrt(2 * n)
    assert abs(x.mean()) < 6 * std / math.sqrt(n)
    assert np.abs(x).max() <= 6 * std                          # nothing beyond 6 sigma


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_pytorch_155588_trunc_normal(dtype):
    t = torch.empty(N_155588, dtype=dtype)
    torch.manual_seed(0)
    fit.trunc_normal_(t, mean=0.0, std=0.002, a=-2.0, b=2.0)
    _moments_ok(t.float().numpy(), 0.002)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_pytorch_155588_scheme_path(dtype):
    spec = {"layers.0.attention.wq.weight": {"shape": [N_155588], "dtype": dtype}}
    scheme = {"name": "llama3-depth", "std": 0.002, "d_model": 64}
    row = fs.explain(scheme, spec)[0]
    assert (row.rule.kind, row.rule.std, row.rule.a, row.rule.b) == (
        "trunc_normal", 0.002, -2.0, 2.0)
    params, _ = fastinit.init_params(spec, seed=5, scheme=scheme)
    x = params["layers.0.attention.wq.weight"]
    assert x.dtype == (np.float32 if dtype == "float32" else ml_dtypes.bfloat16)
    _moments_ok(x.astype(np.float32), 0.002)


# ---------------------------------------------------------------------------
# command line


class _Result:
    def __init__(self, returncode, captured):
        self.returncode, self.stdout, self.stderr = returncode, captured.out, captured.err


def test_cli_init_scheme_explain_and_write(tmp_path, capsys):
    from fastinit.cli import main

    def _cli(*args):
        code = main(list(args))
        return _Result(code, capsys.readouterr())

    spec = {n: {"shape": list(s)} for n, s in _torchtitan_names().items()}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    r = _cli("init", str(path), "--scheme", "llama3-depth", "--explain")
    assert r.returncode == 0, r.stderr
    assert "layers.1.attention.wo.weight" in r.stdout and "TN(0, 0.01; [-2, 2])" in r.stdout
    out = tmp_path / "o.safetensors"
    r = _cli("init", str(path), "--scheme", '{"name": "olmo-llama", "n_layers": 4}', "-o",
             str(out), "--seed", "9", "-q")
    assert r.returncode == 0, r.stderr
    params, _ = fastinit.init_params(spec, seed=9, scheme={"name": "olmo-llama", "n_layers": 4})
    loaded = fastinit.load(out)
    for k, v in params.items():
        assert np.array_equal(loaded[k], v), k
    spec["odd.thing"] = {"shape": [3]}
    path.write_text(json.dumps(spec))
    r = _cli("init", str(path), "--scheme", "gpt2", "--explain")
    assert r.returncode == 1 and "UNRECOGNIZED" in r.stdout
    r = _cli("init", str(path), "--scheme", "gpt2", "-o", str(tmp_path / "x.safetensors"))
    assert r.returncode == 1 and "odd.thing" in r.stderr
    assert not (tmp_path / "x.safetensors").exists()
    r = _cli("init", str(path))
    assert r.returncode == 2 and "-o/--output" in r.stderr
    r = _cli("init", str(path), "--scheme", "gpt2", "--layout", "torch", "-o",
             str(tmp_path / "x.safetensors"))
    assert r.returncode == 2 and "--layout does not apply" in r.stderr


def test_check_propagation_compares_schemes(capsys, tmp_path):
    from fastinit.cli import main
    from fastinit.schemes._propagation import propagate

    code = main(["check", "--propagation", "--scheme", "gpt2", "--scheme", "llama3-depth",
                 "--depth", "3", "--width", "64", "--batch", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "gpt2" in out and "llama3-depth" in out
    # N(0, 1) embeddings dominate tiny depth-scaled updates; N(0, 0.02) ones do not
    r = propagate("llama3-depth", n_layers=8, d_model=64, batch=2)
    assert abs(r.embedding_std - 1) < 0.05 and abs(r.growth - 1) < 0.005
    r = propagate("gpt2", n_layers=8, d_model=64, batch=2)
    assert abs(r.embedding_std / 0.02 - 1) < 0.05 and r.growth > 1.03
    assert main(["check", "--scheme", "gpt2"]) == 2
    assert main(["check", "--propagation", "--scheme", "gpt2", "--init", "normal"]) == 2
    capsys.readouterr()


@pytest.mark.parametrize("module", ["fastinit.schemes", "fastinit.schemes._roles",
                                    "fastinit.schemes._rules", "fastinit.schemes._library",
                                    "fastinit.schemes._propagation"])
def test_docstring_examples(module):
    import doctest
    import importlib

    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(mod, module)
    for name in getattr(mod, "__all__", []) if module == "fastinit.schemes" else []:
        obj = getattr(mod, name)
        if callable(obj) and getattr(obj, "__module__", "").startswith("fastinit.schemes"):
            assert ">>>" in (obj.__doc__ or ""), f"{module}.{name} has no example"
    examples = 0
    for test in tests:
        examples += len(test.examples)
        runner.run(test)
    assert examples > 0
    assert runner.summarize(verbose=False).failed == 0


def test_apply_after_meta_build_and_to_empty(tf, llama):
    # what fastinit.torch.materialize(..., scheme=) does after allocating storage
    with torch.device("meta"):
        meta = tf.LlamaForCausalLM(llama.config)
    meta.to_empty(device="cpu")
    fs.apply_to_module(meta, "olmo-llama-depth", seed=SEED)
    fs.apply_to_module(llama, "olmo-llama-depth", seed=SEED)
    for (n, a), (_, b) in zip(meta.named_parameters(), llama.named_parameters()):
        assert torch.equal(a, b), n


def test_non_contiguous_parameter_gets_the_same_values():
    base = torch.nn.ModuleDict({"h": torch.nn.ModuleList([torch.nn.ModuleDict(
        {"mlp": torch.nn.ModuleDict({"c_fc": torch.nn.Linear(24, 40)})})])})
    other = torch.nn.ModuleDict({"h": torch.nn.ModuleList([torch.nn.ModuleDict(
        {"mlp": torch.nn.ModuleDict({"c_fc": torch.nn.Linear(24, 40)})})])})
    lin = other.h[0].mlp.c_fc
    lin.weight = torch.nn.Parameter(torch.empty(24, 40).t())      # (40, 24), not contiguous
    lin.to(torch.bfloat16)
    assert not lin.weight.is_contiguous()
    fs.apply_to_module(base, "gpt2", seed=SEED)
    fs.apply_to_module(other, "gpt2", seed=SEED)
    assert torch.equal(base.h[0].mlp.c_fc.weight.to(torch.bfloat16), lin.weight)


def test_dtensor_parameters_fill_their_shard():
    shard_support = require("fastinit.torch._dtensor")  # DTensor support of fastinit
    dist = require("torch.distributed")
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    assert shard_support.is_dtensor is not None
    started = not dist.is_initialized()
    if started:
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        mesh = init_device_mesh("cpu", (1,))
        ref = torch.nn.ModuleDict({"h": torch.nn.ModuleList([torch.nn.ModuleDict(
            {"attn": torch.nn.ModuleDict({"c_proj": torch.nn.Linear(16, 16)})})])})
        fs.apply_to_module(ref, "gpt2", seed=SEED)
        sharded = torch.nn.ModuleDict({"h": torch.nn.ModuleList([torch.nn.ModuleDict(
            {"attn": torch.nn.ModuleDict({"c_proj": torch.nn.Linear(16, 16)})})])})
        lin = sharded.h[0].attn.c_proj
        lin.weight = torch.nn.Parameter(distribute_tensor(lin.weight.detach(), mesh, [Shard(1)]))
        fs.apply_to_module(sharded, "gpt2", seed=SEED)
        assert torch.equal(lin.weight.full_tensor(), ref.h[0].attn.c_proj.weight)
    finally:
        if started:
            dist.destroy_process_group()


def test_explain_from_hf_config(tf, llama, tmp_path, capsys):
    import argparse

    from fastinit.cli._schemes import pre_run

    llama.config.save_pretrained(tmp_path)
    args = argparse.Namespace(from_hf=str(tmp_path / "config.json"), spec=None, explain=True,
                              scheme="llama3-depth", output=None)
    assert pre_run(args) == 0
    out = capsys.readouterr().out
    assert "n_layers=3 (config)" in out and "d_model=64 (config)" in out
    assert f"model.layers.{L - 1}.mlp.down_proj.weight" in out and "UNRECOGNIZED" not in out
