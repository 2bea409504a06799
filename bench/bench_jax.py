"""fastinit.jax vs jax.random, in one process.

For ``n`` float32 normals (default 2**24) it times, best of ``--repeat``:

* ``fill-warm``: ``fastinit.fill_normal`` into a buffer reused every time (the
  compiled fill alone: the ceiling);
* ``fastinit.jax-eager``: ``fastinit.jax.normal(1.0)(key, (n,))`` to a ready JAX
  array (a fresh aligned host buffer, filled, adopted by JAX without a copy);
* ``fastinit.jax-jit``: the same call inside ``jax.jit`` (the host callback);
* ``jax.random``: ``jax.random.normal(key, (n,))``, jitted and warmed up.

and prints each rate in M samples/s and the ratio ``eager / fill-warm``
(the target is >= 0.5 for large arrays). Run::

    PYTHONPATH=src python bench/bench_jax.py [--n 16777216] [--repeat 7] [--json out.json]

Timings on a shared machine are noisy: the ratios, taken in one run, are the
figures to compare. No timing is asserted anywhere.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        if hasattr(out, "block_until_ready"):
            out.block_until_ready()
        times.append(time.perf_counter() - t0)
        del out
    return min(times), float(np.median(times))


def run(n=1 << 24, repeat=7):
    import jax

    import fastinit
    import fastinit.jax as fij

    key = jax.random.key(0)
    init = fij.normal(1.0)
    buf = np.empty(n, np.float32)
    jitted_fi = jax.jit(lambda k: init(k, (n,)))
    jitted_jax = jax.jit(lambda k: jax.random.normal(k, (n,)))
    jitted_fi(key).block_until_ready()
    jitted_jax(key).block_until_ready()
    cases = {
        "fill-warm": lambda: fastinit.fill_normal(buf, seed=0),
        "fastinit.jax-eager": lambda: init(key, (n,)),
        "fastinit.jax-jit": lambda: jitted_fi(key),
        "jax.random": lambda: jitted_jax(key),
    }
    rows = {}
    for name, fn in cases.items():
        fn()  # warm-up
        best, median = _best(fn, repeat)
        rows[name] = {"best_s": best, "median_s": median, "msamples_per_s": n / best / 1e6}
    rows["ratio eager/fill-warm"] = rows["fill-warm"]["best_s"] / rows["fastinit.jax-eager"]["best_s"]
    rows["ratio eager/jax.random"] = rows["jax.random"]["best_s"] / rows["fastinit.jax-eager"]["best_s"]
    rows["n"] = n
    rows["threads"] = fastinit.get_num_threads()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1 << 24)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    rows = run(args.n, args.repeat)
    for name, row in rows.items():
        if isinstance(row, dict):
            print(f"{name:22s} best {row['best_s'] * 1e3:8.2f} ms  median "
                  f"{row['median_s'] * 1e3:8.2f} ms  {row['msamples_per_s']:8.0f} M/s")
        elif isinstance(row, float):
            print(f"{name:22s} {row:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


# ---------------------------------------------------------------------------
# pytest-benchmark (``python -m pytest bench/bench_jax.py --benchmark-only``;
# ``FASTINIT_BENCH_N`` sets the size)

if "pytest" in sys.modules:
    import pytest

    pytest.importorskip("pytest_benchmark")
    pytest.importorskip("jax")
    BENCH_N = int(os.environ.get("FASTINIT_BENCH_N", str(1 << 22)))

    def _cases():
        import jax

        import fastinit
        import fastinit.jax as fij

        key = jax.random.key(0)
        init = fij.normal(1.0)
        buf = np.empty(BENCH_N, np.float32)
        jitted_fi = jax.jit(lambda k: init(k, (BENCH_N,)))
        jitted_jax = jax.jit(lambda k: jax.random.normal(k, (BENCH_N,)))
        return {
            "fill-warm": lambda: fastinit.fill_normal(buf, seed=0),
            "fastinit.jax-eager": lambda: init(key, (BENCH_N,)),
            "fastinit.jax-jit": lambda: jitted_fi(key).block_until_ready(),
            "jax.random": lambda: jitted_jax(key).block_until_ready(),
        }

    @pytest.mark.parametrize("name", ["fill-warm", "fastinit.jax-eager", "fastinit.jax-jit",
                                      "jax.random"])
    def test_normal(benchmark, name):
        benchmark.group = f"normal-{BENCH_N}"
        fn = _cases()[name]
        fn()
        out = benchmark.pedantic(fn, rounds=5, iterations=1)
        assert np.asarray(out).shape == (BENCH_N,)


if __name__ == "__main__":
    main()
