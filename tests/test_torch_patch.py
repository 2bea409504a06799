"""fastinit.torch.patch(seed=...), its routing of references, torch's private
helpers, timm's init functions, and reset_parameters on the meta device.

Exactness: the seeds of a seeded block are computed here from the documented
formula (64-bit words of the raw stream ``stream_id("fastinit.torch.patch")``)
and the values compared with fastinit's fills bit for bit.  Routing: modules
written to a temporary directory hold references to torch's functions (as
attributes and in dict tables); they are imported before, inside and between
blocks, and every reference is checked by identity.
"""
import importlib
import inspect
import math
import sys
import uuid

import numpy as np
import pytest
from _deps import require

torch = require("torch")
from torch import nn

import fastinit
import fastinit.torch as fit
from fastinit.torch import _libs as _torch_libs

TORCH_FN = dict(fit._TORCH)  # torch's own functions


def patch_words(seed, n):
    """W[0..n): the documented seed words of patch(seed=seed)."""
    raw = fastinit.fill_raw(np.empty(2 * n, np.uint32), seed=seed,
                            stream=fastinit.stream_id("fastinit.torch.patch"))
    return [int(lo) + (int(hi) << 32) for lo, hi in zip(raw[0::2], raw[1::2])]


def normal_values(shape, seed, std=1.0):
    return torch.from_numpy(fastinit.fill_normal(np.empty(shape, np.float32), 0.0, std,
                                                 seed=seed))


# ---------------------------------------------------------------------------
# seeds


def test_seeded_block_seeds_follow_the_formula_across_word_blocks():
    words = patch_words(99, 1100)
    torch.manual_seed(5)
    state = torch.get_rng_state()
    with fit.patch(seed=99):
        assert torch.initial_seed() == words[0]  # torch's CPU generator, for direct calls
        outs = [fit.normal_(torch.empty(3)) for _ in range(1099)]
    for k in (1, 2, 511, 512, 513, 1024, 1099):  # across the 512-word blocks
        assert torch.equal(outs[k - 1], normal_values(3, words[k])), k
    assert torch.equal(torch.get_rng_state(), state)  # torch's RNG is as before the block


def test_seeded_block_ignores_torch_manual_seed_and_keeps_explicit_generators():
    def build():
        layer = nn.Linear(64, 32)
        g = torch.Generator().manual_seed(3)
        own = fit.uniform_(torch.empty(5), generator=g)
        direct = torch.empty(4).normal_()  # model code calling torch's RNG itself
        return layer.weight.clone(), layer.bias.clone(), own, direct

    torch.manual_seed(1)
    with fit.patch(seed=7):
        a = build()
    torch.manual_seed(2)
    with fit.patch(seed=7):
        b = build()
    with fit.patch(seed=8):
        c = build()
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[3], c[3])
    g = torch.Generator().manual_seed(3)
    assert torch.equal(a[2], fit.uniform_(torch.empty(5), generator=g))  # the generator's draw
    words = patch_words(7, 3)
    # nn.Linear: kaiming_uniform_ (call 1) on the weight, then the bias through uniform_ (call 2)
    wbound = math.sqrt(3.0) * (nn.init.calculate_gain("leaky_relu", math.sqrt(5)) / 8)
    w = fastinit.fill_uniform(np.empty((32, 64), np.float32), -wbound, wbound, seed=words[1])
    bound = 1 / math.sqrt(64)
    assert torch.equal(a[0], torch.from_numpy(w))
    bb = fastinit.fill_uniform(np.empty(32, np.float32), -bound, bound, seed=words[2])
    assert torch.equal(a[1], torch.from_numpy(bb))


def test_nested_blocks_and_enable_disable_with_seeds():
    w1 = patch_words(1, 4)
    w2 = patch_words(2, 2)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    with fit.patch(seed=1):
        x1 = fit.normal_(torch.empty(4))
        with fit.patch():  # seed=None inside a seeded block keeps the outer seed
            x2 = fit.normal_(torch.empty(4))
            fit.enable(seed=2)
            y1 = fit.normal_(torch.empty(4))
            fit.disable()
        x3 = fit.normal_(torch.empty(4))
    assert torch.equal(x1, normal_values(4, w1[1]))
    assert torch.equal(x2, normal_values(4, w1[2]))
    assert torch.equal(y1, normal_values(4, w2[1]))
    assert torch.equal(x3, normal_values(4, w1[3]))
    assert torch.equal(torch.get_rng_state(), state)
    assert not fit.is_enabled() and fit._fast._seeder is None
    # unseeded: one draw from torch's RNG per call, as outside patch()
    torch.manual_seed(4)
    with fit.patch():
        z = fit.normal_(torch.empty(4))
    torch.manual_seed(4)
    assert torch.equal(z, fit.normal_(torch.empty(4)))


def test_patch_seed_validation():
    with pytest.raises(TypeError, match="seed"):
        fit.patch(seed=1.5)
    with pytest.raises(ValueError, match="seed"):
        fit.patch(seed=-1)
    with pytest.raises(TypeError, match="seed"):
        fit.enable(seed="a")
    assert not fit.is_enabled()
    with fit.patch(seed=np.random.SeedSequence(3)):
        assert fit.is_enabled()


def test_reset_parameters_inside_a_seeded_block_keeps_named_streams():
    ref = fit.reset_parameters(nn.Sequential(nn.Linear(8, 4), nn.LayerNorm(4)), seed=5)
    with fit.patch(seed=1):
        model = fit.reset_parameters(nn.Sequential(nn.Linear(8, 4), nn.LayerNorm(4)), seed=5)
    for (n, p), q in zip(model.named_parameters(), ref.parameters()):
        assert torch.equal(p, q), n


def test_patch_is_a_decorator_too():
    @fit.patch(seed=3)
    def build():
        assert fit.is_enabled()
        return nn.Linear(4, 4).weight.clone()

    torch.manual_seed(1)
    a = build()
    torch.manual_seed(2)
    assert torch.equal(a, build()) and not fit.is_enabled()


# ---------------------------------------------------------------------------
# routing references held by other modules


SITES_MODULE = '''
import torch
from torch.nn.init import normal_, xavier_uniform_ as xu
import torch.nn.init as init
TABLE = {"normal_": torch.nn.init.normal_, "zeros_": torch.nn.init.zeros_, "n": 3}
NESTED = {"outer": {"normal_": torch.nn.init.normal_}}  # a table in a table
'''


@pytest.fixture
def make_module(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    made = []

    def make():
        name = f"fi_sites_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(SITES_MODULE)
        made.append(name)
        return name

    yield make
    for name in made:
        sys.modules.pop(name, None)


def assert_torchs(mod):
    assert mod.normal_ is TORCH_FN["normal_"] and mod.xu is TORCH_FN["xavier_uniform_"]
    assert mod.TABLE["normal_"] is TORCH_FN["normal_"]
    assert mod.TABLE["zeros_"] is TORCH_FN["zeros_"] and mod.TABLE["n"] == 3
    assert mod.NESTED["outer"]["normal_"] is TORCH_FN["normal_"]


def assert_routed(mod):
    assert mod.normal_ is fit.normal_ and mod.xu is fit.xavier_uniform_
    assert mod.TABLE["normal_"] is fit.normal_ and mod.TABLE["zeros_"] is fit.zeros_
    assert mod.init.normal_ is fit.normal_
    assert mod.NESTED["outer"]["normal_"] is fit.normal_


def test_references_in_modules_imported_before_inside_and_between_blocks(make_module):
    before = importlib.import_module(make_module())
    with fit.patch():
        assert_routed(before)
        inside = importlib.import_module(make_module())
        assert_routed(inside)  # it copied the routed functions
    assert_torchs(before)
    assert_torchs(inside)  # put back on leaving: torch's functions, not fastinit's
    between = importlib.import_module(make_module())
    with fit.patch(seed=1):
        for mod in (before, inside, between):
            assert_routed(mod)
    for mod in (before, inside, between):
        assert_torchs(mod)


def test_a_module_imported_again_under_its_name_is_scanned_again(make_module):
    name = make_module()
    first = importlib.import_module(name)
    with fit.patch():
        assert_routed(first)
    del sys.modules[name]
    with fit.patch():
        second = importlib.import_module(name)
        assert second is not first
        assert_routed(second)
    assert_torchs(first)
    assert_torchs(second)
    with fit.patch():
        assert_routed(second)
    assert_torchs(second)


def test_a_reference_changed_inside_the_block_is_left_alone(make_module):
    mod = importlib.import_module(make_module())

    def mine(t, *a, **k):
        return t

    with fit.patch():
        mod.normal_ = mine
        mod.TABLE["zeros_"] = mine
        nn.init.uniform_ = mine
    assert mod.normal_ is mine and mod.TABLE["zeros_"] is mine and nn.init.uniform_ is mine
    nn.init.uniform_ = TORCH_FN["uniform_"]
    assert mod.TABLE["normal_"] is TORCH_FN["normal_"]


def test_restores_after_an_exception_inside_a_seeded_block(make_module):
    mod = importlib.import_module(make_module())
    torch.manual_seed(3)
    state = torch.get_rng_state()
    with pytest.raises(RuntimeError, match="boom"), fit.patch(seed=1):
        raise RuntimeError("boom")
    assert_torchs(mod)
    assert torch.equal(torch.get_rng_state(), state) and fit._fast._seeder is None


# ---------------------------------------------------------------------------
# torch's private helpers


PRIVATE = ["_calculate_fan_in_and_fan_out", "_calculate_correct_fan", "_no_grad_uniform_",
           "_no_grad_normal_", "_no_grad_trunc_normal_", "_no_grad_fill_", "_no_grad_zero_"]


@pytest.mark.parametrize("name", PRIVATE)
def test_private_helpers_have_torchs_signatures(name):
    ours, theirs = getattr(fit, name), getattr(nn.init, name)
    assert [(p.name, p.kind, p.default) for p in inspect.signature(ours).parameters.values()] \
        == [(p.name, p.kind, p.default) for p in inspect.signature(theirs).parameters.values()]
    assert ">>>" in ours.__doc__


@pytest.mark.parametrize("shape", [(5, 3), (7, 4, 3), (2, 6, 3, 5), (4, 1, 2, 2, 2), (0, 3)])
def test_fan_helpers_equal_torch(shape):
    t = torch.empty(shape)
    assert fit._calculate_fan_in_and_fan_out(t) == nn.init._calculate_fan_in_and_fan_out(t)
    for mode in ("fan_in", "fan_out", "FAN_IN"):
        assert fit._calculate_correct_fan(t, mode) == nn.init._calculate_correct_fan(t, mode)


def test_fan_helpers_errors_equal_torch():
    for fn, args in (("_calculate_fan_in_and_fan_out", (torch.empty(3),)),
                     ("_calculate_correct_fan", (torch.empty(3, 3), "fan_avg"))):
        with pytest.raises(ValueError) as theirs:
            getattr(nn.init, fn)(*args)
        with pytest.raises(ValueError) as ours:
            getattr(fit, fn)(*args)
        assert str(ours.value) == str(theirs.value)


def test_no_grad_helpers_fill_from_fastinit():
    g = torch.Generator().manual_seed(1)
    seed = int(torch.empty((), dtype=torch.int64).random_(-(1 << 63), None,
                                                          generator=g)) & ((1 << 64) - 1)
    g.manual_seed(1)
    p = nn.Parameter(torch.empty(6, 5))
    out = fit._no_grad_uniform_(p, -2.0, 3.0, generator=g)
    assert out is p and p.requires_grad
    exp = fastinit.fill_uniform(np.empty((6, 5), np.float32), -2.0, 3.0, seed=seed)
    assert torch.equal(p.detach(), torch.from_numpy(exp))
    g.manual_seed(1)
    fit._no_grad_normal_(p, 1.0, 0.5, generator=g)
    exp = fastinit.fill_normal(np.empty((6, 5), np.float32), 1.0, 0.5, seed=seed)
    assert torch.equal(p.detach(), torch.from_numpy(exp))
    g.manual_seed(1)
    ref = fit.trunc_normal_(torch.empty(6, 5), 0.0, 1.0, -0.5, 0.7, generator=g)
    g.manual_seed(1)
    assert torch.equal(fit._no_grad_trunc_normal_(p, 0.0, 1.0, -0.5, 0.7, generator=g), ref)
    assert fit._no_grad_fill_(p, 2.5) is p and bool((p == 2.5).all())
    assert fit._no_grad_zero_(p) is p and not p.detach().any()
    meta = torch.empty(3, 3, device="meta")  # torch's own helper for what fastinit can't fill
    assert fit._no_grad_normal_(meta, 0.0, 1.0) is meta


# ---------------------------------------------------------------------------
# timm's functions


def _seed_of(generator_seed):
    g = torch.Generator().manual_seed(generator_seed)
    return int(torch.empty((), dtype=torch.int64).random_(-(1 << 63), None,
                                                          generator=g)) & ((1 << 64) - 1)


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.5, 0.02, -1.0, 3.0)])
def test_trunc_normal_tf_bounds_in_std_units(mean, std, a, b):
    g = torch.Generator().manual_seed(2)
    w = fit.trunc_normal_tf_(torch.empty(64, 64), mean, std, a, b, generator=g)
    exp = fastinit.fill_truncated_normal(np.empty((64, 64), np.float32), mean, std, a, b,
                                         seed=_seed_of(2))
    assert torch.equal(w, torch.from_numpy(exp))
    assert float(w.min()) >= np.float32(mean + a * std) and float(w.max()) <= mean + b * std
    assert torch.equal(fit.trunc_normal_tf_(torch.empty(3), 0.25, 0.0), torch.full((3,), 0.25))
    with pytest.raises(ValueError, match="a must be < b"):
        fit.trunc_normal_tf_(torch.empty(3), a=1.0, b=1.0)


class _AnyMode(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def test_trunc_normal_tf_falls_back_like_timm():
    torch.manual_seed(0)
    with _AnyMode():  # under a torch function mode fastinit hands the tensor to torch
        w = fit.trunc_normal_tf_(torch.empty(500), 0.5, 0.1, -1.0, 2.0)
    torch.manual_seed(0)
    ref = TORCH_FN["trunc_normal_"](torch.empty(500), 0.0, 1.0, -1.0, 2.0).mul_(0.1).add_(0.5)
    assert torch.equal(w, ref)
    meta = torch.empty(4, 4, device="meta")
    assert fit.trunc_normal_tf_(meta, std=0.1) is meta


@pytest.mark.parametrize("mode,dist", [("fan_in", "normal"), ("fan_out", "uniform"),
                                       ("fan_avg", "truncated_normal")])
def test_variance_scaling_formulas(mode, dist):
    shape = (48, 16, 3, 3)
    fan_in, fan_out = 16 * 9, 48 * 9
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    sigma = math.sqrt(2.0 / n)
    g = torch.Generator().manual_seed(4)
    w = fit.variance_scaling_(torch.empty(shape), 2.0, mode, dist, generator=g)
    out = np.empty(shape, np.float32)
    seed = _seed_of(4)
    if dist == "normal":
        fastinit.fill_normal(out, 0.0, sigma, seed=seed)
    elif dist == "uniform":
        bound = math.sqrt(3) * sigma
        fastinit.fill_uniform(out, -bound, bound, seed=seed)
    else:
        fastinit.fill_truncated_normal(out, 0.0, sigma / 0.87962566103423978, -2.0, 2.0,
                                       seed=seed)
    assert torch.equal(w, torch.from_numpy(out))
    assert abs(float(w.std()) / sigma - 1) < 0.05


def test_lecun_normal_and_errors():
    g = torch.Generator().manual_seed(6)
    w = fit.lecun_normal_(torch.empty(300, 200), generator=g)
    g = torch.Generator().manual_seed(6)
    ref = fit.variance_scaling_(torch.empty(300, 200), 1.0, "fan_in", "truncated_normal",
                                generator=g)
    assert torch.equal(w, ref)
    assert abs(float(w.std()) * math.sqrt(200) - 1) < 0.02
    with pytest.raises(ValueError, match="mode"):
        fit.variance_scaling_(torch.empty(3, 3), mode="fan_sum")
    with pytest.raises(ValueError, match="distribution"):
        fit.variance_scaling_(torch.empty(3, 3), distribution="cauchy")


def test_library_replacements_keep_timms_signatures():
    timm_wi = require("timm.layers.weight_init")
    for attr, replacement in _torch_libs.LIBRARY_ROUTES["timm.layers.weight_init"].items():
        theirs = list(inspect.signature(getattr(timm_wi, attr)).parameters.values())
        ours = list(inspect.signature(replacement).parameters.values())
        assert [(p.name, p.default) for p in ours[:len(theirs)]] == \
            [(p.name, p.default) for p in theirs], attr
        assert all(p.default is None for p in ours[len(theirs):])  # only generator=None added


# ---------------------------------------------------------------------------
# reset_parameters on the meta device


def test_reset_parameters_refuses_a_module_still_on_meta():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    with pytest.raises(ValueError, match=r'to_empty\(device="cpu"\).*materialize') as err:
        fit.reset_parameters(model, seed=0)
    assert "0.weight" in str(err.value)
    model.to_empty(device="cpu")
    fit.reset_parameters(model, seed=0)
    assert torch.equal(model[1].weight, torch.ones(3))


def test_examples_of_the_library_module_run():
    # torch's private helpers and timm's functions live in fastinit.torch._libs
    import doctest
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(_torch_libs):
        runner.run(test)
    assert runner.failures == 0
    assert runner.tries >= 2 * 10  # import + call in each of the ten functions' examples
