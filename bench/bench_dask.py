"""Throughput of fastinit.dask: a distributed LocalCluster and Dask's threaded
scheduler against the single-process fill.

As a script (a table of M samples/s and ratios to the single-process fill)::

    PYTHONPATH=src python bench/bench_dask.py --size 268435456 --workers 2

As a pytest-benchmark suite (smaller tensors)::

    PYTHONPATH=src python -m pytest bench/bench_dask.py --benchmark-only

What is timed, for one tensor of ``--size`` elements:

- ``fill (warm)``: ``fastinit.fill_*`` into an already-touched buffer, with
  fastinit's default thread count: the memory-speed reference.
- ``init (fresh)``: ``init(shape)``, which allocates a fresh array and so pays
  first-touch page faults, as every Dask chunk does.
- ``dask threads``: ``from_initializer(...).persist(scheduler="threads")``,
  fastinit limited to one thread per task (Dask runs one task per core).
- ``cluster``: ``client.persist`` + ``wait`` on a ``LocalCluster`` of
  ``--workers`` processes x ``--threads-per-worker`` threads, workers started
  with ``FASTINIT_NUM_THREADS=1``. The chunks stay in the workers' memory,
  as they would before a ``to_zarr``: nothing is gathered to the client, so
  this times generation plus Dask's per-task overhead. Cluster start-up and
  a warm-up run (workers importing fastinit) are excluded, and reported.

Each figure is the median of ``--repeat`` runs.
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import sys
import time

import numpy as np

import fastinit
import fastinit.initializers as fi

try:
    import fastinit.dask as fdask
except ImportError as exc:  # Dask is an optional extra
    if "pytest" in sys.modules:
        import pytest

        pytest.skip(f"needs Dask: {exc}", allow_module_level=True)
    raise

DISTRIBUTIONS = {
    "uniform": (lambda: fi.RandomUniform(-1.0, 1.0, seed=0),
                lambda out: fastinit.fill_uniform(out, -1.0, 1.0, seed=0)),
    "normal": (lambda: fi.RandomNormal(0.0, 1.0, seed=0),
               lambda out: fastinit.fill_normal(out, 0.0, 1.0, seed=0)),
    "truncated_normal": (lambda: fi.TruncatedNormal(0.0, 1.0, seed=0),
                         lambda out: fastinit.fill_truncated_normal(out, 0.0, 1.0, seed=0)),
}
ROW = 4096  # tensors are (size // ROW, ROW) matrices


def _shape_and_chunks(size, chunk_mib, itemsize):
    rows = max(1, size // ROW)
    chunk_rows = max(1, (chunk_mib << 20) // (ROW * itemsize))
    return (rows, ROW), (min(chunk_rows, rows), ROW)


def _pythonpath():
    parent = os.path.dirname(os.path.dirname(os.path.abspath(fastinit.__file__)))
    return os.pathsep.join(p for p in (parent, os.environ.get("PYTHONPATH")) if p)


def start_cluster(workers, threads_per_worker):
    """A LocalCluster whose worker processes import this fastinit, one fill thread each."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
        dashboard_address=None, silence_logs=logging.ERROR,
        env={"PYTHONPATH": _pythonpath(), "FASTINIT_NUM_THREADS": "1"},
    )
    return cluster, Client(cluster, set_as_default=False)


def run_fill_warm(dist, shape, dtype):
    out = np.empty(shape, dtype)
    fill = DISTRIBUTIONS[dist][1]
    fill(out)  # first touch
    return lambda: fill(out)


def run_init_fresh(dist, shape, dtype):
    init = DISTRIBUTIONS[dist][0]()
    return lambda: init(shape, dtype)


def run_dask_threads(dist, shape, dtype, chunks):
    arr = fdask.from_initializer(DISTRIBUTIONS[dist][0](), shape, chunks=chunks, dtype=dtype)

    def run():
        with fastinit.num_threads(1):
            return arr.persist(scheduler="threads")
    return run


def run_cluster(client, dist, shape, dtype, chunks):
    from distributed import wait

    arr = fdask.from_initializer(DISTRIBUTIONS[dist][0](), shape, chunks=chunks, dtype=dtype)

    def run():
        persisted = client.persist(arr)
        with client.as_current():
            wait(persisted)
        del persisted
        # let the workers free the chunks before the next run
        deadline = time.monotonic() + 30
        while any(client.has_what().values()) and time.monotonic() < deadline:
            time.sleep(0.01)
    return run


def _median_time(run, repeat):
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
        del result
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1 << 28, help="elements (default 2**28)")
    parser.add_argument("--dist", choices=sorted(DISTRIBUTIONS), default="normal")
    parser.add_argument("--dtype", default="float32", help="float32, bfloat16, float16, float64")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--chunk-mib", type=int, default=64, help="chunk size in MiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    dtype = fdask._resolve_dtype(args.dtype)
    shape, chunks = _shape_and_chunks(args.size, args.chunk_mib, dtype.itemsize)
    n = shape[0] * shape[1]
    t0 = time.perf_counter()
    cluster, client = start_cluster(args.workers, args.threads_per_worker)
    startup = time.perf_counter() - t0
    try:
        cases = {
            "fill (warm)": run_fill_warm(args.dist, shape, dtype),
            "init (fresh)": run_init_fresh(args.dist, shape, dtype),
            "dask threads": run_dask_threads(args.dist, shape, dtype, chunks),
            "cluster": run_cluster(client, args.dist, shape, dtype, chunks),
        }
        t0 = time.perf_counter()
        cases["cluster"]()  # warm-up: workers import fastinit
        warmup = time.perf_counter() - t0
        results = {name: _median_time(run, args.repeat) for name, run in cases.items()}
    finally:
        client.close()
        cluster.close()

    info = fastinit.info()
    print(f"fastinit {info['version']}, simd {info['simd']}, {info['num_threads']} threads, "
          f"{info['cpus']} CPUs; {args.dist} {dtype.name}, {n:,} elements "
          f"({n * dtype.itemsize / 2**20:,.0f} MiB) in chunks of {chunks}")
    print(f"cluster: {args.workers} workers x {args.threads_per_worker} threads, "
          f"start {startup:.2f} s, warm-up run {warmup:.2f} s; median of {args.repeat}")
    ref = results["fill (warm)"]
    print(f"{'':14} {'seconds':>9} {'M samples/s':>12} {'vs fill':>8}")
    for name, seconds in results.items():
        print(f"{name:14} {seconds:9.3f} {n / seconds / 1e6:12.0f} {ref / seconds:8.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "args": vars(args), "elements": n, "chunks": chunks,
                       "cluster_start_s": startup, "seconds": results,
                       "samples_per_s": {k: n / v for k, v in results.items()}}, f, indent=2)
    return 0


# ---------------------------------------------------------------------------
# pytest-benchmark suite: 2**24 elements per tensor, 8 chunks

try:
    import pytest
except ImportError:  # pragma: no cover - the script does not need pytest
    pytest = None

if pytest is not None:
    BENCH_SHAPE = ((1 << 24) // ROW, ROW)
    BENCH_CHUNKS = (BENCH_SHAPE[0] // 8, ROW)

    @pytest.fixture(scope="module")
    def bench_client():
        pytest.importorskip("distributed")
        cluster, client = start_cluster(2, 1)
        run_cluster(client, "normal", BENCH_SHAPE, np.dtype(np.float32), BENCH_CHUNKS)()
        yield client
        client.close()
        cluster.close()

    @pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
    def test_single_process_fill(benchmark, dist):
        benchmark(run_fill_warm(dist, BENCH_SHAPE, np.dtype(np.float32)))

    @pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
    def test_dask_threads(benchmark, dist):
        benchmark(run_dask_threads(dist, BENCH_SHAPE, np.dtype(np.float32), BENCH_CHUNKS))

    @pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
    def test_cluster(benchmark, bench_client, dist):
        benchmark(run_cluster(bench_client, dist, BENCH_SHAPE, np.dtype(np.float32),
                              BENCH_CHUNKS))


if __name__ == "__main__":
    sys.exit(main())
