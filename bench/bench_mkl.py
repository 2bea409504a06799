"""fastinit against oneMKL's Philox4x32-10, and against the machine's write bandwidth.

Run with::

    PYTHONPATH=src python bench/bench_mkl.py            # both tables
    PYTHONPATH=src python bench/bench_mkl.py --repeat 9 --mt-size 256e6 --threads 2

Table 1 (one thread, 1M and 16M elements, warm buffers): fastinit's uniform,
normal and truncated normal on (-2, 2) in float32 and bfloat16 against
oneMKL's float32 rate for the same row (``fastinit._mkl``: ``vsRngUniform``;
``vsRngGaussian`` ICDF, its fastest Gaussian method here; uniform on
[Phi(-2), Phi(2)] then ``vmsCdfNormInv`` in LA mode).  MKL has no bfloat16.

Table 2 (``--threads`` threads, a ``--mt-size``-element float32 buffer,
default 256M = 1 GiB): fastinit's uniform fill against libc ``memset`` of
the same buffer split into the same number of equal parts, one ``memset``
per thread (ctypes releases the GIL), i.e. the machine's write bandwidth.

Every contender is timed in the same process, interleaved round by round
(so a burst of load from other processes hits all of them alike); each
figure is the best of ``--repeat`` rounds, and the ratio column divides two
figures of the same run.  Nothing is asserted: the numbers go to stdout
(and to ``--json``).  Needs ``pip install mkl-random`` for table 1.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import threading
import time

import numpy as np

from fastinit import _core, _mkl


def _bf16():
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def _best(calls, repeat):
    """Best time of each callable, interleaved round by round."""
    for fn in calls.values():
        fn()
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(repeat):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _fi_call(dist, out):
    if dist == "uniform":
        return lambda: _core.fill_uniform(out, 0.0, 1.0, seed=1)
    if dist == "normal":
        return lambda: _core.fill_normal(out, 0.0, 1.0, seed=1)
    return lambda: _core.fill_truncated_normal(out, 0.0, 1.0, -2.0, 2.0, seed=1)


def table_mkl(sizes, repeat):
    rows = []
    prev = _core.get_num_threads()
    _core.set_num_threads(1)
    try:
        for n in sizes:
            for dist in ("uniform", "normal", "truncated_normal"):
                f32 = np.empty(n, np.float32)
                bf = np.empty(n, _bf16())
                ref = np.empty(n, np.float32)
                calls = {"float32": _fi_call(dist, f32), "bfloat16": _fi_call(dist, bf),
                         "mkl": _mkl.call(dist, ref)}
                best = _best(calls, repeat)
                for dt in ("float32", "bfloat16"):
                    rows.append({"n": n, "distribution": dist, "dtype": dt,
                                 "fastinit": n / best[dt], "mkl": n / best["mkl"],
                                 "ratio": best["mkl"] / best[dt]})
                del f32, bf, ref
    finally:
        _core.set_num_threads(prev)
    return rows


def _memset_split(buf, nthreads):
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    base, nbytes = buf.ctypes.data, buf.nbytes
    step = (nbytes // nthreads) & ~63
    parts = [(base + i * step, step if i < nthreads - 1 else nbytes - i * step)
             for i in range(nthreads)]

    def run():
        ts = [threading.Thread(target=libc.memset, args=(p, 0, m)) for p, m in parts[1:]]
        for t in ts:
            t.start()
        libc.memset(parts[0][0], 0, parts[0][1])
        for t in ts:
            t.join()
    return run


def table_bandwidth(n, threads, repeat):
    buf = np.empty(n, np.float32)
    rows = []
    prev = _core.get_num_threads()
    try:
        for t in sorted({1, threads}):
            def fi(t=t):
                _core.set_num_threads(t)
                _core.fill_uniform(buf, 0.0, 1.0, seed=1)
            best = _best({"memset": _memset_split(buf, t), "fastinit": fi}, repeat)
            rows.append({"threads": t, "n": n, "memset_GBps": buf.nbytes / best["memset"] / 1e9,
                         "fastinit_GBps": buf.nbytes / best["fastinit"] / 1e9,
                         "ratio": best["memset"] / best["fastinit"]})
    finally:
        _core.set_num_threads(prev)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--sizes", type=lambda s: [int(float(v)) for v in s.split(",")],
                    default=[1 << 20, 1 << 24])
    ap.add_argument("--mt-size", type=lambda s: int(float(s)), default=1 << 28)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-mkl", action="store_true")
    ap.add_argument("--skip-bandwidth", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    report = {"simd": _core.simd(), "mkl": _mkl.version(), "repeat": a.repeat}
    print(f"fastinit simd {_core.simd()} | oneMKL {report['mkl'] or 'not found'} | "
          f"best of {a.repeat}, interleaved")
    if not a.skip_mkl and _mkl.load() is not None:
        rows = report["mkl_rows"] = table_mkl(a.sizes, a.repeat)
        print("\none thread: fastinit vs oneMKL Philox4x32x10 (MKL float32 rate for both rows)")
        print(f"{'elements':>10}  {'distribution':16}  {'dtype':8}  {'fastinit M/s':>12}  "
              f"{'mkl M/s':>8}  {'ratio':>6}")
        for r in rows:
            print(f"{r['n']:>10,}  {r['distribution']:16}  {r['dtype']:8}  "
                  f"{r['fastinit'] / 1e6:>12,.0f}  {r['mkl'] / 1e6:>8,.0f}  {r['ratio']:>5.2f}x")
    elif not a.skip_mkl:
        print("\n(oneMKL table skipped: libmkl_rt not found; pip install mkl-random)")
    if not a.skip_bandwidth:
        rows = report["bandwidth_rows"] = table_bandwidth(a.mt_size, a.threads, a.repeat)
        print(f"\nfloat32 uniform, {a.mt_size:,} elements ({a.mt_size * 4 / 2**30:.2f} GiB) vs "
              "libc memset of the same buffer split over the same threads")
        print(f"{'threads':>7}  {'memset GB/s':>11}  {'fastinit GB/s':>13}  {'ratio':>6}")
        for r in rows:
            print(f"{r['threads']:>7}  {r['memset_GBps']:>11.1f}  {r['fastinit_GBps']:>13.1f}  "
                  f"{r['ratio']:>5.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
