"""pytest-benchmark suites for the fill kernels: distribution x dtype x threads.

Run with::

    PYTHONPATH=src python -m pytest bench/bench_fills.py --benchmark-only \\
        --benchmark-group-by=group --benchmark-columns=median,ops

Each benchmark fills a warm (already touched) 16M-element buffer
(``FASTINIT_BENCH_SIZE`` to change); one group per (distribution, dtype),
holding fastinit at 1 and 2 threads (and all CPUs when more), NumPy's
Generator and PyTorch when installed.  ``extra_info`` records the SIMD level,
thread count, size and samples/s.  No timing is asserted anywhere.
"""
import os

import numpy as np
import pytest

import fastinit
from fastinit import benchmark as fb

SIZE = int(float(os.environ.get("FASTINIT_BENCH_SIZE", 1 << 24)))
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
THREADS = sorted({1, 2, CPUS})
CASES = [(d, t) for d in fb.DISTRIBUTIONS for t in fb.DTYPES]


def _record(benchmark, **info):
    benchmark.extra_info.update(simd=fastinit.simd(), size=SIZE, **info)


def _rate(benchmark):
    stats = benchmark.stats.stats if benchmark.stats else None
    if stats is not None:
        benchmark.extra_info["samples_per_s"] = SIZE / stats.median


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("dist,dtype", CASES, ids=[f"{d}-{t}" for d, t in CASES])
def test_fastinit(benchmark, dist, dtype, threads):
    benchmark.group = f"{dist}-{dtype}"
    out = np.empty(SIZE, fb._np_dtype(dtype))
    call = fb._fastinit_call(dist, out)
    call()
    with fastinit.num_threads(threads):
        benchmark.pedantic(call, rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, library="fastinit", threads=threads)
    _rate(benchmark)


@pytest.mark.parametrize("dist,dtype", CASES, ids=[f"{d}-{t}" for d, t in CASES])
def test_numpy(benchmark, dist, dtype):
    benchmark.group = f"{dist}-{dtype}"
    out = np.empty(SIZE, fb._np_dtype(dtype))
    call = fb._numpy_call(dist, out, np.random.default_rng(0))
    benchmark.pedantic(call, rounds=3, iterations=1, warmup_rounds=1)
    _record(benchmark, library="numpy", threads=1)
    _rate(benchmark)


@pytest.mark.parametrize("dist,dtype", CASES, ids=[f"{d}-{t}" for d, t in CASES])
def test_torch(benchmark, dist, dtype):
    torch = pytest.importorskip("torch")
    benchmark.group = f"{dist}-{dtype}"
    torch.set_num_threads(1)
    call = fb._torch_call(dist, dtype, SIZE)
    benchmark.pedantic(call, rounds=3, iterations=1, warmup_rounds=1)
    _record(benchmark, library="torch", threads=1)
    _rate(benchmark)
