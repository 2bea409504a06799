"""Reimplement uniform sampling from docs/stream.md alone and compare bit for bit."""
import numpy as np
import pytest

import fastinit as fi
from test_philox import philox_reference


def spec_uniform(seed, stream, low, high, offset, n, dtype):
    idx = np.arange(offset, offset + n, dtype=np.uint64)
    per_group = 64 if dtype == np.float32 else 32
    g, e = idx // np.uint64(per_group), idx % np.uint64(per_group)
    lane, slot = e % np.uint64(16), e // np.uint64(16)
    blocks = philox_reference(g * np.uint64(16) + lane, stream, seed)  # (n, 4) words
    rows = np.arange(n)
    if dtype == np.float32:
        w = blocks[rows, slot.astype(np.intp)]
        u = (w >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)
        lo, hi = np.float32(low), np.float32(high)
        # fma(u, scale, lo) in f32: u*scale is exact in f64 (24-bit by 24-bit
        # mantissas) and for these bounds the f64 sum is exact too, so one
        # rounding to f32 gives the fused result
        v = (u.astype(np.float64) * np.float64(hi - lo) + np.float64(lo)).astype(np.float32)
        return np.minimum(v, hi)
    wa = blocks[rows, (2 * slot).astype(np.intp)]
    wb = blocks[rows, (2 * slot + 1).astype(np.intp)]
    u = (wa >> np.uint32(5)).astype(np.float64) * 2.0**-27 + (wb >> np.uint32(6)).astype(np.float64) * 2.0**-53
    # u has 53 bits and scale = high - low; with low = 0 the fma is a plain product
    return np.minimum(u * (high - low) + low, high)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_from_spec(dtype):
    seed, stream, offset, n = 0x0123456789ABCDEF, 987654321, 4 * 2**32 - 100, 777
    low, high = (-2.0, 3.0) if dtype == np.float32 else (0.0, 2.0**-3)
    ref = spec_uniform(seed, stream, low, high, offset, n, dtype)
    got = fi.fill_uniform(np.empty(n, dtype), low, high, seed=seed, stream=stream, offset=offset)
    np.testing.assert_array_equal(got.view(np.uint8), ref.astype(dtype).view(np.uint8))
