"""fastinit.torch against torch 2.x's own torch.nn.init.

Exactness: each random function's values are fastinit's fill with the bound or
std computed here from torch's own ``_calculate_fan_in_and_fan_out`` and
``calculate_gain`` and one seed drawn from the generator.  Distributions: KS
tests as torch's test suite does them (scipy.stats, p > 1e-4), fixed seeds, so
every test is deterministic.
"""
import inspect
import math
import subprocess
import sys
import warnings

import ml_dtypes
import numpy as np
import pytest
from _deps import require

torch = require("torch")
from scipy import stats
from torch import nn

import fastinit
import fastinit.torch as fit

P_MIN = 1e-4  # as torch's own init tests
MASK64 = (1 << 64) - 1
# torch's own functions, held in a dict: patch() reroutes module-level aliases
TORCH = {"fans": nn.init._calculate_fan_in_and_fan_out, "gain": nn.init.calculate_gain}
TORCH_FANS, TORCH_GAIN = (lambda w: TORCH["fans"](w)), (lambda *a: TORCH["gain"](*a))
BF16 = ml_dtypes.bfloat16
NP_DTYPE = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16,
            torch.bfloat16: BF16}

RANDOM_FNS = ["uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
              "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_"]


def next_seed(generator=None):
    """The seed the next fastinit.torch call will draw, without advancing anything."""
    g = torch.Generator()
    g.set_state((generator if generator is not None else torch.default_generator).get_state())
    t = torch.empty((), dtype=torch.int64).random_(-(1 << 63), None, generator=g)
    return int(t) & MASK64


def as_f64(t):
    return t.detach().to(torch.float64).numpy().ravel()


def ks_uniform(t, a, b):
    return stats.kstest(as_f64(t), "uniform", args=(a, b - a)).pvalue


def ks_normal(t, mean, std):
    return stats.kstest(as_f64(t), "norm", args=(mean, std)).pvalue


def expected(kind, shape, *params, seed, stream=0, dtype=np.float32):
    out = np.empty(shape, dtype)
    fill = {"uniform": fastinit.fill_uniform, "normal": fastinit.fill_normal,
            "trunc": fastinit.fill_truncated_normal}[kind]
    return fill(out, *params, seed=seed, stream=stream)


# ---------------------------------------------------------------------------
# API surface


def test_every_torch_init_function_is_here_with_torchs_signature():
    assert set(fit.INIT_NAMES) == set(nn.init.__all__)
    for name in nn.init.__all__:
        ours, theirs = getattr(fit, name), getattr(nn.init, name)
        assert ours.__doc__ and ">>>" in ours.__doc__, name
        sig_o, sig_t = inspect.signature(ours), inspect.signature(theirs)
        assert [(p.name, p.kind, p.default) for p in sig_o.parameters.values()] == \
            [(p.name, p.kind, p.default) for p in sig_t.parameters.values()], name
    for name in ("patch", "enable", "disable", "is_enabled", "reset_parameters"):
        assert ">>>" in getattr(fit, name).__doc__


def test_importing_fastinit_imports_neither_torch_nor_jax():
    code = ("import sys, fastinit; "
            "assert 'torch' not in sys.modules and 'jax' not in sys.modules, "
            "[m for m in ('torch', 'jax') if m in sys.modules]")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("nl", ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh",
                                "relu", "leaky_relu", "selu"])
def test_calculate_gain_equals_torch(nl):
    assert fit.calculate_gain(nl) == TORCH_GAIN(nl)
    assert isinstance(fit.calculate_gain(nl), float)


@pytest.mark.parametrize("param", [None, 0, 0.2, 3, math.sqrt(5)])
def test_calculate_gain_leaky_relu_param_equals_torch(param):
    assert fit.calculate_gain("leaky_relu", param) == TORCH_GAIN("leaky_relu", param)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        fit.calculate_gain("softplus")
    with pytest.raises(ValueError, match="not a valid number"):
        fit.calculate_gain("leaky_relu", True)


# ---------------------------------------------------------------------------
# exact values: fastinit's fill with torch's own bounds and stds

SHAPES = [(64, 48), (32, 16, 3), (24, 8, 3, 3), (6, 4, 2, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier_exact(shape, gain):
    g = torch.Generator().manual_seed(1)
    w = torch.empty(shape)
    fan_in, fan_out = TORCH_FANS(w)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    seed = next_seed(g)
    fit.xavier_uniform_(w, gain=gain, generator=g)
    np.testing.assert_array_equal(w.numpy(), expected("uniform", shape, -a, a, seed=seed))
    seed = next_seed(g)
    fit.xavier_normal_(w, gain=gain, generator=g)
    np.testing.assert_array_equal(w.numpy(), expected("normal", shape, 0.0, std, seed=seed))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("a,mode,nl", [(0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in",
                                        "leaky_relu"), (0.2, "fan_out", "leaky_relu"),
                                       (0, "fan_out", "relu"), (0, "FAN_IN", "tanh"),
                                       (0, "fan_in", "selu")])
def test_kaiming_exact(shape, a, mode, nl):
    g = torch.Generator().manual_seed(2)
    w = torch.empty(shape)
    fan_in, fan_out = TORCH_FANS(w)
    fan = fan_in if mode.lower() == "fan_in" else fan_out
    std = TORCH_GAIN(nl, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    seed = next_seed(g)
    fit.kaiming_uniform_(w, a=a, mode=mode, nonlinearity=nl, generator=g)
    np.testing.assert_array_equal(w.numpy(), expected("uniform", shape, -bound, bound, seed=seed))
    seed = next_seed(g)
    fit.kaiming_normal_(w, a, mode, nl, g)
    np.testing.assert_array_equal(w.numpy(), expected("normal", shape, 0.0, std, seed=seed))


def test_uniform_normal_trunc_exact():
    w = torch.empty(40, 30, dtype=torch.float64)
    torch.manual_seed(3)
    seed = next_seed()
    fit.uniform_(w, -0.5, 2.0)
    np.testing.assert_array_equal(w.numpy(), expected("uniform", (40, 30), -0.5, 2.0, seed=seed,
                                                      dtype=np.float64))
    seed = next_seed()
    fit.normal_(w, 1.0, 3.0)
    np.testing.assert_array_equal(w.numpy(), expected("normal", (40, 30), 1.0, 3.0, seed=seed,
                                                      dtype=np.float64))
    # trunc_normal_'s a, b are absolute: the fill gets them in units of std
    seed = next_seed()
    fit.trunc_normal_(w, mean=0.5, std=2.0, a=-1.5, b=4.5)
    ref = expected("trunc", (40, 30), 0.5, 2.0, -1.0, 2.0, seed=seed, dtype=np.float64)
    np.testing.assert_allclose(w.numpy(), ref, rtol=0, atol=1e-12)
    assert w.min() >= -1.5 and w.max() <= 4.5


def test_generator_and_global_rng_are_respected():
    torch.manual_seed(10)
    a = [getattr(fit, n)(torch.empty(20, 30), *(() if n != "sparse_" else (0.3,)))
         for n in RANDOM_FNS]
    torch.manual_seed(10)
    b = [getattr(fit, n)(torch.empty(20, 30), *(() if n != "sparse_" else (0.3,)))
         for n in RANDOM_FNS]
    for name, x, y in zip(RANDOM_FNS, a, b):
        assert torch.equal(x, y), name
    # a generator= makes the calls independent of the global RNG, which stays untouched
    torch.manual_seed(11)
    state = torch.get_rng_state()
    c = [getattr(fit, n)(torch.empty(20, 30), *(() if n != "sparse_" else (0.3,)),
                         generator=torch.Generator().manual_seed(5)) for n in RANDOM_FNS]
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(12)
    d = [getattr(fit, n)(torch.empty(20, 30), *(() if n != "sparse_" else (0.3,)),
                         generator=torch.Generator().manual_seed(5)) for n in RANDOM_FNS]
    for name, x, y, z in zip(RANDOM_FNS, c, d, a):
        assert torch.equal(x, y), name
        assert not torch.equal(x, z), name
    # one seed per call: consecutive calls differ
    g = torch.Generator().manual_seed(0)
    assert not torch.equal(fit.normal_(torch.empty(100), generator=g),
                           fit.normal_(torch.empty(100), generator=g))


def test_sparse_pattern_follows_the_generator():
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    torch.manual_seed(0)
    x = fit.sparse_(torch.empty(50, 40), 0.3, generator=g1)
    torch.manual_seed(1)  # torch's sparse_ would change its pattern here; ours doesn't
    y = fit.sparse_(torch.empty(50, 40), 0.3, generator=g2)
    assert torch.equal(x, y)
    assert ((x == 0).sum(dim=0) == math.ceil(0.3 * 50)).all()


# ---------------------------------------------------------------------------
# distributions (KS, as torch's test suite)

BIG = (1000, 1000)


@pytest.mark.parametrize("a,b", [(0.0, 1.0), (-3.0, -1.0), (-0.05, 0.05)])
def test_uniform_ks(a, b):
    torch.manual_seed(20)
    w = fit.uniform_(torch.empty(BIG), a, b)
    assert w.min() >= a and w.max() < b
    assert ks_uniform(w, a, b) > P_MIN


@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (2.0, 0.02)])
def test_normal_ks(mean, std):
    torch.manual_seed(21)
    assert ks_normal(fit.normal_(torch.empty(BIG), mean, std), mean, std) > P_MIN


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -2.0, 2.0),
                                          (1.0, 0.5, 1.2, 3.0), (0.0, 1.0, 3.0, 5.0),
                                          (0.0, 1.0, -math.inf, 0.0)])
def test_trunc_normal_ks(mean, std, a, b):
    torch.manual_seed(22)
    w = fit.trunc_normal_(torch.empty(400, 500), mean, std, a, b)  # scipy's truncnorm is slow
    assert w.min() >= a and w.max() <= b
    p = stats.kstest(as_f64(w), "truncnorm",
                     args=((a - mean) / std, (b - mean) / std, mean, std)).pvalue
    assert p > P_MIN


def test_trunc_normal_zero_std_is_the_clamped_mean():
    assert (fit.trunc_normal_(torch.empty(5), 3.0, 0.0, -1.0, 1.0) == 1.0).all()


@pytest.mark.parametrize("shape", [(1000, 800), (256, 64, 5, 5)])
def test_xavier_and_kaiming_ks(shape):
    torch.manual_seed(23)
    w = torch.empty(shape)
    fan_in, fan_out = TORCH_FANS(w)
    std = math.sqrt(2.0 / (fan_in + fan_out))
    assert ks_uniform(fit.xavier_uniform_(w), -math.sqrt(3) * std, math.sqrt(3) * std) > P_MIN
    assert ks_normal(fit.xavier_normal_(w), 0.0, std) > P_MIN
    std = TORCH_GAIN("relu") / math.sqrt(fan_out)
    bound = math.sqrt(3) * std
    assert ks_uniform(fit.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu"),
                      -bound, bound) > P_MIN
    assert ks_normal(fit.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
                     0.0, std) > P_MIN


@pytest.mark.parametrize("shape,gain", [((30, 50), 1.0), ((50, 30), 2.0), ((8, 4, 3, 3), 0.5)])
def test_orthogonal(shape, gain):
    torch.manual_seed(24)
    w = fit.orthogonal_(torch.empty(shape), gain=gain)
    m = w.reshape(shape[0], -1).double()
    if m.shape[0] <= m.shape[1]:
        gram = m @ m.T
    else:
        gram = m.T @ m
    assert torch.allclose(gram, gain**2 * torch.eye(gram.shape[0], dtype=torch.float64),
                          atol=1e-5)


def test_orthogonal_entries_are_haar():
    # the entries of a Haar orthogonal n x n matrix times sqrt(n) are close to N(0, 1)
    torch.manual_seed(25)
    w = fit.orthogonal_(torch.empty(500, 500, dtype=torch.float64))
    assert ks_normal(w * math.sqrt(500), 0.0, 1.0) > P_MIN


def test_sparse_ks():
    torch.manual_seed(26)
    w = fit.sparse_(torch.empty(1000, 500), sparsity=0.1, std=0.02)
    assert ((w == 0).sum(dim=0) == 100).all()
    nonzero = w[w != 0]
    assert nonzero.numel() == 900 * 500
    assert ks_normal(nonzero, 0.0, 0.02) > P_MIN


def test_deterministic_functions_equal_torch():
    for fn, args in [("constant_", (0.25,)), ("ones_", ()), ("zeros_", ()), ("eye_", ())]:
        a, b = torch.empty(7, 9), torch.empty(7, 9)
        assert torch.equal(getattr(fit, fn)(a, *args), getattr(nn.init, fn)(b, *args))
    for shape, groups in [((6, 4, 3), 1), ((6, 4, 3, 3), 2), ((4, 4, 3, 3, 3), 1)]:
        a, b = torch.empty(shape), torch.empty(shape)
        assert torch.equal(fit.dirac_(a, groups), nn.init.dirac_(b, groups))


# ---------------------------------------------------------------------------
# layouts and dtypes


def test_non_contiguous_tensors_get_c_order_values():
    base = torch.full((24, 40), float("nan"))
    view = base[::2, 5:35].T  # transposed, strided slice: shape (30, 12)
    assert not view.is_contiguous()
    seed = next_seed()
    fit.uniform_(view, -1.0, 1.0)
    np.testing.assert_array_equal(view.numpy(), expected("uniform", (30, 12), -1.0, 1.0,
                                                         seed=seed))
    untouched = torch.ones_like(base, dtype=torch.bool)
    untouched[::2, 5:35] = False
    assert torch.isnan(base[untouched]).all()
    # channels_last conv weight
    w = torch.empty(16, 8, 3, 3).to(memory_format=torch.channels_last)
    seed = next_seed()
    fit.kaiming_normal_(w)
    std = TORCH_GAIN("leaky_relu", 0) / math.sqrt(8 * 9)
    np.testing.assert_array_equal(w.contiguous().numpy(),
                                  expected("normal", (16, 8, 3, 3), 0.0, std, seed=seed))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_values_and_statistics(dtype):
    torch.manual_seed(30)
    shape = (1024, 768)
    w = torch.empty(shape, dtype=dtype)
    fan_in = shape[1]
    bound = 1 / math.sqrt(fan_in)
    seed = next_seed()
    fit.kaiming_uniform_(w, a=math.sqrt(5))
    # bits of a bfloat16 tensor are exactly the float32 values rounded once
    ref = expected("uniform", shape, -bound, bound, seed=seed).astype(NP_DTYPE[dtype])
    got = w.view(torch.int16).numpy().view(NP_DTYPE[dtype])
    np.testing.assert_array_equal(got.view(np.int16), ref.view(np.int16))
    x = as_f64(w)
    assert x.min() >= -bound * (1 + 2**-7) and x.max() <= bound * (1 + 2**-7)
    assert abs(x.std() - bound / math.sqrt(3)) < 0.01 * bound
    # non-contiguous bfloat16 / float16
    t = torch.empty(300, 200, dtype=dtype).T
    seed = next_seed()
    fit.normal_(t, 0.0, 0.02)
    ref = expected("normal", (200, 300), 0.0, 0.02, seed=seed).astype(NP_DTYPE[dtype])
    np.testing.assert_array_equal(as_f64(t), ref.astype(np.float64).ravel())
    assert abs(as_f64(t).std() - 0.02) < 0.0005
    # trunc_normal_ keeps inside [a, b] without piling up at the bounds
    t = fit.trunc_normal_(torch.empty(1000, 1000, dtype=dtype), 0.0, 1.0, -2.0, 2.0)
    x = as_f64(t)
    assert x.min() >= -2.0 and x.max() <= 2.0
    assert (np.abs(x) == 2.0).mean() < 1e-3


def test_parameters_keep_identity_grad_and_version():
    p = nn.Parameter(torch.empty(10, 20))
    v = p._version
    out = fit.kaiming_uniform_(p)
    assert out is p and p.requires_grad and p.grad_fn is None and p._version > v
    # a leaf that requires grad can be filled in place outside no_grad, as in torch
    x = torch.zeros(4, requires_grad=True)
    fit.normal_(x)
    assert x.requires_grad


# ---------------------------------------------------------------------------
# fallbacks


def test_meta_tensors_fall_back_to_torch():
    for name in RANDOM_FNS:
        w = torch.empty(8, 6, device="meta")
        args = (0.5,) if name == "sparse_" else ()
        assert getattr(fit, name)(w, *args) is w


def test_other_dtypes_fall_back_to_torch():
    # torch's own function runs, with its own behaviour (and errors)
    with pytest.raises(NotImplementedError, match="Long"):
        fit.uniform_(torch.empty(10, dtype=torch.int64), 0, 10)
    c = fit.normal_(torch.empty(100, dtype=torch.complex64))
    assert c.dtype == torch.complex64 and c.abs().sum() > 0


class Logged(torch.Tensor):
    calls: list = []  # noqa: RUF012 - a log shared by the class on purpose

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.calls.append(getattr(func, "__name__", str(func)))
        return super().__torch_function__(func, types, args, kwargs or {})


def test_tensor_subclasses_and_modes_fall_back_to_torch():
    t = torch.empty(5, 4).as_subclass(Logged)
    Logged.calls.clear()
    fit.kaiming_uniform_(t)
    assert "kaiming_uniform_" in Logged.calls  # torch's own handled it
    # a torch function mode other than torch.device: torch's function runs under it
    seen = []

    class Mode(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    w = torch.empty(5, 4)
    with Mode():
        fit.normal_(w)
    assert "normal_" in seen
    # torch.device(...) is not in the way
    with torch.device("cpu"):
        seed = next_seed()
        w = fit.normal_(torch.empty(5, 4))
    np.testing.assert_array_equal(w.numpy(), expected("normal", (5, 4), 0.0, 1.0, seed=seed))


def test_expanded_tensor_falls_back_to_torch():
    base = torch.zeros(4)
    with pytest.raises(RuntimeError):  # torch refuses to write overlapping memory
        fit.uniform_(base.expand(3, 4))


def test_validation_errors():
    with pytest.raises(ValueError, match="Only tensors with 2 or more"):
        fit.orthogonal_(torch.empty(4))
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        fit.sparse_(torch.empty(4, 4, 4), 0.5)
    with pytest.raises(ValueError, match="fan_in, fan_out"):
        fit.kaiming_uniform_(torch.empty(4, 4), mode="fan_avg")
    with pytest.raises(ValueError, match="low"):
        fit.uniform_(torch.empty(4), 1.0, 0.0)
    with pytest.raises(ValueError):
        fit.xavier_uniform_(torch.empty(4))
    with pytest.warns(UserWarning, match="zero-element"):
        fit.kaiming_uniform_(torch.empty(0, 4))
    with pytest.warns(FutureWarning, match="deprecated"):
        fit.uniform(torch.empty(3))


# ---------------------------------------------------------------------------
# patch()

ALIAS_MODULES = [nn.init, nn.modules.activation, nn.modules.transformer]


def snapshot():
    return {(m.__name__, k): v for m in ALIAS_MODULES for k, v in vars(m).items()
            if callable(v) and not isinstance(v, type)}


def test_patch_routes_and_restores_exactly():
    before = snapshot()
    assert not fit.is_enabled()
    with fit.patch():
        assert fit.is_enabled()
        for name in fit.INIT_NAMES:
            assert getattr(nn.init, name) is getattr(fit, name)
        # the aliases made by `from torch.nn.init import ...` inside torch
        assert nn.modules.activation.xavier_uniform_ is fit.xavier_uniform_
        assert nn.modules.activation.constant_ is fit.constant_
        assert nn.modules.transformer.xavier_uniform_ is fit.xavier_uniform_
    after = snapshot()
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)
    assert not fit.is_enabled()


def test_patch_restores_after_an_exception_and_nests():
    before = snapshot()
    with pytest.raises(KeyError), fit.patch():
        with fit.patch():
            assert nn.init.normal_ is fit.normal_
        assert nn.init.normal_ is fit.normal_  # still inside the outer block
        raise KeyError("boom")
    after = snapshot()
    assert all(after[k] is before[k] for k in before)
    fit.enable()
    fit.enable()
    fit.disable()
    assert nn.init.uniform_ is fit.uniform_
    fit.disable()
    assert nn.init.uniform_ is before[("torch.nn.init", "uniform_")]
    fit.disable()  # extra disable: a no-op
    assert not fit.is_enabled()


@pytest.fixture
def filled_by_fastinit(monkeypatch):
    """Record every tensor fastinit.torch fills (through its seed lookup)."""
    seen = []
    original = fit._fast._seed_stream

    def spy(tensor, generator):
        seen.append(tensor)
        return original(tensor, generator)

    monkeypatch.setattr(fit._fast, "_seed_stream", spy)
    return seen


def test_patched_linear_4096(filled_by_fastinit):
    torch.manual_seed(40)
    seed = next_seed()
    with fit.patch():
        layer = nn.Linear(4096, 4096)
    assert [t is layer.weight for t in filled_by_fastinit] == [True, False]
    bound = 1 / 64
    w = layer.weight.detach()
    np.testing.assert_array_equal(w.numpy()[:64], expected("uniform", (4096, 4096), -bound,
                                                           bound, seed=seed)[:64])
    assert w.abs().max() <= bound
    assert ks_uniform(w[:256], -bound, bound) > P_MIN  # 1M samples
    assert ks_uniform(layer.bias, -bound, bound) > P_MIN
    # reproducible under manual_seed, and not torch's own values
    torch.manual_seed(40)
    with fit.patch():
        again = nn.Linear(4096, 4096)
    torch.manual_seed(40)
    plain = nn.Linear(4096, 4096)
    assert torch.equal(again.weight, layer.weight) and torch.equal(again.bias, layer.bias)
    assert not torch.equal(plain.weight, layer.weight)


def test_patched_conv2d(filled_by_fastinit):
    torch.manual_seed(41)
    with fit.patch():
        conv = nn.Conv2d(64, 128, 5)
    assert filled_by_fastinit[0] is conv.weight and filled_by_fastinit[1] is conv.bias
    bound = 1 / math.sqrt(64 * 25)
    assert ks_uniform(conv.weight, -bound, bound) > P_MIN
    assert conv.weight.abs().max() <= bound and conv.bias.abs().max() <= bound


def test_patched_transformer_block(filled_by_fastinit):
    d, ff, vocab = 256, 1024, 5000
    torch.manual_seed(42)
    with fit.patch():
        emb = nn.Embedding(vocab, d, padding_idx=0)
        layer = nn.TransformerEncoderLayer(d, nhead=8, dim_feedforward=ff, batch_first=True)
        rms = nn.RMSNorm(d)
    filled = {id(t) for t in filled_by_fastinit}
    random_params = [emb.weight, layer.self_attn.in_proj_weight, layer.self_attn.out_proj.weight,
                     layer.linear1.weight, layer.linear1.bias, layer.linear2.weight,
                     layer.linear2.bias]
    assert all(id(p) in filled for p in random_params)
    assert ks_normal(emb.weight[1:], 0.0, 1.0) > P_MIN
    assert (emb.weight[0] == 0).all()
    a = math.sqrt(6 / (d + 3 * d))  # xavier_uniform_ on in_proj_weight (3d, d)
    assert ks_uniform(layer.self_attn.in_proj_weight, -a, a) > P_MIN
    assert (layer.self_attn.in_proj_bias == 0).all() and (layer.self_attn.out_proj.bias == 0).all()
    assert ks_uniform(layer.self_attn.out_proj.weight, -1 / 16, 1 / 16) > P_MIN
    assert ks_uniform(layer.linear1.weight, -1 / 16, 1 / 16) > P_MIN
    assert ks_uniform(layer.linear2.weight, -1 / 32, 1 / 32) > P_MIN
    for norm in (layer.norm1, layer.norm2):
        assert (norm.weight == 1).all() and (norm.bias == 0).all()
    assert (rms.weight == 1).all()
    # the block still runs
    out = layer(emb(torch.tensor([[1, 2, 3]])))
    assert out.shape == (1, 3, d) and torch.isfinite(out).all()


def test_patched_mha_with_bias_kv_and_batchnorm():
    torch.manual_seed(43)
    with fit.patch():
        mha = nn.MultiheadAttention(64, 4, add_bias_kv=True, kdim=32, vdim=48)
        bn = nn.BatchNorm2d(16)
    a = math.sqrt(6 / (64 + 32))
    assert mha.k_proj_weight.abs().max() <= a
    assert mha.bias_k.shape == (1, 1, 64)
    assert (bn.weight == 1).all() and (bn.running_var == 1).all()


# ---------------------------------------------------------------------------
# reset_parameters()


class Net(nn.Module):
    """The same named modules declared in either order."""

    def __init__(self, reverse=False, device=None):
        super().__init__()
        makers = [
            ("embed", lambda: nn.Embedding(1000, 64, padding_idx=3, device=device)),
            ("proj", lambda: nn.Linear(64, 256, device=device)),
            ("conv", lambda: nn.Conv2d(16, 32, 3, device=device)),
            ("deconv", lambda: nn.ConvTranspose1d(8, 12, 5, device=device)),
            ("attn", lambda: nn.MultiheadAttention(64, 4, device=device)),
            ("norm", lambda: nn.LayerNorm(64, device=device)),
            ("bn", lambda: nn.BatchNorm1d(32, device=device)),
            ("gru", lambda: nn.GRU(16, 24, device=device)),
            ("bil", lambda: nn.Bilinear(6, 7, 5, device=device)),
            ("prelu", lambda: nn.PReLU(4, device=device)),
            ("gn", lambda: nn.GroupNorm(2, 8, device=device)),
            ("rms", lambda: nn.RMSNorm(10, device=device)),
        ]
        for name, make in reversed(makers) if reverse else makers:
            setattr(self, name, make())


def materialized(**kw):
    with torch.device("meta"):
        net = Net(**kw)
    return net.to_empty(device="cpu")


def test_reset_parameters_after_to_empty_gives_default_statistics():
    net = fit.reset_parameters(materialized(), seed=7)
    sid = fastinit.stream_id
    # exact values on the named streams
    bound = 1 / 8
    np.testing.assert_array_equal(net.proj.weight.detach().numpy(),
                                  expected("uniform", (256, 64), -math.sqrt(3) *
                                           (TORCH_GAIN("leaky_relu", math.sqrt(5)) / 8),
                                           math.sqrt(3) * (TORCH_GAIN("leaky_relu",
                                                                      math.sqrt(5)) / 8),
                                           seed=7, stream=sid("proj.weight")))
    np.testing.assert_array_equal(net.proj.bias.detach().numpy(),
                                  expected("uniform", (256,), -bound, bound, seed=7,
                                           stream=sid("proj.bias")))
    assert ks_uniform(net.proj.weight, -bound, bound) > P_MIN
    assert ks_normal(net.embed.weight[4:], 0.0, 1.0) > P_MIN
    assert (net.embed.weight[3] == 0).all()
    cb = 1 / math.sqrt(16 * 9)
    assert ks_uniform(net.conv.weight, -cb, cb) > P_MIN and net.conv.bias.abs().max() <= cb
    fan_in = TORCH_FANS(net.deconv.weight)[0]  # torch counts a transposed conv's fans so
    assert net.deconv.weight.abs().max() <= 1 / math.sqrt(fan_in)
    a = math.sqrt(6 / (64 + 192))
    assert ks_uniform(net.attn.in_proj_weight, -a, a) > P_MIN
    assert (net.attn.in_proj_bias == 0).all() and (net.attn.out_proj.bias == 0).all()
    assert net.attn.out_proj.weight.abs().max() <= 1 / 8
    assert (net.norm.weight == 1).all() and (net.norm.bias == 0).all()
    assert (net.bn.weight == 1).all() and (net.bn.bias == 0).all()
    assert (net.bn.running_mean == 0).all() and (net.bn.running_var == 1).all()
    assert int(net.bn.num_batches_tracked) == 0
    s = 1 / math.sqrt(24)
    for name, p in net.gru.named_parameters():
        assert p.abs().max() <= s, name
    assert ks_uniform(net.gru.weight_hh_l0, -s, s) > P_MIN
    assert net.bil.weight.abs().max() <= 1 / math.sqrt(6)  # weight (5, 6, 7): size(1)
    assert (net.prelu.weight == 0.25).all()
    assert (net.gn.weight == 1).all() and (net.rms.weight == 1).all()
    out, _ = net.gru(torch.randn(3, 2, 16))
    assert torch.isfinite(out).all()


def test_reset_parameters_is_independent_of_declaration_order_and_threads():
    a = fit.reset_parameters(materialized(), seed=11)
    b = materialized(reverse=True)
    assert [n for n, _ in a.named_parameters()] != [n for n, _ in b.named_parameters()]
    with fastinit.num_threads(1):
        fit.reset_parameters(b, seed=11)
    pb = dict(b.named_parameters())
    for name, p in a.named_parameters():
        assert torch.equal(p, pb[name]), name
    c = fit.reset_parameters(materialized(), seed=12)
    assert not torch.equal(c.proj.weight, a.proj.weight)


def test_reset_parameters_prefix_matches_the_full_model():
    model = nn.Sequential()
    model.add_module("encoder", Net())
    fit.reset_parameters(model, seed=5)
    part = fit.reset_parameters(Net(), seed=5, prefix="encoder")
    for name, p in part.named_parameters():
        assert torch.equal(p, model.get_parameter("encoder." + name)), name


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.empty(30, 20))
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.normal_(self.scale, 0.0, 0.5)
        nn.init.normal_(torch.empty(3))  # a temporary: not a parameter


class MyLinear(nn.Linear):
    def reset_parameters(self):
        nn.init.zeros_(self.weight)
        if self.bias is not None:
            nn.init.ones_(self.bias)


class Raw(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.full((3,), 7.0))


def test_reset_parameters_calls_unknown_modules_on_named_streams():
    rng = torch.get_rng_state()
    model = nn.ModuleDict({"c": Custom(), "m": MyLinear(4, 3), "t": nn.Transformer(
        16, 2, 1, 1, 32, batch_first=True)})
    torch.set_rng_state(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit.reset_parameters(model, seed=3)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's RNG is untouched
    np.testing.assert_array_equal(model["c"].scale.detach().numpy(),
                                  expected("normal", (30, 20), 0.0, 0.5, seed=3,
                                           stream=fastinit.stream_id("c.scale")))
    assert (model["m"].weight == 0).all() and (model["m"].bias == 1).all()
    # nn.Transformer re-initializes all of its matrices with xavier_uniform_
    w = model["t"].encoder.layers[0].linear1.weight
    a = math.sqrt(6 / (16 + 32))
    assert w.abs().max() <= a and w.abs().max() > 1 / 4  # beyond Linear's own 1/sqrt(16)
    raw = Raw()
    with pytest.warns(UserWarning, match="w"):
        fit.reset_parameters(raw, seed=0)
    assert (raw.w == 7).all()


def test_reset_parameters_bfloat16_values_are_rounded_float32_values():
    net = fit.reset_parameters(materialized().to(torch.bfloat16), seed=9)
    ref = fit.reset_parameters(materialized(), seed=9)
    for (name, p), (_, q) in zip(net.named_parameters(), ref.named_parameters(), strict=True):
        assert torch.equal(p, q.to(torch.bfloat16)), name


def test_reset_parameters_fills_other_dtypes_through_a_cpu_copy():
    # float8 has no NumPy view: the same float32 values are made and copied in
    f8 = getattr(torch, "float8_e4m3fn", None)
    if f8 is None:
        pytest.skip("no float8 in this torch")
    model = fit.reset_parameters(nn.Linear(16, 8).to(f8), seed=2)
    ref = fit.reset_parameters(nn.Linear(16, 8), seed=2)
    assert model.weight.dtype == f8
    assert torch.equal(model.weight.float(), ref.weight.to(f8).float())


def test_trunc_normal_requires_a_below_b():
    with pytest.raises(ValueError, match="a must be < b"):
        fit.trunc_normal_(torch.empty(3), 0.0, 1.0, 1.0, 1.0)
