"""fastinit.diagnose / recommend / check_initializers (docs/api.md §10)."""
import itertools
import math

import numpy as np
import pytest
from _deps import require
from numpy.polynomial.hermite_e import hermegauss

import fastinit
from fastinit import diagnostics as diag
from fastinit.initializers import (
    Constant,
    GlorotUniform,
    HeNormal,
    Ones,
    RandomNormal,
    Zeros,
)


def _gauss_expectation(f, var=1.0, points=121):
    """E[f(z)] for z ~ N(0, var), Gauss-Hermite quadrature."""
    z, w = hermegauss(points)
    return float(np.sum(w * f(math.sqrt(var) * z)) / np.sum(w))


# ---------------------------------------------------------------------------
# the propagation claims


def test_he_keeps_relu_signal_while_random_normal_vanishes_or_explodes():
    # Width 512: a single finite-width ReLU network's log-variance wanders
    # like a random walk of variance ~5*depth/width (Hanin & Rolnick 2018).
    # At width 256 and depth 50 that is ~1, and about half of all seeds leave
    # the factor-2 band somewhere; at 512 (variance ~0.5) it is rare. The
    # batch hardly matters (deep ReLU features become nearly collinear).
    widths = [512] * 51
    he = fastinit.diagnose(HeNormal(), widths=widths, activation="relu", batch=128, seed=0)
    ratio = np.array(he.activation_std) / he.input_std
    assert 0.5 <= ratio.min() and ratio.max() <= 2.0, ratio
    grad = np.array(he.gradient_std) / he.upstream_std
    assert 0.5 <= grad.min() and grad.max() <= 2.0, grad
    assert not he.vanishing and not he.exploding and not he.symmetric

    # Exponential effects need no width: 256 is enough (and cheaper).
    small = fastinit.diagnose(RandomNormal(stddev=0.05), widths=[256] * 51, activation="relu",
                              batch=128, seed=0)
    # Each layer multiplies the std by about 0.05 * sqrt(256 / 2) = 0.57.
    assert small.vanishing and not small.exploding
    assert small.forward_gain < 1e-3 and small.backward_gain < 1e-3

    large = fastinit.diagnose(RandomNormal(stddev=1.0), widths=[256] * 51, activation="relu",
                              batch=128, seed=0)
    # ... and by about sqrt(256 / 2) = 11 here.
    assert large.exploding and not large.vanishing
    assert large.forward_gain > 1e3 and large.backward_gain > 1e3


def _tanh_mean_field(input_var, depth):
    """Std of each layer's tanh output in the infinitely wide network with
    Var(W) = 1/fan_in: q_1 = input_var, q_{l+1} = E[tanh(sqrt(q_l) z)^2]."""
    q, stds = input_var, []
    for _ in range(depth):
        q = _gauss_expectation(lambda t: np.tanh(t) ** 2, q)
        stds.append(math.sqrt(q))
    return np.array(stds)


def test_glorot_keeps_tanh_signal_while_random_normal_vanishes_or_explodes():
    widths = [256] * 51
    glorot = fastinit.diagnose(GlorotUniform(), widths=widths, activation="tanh", batch=512)
    assert not glorot.vanishing and not glorot.exploding and not glorot.dead_units
    # sigma_w^2 = 1/n is tanh's edge of chaos: the std shrinks as a power law
    # (q_l ~ 1/(2l)), not exponentially; it follows mean-field theory closely.
    predicted = _tanh_mean_field(glorot.input_std**2, 50)
    ratio = np.array(glorot.activation_std) / predicted
    assert 0.8 <= ratio.min() and ratio.max() <= 1.25, ratio
    assert glorot.activation_std[-1] > 0.05 * glorot.input_std
    assert 0.05 < glorot.backward_gain < 2.0

    small = fastinit.diagnose(RandomNormal(stddev=0.05), widths=widths, activation="tanh",
                              batch=512)
    assert small.vanishing and not small.exploding
    assert small.forward_gain < 1e-3

    large = fastinit.diagnose(RandomNormal(stddev=1.0), widths=widths, activation="tanh",
                              batch=512)
    # tanh saturates, so the forward std stays near 1; the chaotic network's
    # gradients explode instead.
    assert large.exploding and not large.vanishing
    assert 0.5 < large.forward_gain < 1.5 and large.backward_gain > 1e3


@pytest.mark.parametrize("init", [Zeros(), Ones(), Constant(0.3)], ids=lambda i: type(i).__name__)
def test_constant_initializers_are_symmetric(init):
    r = fastinit.diagnose(init, widths=[16, 12, 12, 8], activation="tanh", batch=32)
    assert r.symmetric
    assert r.symmetric_layers == [0, 1, 2]


def test_zeros_report():
    r = fastinit.diagnose(Zeros(), widths=[16] * 4, activation="relu", batch=32)
    assert r.symmetric and r.vanishing and r.dead_units and not r.exploding
    assert r.activation_std == [0.0] * 3 and r.dead_fraction == [1.0] * 3
    assert r.gradient_std == [0.0] * 3


def test_random_and_identity_weights_are_not_symmetric():
    for init in (HeNormal(seed=1), fastinit.Orthogonal(seed=1), fastinit.Identity()):
        r = fastinit.diagnose(init, widths=[32] * 4, activation="linear", batch=16)
        assert not r.symmetric, init


def test_has_equal_lines():
    w = np.random.default_rng(0).standard_normal((7, 5))
    assert not diag._has_equal_lines(w)
    rows = w.copy()
    rows[5] = rows[1]
    assert diag._has_equal_lines(rows)
    cols = w.copy()
    cols[:, 4] = cols[:, 0]
    assert diag._has_equal_lines(cols)
    signed = w.copy()
    signed[2], signed[3] = 0.0, -0.0  # equal numbers, different bits
    assert diag._has_equal_lines(signed)
    assert not diag._has_equal_lines(np.eye(4))
    assert not diag._has_equal_lines(w[:1])  # a single row, distinct columns


def test_dead_relu_units_are_counted():
    r = fastinit.diagnose(fastinit.Identity(), widths=[4, 4, 4], activation="relu", batch=64)
    assert not r.dead_units  # relu(x_j) > 0 for some row, for every unit j
    # eye(4, 8): units 4..7 of the first layer have all-zero weights.
    r = fastinit.diagnose(fastinit.Identity(), widths=[4, 8, 8], activation="relu", batch=64)
    assert r.dead_units and r.dead_fraction == [0.5, 0.5]
    # A unit that is negative for every input row is dead, and stays dead.
    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
    x = np.abs(np.random.default_rng(0).standard_normal((64, 4)))
    outputs = [h for h, _ in diag._forward([flip, np.eye(4)], x, "relu")]
    assert [np.all(h == 0.0, axis=0).tolist() for h in outputs] == [[True, False, False, False]] * 2


def test_overflow_reads_as_exploding():
    # Each layer multiplies by 100 * 64: float64 overflows after ~80 layers.
    with np.errstate(all="raise"):
        r = fastinit.diagnose(Constant(100.0), widths=[64] * 101, activation="relu", batch=4)
    assert math.isinf(r.activation_std[-1])
    assert r.exploding and r.symmetric and not r.vanishing
    assert "exploding" in str(r)


# ---------------------------------------------------------------------------
# the forward and backward passes


@pytest.mark.parametrize("activation", diag.ACTIVATIONS)
def test_gradients_match_finite_differences(activation):
    rng = np.random.default_rng(42)
    widths = [3, 5, 4, 2]
    weights = [rng.standard_normal((a, b)) / math.sqrt(a) for a, b in itertools.pairwise(widths)]
    x = rng.standard_normal((3, widths[0]))
    upstream = rng.standard_normal((3, widths[-1]))
    # A step of eps moves each z by at most ~1e-5 here: no z may be that close
    # to ReLU's kink, where finite differences mean nothing.
    h = x
    for w in weights:
        z = h @ w
        assert np.min(np.abs(z)) > 1e-4
        h = diag._ACTIVATION_FNS[activation](z)[0]

    grad_x, grad_w = diag._gradients(weights, x, upstream, activation)
    eps = 1e-6

    def numeric(array):
        out = np.empty_like(array)
        for idx in np.ndindex(array.shape):
            saved = array[idx]
            array[idx] = saved + eps
            up = diag._loss(weights, x, upstream, activation)
            array[idx] = saved - eps
            down = diag._loss(weights, x, upstream, activation)
            array[idx] = saved
            out[idx] = (up - down) / (2 * eps)
        return out

    np.testing.assert_allclose(grad_x, numeric(x), rtol=1e-6, atol=1e-8)
    for analytic, w in zip(grad_w, weights):
        np.testing.assert_allclose(analytic, numeric(w), rtol=1e-6, atol=1e-8)


def test_activations_match_torch():
    torch = require("torch")
    z = np.linspace(-12.0, 12.0, 4001)
    t = torch.from_numpy(z)
    F = torch.nn.functional
    expected = {
        "linear": t,
        "relu": F.relu(t),
        "leaky_relu": F.leaky_relu(t, 0.01),
        "tanh": torch.tanh(t),
        "sigmoid": torch.sigmoid(t),
        "selu": F.selu(t),
        "gelu": F.gelu(t, approximate="none"),
    }
    assert set(expected) == set(diag.ACTIVATIONS)
    for name, value in expected.items():
        np.testing.assert_allclose(diag._ACTIVATION_FNS[name](z)[0], value.numpy(),
                                   rtol=1e-13, atol=1e-15, err_msg=name)


def test_normal_cdf_without_scipy_matches_scipy():
    special = require("scipy.special")
    x = np.linspace(-37, 10, 4701)  # down to ~1e-300, above the subnormals
    np.testing.assert_allclose(diag._ndtr_erfc(x), special.ndtr(x), rtol=1e-13, atol=0)


# ---------------------------------------------------------------------------
# the report


def test_report_is_reproducible_and_uses_init_params_streams():
    init = HeNormal(seed=123, stream=9)  # diagnose overrides both
    widths = [12, 10, 8]
    r1 = fastinit.diagnose(init, widths=widths, activation="gelu", batch=20, seed=5)
    r2 = fastinit.diagnose("he_normal", widths=widths, activation="gelu", batch=20, seed=5)
    assert r1 == r2
    assert r1 != fastinit.diagnose(init, widths=widths, activation="gelu", batch=20, seed=6)

    spec = {f"layer{i}": {"shape": [a, b], "init": init, "dtype": "float64"}
            for i, (a, b) in enumerate(itertools.pairwise(widths))}
    params, _ = fastinit.init_params(spec, seed=5)
    weights = [params[f"layer{i}"] for i in range(len(widths) - 1)]
    x = fastinit.fill_normal(np.empty((20, 12)), seed=5,
                             stream=fastinit.stream_id("diagnose/inputs"))
    stds = [diag._std(h) for h, _ in diag._forward(weights, x, "gelu")]
    assert stds == r1.activation_std


def test_report_fields_and_text():
    r = fastinit.diagnose(GlorotUniform(), widths=[8, 6, 4], activation="sigmoid", batch=10)
    assert r.depth == 2 and r.widths == (8, 6, 4) and r.batch == 10 and r.seed == 0
    assert len(r.activation_std) == len(r.gradient_std) == len(r.dead_fraction) == 2
    assert r.forward_gain == r.activation_std[-1] / r.input_std
    assert r.backward_gain == r.gradient_std[0] / r.upstream_std
    text = str(r)
    assert text.startswith("PropagationReport: GlorotUniform, sigmoid, widths 8-6-4 (2 layers)")
    assert "flags: none" in text

    deep = fastinit.diagnose(Zeros(), widths=[4] * 31, batch=3)
    lines = str(deep).splitlines()
    assert any(line.strip() == "..." for line in lines) and len(lines) < 30
    assert "flags: vanishing, dead_units, symmetric" in str(deep)
    assert "symmetric weights in layers 1, 2, 3, ..., 30" in str(deep)


def test_seed_none_is_recorded():
    r = fastinit.diagnose(HeNormal(), widths=[4, 4], batch=2, seed=None)
    assert isinstance(r.seed, int)
    assert r == fastinit.diagnose(HeNormal(), widths=[4, 4], batch=2, seed=r.seed)


def test_validation():
    with pytest.raises(ValueError, match="linear, relu, leaky_relu, tanh, sigmoid, selu, gelu"):
        fastinit.diagnose(HeNormal(), widths=[4, 4], activation="swish")
    with pytest.raises(ValueError, match="at least one layer"):
        fastinit.diagnose(HeNormal(), widths=[4])
    with pytest.raises(ValueError, match="width"):
        fastinit.diagnose(HeNormal(), widths=[4, 0])
    with pytest.raises(TypeError, match="width"):
        fastinit.diagnose(HeNormal(), widths=[4, True])
    with pytest.raises(TypeError, match="widths"):
        fastinit.diagnose(HeNormal(), widths=4)
    with pytest.raises(ValueError, match="batch"):
        fastinit.diagnose(HeNormal(), widths=[4, 4], batch=0)
    with pytest.raises(ValueError, match="Unknown initializer"):
        fastinit.diagnose("he_normall", widths=[4, 4])


# ---------------------------------------------------------------------------
# recommend


def test_recommend_initializers_and_torch_gains():
    expected = {
        "linear": (fastinit.GlorotUniform, 1.0),
        "tanh": (fastinit.GlorotUniform, 5.0 / 3.0),
        "sigmoid": (fastinit.GlorotUniform, 1.0),
        "relu": (fastinit.HeNormal, math.sqrt(2.0)),
        "leaky_relu": (fastinit.VarianceScaling, math.sqrt(2.0 / (1 + 0.01**2))),
        "selu": (fastinit.LecunNormal, 0.75),
    }
    for activation, (cls, gain) in expected.items():
        init, torch_gain = fastinit.recommend(activation)
        assert type(init) is cls and torch_gain == pytest.approx(gain, rel=1e-15), activation
    init, _ = fastinit.recommend("leaky_relu")
    assert (init.scale, init.mode) == (pytest.approx(2.0 / 1.0001), "fan_in")


def test_recommend_gains_are_torchs():
    torch = require("torch")
    for activation in ("linear", "tanh", "sigmoid", "relu", "leaky_relu", "selu"):
        assert fastinit.recommend(activation)[1] == pytest.approx(
            torch.nn.init.calculate_gain(activation), rel=1e-12), activation


def test_recommend_gelu_keeps_unit_variance():
    init, gain = fastinit.recommend("gelu")
    second_moment = _gauss_expectation(lambda z: (z * diag._ndtr(z)) ** 2)
    assert init.scale * second_moment == pytest.approx(1.0, rel=1e-10)
    assert gain == pytest.approx(math.sqrt(init.scale), rel=1e-15)
    assert init.mode == "fan_in"


@pytest.mark.parametrize("activation", diag.ACTIVATIONS)
def test_recommended_initializer_keeps_the_forward_signal(activation):
    init, _ = fastinit.recommend(activation)
    r = fastinit.diagnose(init, widths=[256] * 11, activation=activation, batch=256)
    assert not r.exploding
    deep = np.array(r.activation_std) / r.activation_std[0]
    assert 0.25 <= deep.min() and deep.max() <= 4.0, deep
    if activation == "sigmoid":
        # sigmoid' <= 1/4: no variance scaling keeps its gradients (documented).
        assert r.backward_gain < 1e-3 and r.vanishing
    else:
        assert not r.vanishing


def test_recommend_rejects_unknown_activation():
    with pytest.raises(ValueError, match="accepted: linear, relu, leaky_relu, tanh, sigmoid, "
                                         "selu, gelu"):
        fastinit.recommend("softplus")


# ---------------------------------------------------------------------------
# check_initializers


@pytest.fixture(scope="module")
def results():
    return diag.check_initializers(seed=0)


def test_every_initializer_is_checked_and_passes(results):
    names = {r.label.split("(")[0] for r in results}
    assert names == set(fastinit.initializers.__all__) - {
        "Initializer", "Prepared", "get", "serialize", "deserialize", "register_keras"}
    failed = [(r.label, r.problems) for r in results if not r.passed]
    assert not failed


def _glorot_case(expected, label="GlorotUniform"):
    return diag._Case(label, GlorotUniform(seed=0), (512, 256), expected)


def test_check_detects_a_wrong_formula():
    right = math.sqrt(6.0 / 768)
    ok, = diag.check_initializers(cases=[_glorot_case(diag._Uniform(-right, right))])
    assert ok.passed
    # fan_in in place of fan_avg: 8% off in std -- every test sees it.
    wrong = math.sqrt(6.0 / 512)
    bad, = diag.check_initializers(cases=[_glorot_case(diag._Uniform(-wrong, wrong))])
    assert not bad.passed
    text = " ".join(bad.problems)
    assert "std" in text and "KS test" in text and "no values within" in text
    # a normal where a uniform is: the KS test fails though the std matches.
    shape, = diag.check_initializers(cases=[_glorot_case(diag._Normal(0.0, right / math.sqrt(3)))])
    assert [p.split(":")[0] for p in shape.problems] == ["KS test"]
    # values beyond the limits
    narrow = 0.9 * right
    out, = diag.check_initializers(cases=[_glorot_case(diag._Uniform(-narrow, narrow))])
    assert any("outside the limits" in p for p in out.problems)


def test_check_detects_wrong_exact_values():
    bad, = diag.check_initializers(cases=[diag._Case("Ones", Ones(), (4, 4), np.eye(4))])
    assert not bad.passed and "max |value - formula|" in bad.problems[0]


def test_ks_test_matches_scipy():
    stats = require("scipy.stats")
    special = require("scipy.special")
    for lam in (0.05, 0.3, 0.7, 0.99, 1.0, 1.3, 2.0, 4.0):
        assert diag._kolmogorov_sf(lam) == pytest.approx(special.kolmogorov(lam),
                                                         rel=1e-10, abs=1e-300)
    samples = fastinit.fill_normal(np.empty(20000), seed=3)
    dist = diag._Normal(0.02, 1.0)
    d, p = diag._ks_test(samples, dist.cdf)
    ref = stats.kstest(samples, "norm", args=(0.02, 1.0), method="asymp")
    assert d == pytest.approx(ref.statistic, rel=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-8)


def test_truncated_normal_moments():
    stats = require("scipy.stats")
    for a, b in ((-2.0, 2.0), (-1.0, 3.0), (0.5, 4.0)):
        dist = diag._TruncatedNormal(0.3, 2.0, a, b)
        ref = stats.truncnorm(a, b, loc=0.3, scale=2.0)
        assert dist.mean == pytest.approx(ref.mean(), rel=1e-12)
        assert dist.std == pytest.approx(ref.std(), rel=1e-12)
        assert dist.kurtosis == pytest.approx(ref.stats(moments="k") + 3.0, rel=1e-10)
        x = np.linspace(dist.lo, dist.hi, 11)
        np.testing.assert_allclose(dist.cdf(x), ref.cdf(x), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dist.pdf(x[1:-1]), ref.pdf(x[1:-1]), rtol=1e-12)
    # the constant Keras divides by
    assert diag._TruncatedNormal(0.0, 1.0).std == pytest.approx(0.87962566103423978, rel=1e-15)
