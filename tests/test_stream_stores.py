"""Streaming (non-temporal) stores change no value.

Fills whose size reaches the streaming threshold write whole 64-byte lines
with non-temporal stores through a staging buffer (csrc/fi_kernels_body.h,
drive_stream).  Here the threshold is lowered so that small arrays take that
path, and each result must equal, byte for byte, the same range filled in
chunks that stay below it (the plain-store path), at every alignment, offset
and thread count, on every instruction set the CPU has.
"""
import ml_dtypes
import numpy as np
import pytest

import fastinit as fi
from fastinit import _core

BF16 = np.dtype(ml_dtypes.bfloat16)
FILLS = {
    "raw": lambda o, **k: fi.fill_raw(o, **k),
    "uniform": lambda o, **k: fi.fill_uniform(o, -1.0, 2.0, **k),
    "normal": lambda o, **k: fi.fill_normal(o, 0.5, 2.0, **k),
    "tn": lambda o, **k: fi.fill_truncated_normal(o, 0.0, 1.0, -2.0, 2.0, **k),
    "tn_far": lambda o, **k: fi.fill_truncated_normal(o, 0.0, 1.0, 20.0, 23.0, **k),
}
DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64),
          "float16": np.dtype(np.float16), "bfloat16": BF16}
CHUNK = 3001  # elements per reference call: below the lowered threshold
THRESHOLD = 16 * 1024


@pytest.fixture
def low_threshold():
    old = _core._set_stream_threshold(THRESHOLD)
    try:
        yield
    finally:
        _core._set_stream_threshold(old)


def _misaligned(n, dtype, shift):
    raw = np.empty(n * dtype.itemsize + 128, np.uint8)
    base = (-raw.ctypes.data) % 64 + shift * dtype.itemsize
    return raw[base:base + n * dtype.itemsize].view(dtype)


def _chunked(fill, n, dtype, offset):
    ref = np.empty(n, dtype)
    for s in range(0, n, CHUNK):
        fill(ref[s:s + CHUNK], seed=99, stream=5, offset=offset + s)
    return ref


CASES = [("raw", "uint32")] + [(d, t) for d in FILLS if d != "raw" for t in DTYPES]


@pytest.mark.parametrize("simd", fi.simd_available())
@pytest.mark.parametrize("dist,dtype", CASES, ids=[f"{d}-{t}" for d, t in CASES])
def test_streamed_fill_equals_chunked_plain_fill(low_threshold, simd, dist, dtype):
    dt = DTYPES.get(dtype, np.dtype(dtype))
    fill = FILLS[dist]
    prev = fi.simd()
    try:
        _core._set_simd(simd)
        for n, offset, shift in [(20_000, 0, 0), (20_011, 37, 1), (33_333, 2**40 + 5, 3),
                                 (12_345, 2**64 - 12_345, 5)]:
            assert n * dt.itemsize >= THRESHOLD
            out = _misaligned(n, dt, shift)
            fill(out, seed=99, stream=5, offset=offset)
            ref = _chunked(fill, n, dt, offset)
            np.testing.assert_array_equal(out.view(np.uint8), ref.view(np.uint8))
    finally:
        _core._set_simd(prev)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_streamed_threaded_fill_equals_plain(threads):
    n = 1_200_007
    out = _misaligned(n, np.dtype(np.float32), 1)
    ref = np.empty(n, np.float32)
    old = _core._set_stream_threshold(1 << 62)
    try:
        fi.fill_normal(ref, seed=3)
        _core._set_stream_threshold(THRESHOLD)
        with fi.num_threads(threads):
            fi.fill_normal(out, seed=3)
    finally:
        _core._set_stream_threshold(old)
    np.testing.assert_array_equal(out, ref)
