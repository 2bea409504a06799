"""fastinit.torch.materialize() and deferred(): meta-built models initialized by their own code.

Real models at small sizes (transformers Llama, GPT-2, BERT, ViT; timm ViT,
ResNet, ConvNeXt; torchvision ResNet, ViT) are compared with a normal build:
tensors that a normal build makes the same for two torch seeds (ones, zeros,
``inv_freq``, position ids, ...) must be bit-equal; the others must pass a
two-sample Kolmogorov-Smirnov test against the normal build's values.
"""
import math
import sys
import types
import warnings

import numpy as np
import pytest
from _deps import require

torch = require("torch")
from torch import nn

import fastinit
import fastinit.torch as fi


def _torchvision_models():
    # tests/conftest.py lets torchvision import beside torch's CPU build
    return require("torchvision.models")


def _transformers():
    return require("transformers")


def _timm():
    return require("timm")


# ---------------------------------------------------------------------------
# model factories: (build(n_layers), how to build it for materialize, example input)


def _llama(n=2, tie=False):
    tf = _transformers()
    cfg = tf.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=n, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=64, tie_word_embeddings=tie)
    return tf.LlamaForCausalLM(cfg)


def _gpt2(n=2):
    tf = _transformers()
    cfg = tf.GPT2Config(vocab_size=128, n_embd=64, n_layer=n, n_head=4, n_positions=64)
    return tf.GPT2LMHeadModel(cfg)


def _bert(n=2):
    tf = _transformers()
    cfg = tf.BertConfig(vocab_size=128, hidden_size=64, num_hidden_layers=n,
                        num_attention_heads=4, intermediate_size=128,
                        max_position_embeddings=64)
    return tf.BertForMaskedLM(cfg)


def _hf_vit(n=2):
    tf = _transformers()
    cfg = tf.ViTConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=n,
                       num_attention_heads=4, intermediate_size=128, num_labels=10)
    return tf.ViTForImageClassification(cfg)


def _timm_vit(n=2):
    timm = _timm()
    return timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=64, depth=n, num_heads=4, num_classes=10)


def _timm_resnet(n=1):
    _timm()
    from timm.models.resnet import BasicBlock, ResNet
    return ResNet(BasicBlock, [n, 1, 1, 1], num_classes=10, stem_width=16)


def _timm_convnext(n=1):
    timm = _timm()
    return timm.models.convnext.ConvNeXt(depths=(n, 1, 1, 1), dims=(16, 32, 48, 64),
                                         num_classes=10)


def _tv_resnet(n=1):
    tvm = _torchvision_models()
    return tvm.ResNet(tvm.resnet.BasicBlock, [n, 1, 1, 1], num_classes=10)


def _tv_vit(n=2):
    tvm = _torchvision_models()
    return tvm.VisionTransformer(image_size=32, patch_size=8, num_layers=n, num_heads=4,
                                 hidden_dim=64, mlp_dim=128, num_classes=10)


def _tokens():
    return torch.arange(24).reshape(2, 12) % 128


def _image():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, 32, 32, generator=g)


# name -> (factory, "meta" | "deferred", input maker, forward kwargs name)
MODELS = {
    "hf-llama": (_llama, "meta", _tokens),
    "hf-llama-deferred": (_llama, "deferred", _tokens),
    "hf-gpt2": (_gpt2, "meta", _tokens),
    "hf-bert": (_bert, "meta", _tokens),
    "hf-vit": (_hf_vit, "meta", _image),
    "timm-vit": (_timm_vit, "meta", _image),
    "timm-vit-deferred": (_timm_vit, "deferred", _image),
    "timm-resnet": (_timm_resnet, "meta", _image),
    "timm-convnext": (_timm_convnext, "deferred", _image),
    "tv-resnet": (_tv_resnet, "deferred", _image),
    "tv-vit": (_tv_vit, "deferred", _image),
}
# models whose init formulas do not depend on the number of layers
LAYER_FREE = ("hf-llama", "hf-bert", "timm-vit", "timm-resnet", "tv-resnet", "tv-vit",
              "timm-convnext")


def _normal(factory, torch_seed, *args):
    torch.manual_seed(torch_seed)
    return factory(*args).eval()


def _materialized(factory, how, seed, *args):
    if how == "deferred":
        with fi.deferred():
            model = factory(*args)
    else:
        with torch.device("meta"):
            model = factory(*args)
    assert all(t.is_meta for t in model.parameters())
    return fi.materialize(model, seed=seed).eval()


def _tensors(model):
    return {n: t.detach() for n, t in
            list(model.named_parameters()) + list(model.named_buffers())}


def _logits(model, x):
    with torch.no_grad():
        out = model(x)
    out = getattr(out, "logits", out)
    return out


def _ks_statistic(x, y):
    """Two-sample Kolmogorov-Smirnov statistic of two 1-D float64 arrays."""
    x, y = np.sort(x), np.sort(y)
    grid = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, grid, side="right") / x.size
    cdf_y = np.searchsorted(y, grid, side="right") / y.size
    return float(np.max(np.abs(cdf_x - cdf_y)))


_CACHE = {}


def _reference(key):
    """(normal build seed 0, normal build seed 1, materialized seed 7) of a model, cached."""
    if key not in _CACHE:
        factory, how, _ = MODELS[key]
        _CACHE[key] = (_normal(factory, 0), _normal(factory, 1),
                       _materialized(factory, how, 7))
    return _CACHE[key]


@pytest.mark.parametrize("key", sorted(MODELS))
def test_matches_normal_build(key):
    ref0, ref1, mat = _reference(key)
    a, b, m = _tensors(ref0), _tensors(ref1), _tensors(mat)
    assert sorted(a) == sorted(m)
    n_fixed = n_random = 0
    for name in a:
        assert m[name].dtype == a[name].dtype and m[name].shape == a[name].shape, name
        assert not m[name].is_meta, name
        if torch.equal(a[name], b[name]):  # not random in a normal build
            n_fixed += 1
            assert torch.equal(m[name], a[name]), f"{name} differs from a normal build"
            continue
        n_random += 1
        x = a[name].double().flatten().numpy()[:20000]
        y = m[name].double().flatten().numpy()[:20000]
        n = x.size
        if n >= 64:
            # two-sample KS at alpha = 1e-4: c(alpha) = sqrt(-ln(alpha / 2) / 2) = 2.23
            crit = 2.23 * math.sqrt(2.0 / n)
            d = _ks_statistic(x, y)
            assert d < crit, f"{name}: KS statistic {d:.3f} >= {crit:.3f}"
        else:
            s = x.std()
            assert abs(y.mean() - x.mean()) <= 6 * s / math.sqrt(n) + 1e-12, name
            assert 0.3 * s <= y.std() <= 3 * s, name
    assert n_random > 0 and n_fixed > 0


@pytest.mark.parametrize("key", sorted(MODELS))
def test_tied_weights_stay_tied(key):
    ref0, _, mat = _reference(key)

    def groups(model):
        ids = {}
        for name, p in model.named_parameters(remove_duplicate=False):
            ids.setdefault(id(p), []).append(name)
        return sorted(sorted(v) for v in ids.values())

    assert groups(mat) == groups(ref0)


def test_tied_llama_and_gpt2_are_tied():
    model = _materialized(_llama, "meta", 3, 2, True)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    _, _, gpt2 = _reference("hf-gpt2")
    assert gpt2.lm_head.weight is gpt2.transformer.wte.weight


@pytest.mark.parametrize("key", sorted(MODELS))
def test_forward_finite_and_normal_scale(key):
    ref0, _, mat = _reference(key)
    x = MODELS[key][2]()
    want, got = _logits(ref0, x), _logits(mat, x)
    assert torch.isfinite(got).all()
    if not want.std() > 0:  # a zero-initialized head (torchvision's ViT)
        assert torch.equal(got, want)
        return
    ratio = float(got.std() / want.std())
    assert 0.5 < ratio < 2.0, ratio


@pytest.mark.parametrize("key", ["hf-llama", "hf-llama-deferred", "hf-bert", "timm-vit",
                                 "timm-resnet", "timm-convnext", "tv-resnet", "tv-vit"])
def test_independent_of_torch_rng_and_build_order(key):
    factory, how, _ = MODELS[key]
    _, _, first = _reference(key)
    torch.manual_seed(12345)
    _ = _normal(factory, 3)  # other work first: torch's RNG advanced, other tensors exist
    again = _materialized(factory, how, 7)
    a, b = _tensors(first), _tensors(again)
    assert all(torch.equal(a[n], b[n]) for n in a)
    other = _tensors(_materialized(factory, how, 8))
    assert any(not torch.equal(a[n], other[n]) for n in a)


@pytest.mark.parametrize("key", LAYER_FREE)
def test_adding_a_layer_keeps_the_other_tensors(key):
    factory, how, _ = MODELS[key]
    small = _tensors(_reference(key)[2])
    large = _tensors(_materialized(factory, how, 7, 3))
    shared = set(small) & set(large)
    assert len(shared) == len(small)
    for name in shared:
        if small[name].shape == large[name].shape:
            assert torch.equal(small[name], large[name]), name


# ---------------------------------------------------------------------------
# streams, views, strictness, plain modules


class _Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.empty(6, 5))
        self.v = nn.Parameter(torch.empty(8))
        self.register_buffer("steps", torch.empty(3))

    def reset_parameters(self):
        with torch.no_grad():
            self.w.data.normal_(0.0, 2.0)  # through .data
            self.v[:4].uniform_(-1, 1)  # a slice, then a second op on the same tensor
            self.v[4:].uniform_(-1, 1)
            self.steps.fill_(1.5)


def test_values_are_named_streams_of_the_seed():
    with torch.device("meta"):
        m = _Custom()
    fi.materialize(m, seed=11)
    w = fastinit.fill_normal(np.empty((6, 5), np.float32), 0.0, 2.0, seed=11,
                             stream=fastinit.stream_id("w"))
    v0 = fastinit.fill_uniform(np.empty(4, np.float32), -1, 1, seed=11,
                               stream=fastinit.stream_id("v"))
    v1 = fastinit.fill_uniform(np.empty(4, np.float32), -1, 1, seed=11,
                               stream=fastinit.stream_id("v#1"))
    np.testing.assert_array_equal(m.w.detach().numpy(), w)
    np.testing.assert_array_equal(m.v.detach().numpy(), np.concatenate([v0, v1]))
    assert m.steps.tolist() == [1.5] * 3


def test_wrapper_prefixes_are_removed_from_names():
    class Wrapper(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

    with torch.device("meta"):
        plain, wrapped = _Custom(), Wrapper(_Custom())
    fi.materialize(plain, seed=4)
    fi.materialize(wrapped, seed=4)
    assert torch.equal(plain.w, wrapped._orig_mod.w)
    assert torch.equal(plain.v, wrapped._orig_mod.v)


def test_plain_modules_get_torch_defaults_on_named_streams():
    def build():
        return nn.Sequential(nn.Linear(32, 16), nn.LayerNorm(16), nn.BatchNorm1d(16),
                             nn.Embedding(10, 16, padding_idx=0),
                             nn.MultiheadAttention(16, 2))
    with torch.device("meta"):
        m = build()
    fi.materialize(m, seed=0)
    assert m[0].weight.abs().max() <= 1 / math.sqrt(32)
    assert torch.equal(m[1].weight, torch.ones(16)) and torch.equal(m[2].running_var,
                                                                    torch.ones(16))
    assert torch.equal(m[3].weight[0], torch.zeros(16))
    assert torch.equal(m[4].out_proj.bias, torch.zeros(16))
    # the same values whatever the order the modules were built in
    with torch.device("meta"):
        layers = build()
        m2 = nn.Sequential()
        for i in (4, 2, 0, 3, 1):
            m2.add_module(str(i), layers[i])
    fi.materialize(m2, seed=0)
    for name, t in m.state_dict().items():
        assert torch.equal(t, m2.state_dict()[name]), name


class _Forgotten(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.register_buffer("table", torch.empty(5))
        self.extra = nn.Parameter(torch.empty(2))


def test_strict_names_every_uninitialized_tensor():
    with torch.device("meta"):
        m = _Forgotten()
    with pytest.raises(ValueError, match="extra.*table|table.*extra") as info:
        fi.materialize(m, seed=0)
    assert "fc." not in str(info.value)
    assert torch.equal(m.table, torch.zeros(5))  # no uninitialized memory left behind


def test_not_strict_zero_fills_with_a_warning():
    with torch.device("meta"):
        m = _Forgotten()
    with pytest.warns(UserWarning, match="table"):
        fi.materialize(m, seed=0, strict=False)
    assert torch.equal(m.table, torch.zeros(5)) and torch.equal(m.extra.detach(),
                                                                torch.zeros(2))
    assert m.fc.weight.abs().max() > 0


def test_to_empty_modules_are_initialized_too():
    with torch.device("meta"):
        m = nn.Linear(8, 4)
    m.to_empty(device="cpu")
    fi.materialize(m, seed=2)
    with torch.device("meta"):
        ref = nn.Linear(8, 4)
    fi.materialize(ref, seed=2)
    assert torch.equal(m.weight, ref.weight) and torch.equal(m.bias, ref.bias)


def test_deferred_replays_in_order_and_leaves_torch_alone():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 32)
            self.conv = nn.Conv2d(3, 8, 3)
            self.register_buffer("freq", 1.0 / (100 ** (torch.arange(0, 16, 2).float() / 16)))
            nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(self.fc.bias, 0.5)
            self.fc.bias.data.mul_(2).add_(1)
            nn.init.trunc_normal_(self.fc.weight, std=0.02, a=-0.03, b=0.03)
            nn.init.zeros_(self.conv.bias)

    torch.manual_seed(0)
    ref = Net()
    with fi.deferred():
        net = Net()
        assert torch.empty(1).is_meta
    assert not torch.empty(1).is_meta
    assert torch.nn.init.orthogonal_ is fi._TORCH["orthogonal_"]
    fi.materialize(net, seed=0)
    assert torch.equal(net.freq, ref.freq)
    assert torch.equal(net.fc.bias, torch.full((32,), 2.0))
    assert torch.equal(net.conv.bias, torch.zeros(8))
    assert net.fc.weight.abs().max() <= 0.03
    assert abs(net.conv.weight.std().item() / math.sqrt(2 / 72) - 1) < 0.15


def test_scheme_is_applied_after_the_models_own_init(monkeypatch):
    calls = []
    fake = types.ModuleType("fastinit.schemes")

    def apply_to_module(module, scheme, *, seed):
        calls.append((module, scheme, seed, module.weight.detach().clone()))
    fake.apply_to_module = apply_to_module
    monkeypatch.setitem(sys.modules, "fastinit.schemes", fake)
    with torch.device("meta"):
        m = nn.Linear(4, 4)
    fi.materialize(m, seed=5, scheme="gpt2")
    assert len(calls) == 1 and calls[0][0] is m and calls[0][1:3] == ("gpt2", 5)
    assert torch.equal(calls[0][3], m.weight)  # own init first


def test_scheme_without_the_schemes_module_is_an_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastinit.schemes", None)
    with torch.device("meta"):
        m = nn.Linear(4, 4)
    with pytest.raises(ImportError, match="scheme"):
        fi.materialize(m, seed=5, scheme="gpt2")


def test_bad_arguments():
    with torch.device("meta"):
        m = nn.Linear(4, 4)
    with pytest.raises(TypeError, match="module"):
        fi.materialize("model", seed=0)
    with pytest.raises(ValueError, match="seed"):
        fi.materialize(m, seed=None)
    with pytest.raises(ValueError, match="device"):
        fi.materialize(m, seed=0, device="meta")
    with pytest.raises(ValueError, match="device"):
        fi.materialize(m, seed=0, device="nowhere")
    with pytest.raises(TypeError, match="strict"):
        fi.materialize(m, seed=0, strict=1)
    assert m.weight.is_meta  # nothing happened
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fi.materialize(m, seed=0)


class _Orthogonal(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.w = nn.Parameter(torch.empty(n, n))

    def reset_parameters(self):
        nn.init.orthogonal_(self.w)  # draws into a temporary made with w.new_empty


def test_temporaries_made_from_a_tensor_draw_from_its_name():
    with torch.device("meta"):
        one = nn.ModuleDict({"a": _Orthogonal(8), "b": _Orthogonal(6)})
        two = nn.ModuleDict({"b": _Orthogonal(6), "c": _Orthogonal(5), "a": _Orthogonal(8)})
    fi.materialize(one, seed=3)
    fi.materialize(two, seed=3)
    assert torch.equal(one["a"].w, two["a"].w) and torch.equal(one["b"].w, two["b"].w)
    w = one["a"].w.detach()
    assert torch.allclose(w @ w.T, torch.eye(8), atol=1e-5)


def test_same_values_under_patch():
    """patch() routes torch.nn.init to fastinit; materialize's streams win inside it."""
    plain = _tensors(_reference("hf-llama")[2])
    with fi.patch(seed=99):
        patched = _tensors(_materialized(_llama, "meta", 7))
    assert all(torch.equal(plain[n], patched[n]) for n in plain)
    with torch.device("meta"):
        a = nn.Sequential(nn.Linear(8, 8), _Orthogonal(4))
        b = nn.Sequential(nn.Linear(8, 8), _Orthogonal(4))
    fi.materialize(a, seed=1)
    with fi.patch():
        fi.materialize(b, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values()))


def test_deferred_trunc_normal_is_fastinits_on_the_named_stream():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(16, 32, bias=False)
            nn.init.trunc_normal_(self.proj.weight, std=0.02, a=-0.04, b=0.04)

    with fi.deferred():
        net = Net()
    fi.materialize(net, seed=9)
    want = fastinit.fill_truncated_normal(np.empty((32, 16), np.float32), 0.0, 0.02, -2.0, 2.0,
                                          seed=9, stream=fastinit.stream_id("proj.weight"))
    np.testing.assert_array_equal(net.proj.weight.detach().numpy(), want)


def test_compiled_model_is_initialized_by_its_own_scheme():
    """torch.compile's wrapper: the model inside decides the scheme, names lose _orig_mod."""
    with torch.device("meta"):
        compiled = torch.compile(_llama())
    fi.materialize(compiled, seed=7)
    plain = _tensors(_reference("hf-llama")[2])
    inner = _tensors(compiled._orig_mod)
    assert all(torch.equal(plain[n], inner[n]) for n in plain)


def test_real_tensors_beside_meta_ones_are_kept():
    loaded = nn.Linear(4, 4)
    before = loaded.weight.detach().clone()
    with torch.device("meta"):
        head = nn.Linear(4, 2)
    model = nn.Sequential(loaded, head)
    fi.materialize(model, seed=0)
    assert torch.equal(model[0].weight, before)
    assert not model[1].weight.is_meta and model[1].weight.abs().max() <= 0.5
    with torch.device("meta"):
        ref = nn.Linear(4, 2)
    fi.materialize(nn.Sequential(nn.Linear(4, 4), ref), seed=0)
    assert torch.equal(model[1].weight, ref.weight)


def test_deferred_orthogonal_matches_the_meta_path():
    """orthogonal_ does nothing on meta tensors: deferred() records it whole."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.empty(8, 8))
            nn.init.orthogonal_(self.w, gain=2.0)

    with fi.deferred():
        net = Net()
    fi.materialize(net, seed=5)
    with torch.device("meta"):
        ref = _Orthogonal(8)
    fi.materialize(ref, seed=5)
    w = net.w.detach()
    assert torch.allclose(w @ w.T, 4 * torch.eye(8), atol=1e-4)
    assert torch.allclose(w, 2 * ref.w.detach(), atol=1e-6)


def test_scheme_values_are_the_schemes_own():
    fs = require("fastinit.schemes")
    with torch.device("meta"):
        model = _gpt2()
    fi.materialize(model, seed=7, scheme="gpt2")
    ref = _normal(_gpt2, 0)
    fs.apply_to_module(ref, "gpt2", seed=7)
    got, want = _tensors(model), _tensors(ref)
    assert all(torch.equal(got[n], want[n]) for n in want)
    assert model.lm_head.weight is model.transformer.wte.weight


def test_transformers_model_gets_torch_defaults_where_its_init_writes_nothing():
    tf = _transformers()

    class Config(tf.PretrainedConfig):
        model_type = "fastinit-test"

        def __init__(self, initializer_range=0.02, **kwargs):
            self.initializer_range = initializer_range
            super().__init__(**kwargs)

    class Model(tf.PreTrainedModel):
        config_class = Config

        def __init__(self, config):
            super().__init__(config)
            self.proj = nn.Linear(64, 64)
            self.pair = nn.Bilinear(8, 8, 4)  # transformers' _init_weights has no branch
            self.post_init()

    with torch.device("meta"):
        model = Model(Config())
    fi.materialize(model, seed=0)
    assert abs(model.proj.weight.std().item() - 0.02) < 0.002
    assert torch.equal(model.proj.bias, torch.zeros(64))
    bound = 1 / math.sqrt(8)
    assert 0 < model.pair.weight.abs().max() <= bound
    assert model.pair.weight.std() > bound / 3  # U(-bound, bound): std bound / sqrt(3)
