"""Truncated normal far in the tails (stream 1.1 correction, docs/stream.md 5.1).

Float32, float16 and bfloat16 windows whose tail probabilities fall below
FLT_MIN (from about 12.9 std) are sampled through the double-precision
inversion: exact wherever float64 is, out to about 37.5 std; windows whose
whole probability underflows double precision raise.  Every other window
keeps its stream-1 bits (tests/test_golden.py).
"""
import hashlib

import ml_dtypes
import numpy as np
import pytest
import scipy.stats as st
from _deps import require

import fastinit as fi

SEED, STREAM, OFFSET, N = 123456789, 42, 77, 1000
INF = np.inf
BF16 = np.dtype(ml_dtypes.bfloat16)
DTYPES = {"float32": np.dtype(np.float32), "float16": np.dtype(np.float16), "bfloat16": BF16}

# the corrected windows, pinned: (dtype, (mean, std, a, b), md5 of the bytes, first 3 bit patterns)
GOLDEN_FAR = [
    ("float32", (0.0, 1.0, 20.0, 23.0), "02c3a9bb8b6c65af13c1f211178c8a06", [1101018196, 1101006829, 1101028309]),
    ("float32", (0.5, 2.0, -INF, -15.0), "6542a3afb13a867c82bb503479559b3f", [3253504822, 3253474583, 3253531703]),
    ("float32", (0.0, 1.0, 12.0, 13.0), "8251e70dd7094883238cb205784f25c7", [1094757755, 1094720075, 1094791218]),
    ("float32", (-1.0, 0.5, 36.0, 37.0), "c169b12387de21e62e7723ee2551981c", [1099435665, 1099432500, 1099438483]),
    ("float16", (0.0, 1.0, 20.0, 23.0), "f7350d725db6b8d5519c313c2bebd745", [19714, 19712, 19715]),
    ("float16", (0.5, 2.0, -INF, -15.0), "b4bf1dcf0f98fa9b5aea473bb9f3bf20", [53092, 53089, 53096]),
    ("bfloat16", (0.0, 1.0, 20.0, 23.0), "4d8ee56c8577b72d1a41fa4524f5c11f", [16800, 16800, 16800]),
    ("bfloat16", (0.5, 2.0, -INF, -15.0), "0123497e775ac0a20e60439b55d3039d", [49645, 49644, 49645]),
]


@pytest.mark.parametrize("dtype,args,digest,first", GOLDEN_FAR,
                         ids=[f"{d}-{a[2]},{a[3]}" for d, a, _, _ in GOLDEN_FAR])
def test_golden_far_windows(dtype, args, digest, first):
    x = fi.fill_truncated_normal(np.empty(N, DTYPES[dtype]), *args, seed=SEED, stream=STREAM,
                                 offset=OFFSET)
    bits = x.view(np.uint32 if x.itemsize == 4 else np.uint16)
    assert bits[:3].tolist() == first
    assert hashlib.md5(x.tobytes()).hexdigest() == digest


WINDOWS = [(12.0, 13.0), (12.9, 13.0), (13.0, 14.0), (15.0, 16.0), (20.0, 23.0),
           (-23.0, -20.0), (30.0, INF), (-INF, -15.0), (36.0, 37.0), (-37.0, -36.5),
           (37.0, 37.4), (5.0, INF), (10.0, 11.0)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a,b", WINDOWS, ids=[f"{a},{b}" for a, b in WINDOWS])
def test_ks_against_scipy(dtype, a, b):
    x = fi.fill_truncated_normal(np.empty(20_000, dtype), 0.0, 1.0, a, b, seed=11)
    assert x.min() >= np.float32(a) and x.max() <= np.float32(b)
    assert np.unique(x).size > 1000  # no point mass at a bound
    res = st.kstest(x.astype(np.float64), st.truncnorm(a, b).cdf)
    assert res.pvalue > 1e-3, res


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_far_window_is_the_rounded_float32(dtype):
    x32 = fi.fill_truncated_normal(np.empty(4096, np.float32), 0.0, 1.0, 20.0, 23.0, seed=3)
    x = fi.fill_truncated_normal(np.empty(4096, DTYPES[dtype]), 0.0, 1.0, 20.0, 23.0, seed=3)
    np.testing.assert_array_equal(x, x32.astype(DTYPES[dtype]))
    assert float(x.min()) >= 19.8  # no collapse to a single bound


def test_far_window_mean_std_and_mirror():
    """Shifting/scaling and mirroring act on the far path as on the normal one."""
    z = fi.fill_truncated_normal(np.empty(5000, np.float32), 0.0, 1.0, 20.0, 23.0, seed=9)
    m = fi.fill_truncated_normal(np.empty(5000, np.float32), 0.0, 1.0, -23.0, -20.0, seed=9)
    np.testing.assert_array_equal(m, -z)
    y = fi.fill_truncated_normal(np.empty(5000, np.float32), 2.0, 0.5, 20.0, 23.0, seed=9)
    np.testing.assert_allclose(y, 2.0 + 0.5 * z.astype(np.float64), rtol=2e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("a,b", [(37.6, INF), (38.0, 39.0), (-40.0, -39.0), (-INF, -38.0)])
def test_underflowing_window_raises(dtype, a, b):
    out = np.full(100, 7.0, DTYPES.get(dtype, np.dtype(dtype)))
    with pytest.raises(ValueError, match="underflows"):
        fi.fill_truncated_normal(out, 0.0, 1.0, a, b, seed=1)
    assert (out == 7.0).all()  # nothing written


def test_narrow_window_keeps_its_endpoint():
    """A window narrower than Phi's rounding (not an underflow) still samples."""
    x = fi.fill_truncated_normal(np.empty(64, np.float64), 0.0, 1.0, 0.0, 1e-17, seed=1)
    assert ((x >= 0.0) & (x <= 1e-17)).all()


def test_torch_trunc_normal_far_window():
    torch = require("torch")
    import fastinit.torch as ft

    t = torch.empty(20_000)
    torch.manual_seed(0)
    ft.trunc_normal_(t, 0.0, 1.0, 20.0, 23.0)
    x = t.numpy().astype(np.float64)
    assert x.min() >= 20.0 and x.max() <= 23.0
    assert np.unique(x).size > 1000
    assert st.kstest(x, st.truncnorm(20.0, 23.0).cdf).pvalue > 1e-3


def test_underflow_raises_before_the_seed_is_drawn():
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    with pytest.raises(ValueError, match="underflows"):
        fi.fill_truncated_normal(np.empty(10), 0.0, 1.0, 38.0, 39.0, seed=rng)
    assert rng.bit_generator.state == state
