"""Keras-compatible initializers (docs/api.md §4): formulas, streams, regions, configs, errors."""

import json
import math
import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
from _deps import require

import fastinit
import fastinit.initializers as fi
from fastinit import fill_normal, fill_truncated_normal, fill_uniform, stream_id

scipy_stats = require("scipy.stats")

TRUNC_CORRECTION = 0.87962566103423978
BF16 = np.dtype(ml_dtypes.bfloat16)

# ~1e5 samples each; Keras layouts (..., in, out).
SHAPES = {
    "dense": (320, 384),
    "conv1d": (5, 160, 160),
    "conv2d": (3, 3, 96, 128),
    "conv3d": (3, 3, 3, 64, 72),
}


def fans(shape):
    """Keras fans, restated independently of fastinit.compute_fans."""
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def variance(scale, mode, shape):
    fan_in, fan_out = fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    return scale / max(1.0, n)


def vs_expected(scale, mode, distribution):
    """(scipy distribution, std of the samples, support bound) for a shape."""

    def expected(shape):
        var = variance(scale, mode, shape)
        if distribution == "uniform":
            limit = math.sqrt(3 * var)
            return scipy_stats.uniform(-limit, 2 * limit), math.sqrt(var), limit
        if distribution == "untruncated_normal":
            return scipy_stats.norm(0, math.sqrt(var)), math.sqrt(var), None
        s = math.sqrt(var) / TRUNC_CORRECTION
        return scipy_stats.truncnorm(-2, 2, scale=s), math.sqrt(var), 2 * s

    return expected


def fixed(dist, bound=None):
    return lambda shape: (dist, float(dist.std()), bound)


# name -> (factory(seed), expected(shape) -> (dist, std, bound))
CASES = {
    "RandomUniform": (
        lambda s: fi.RandomUniform(-0.3, 0.7, seed=s),
        fixed(scipy_stats.uniform(-0.3, 1.0)),
    ),
    "RandomNormal": (
        lambda s: fi.RandomNormal(0.2, 0.3, seed=s),
        fixed(scipy_stats.norm(0.2, 0.3)),
    ),
    "TruncatedNormal": (
        lambda s: fi.TruncatedNormal(0.1, 0.2, seed=s),
        fixed(scipy_stats.truncnorm(-2, 2, loc=0.1, scale=0.2)),
    ),
    "GlorotUniform": (lambda s: fi.GlorotUniform(seed=s), vs_expected(1.0, "fan_avg", "uniform")),
    "GlorotNormal": (
        lambda s: fi.GlorotNormal(seed=s),
        vs_expected(1.0, "fan_avg", "truncated_normal"),
    ),
    "HeUniform": (lambda s: fi.HeUniform(seed=s), vs_expected(2.0, "fan_in", "uniform")),
    "HeNormal": (lambda s: fi.HeNormal(seed=s), vs_expected(2.0, "fan_in", "truncated_normal")),
    "LecunUniform": (lambda s: fi.LecunUniform(seed=s), vs_expected(1.0, "fan_in", "uniform")),
    "LecunNormal": (
        lambda s: fi.LecunNormal(seed=s),
        vs_expected(1.0, "fan_in", "truncated_normal"),
    ),
    "VS-fan_out-untruncated": (
        lambda s: fi.VarianceScaling(0.5, "fan_out", "untruncated_normal", seed=s),
        vs_expected(0.5, "fan_out", "untruncated_normal"),
    ),
    "VS-fan_avg-normal": (
        lambda s: fi.VarianceScaling(1.5, "fan_avg", "normal", seed=s),
        vs_expected(1.5, "fan_avg", "truncated_normal"),
    ),
    "VS-fan_in-uniform": (
        lambda s: fi.VarianceScaling(3.0, "fan_in", "uniform", seed=s),
        vs_expected(3.0, "fan_in", "uniform"),
    ),
}


@pytest.mark.parametrize("layer", list(SHAPES))
@pytest.mark.parametrize("name", list(CASES))
def test_distribution_matches_keras_formula(name, layer):
    shape = SHAPES[layer]
    factory, expected = CASES[name]
    seed = 1000 + sorted(CASES).index(name) * 10 + sorted(SHAPES).index(layer)
    w = factory(seed)(shape)
    assert w.shape == shape and w.dtype == np.float32
    dist, std, bound = expected(shape)
    x = w.ravel().astype(np.float64)
    assert abs(x.std() / std - 1) < 0.015
    if bound is not None:
        lo, hi = dist.support()
        assert x.min() >= np.float32(lo) and x.max() <= np.float32(hi)
        # the samples reach close to the bound: the bound is the formula's, not looser
        assert x.max() > hi - 0.01 * (hi - lo) and x.min() < lo + 0.01 * (hi - lo)
    assert scipy_stats.kstest(x, dist.cdf).pvalue > 1e-4


def test_ks_rejects_a_scale_off_by_three_percent():
    # The KS checks above have the power to see a slightly wrong formula.
    shape = SHAPES["conv2d"]
    fan_in, fan_out = fans(shape)
    wrong = 1.03
    cases = [
        (
            fi.HeNormal(seed=5),
            scipy_stats.truncnorm(-2, 2, scale=wrong * math.sqrt(2 / fan_in) / TRUNC_CORRECTION),
        ),
        (
            fi.GlorotUniform(seed=5),
            scipy_stats.uniform(
                -wrong * math.sqrt(6 / (fan_in + fan_out)),
                2 * wrong * math.sqrt(6 / (fan_in + fan_out)),
            ),
        ),
        (
            fi.VarianceScaling(0.5, "fan_out", "untruncated_normal", seed=5),
            scipy_stats.norm(0, wrong * math.sqrt(0.5 / fan_out)),
        ),
    ]
    for init, wrong_dist in cases:
        x = init(shape).ravel().astype(np.float64)
        assert scipy_stats.kstest(x, wrong_dist.cdf).pvalue < 1e-6


def test_stream_contract_exact():
    """An initializer with seed s and stream k fills with seed=s, stream=k."""
    shape = (3, 3, 16, 24)
    s, k = 12345, 77
    fan_in, fan_out = fans(shape)
    lim = math.sqrt(6.0 / (fan_in + fan_out))
    ref = fill_uniform(np.empty(shape, np.float32), -lim, lim, seed=s, stream=k)
    np.testing.assert_array_equal(fi.GlorotUniform(seed=s, stream=k)(shape), ref)

    std = math.sqrt(2.0 / fan_in) / TRUNC_CORRECTION
    ref = fill_truncated_normal(np.empty(shape, np.float64), 0.0, std, -2.0, 2.0, seed=s, stream=k)
    np.testing.assert_array_equal(fi.HeNormal(seed=s, stream=k)(shape, "float64"), ref)

    ref = fill_normal(np.empty(shape, np.float32), 0.5, 0.25, seed=s, stream=k)
    np.testing.assert_array_equal(fi.RandomNormal(0.5, 0.25, seed=s, stream=k)(shape), ref)

    ref = fill_truncated_normal(np.empty(shape, np.float32), 0.0, 0.05, -2, 2, seed=s, stream=k)
    np.testing.assert_array_equal(fi.TruncatedNormal(seed=s, stream=k)(shape), ref)

    std = math.sqrt(1.0 / ((fan_in + fan_out) / 2))
    ref = fill_normal(np.empty(shape, np.float32), 0.0, std, seed=s, stream=k)
    got = fi.VarianceScaling(1.0, "fan_avg", "untruncated_normal", seed=s, stream=k)(shape)
    np.testing.assert_array_equal(got, ref)


def test_stream_by_name():
    a = fi.HeUniform(seed=1, stream="encoder.kernel")
    assert a.stream == stream_id("encoder.kernel")
    np.testing.assert_array_equal(a((8, 8)), fi.HeUniform(seed=1, stream=a.stream)((8, 8)))


ALL_FACTORIES = {
    "Zeros": lambda: fi.Zeros(),
    "Ones": lambda: fi.Ones(),
    "Constant": lambda: fi.Constant(-1.25),
    "RandomUniform": lambda: fi.RandomUniform(seed=1),
    "RandomNormal": lambda: fi.RandomNormal(seed=2),
    "TruncatedNormal": lambda: fi.TruncatedNormal(seed=3),
    "VarianceScaling": lambda: fi.VarianceScaling(2.0, "fan_avg", "uniform", seed=4),
    "GlorotUniform": lambda: fi.GlorotUniform(seed=5),
    "GlorotNormal": lambda: fi.GlorotNormal(seed=6),
    "HeUniform": lambda: fi.HeUniform(seed=7),
    "HeNormal": lambda: fi.HeNormal(seed=8),
    "LecunUniform": lambda: fi.LecunUniform(seed=9),
    "LecunNormal": lambda: fi.LecunNormal(seed=10),
    "Orthogonal": lambda: fi.Orthogonal(gain=1.5, seed=11),
    "Identity": lambda: fi.Identity(gain=0.5),
    "STFT": lambda: fi.STFT(),
}


def shapes_for(name):
    if name == "Identity":
        return [(6, 9), (9, 6), (1, 1)]
    if name == "STFT":
        return [(8, 1, 5), (16, 2, 9)]
    shapes = [(5, 7), (4, 5, 6), (2, 3, 4, 5), (3, 1, 4, 2, 3)]
    if name != "Orthogonal":
        shapes = [(11,)] + shapes
    return shapes


def random_region(rng, shape):
    region = []
    for n in shape:
        start = int(rng.integers(0, n + 1))
        stop = (
            int(rng.integers(start, n + 1)) if rng.random() < 0.9 else int(rng.integers(0, n + 1))
        )
        r = rng.random()
        if r < 0.2 and start == 0:
            start = None
        elif r < 0.5 and start < n:
            start -= n  # negative index
        r = rng.random()
        if r < 0.2 and stop == n:
            stop = None
        elif r < 0.5 and 0 < stop < n:
            stop -= n
        region.append(slice(start, stop, 1 if rng.random() < 0.1 else None))
    keep = len(region) if rng.random() < 0.7 else int(rng.integers(0, len(region) + 1))
    return tuple(region[:keep])


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", list(ALL_FACTORIES))
def test_region_equals_slice_of_full(name):
    rng = np.random.default_rng(sorted(ALL_FACTORIES).index(name))
    init = ALL_FACTORIES[name]()
    for shape in shapes_for(name):
        for dtype in ("float32", "float64", "bfloat16", "float16"):
            full = init(shape, dtype)
            for _ in range(8):
                region = random_region(rng, shape)
                got = init(shape, dtype, region=region)
                assert same_bits(got, full[region]), (shape, dtype, region)
                out = np.full(full[region].shape, 7, full.dtype)
                assert init(shape, dtype, out=out, region=region) is out
                assert same_bits(out, full[region])


def test_region_single_slice_and_full_axes():
    init = fi.HeNormal(seed=3)
    full = init((6, 4, 5))
    assert same_bits(init((6, 4, 5), region=slice(2, -1)), full[2:-1])
    assert same_bits(init((6, 4, 5), region=()), full)
    assert same_bits(init((6, 4, 5), region=[slice(None), slice(1, 3)]), full[:, 1:3])
    assert same_bits(init((6, 4, 5), region=(slice(4, 2),)), full[4:2])  # empty
    assert init((), region=()).shape == ()


class _CountingFill:
    """Wraps the prepared fill of a random initializer, recording each run's size."""

    def __init__(self, fn):
        self.fn, self.sizes = fn, []

    def __call__(self, out, offset):
        self.sizes.append(out.size)
        return self.fn(out, offset)


@pytest.mark.parametrize(
    "region, runs",
    [
        ((slice(2, 5),), 1),  # whole trailing axes: one run
        ((slice(1, 2), slice(3, 5)), 1),
        ((slice(None), slice(None), slice(None), slice(1, 4)), 6 * 5 * 4),
        ((slice(1, 3), slice(0, 5), slice(2, 3)), 2 * 5),
        ((slice(1, 3), slice(1, 3), slice(None), slice(None)), 2),
        ((slice(0, 6), slice(0, 5)), 1),
        ((slice(3, 3),), 0),
    ],
)
def test_region_one_fill_per_maximal_run(monkeypatch, region, runs):
    counters = []
    sampler = fi.GlorotUniform._sampler

    def counting(self, shape, dtype):
        counters.append(_CountingFill(sampler(self, shape, dtype)))
        return counters[-1]

    monkeypatch.setattr(fi.GlorotUniform, "_sampler", counting)
    shape = (6, 5, 4, 7)
    init = fi.GlorotUniform(seed=2)
    got = init(shape, region=region)
    (counter,) = counters  # one prepared fill per call
    assert len(counter.sizes) == runs
    assert all(counter.sizes)  # no empty call (the parameters were checked once, before)
    assert sum(counter.sizes) == got.size  # nothing outside the region is computed
    monkeypatch.undo()
    assert same_bits(got, init(shape)[region])


@pytest.mark.parametrize(
    "region, exc",
    [
        ((slice(0, 7),), ValueError),
        ((slice(-7, None),), ValueError),
        ((slice(None), slice(6, None)), ValueError),
        ((slice(0, 4, 2),), ValueError),
        ((slice(None, None, -1),), ValueError),
        ((slice(0, 1), slice(0, 1), slice(0, 1)), ValueError),
        ((1, slice(None)), TypeError),
        ((slice(0.0, 2),), TypeError),
        ("a", TypeError),
    ],
)
def test_region_errors(region, exc):
    init = fi.RandomNormal(seed=1)
    with pytest.raises(exc):
        init((6, 5), region=region)


def test_region_bounds_exact_edges():
    init = fi.RandomUniform(seed=1)
    full = init((6, 5))
    assert same_bits(init((6, 5), region=(slice(-6, 6), slice(5, 5))), full[-6:6, 5:5])
    assert same_bits(init((6, 5), region=(slice(6, None),)), full[6:])


@pytest.mark.parametrize(
    "dtype",
    [
        "float16",
        np.float16,
        "bfloat16",
        ml_dtypes.bfloat16,
        BF16,
        "float32",
        np.float32,
        np.dtype("float64"),
        "float64",
    ],
)
def test_dtypes(dtype):
    init = fi.LecunNormal(seed=21)
    w = init((40, 30), dtype)
    expected = np.dtype(
        BF16 if str(dtype).endswith("bfloat16") or dtype is ml_dtypes.bfloat16 else dtype
    )
    assert w.dtype == expected
    if w.dtype.itemsize == 2:
        # low precision: the float32 values rounded once (docs/api.md §2)
        assert same_bits(w, init((40, 30), "float32").astype(w.dtype))


def test_default_dtype_and_out_dtype():
    init = fi.HeUniform(seed=1)
    assert init((3, 4)).dtype == np.float32
    out = np.empty((3, 4), np.float64)
    assert init((3, 4), out=out) is out
    assert same_bits(out, init((3, 4), "float64"))
    out16 = np.empty((3, 4), BF16)
    assert same_bits(init((3, 4), out=out16), init((3, 4), "bfloat16"))


@pytest.mark.parametrize("dtype", ["int32", "uint8", "complex64", "float128", "bool", "nope"])
def test_random_rejects_other_dtypes(dtype):
    with pytest.raises(TypeError, match="float16, bfloat16, float32, float64"):
        fi.GlorotUniform(seed=1)((2, 2), dtype)


def test_constants_accept_integer_dtypes():
    assert fi.Zeros()((2, 3), "int32").dtype == np.int32
    np.testing.assert_array_equal(fi.Ones()((2,), "int8"), np.ones(2, np.int8))
    np.testing.assert_array_equal(fi.Constant(3)((2, 2), "int64"), np.full((2, 2), 3))
    np.testing.assert_array_equal(fi.Identity()((2, 2), bool), np.eye(2, dtype=bool))


def test_out_non_contiguous():
    init = fi.GlorotNormal(seed=4)
    full = init((8, 6))
    out = np.zeros((8, 6), np.float32, order="F")
    init((8, 6), out=out)
    assert same_bits(np.ascontiguousarray(out), full)
    big = np.zeros((16, 12), np.float32)
    view = big[::2, ::2]
    init((8, 6), out=view)
    assert same_bits(np.ascontiguousarray(view), full)
    assert not big[1::2].any()  # nothing written outside the view
    # a region into a strided view
    view2 = big[::2, 1::2][:3, :4]
    init((8, 6), out=view2, region=(slice(2, 5), slice(1, 5)))
    assert same_bits(np.ascontiguousarray(view2), full[2:5, 1:5])


def test_out_errors_leave_out_untouched():
    init = fi.GlorotUniform(seed=1)
    out = np.full((3, 4), 9.0, np.float32)
    with pytest.raises(ValueError, match="shape"):
        init((4, 3), out=out)
    with pytest.raises(TypeError, match="dtype"):
        init((3, 4), "float64", out=out)
    with pytest.raises(TypeError):
        init((3, 4), out=[[0.0] * 4] * 3)
    with pytest.raises(ValueError, match="shape"):
        init((3, 4), out=out, region=(slice(0, 2),))
    with pytest.raises(ValueError):
        init((3, 4), out=out, region=(slice(0, 9),))
    ro = np.zeros((3, 4), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        init((3, 4), out=ro)
    # parameters not finite in float16: validated before writing
    out16 = np.full((3, 4), 9.0, np.float16)
    with pytest.raises(ValueError):
        fi.RandomUniform(-1e6, 1e6, seed=1)((3, 4), out=out16)
    assert (out16 == 9).all()
    with pytest.raises(ValueError):
        fi.Constant(1e6)((3, 4), out=out16)
    assert (out16 == 9).all()
    with pytest.raises(ValueError):
        fi.Identity(1e300)((3, 4), "bfloat16")
    with pytest.raises(ValueError):
        fi.Orthogonal(seed=1)((12,), out=np.zeros(12, np.float32))
    with pytest.raises(ValueError):
        fi.Identity()((3, 4, 1), out=np.full((3, 4, 1), 9.0, np.float32))
    assert (out == 9).all()
    swapped = np.full((3, 4), 9.0, np.dtype(">f4"))
    with pytest.raises(ValueError, match="byte order"):
        init((3, 4), out=swapped)
    with pytest.raises(ValueError, match="byte order"):
        init((3, 4), "float32", out=swapped)
    assert (swapped == 9).all()
    with pytest.raises(TypeError, match="dtype"):  # a wrong dtype stays a TypeError
        init((3, 4), out=np.zeros((3, 4), np.dtype(">c8")))


@pytest.mark.parametrize(
    "shape, exc",
    [((2.0, 3), TypeError), ((2, -1), ValueError), ((True, 3), TypeError), (3, TypeError)],
)
def test_shape_errors(shape, exc):
    for init in (fi.Zeros(), fi.HeNormal(seed=1), fi.Orthogonal(seed=1)):
        with pytest.raises(exc):
            init(shape)


def test_numpy_int_shapes():
    init = fi.GlorotUniform(seed=3)
    assert same_bits(init((np.int64(4), np.uint8(5))), init((4, 5)))


def test_same_values_every_call_and_seed_semantics():
    a = fi.GlorotNormal()  # seed drawn once at construction, kept by the instance
    assert isinstance(a.seed, int) and a.get_config()["seed"] is None  # config: as given
    assert same_bits(a((20, 30)), a((20, 30)))
    b = fi.GlorotNormal()
    assert not np.array_equal(a((20, 30)), b((20, 30)))
    # rebuilt from the config (as Keras layers clone): a seed of its own
    clone = fi.GlorotNormal.from_config(a.get_config())
    assert not np.array_equal(clone((20, 30)), a((20, 30)))
    # clone() and regions keep the drawn seed
    assert same_bits(a.clone()((20, 30)), a((20, 30)))
    assert same_bits(a((20, 30), region=(slice(3, 9),)), a((20, 30))[3:9])
    # an explicit seed is stored and repeats
    s = fi.GlorotNormal(seed=12)
    assert s.get_config()["seed"] == 12
    assert same_bits(fi.GlorotNormal.from_config(s.get_config())((20, 30)), s((20, 30)))
    # Generator / SeedSequence seeds are resolved once, at construction
    g1 = fi.HeNormal(seed=np.random.default_rng(5))
    g2 = fi.HeNormal(seed=np.random.default_rng(5))
    assert g1.seed == g2.seed and same_bits(g1((9, 9)), g2((9, 9)))
    ss = np.random.SeedSequence(8)
    assert fi.HeNormal(seed=ss).seed == int(
        np.random.SeedSequence(8).generate_state(1, np.uint64)[0]
    )
    # different seeds and streams differ
    assert not np.array_equal(fi.HeNormal(seed=1)((9, 9)), fi.HeNormal(seed=2)((9, 9)))
    assert not np.array_equal(fi.HeNormal(seed=1)((9, 9)), fi.HeNormal(seed=1, stream=1)((9, 9)))


@pytest.mark.parametrize(
    "seed, exc",
    [
        (-1, ValueError),
        (2**64, ValueError),
        (1.5, TypeError),
        (True, TypeError),
        ("1", TypeError),
        ({"x": 1}, TypeError),
    ],
)
def test_seed_errors(seed, exc):
    with pytest.raises(exc):
        fi.GlorotUniform(seed=seed)


@pytest.mark.parametrize("stream, exc", [(-1, ValueError), (2**64, ValueError), (1.0, TypeError)])
def test_stream_errors(stream, exc):
    with pytest.raises(exc):
        fi.RandomNormal(stream=stream)


def test_parameter_errors():
    for scale in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="scale"):
            fi.VarianceScaling(scale=scale)
    with pytest.raises(ValueError) as info:
        fi.VarianceScaling(mode="fan_sum")
    assert "'fan_avg', 'fan_in', 'fan_out'" in str(info.value)
    with pytest.raises(ValueError) as info:
        fi.VarianceScaling(distribution="gaussian")
    assert "'normal', 'truncated_normal', 'uniform', 'untruncated_normal'" in str(info.value)
    with pytest.raises(ValueError):
        fi.RandomUniform(1.0, -1.0)
    with pytest.raises(ValueError):
        fi.RandomNormal(stddev=-0.1)
    with pytest.raises(ValueError):
        fi.TruncatedNormal(stddev=-0.1)
    with pytest.raises(TypeError):
        fi.Constant("1.0")
    with pytest.raises(ValueError, match="broadcast"):
        fi.Constant([1.0, 2.0])((3, 3))  # arrays broadcast, as in Keras 3.15
    with pytest.raises(ValueError, match="2D"):
        fi.Identity()((3, 3, 3))
    with pytest.raises(ValueError, match="two-dimensional"):
        fi.Orthogonal()((5,))
    with pytest.raises(ValueError):
        fi.STFT(side="both")
    with pytest.raises(ValueError):
        fi.STFT(scaling="l2")


def test_distribution_names_as_keras():
    assert fi.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    assert fi.VarianceScaling(distribution="Uniform").distribution == "uniform"
    a = fi.VarianceScaling(distribution="normal", seed=3)((30, 40))
    b = fi.VarianceScaling(distribution="truncated_normal", seed=3)((30, 40))
    assert same_bits(a, b)


def test_max_one_fan():
    # fans below 1 count as 1 (Keras' max(1, fan))
    w = fi.VarianceScaling(1.0, "fan_in", "uniform", seed=1)((0, 5))
    assert w.shape == (0, 5)
    w = fi.VarianceScaling(1.0, "fan_in", "uniform", seed=1)((1, 1, 1, 10**5))  # fan_in = 1
    assert w.max() <= np.float32(math.sqrt(3)) and w.max() > 0.99 * math.sqrt(3)
    w = fi.HeUniform(seed=1)(())  # rank 0: fans (1, 1)
    assert abs(float(w)) <= math.sqrt(6)


def test_input_output_axes():
    shape = (4, 8, 16, 3)
    init = fi.VarianceScaling(
        1.0, "fan_in", "uniform", seed=2, input_axes=[0, 1], output_axes=[2, 3]
    )
    w = init(shape)
    limit = math.sqrt(3.0 / 32)
    assert w.max() <= np.float32(limit) and w.max() > 0.99 * limit
    ref = fi.VarianceScaling(1.0, "fan_in", "uniform", seed=2)((32, 48))
    assert same_bits(w.reshape(32, 48), ref)  # same flat stream, same limit
    g = fi.GlorotUniform(seed=1, input_axes=(0,), output_axes=(1, 2, 3))
    assert g.get_config()["input_axes"] == [0] and g.get_config()["output_axes"] == [1, 2, 3]


@pytest.mark.parametrize(
    "shape", [(64, 32), (16, 48), (32, 32), (3, 3, 8, 16), (1, 1, 4, 32), (2, 5, 7)]
)
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal(shape, gain):
    init = fi.Orthogonal(gain=gain, seed=3)
    q = init(shape, "float64")
    m = q.reshape(-1, shape[-1])
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-12)
    # float32 is the float64 result rounded once
    assert same_bits(init(shape), q.astype(np.float32))


def test_orthogonal_is_qr_of_the_stream_with_sign_fix():
    shape = (3, 3, 4, 10)  # 36 x 10
    a = fill_normal(np.empty((36, 10)), 0.0, 1.0, seed=9, stream=4)
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    got = fi.Orthogonal(gain=2.0, seed=9, stream=4)(shape, "float64")
    np.testing.assert_allclose(got, 2.0 * q.reshape(shape), rtol=0, atol=1e-13)
    # wide: Q of the (10, 4) sample, transposed
    a = fill_normal(np.empty((10, 4)), 0.0, 1.0, seed=9, stream=4)
    q, r = np.linalg.qr(a)
    q = (q * np.sign(np.diag(r))).T
    got = fi.Orthogonal(seed=9, stream=4)((4, 10), "float64")
    np.testing.assert_allclose(got, q, rtol=0, atol=1e-13)
    # The sign fix makes R's diagonal positive: Q^T A is upper triangular with
    # a positive diagonal.
    q = fi.Orthogonal(seed=9)((36, 10), "float64")
    a = fill_normal(np.empty((36, 10)), 0.0, 1.0, seed=9)
    assert (np.diag(q.T @ a) > 0).all()


def test_orthogonal_is_haar_distributed():
    # Entries of a Haar-random orthogonal n x n matrix have variance 1/n.
    n = 200
    q = fi.Orthogonal(seed=1)((n, n), "float64")
    assert abs(q.var() * n - 1) < 0.02
    # first-row signs are balanced (no bias from the QR sign convention)
    assert abs((q[0] > 0).mean() - 0.5) < 0.1


def test_zeros_ones_constant_identity_values():
    assert not fi.Zeros()((3, 4)).any()
    assert (fi.Ones()((3, 4), "bfloat16") == 1).all()
    np.testing.assert_array_equal(fi.Constant(0.25)((2, 3), "float16"), np.full((2, 3), 0.25))
    np.testing.assert_array_equal(fi.Identity(2.0)((3, 5)), 2.0 * np.eye(3, 5))
    np.testing.assert_array_equal(fi.Identity()((5, 3)), np.eye(5, 3))


def stft_reference(shape, side, window, scaling, periodic):
    import scipy.signal

    t_len, _, bins = shape
    n = 2 * (bins - 1)
    t = np.arange(t_len)[:, None]
    f = np.arange(bins)[None, :]
    args = -2 * np.pi * t * f / n
    k = np.cos(args) if side == "real" else np.sin(args)
    if window is not None:
        win = scipy.signal.get_window(window, t_len, fftbins=periodic)
        assert win.shape == (t_len,)
        s = {"density": np.sqrt(np.sum(win**2)), "spectrum": np.sum(np.abs(win)), None: 1.0}
        k = k * win[:, None] / s[scaling]
    return np.broadcast_to(k[:, None, :], shape)


@pytest.mark.parametrize("side", ["real", "imag"])
@pytest.mark.parametrize(
    "window, scaling, periodic",
    [
        ("hann", "density", False),
        ("hann", "spectrum", True),
        ("hamming", None, False),
        (None, None, False),
        ("blackman", "density", True),
        (("kaiser", 4.0), "spectrum", False),
    ],
)
def test_stft(side, window, scaling, periodic):
    require("scipy.signal")
    shape = (32, 1, 17)
    init = fi.STFT(side=side, window=window, scaling=scaling, periodic=periodic)
    got = init(shape, "float64")
    np.testing.assert_allclose(
        got, stft_reference(shape, side, window, scaling, periodic), rtol=1e-12, atol=1e-12
    )
    assert same_bits(init(shape), got.astype(np.float32))
    assert same_bits(init((32, 3, 17), "float64")[:, 2], got[:, 0])
    again = fi.STFT.from_config(json.loads(json.dumps(init.get_config())))
    assert same_bits(again(shape), init(shape))


def test_stft_numpy_windows_match_scipy_bitwise():
    import scipy.signal

    from fastinit.initializers.structured import _NUMPY_WINDOWS, _cosine_window

    for name, coefficients in _NUMPY_WINDOWS.items():
        for n in (1, 2, 7, 64):
            for periodic in (False, True):
                ours = _cosine_window(coefficients, n, periodic)
                ref = scipy.signal.get_window(name, n, fftbins=periodic)
                assert ours.tobytes() == np.asarray(ref, np.float64).tobytes(), (name, n)


def test_stft_window_array_and_errors():
    win = np.linspace(0.1, 1.0, 8)
    init = fi.STFT(window=win, scaling=None)
    k = init((8, 1, 3), "float64")
    np.testing.assert_allclose(k[:, 0, 0], win)
    assert init.get_config()["window"] == list(win)
    json.dumps(init.get_config())
    with pytest.raises(ValueError, match="length"):
        init((9, 1, 3))
    with pytest.raises(ValueError):
        fi.STFT()((8, 3))
    with pytest.raises(ValueError):
        fi.STFT()((8, 1, 1))


# ---------------------------------------------------------------------------
# names, get, serialize, configs

KERAS_NAMES = {
    "Zeros": fi.Zeros,
    "zeros": fi.Zeros,
    "zero": fi.Zeros,
    "Ones": fi.Ones,
    "ones": fi.Ones,
    "one": fi.Ones,
    "Constant": fi.Constant,
    "constant": fi.Constant,
    "RandomUniform": fi.RandomUniform,
    "random_uniform": fi.RandomUniform,
    "uniform": fi.RandomUniform,
    "RandomNormal": fi.RandomNormal,
    "random_normal": fi.RandomNormal,
    "normal": fi.RandomNormal,
    "TruncatedNormal": fi.TruncatedNormal,
    "truncated_normal": fi.TruncatedNormal,
    "VarianceScaling": fi.VarianceScaling,
    "variance_scaling": fi.VarianceScaling,
    "GlorotUniform": fi.GlorotUniform,
    "glorot_uniform": fi.GlorotUniform,
    "GlorotNormal": fi.GlorotNormal,
    "glorot_normal": fi.GlorotNormal,
    "HeUniform": fi.HeUniform,
    "he_uniform": fi.HeUniform,
    "HeNormal": fi.HeNormal,
    "he_normal": fi.HeNormal,
    "LecunUniform": fi.LecunUniform,
    "lecun_uniform": fi.LecunUniform,
    "LecunNormal": fi.LecunNormal,
    "lecun_normal": fi.LecunNormal,
    "Orthogonal": fi.Orthogonal,
    "orthogonal": fi.Orthogonal,
    "OrthogonalInitializer": fi.Orthogonal,
    "Identity": fi.Identity,
    "identity": fi.Identity,
    "IdentityInitializer": fi.Identity,
    "STFT": fi.STFT,
    "stft": fi.STFT,
    "STFTInitializer": fi.STFT,
    "xavier_uniform": fi.GlorotUniform,
    "kaiming_uniform": fi.HeUniform,
}


@pytest.mark.parametrize("name", list(KERAS_NAMES))
def test_get_by_name(name):
    init = fastinit.get(name)
    assert type(init) is KERAS_NAMES[name]
    assert (
        fastinit.get({"class_name": name, "config": {}}).get_config().keys()
        == init.get_config().keys()
    )


def test_torch_style_normal_names():
    xn = fastinit.get("xavier_normal")
    assert type(xn) is fi.VarianceScaling
    assert (xn.scale, xn.mode, xn.distribution) == (1.0, "fan_avg", "untruncated_normal")
    kn = fastinit.get({"class_name": "kaiming_normal", "config": {"seed": 4}})
    assert (kn.scale, kn.mode, kn.distribution, kn.seed) == (2.0, "fan_in", "untruncated_normal", 4)
    # untruncated: values beyond 2 sigma exist
    w = kn((256, 256))
    assert abs(w).max() > 3 * math.sqrt(2 / 256)


def test_get_instance_class_dict_none():
    inst = fi.HeNormal(seed=1)
    assert fastinit.get(inst) is inst
    assert type(fastinit.get(fi.Orthogonal)) is fi.Orthogonal
    assert fastinit.get(None) is None
    got = fastinit.get(
        {"class_name": "VarianceScaling", "config": {"scale": 3.0, "mode": "fan_out", "seed": 9}}
    )
    assert (got.scale, got.mode, got.seed) == (3.0, "fan_out", 9)
    # Keras' own serialized form
    keras_form = {
        "module": "fastinit.initializers",
        "class_name": "HeUniform",
        "config": {"seed": 5, "input_axes": None, "output_axes": None, "stream": 0},
        "registered_name": "fastinit>HeUniform",
    }
    assert same_bits(fastinit.get(keras_form)((4, 4)), fi.HeUniform(seed=5)((4, 4)))
    with pytest.raises(TypeError):
        fastinit.get(3.5)
    with pytest.raises(ValueError):
        fastinit.get({"config": {}})


def test_unknown_name_lists_accepted_sorted():
    with pytest.raises(ValueError) as info:
        fastinit.get("glorot_uniformm")
    msg = str(info.value)
    listed = msg.split("accepted names are ")[1].split(", ")
    assert listed == sorted(listed)
    assert {
        "glorot_uniform",
        "he_normal",
        "xavier_normal",
        "kaiming_normal",
        "zeros",
        "normal",
        "uniform",
        "Orthogonal",
    } <= set(listed)
    with pytest.raises(ValueError):
        fastinit.get({"class_name": "NotAnInitializer", "config": {}})


@pytest.mark.parametrize("name", list(ALL_FACTORIES))
def test_config_round_trip(name):
    init = ALL_FACTORIES[name]()
    config = init.get_config()
    again = type(init).from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config
    shape = shapes_for(name)[-1]
    assert same_bits(again(shape), init(shape))
    ser = fastinit.serialize(init)
    assert ser == {"class_name": type(init).__name__, "config": config}
    assert same_bits(fastinit.get(json.loads(json.dumps(ser)))(shape), init(shape))
    assert fastinit.serialize(None) is None


def test_config_keys_as_keras():
    # stream only when it is not 0 (at 0 the config is Keras' own)
    assert list(fi.GlorotUniform(seed=1).get_config()) == ["seed", "input_axes", "output_axes"]
    assert list(fi.GlorotUniform(seed=1, stream=1).get_config()) == [
        "seed",
        "input_axes",
        "output_axes",
        "stream",
    ]
    assert list(fi.VarianceScaling(seed=1, stream=2).get_config()) == [
        "seed",
        "scale",
        "mode",
        "distribution",
        "input_axes",
        "output_axes",
        "stream",
    ]
    assert list(fi.RandomUniform(seed=1, stream=3).get_config()) == [
        "minval", "maxval", "seed", "stream"
    ]
    assert list(fi.RandomUniform(seed=1).get_config()) == ["minval", "maxval", "seed"]
    assert fi.Constant(2).get_config() == {"value": 2}
    assert fi.Identity().get_config() == {"gain": 1.0}
    assert fi.STFT().get_config() == {
        "side": "real",
        "window": "hann",
        "periodic": False,
        "scaling": "density",
    }
    big = fi.HeNormal(seed=2**64 - 1, stream=2**64 - 1)
    assert json.loads(json.dumps(big.get_config()))["seed"] == 2**64 - 1


def test_defaults_as_keras():
    assert (fi.RandomUniform().minval, fi.RandomUniform().maxval) == (-0.05, 0.05)
    assert (fi.RandomNormal().mean, fi.RandomNormal().stddev) == (0.0, 0.05)
    assert (fi.TruncatedNormal().mean, fi.TruncatedNormal().stddev) == (0.0, 0.05)
    vs = fi.VarianceScaling()
    assert (vs.scale, vs.mode, vs.distribution) == (1.0, "fan_in", "truncated_normal")
    assert fi.Orthogonal().gain == 1.0 and fi.Identity().gain == 1.0
    assert fi.Constant().value == 0.0


def test_top_level_exports():
    for name in (
        "get",
        "serialize",
        "GlorotUniform",
        "HeNormal",
        "Orthogonal",
        "STFT",
        "VarianceScaling",
        "Zeros",
        "initializers",
    ):
        assert name in fastinit.__all__
        assert hasattr(fastinit, name)
    assert fastinit.GlorotUniform is fi.GlorotUniform


def test_import_does_not_import_keras():
    code = "import sys, fastinit, fastinit.initializers; print('keras' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


STUB_KERAS = {
    "keras/__init__.py": "from . import saving\n",
    "keras/saving.py": (
        "REGISTRY = {}\n"
        "def register_keras_serializable(package='Custom', name=None):\n"
        "    def decorator(cls):\n"
        "        REGISTRY[package + '>' + (name or cls.__name__)] = cls\n"
        "        return cls\n"
        "    return decorator\n"
    ),
}


@pytest.mark.parametrize("order", ["fastinit-first", "keras-first"])
def test_keras_registration_without_importing_keras(tmp_path, order):
    """Classes get registered whichever of fastinit and Keras is imported first.

    Uses a stub ``keras`` package, so this runs without Keras installed.
    """
    for rel, text in STUB_KERAS.items():
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text(text)
    imports = (
        "import fastinit\nassert 'keras' not in sys.modules\nimport keras\n"
        if order == "fastinit-first"
        else "import keras\nimport fastinit\n"
    )
    code = (
        "import sys\n" + imports + "reg = keras.saving.REGISTRY\n"
        "assert reg['fastinit>GlorotUniform'] is fastinit.GlorotUniform\n"
        "assert type(keras.__spec__.loader).__name__ != '_RegisteringLoader'\n"
        "assert not any(type(f).__name__ == '_KerasImportHook' for f in sys.meta_path)\n"
        "print(' '.join(sorted(reg)))\n"
    )
    src = os.path.dirname(os.path.dirname(fastinit.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), src]))
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    names = result.stdout.split()
    assert names == sorted("fastinit>" + cls.__name__ for cls in fi._CLASSES)


def test_import_hook_is_harmless_when_keras_fails(tmp_path):
    # A Keras whose import fails: the error is Keras' own, the hook is gone after.
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "__init__.py").write_text("raise ImportError('broken keras')\n")
    code = (
        "import sys, fastinit\n"
        "try:\n    import keras\nexcept ImportError as e:\n    print(e)\n"
        "print(any(type(f).__name__ == '_KerasImportHook' for f in sys.meta_path))\n"
        "import json; print(json.dumps([1]))\n"
    )
    src = os.path.dirname(os.path.dirname(fastinit.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), src]))
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["broken keras", "False", "[1]"]


@pytest.mark.parametrize("init", [
    fi.Zeros(), fi.Ones(), fi.Constant(2.0), fi.Identity(), fi.RandomUniform(seed=1),
    fi.RandomNormal(seed=1), fi.TruncatedNormal(seed=1), fi.VarianceScaling(seed=1),
    fi.GlorotUniform(seed=1), fi.HeNormal(seed=1), fi.Orthogonal(seed=1), fi.STFT(),
], ids=lambda init: type(init).__name__)
@pytest.mark.parametrize("dtype", [">f4", ">f8", ">f2"])
def test_byteswapped_out_is_a_value_error_as_in_the_fills(init, dtype):
    # docs/api.md §2: ValueError for a byte-swapped buffer, from the fills and from
    # every initializer's out= alike; out keeps its contents
    out = np.full((4, 4), 3.0, np.dtype(dtype))
    with pytest.raises(ValueError, match="native byte order"):
        fill_normal(np.zeros(4, np.dtype(dtype)))
    with pytest.raises(ValueError, match="native byte order"):
        init((4, 4), out=out)
    with pytest.raises(ValueError, match="native byte order"):
        init((4, 4), out=out[:2], region=(slice(0, 2),))
    assert (out == 3).all()
