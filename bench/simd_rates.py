"""Single-call fill rates of the compiled kernels per instruction set (warm buffers).

Usage: PYTHONPATH=src python bench/simd_rates.py [--size N] [--repeat R] [--threads T]
       [--levels scalar,avx2,avx512] [--numpy] [--torch]

Prints M samples/s, the best of R timed calls after one warm-up call (which
also faults the buffer's pages in), so the figures are warm-buffer rates.
With --clock cpu (single thread only) the calling thread's CPU time is used,
which does not count time the thread spent descheduled: use it on a shared
machine, and take the best of several runs anyway.
"""
import argparse
import math
import time

import ml_dtypes
import numpy as np

import fastinit as fi
from fastinit import _core

DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16,
          "bfloat16": ml_dtypes.bfloat16}
CASES = [
    ("uniform", lambda out: fi.fill_uniform(out, seed=1)),
    ("normal", lambda out: fi.fill_normal(out, seed=1)),
    ("trunc_normal(-2,2)", lambda out: fi.fill_truncated_normal(out, seed=1)),
]


CLOCK = time.perf_counter


def _erfinv_trunc_normal(x, a=-2.0, b=2.0):
    lo = 0.5 * (1 + math.erf(a / math.sqrt(2)))
    hi = 0.5 * (1 + math.erf(b / math.sqrt(2)))
    x.uniform_(2 * lo - 1, 2 * hi - 1).erfinv_().mul_(math.sqrt(2.0)).clamp_(min=a, max=b)


def best_rate(fn, out, repeat):
    fn(out)
    best = float("inf")
    for _ in range(repeat):
        t0 = CLOCK()
        fn(out)
        best = min(best, CLOCK() - t0)
    n = out.numel() if hasattr(out, "numel") else out.size
    return n / best / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1 << 24)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--levels", default=",".join(fi.simd_available()))
    ap.add_argument("--dtypes", default="float32,bfloat16,float16,float64")
    ap.add_argument("--numpy", action="store_true")
    ap.add_argument("--torch", action="store_true")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = ap.parse_args()
    if args.clock == "cpu":
        if args.threads != 1:
            ap.error("--clock cpu measures the calling thread only: use --threads 1")
        global CLOCK
        CLOCK = time.thread_time
    before = fi.simd()
    rows = []
    with fi.num_threads(args.threads):
        try:
            for level in args.levels.split(","):
                _core._set_simd(level)
                for dname in args.dtypes.split(","):
                    out = np.empty(args.size, DTYPES[dname])
                    for cname, fn in CASES:
                        rows.append((f"fastinit-{level}", cname, dname,
                                     best_rate(fn, out, args.repeat)))
        finally:
            _core._set_simd(before)
    if args.numpy:
        gen = np.random.Generator(np.random.PCG64(1))
        for dname in ("float32", "float64"):
            out = np.empty(args.size, DTYPES[dname])
            rows.append(("numpy", "uniform", dname,
                         best_rate(lambda o: gen.random(out=o, dtype=o.dtype), out, args.repeat)))
            rows.append(("numpy", "normal", dname,
                         best_rate(lambda o: gen.standard_normal(out=o, dtype=o.dtype), out,
                                   args.repeat)))
    if args.torch:
        import torch
        torch.set_num_threads(args.threads)
        for dname, tdt in (("float32", torch.float32), ("bfloat16", torch.bfloat16),
                           ("float64", torch.float64)):
            t = torch.empty(args.size, dtype=tdt)
            rows.append(("torch", "uniform", dname,
                         best_rate(lambda x: x.uniform_(), t, args.repeat)))
            rows.append(("torch", "normal", dname,
                         best_rate(lambda x: x.normal_(), t, args.repeat)))
            rows.append(("torch", "trunc_normal(-2,2)", dname,
                         best_rate(lambda x: torch.nn.init.trunc_normal_(x), t, args.repeat)))
            # the inverse-CDF recipe (uniform_, erfinv_) of earlier
            # torch.nn.init.trunc_normal_; torch 2.13's samples by rejection
            # and is much slower
            rows.append(("torch-erfinv", "trunc_normal(-2,2)", dname,
                         best_rate(_erfinv_trunc_normal, t, args.repeat)))
    for who, case, dname, rate in rows:
        print(f"{who:16s} {case:20s} {dname:9s} {rate:9.1f} M/s")


if __name__ == "__main__":
    main()
