"""Distributions: KS tests against scipy.stats and moment checks, fixed seeds.

Every test uses a fixed seed, so each is deterministic; the thresholds are
set so a correct sampler passes with a wide margin and a wrong transform
(wrong scale, wrong window, clipped tails) fails.
"""
import math

import ml_dtypes
import numpy as np
import pytest
from scipy import stats

import fastinit as fi

N = 1_000_000
BF16 = ml_dtypes.bfloat16
P_MIN = 1e-4  # KS p-value floor: fixed seeds, so this cannot flake


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_ks_and_moments(dtype):
    x = fi.fill_uniform(np.empty(N, dtype), -3.0, 5.0, seed=101)
    assert x.min() >= -3.0 and x.max() < 5.0
    assert stats.kstest(x.astype(np.float64), stats.uniform(-3.0, 8.0).cdf).pvalue > P_MIN
    assert abs(x.mean() - 1.0) < 5 * 8 / math.sqrt(12 * N)
    assert abs(x.var() - 64 / 12) < 0.02


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_ks_and_moments(dtype):
    x = fi.fill_normal(np.empty(N, dtype), 1.5, 0.5, seed=202).astype(np.float64)
    assert stats.kstest(x, stats.norm(1.5, 0.5).cdf).pvalue > P_MIN
    z = (x - 1.5) / 0.5
    assert abs(z.mean()) < 5 / math.sqrt(N)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2 / N)
    assert abs(stats.kurtosis(z)) < 5 * math.sqrt(24 / N)
    assert abs(stats.skew(z)) < 5 * math.sqrt(6 / N)
    # tails are not clipped: beyond 4 sigma the count matches the normal law
    expect = N * 2 * stats.norm.sf(4.0)
    assert abs((np.abs(z) > 4.0).sum() - expect) < 5 * math.sqrt(expect)


def test_normal_tail_reaches_beyond_five_sigma():
    # 2**24 samples: the Box-Muller radius comes from 31 bits (float32) and 53
    # bits (float64), so |z| > 5 occurs at the normal rate (about 9.6 expected)
    n = 1 << 24
    for dtype in (np.float32, np.float64):
        z = fi.fill_normal(np.empty(n, dtype), seed=303)
        count = int((np.abs(z) > 5.0).sum())
        assert 1 <= count <= 30


WINDOWS = [(-2, 2), (0, np.inf), (-np.inf, 0), (1, 3), (3, 6), (-0.1, 0.1), (6, 9)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a,b", WINDOWS, ids=[f"{a},{b}" for a, b in WINDOWS])
def test_truncated_normal_ks(a, b, dtype):
    mean, std = 0.25, 1.5
    x = fi.fill_truncated_normal(np.empty(N, dtype), mean, std, a, b, seed=404).astype(np.float64)
    lo = np.float64(dtype(mean + a * std)) if np.isfinite(a) else -np.inf
    hi = np.float64(dtype(mean + b * std)) if np.isfinite(b) else np.inf
    assert x.min() >= lo and x.max() <= hi
    ref = stats.truncnorm(a, b, loc=mean, scale=std)
    assert stats.kstest(x, ref.cdf).pvalue > P_MIN
    assert abs(x.mean() - ref.mean()) < 6 * ref.std() / math.sqrt(N)
    assert abs(x.std() / ref.std() - 1) < 0.01


def test_truncated_normal_far_tail_window_mass_1e_minus_12():
    # P(Z > 7.03) is about 1e-12: still sampled exactly
    a, b = 7.034, np.inf
    x = fi.fill_truncated_normal(np.empty(200_000, np.float64), 0.0, 1.0, a, b, seed=505)
    assert x.min() >= a
    assert stats.kstest(x, stats.truncnorm(a, b).cdf).pvalue > P_MIN


@pytest.mark.parametrize("dtype", [np.float16, BF16], ids=["f16", "bf16"])
def test_truncated_normal_low_precision_bounds_and_no_pile_up(dtype):
    mean, std = 0.0, 0.02
    x = fi.fill_truncated_normal(np.empty(N, dtype), mean, std, -2.0, 2.0, seed=606)
    xf = x.astype(np.float64)
    lo, hi = float(dtype(mean - 2 * std)), float(dtype(mean + 2 * std))
    assert xf.min() >= lo and xf.max() <= hi
    # The count at each bound must be what rounding the exact distribution to
    # the dtype gives (values between the bound and the midpoint to its
    # neighbour round to it), not a pile-up of clamped values.
    ref = stats.truncnorm(-2.0, 2.0, loc=mean, scale=std)
    for bound, sign in ((hi, -1), (lo, 1)):
        neighbour = float(np.nextafter(dtype(bound), dtype(0.0)))
        mid = (bound + neighbour) / 2
        edge = mean + 2 * std * (1 if sign < 0 else -1)
        mass = abs(ref.cdf(edge) - ref.cdf(mid))
        expect = N * mass
        got = int((xf == bound).sum())
        assert abs(got - expect) < 6 * math.sqrt(expect) + 3, (bound, got, expect)


def test_bfloat16_normal_has_many_distinct_values():
    # bfloat16 has 128 values per binade; a sampler on an 8-bit grid would give
    # at most 256 distinct values, computing in float32 and rounding once
    # reaches thousands (tiny magnitudes included)
    x = fi.fill_normal(np.empty(N, BF16), seed=707)
    assert len(np.unique(x.view(np.uint16))) > 3000
    assert np.abs(x.astype(np.float32)).min() < 1e-4


@pytest.mark.parametrize("dtype", [np.float16, BF16], ids=["f16", "bf16"])
@pytest.mark.parametrize("low,high", [(0.0, 1.0), (-0.3, 0.3), (0.1, 0.1000001), (2.0, 7.3)])
def test_low_precision_uniform_stays_in_rounded_range(dtype, low, high):
    x = fi.fill_uniform(np.empty(200_000, dtype), low, high, seed=808).astype(np.float64)
    assert x.min() >= float(dtype(low)) and x.max() <= float(dtype(high))


def test_uniform_low_equals_high():
    x = fi.fill_uniform(np.empty(1000, np.float32), 0.75, 0.75, seed=1)
    assert (x == 0.75).all()
    y = fi.fill_uniform(np.empty(1000, np.float64), -2.5, -2.5, seed=1)
    assert (y == -2.5).all()


def test_std_zero_gives_mean():
    assert (fi.fill_normal(np.empty(999, np.float32), 3.25, 0.0, seed=1) == 3.25).all()
    assert (fi.fill_truncated_normal(np.empty(999), -1.5, 0.0, seed=1) == -1.5).all()


def test_raw_words_uniform():
    w = fi.fill_raw(np.empty(N, np.uint32), seed=909)
    counts = np.bincount(w >> 24, minlength=256)
    assert stats.chisquare(counts).pvalue > P_MIN
    bitsum = np.unpackbits(w.view(np.uint8)).reshape(-1, 8).sum(0)
    assert np.all(np.abs(bitsum / (N * 4) - 0.5) < 0.003)
