"""Kernel rates by CPU time, and plain against streaming stores.

Run with::

    PYTHONPATH=src python bench/bench_kernels.py core            # in-cache rates
    PYTHONPATH=src python bench/bench_kernels.py stream --size 64e6

``core``: one thread, 1M elements, best of ``--repeat`` calls timed by
``time.thread_time`` (CPU time of the calling thread, so that time lost to
other processes on a shared machine does not count): ``fill_raw``,
float32 uniform / normal / truncated normal on (-2, 2), and the float64
normal against the float64 truncated normal (the ratio the truncated
normal's tail handling is about).

``stream``: wall-clock rates (GB/s) of each kind of fill with plain and with
streaming (non-temporal) stores forced on and off
(``fastinit._core._set_stream_threshold``), interleaved round by round, on
one warm buffer of ``--size`` float32 elements.  Nothing is asserted.
"""
from __future__ import annotations

import argparse
import time

import ml_dtypes
import numpy as np

import fastinit as fi
from fastinit import _core


def _best(fn, repeat, clock):
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def core(repeat):
    _core.set_num_threads(1)
    n = 1 << 20
    x, w, d = np.empty(n, np.float32), np.empty(n, np.uint32), np.empty(n)
    rows = {
        "raw uint32": lambda: fi.fill_raw(w, seed=1),
        "uniform float32": lambda: fi.fill_uniform(x, seed=1),
        "normal float32": lambda: fi.fill_normal(x, seed=1),
        "truncated normal (-2,2) float32": lambda: fi.fill_truncated_normal(x, seed=1),
        "normal float64": lambda: fi.fill_normal(d, seed=1),
        "truncated normal (-2,2) float64": lambda: fi.fill_truncated_normal(d, seed=1),
    }
    rate = {k: n / _best(f, repeat, time.thread_time) / 1e6 for k, f in rows.items()}
    print(f"simd {fi.simd()}, 1 thread, {n:,} elements, best of {repeat} by thread time")
    for k, v in rate.items():
        print(f"  {k:34s} {v:8,.0f} M/s")
    print(f"  float64 truncated normal / normal: "
          f"{rate['truncated normal (-2,2) float64'] / rate['normal float64']:.2f}x")


def stream(size, repeat, threads):
    _core.set_num_threads(threads)
    x = np.zeros(size, np.float32)
    b = np.zeros(2 * size, ml_dtypes.bfloat16)
    cases = {"raw": lambda: fi.fill_raw(x.view(np.uint32), seed=1),
             "uniform f32": lambda: fi.fill_uniform(x, seed=1),
             "uniform bf16 (2x elements)": lambda: fi.fill_uniform(b, seed=1),
             "normal f32": lambda: fi.fill_normal(x, seed=1),
             "ndarray.fill": lambda: x.fill(1.0)}
    best = {}
    old = _core._set_stream_threshold(1 << 62)
    try:
        for _ in range(repeat):
            for k, fn in cases.items():
                for mode, thr in (("plain", 1 << 62), ("streaming", 0)):
                    if k == "ndarray.fill" and mode == "streaming":
                        continue
                    _core._set_stream_threshold(thr)
                    t0 = time.perf_counter()
                    fn()
                    best[k, mode] = min(best.get((k, mode), 1e9), time.perf_counter() - t0)
    finally:
        _core._set_stream_threshold(old)
    print(f"simd {fi.simd()}, {threads} thread(s), {size * 4 / 2**20:,.0f} MiB, "
          f"best of {repeat}, GB/s")
    for k in cases:
        p = size * 4 / best[k, "plain"] / 1e9
        s = best.get((k, "streaming"))
        print(f"  {k:28s} plain {p:6.2f}" + (f"  streaming {size * 4 / s / 1e9:6.2f}" if s else ""))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("core", "stream"))
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--size", type=lambda s: int(float(s)), default=64_000_000)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    if a.what == "core":
        core(a.repeat)
    else:
        stream(a.size, max(1, a.repeat // 4), a.threads)


if __name__ == "__main__":
    main()
