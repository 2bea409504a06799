"""The benchmark behind ``fastinit bench``: fastinit against NumPy and PyTorch.

Every rate is measured in the same process and run, on warm (already
touched) buffers, as the median of ``repeat`` timed calls after one warm-up
call, so the ratios compare like with like.  Fresh buffers would add the
first-touch page-fault cost (about 9 GB/s here) to every contender alike.

Comparators, per distribution:

- uniform: NumPy ``Generator.random(out=..., dtype=float32|float64)``;
  torch ``Tensor.uniform_()``.
- normal: NumPy ``Generator.standard_normal(out=..., dtype=...)``; torch
  ``Tensor.normal_()``.
- truncated normal on (-2, 2): NumPy has none, so the NumPy column is the
  usual vectorized rejection loop (draw standard normals, keep |x| < 2,
  repeat for the rest); torch ``nn.init.trunc_normal_(t, 0, 1, -2, 2)``.
- float16/bfloat16 with NumPy: float32 samples cast into the output
  (NumPy cannot draw those dtypes directly).
- oneMKL (columns present when ``libmkl_rt`` is found, e.g. from the
  ``mkl-random`` wheel): Philox4x32-10 through ``vsRngUniform``,
  ``vsRngGaussian`` (ICDF) and, for the truncated normal, a uniform on
  [Phi(-2), Phi(2)] then ``vmsCdfNormInv`` (see ``fastinit._mkl``).  MKL's
  float32 rate is the comparator for the float32, float16 and bfloat16 rows
  (it has neither 16-bit type, and fills float64 from 32-bit words).

JSON schema (``--json FILE``)::

    {"fastinit": version, "stream_version": int, "simd": str, "threads": int,
     "size": int, "repeat": int, "numpy": version, "torch": version | null,
     "machine": str, "cpus": int,
     "write_ceiling_bytes_per_s": float,
     "call_overhead_us": float,          # 1,000-element float32 normal fill
     "results": [{"distribution": str, "dtype": str,
                  "fastinit": samples/s, "numpy": samples/s | null,
                  "torch": samples/s | null, "ceiling": samples/s,
                  "speedup_numpy": float | null, "speedup_torch": float | null,
                  "mkl": samples/s | null, "speedup_mkl": float | null}],
     "mkl": version | null}
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time

import numpy as np

from . import _core, _mkl
from ._version import __version__

DISTRIBUTIONS = ("uniform", "normal", "truncated_normal")
DTYPES = ("float32", "float64", "float16", "bfloat16")


def _np_dtype(name):
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def _time(fn, repeat):
    fn()  # warm-up: touches the buffer, loads code
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _fastinit_call(dist, out):
    if dist == "uniform":
        return lambda: _core.fill_uniform(out, 0.0, 1.0, seed=1)
    if dist == "normal":
        return lambda: _core.fill_normal(out, 0.0, 1.0, seed=1)
    return lambda: _core.fill_truncated_normal(out, 0.0, 1.0, -2.0, 2.0, seed=1)


def _numpy_call(dist, out, gen):
    native = out.dtype in (np.dtype(np.float32), np.dtype(np.float64))
    tmp = out if native else np.empty(out.shape, np.float32)
    draw_dtype = tmp.dtype

    def draw_normal(buf):
        gen.standard_normal(out=buf, dtype=buf.dtype)

    if dist == "uniform":
        def run():
            gen.random(out=tmp, dtype=draw_dtype)
            if not native:
                out[...] = tmp
    elif dist == "normal":
        def run():
            draw_normal(tmp)
            if not native:
                out[...] = tmp
    else:
        def run():
            draw_normal(tmp)
            bad = np.flatnonzero(np.abs(tmp) >= 2.0)
            while bad.size:
                fresh = gen.standard_normal(bad.size, dtype=draw_dtype)
                tmp[bad] = fresh
                bad = bad[np.abs(fresh) >= 2.0]
            if not native:
                out[...] = tmp
    return run


def _torch_call(dist, dtype_name, n):
    import torch

    t = torch.empty(n, dtype=getattr(torch, dtype_name))
    if dist == "uniform":
        return lambda: t.uniform_(0.0, 1.0)
    if dist == "normal":
        return lambda: t.normal_(0.0, 1.0)
    return lambda: torch.nn.init.trunc_normal_(t, 0.0, 1.0, -2.0, 2.0)


def _write_ceiling(n, repeat):
    """Bytes per second of plain stores into a warm float32 buffer (ndarray.fill)."""
    buf = np.empty(n, np.float32)
    return n * 4 / _time(lambda: buf.fill(1.0), repeat)


def _call_overhead(repeat=2000):
    out = np.empty(1000, np.float32)
    _core.fill_normal(out, seed=1)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeat):
            _core.fill_normal(out, seed=1)
        best = min(best, (time.perf_counter() - t0) / repeat)
    return best * 1e6


def run(size=1 << 24, threads=None, repeat=5, distributions=DISTRIBUTIONS, dtypes=DTYPES,
        use_torch=True, progress=None):
    """Measure every (distribution, dtype); returns the JSON-ready dict."""
    torch = None
    if use_torch:
        try:
            import torch
        except ImportError:
            torch = None
    threads = _core.get_num_threads() if threads is None else int(threads)
    previous = _core.get_num_threads()
    _core.set_num_threads(threads)
    if torch is not None:
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
    gen = np.random.default_rng(0)
    results = []
    mkl_rates = {}
    try:
        ceiling = _write_ceiling(size, repeat)
        overhead = _call_overhead()
        total = len(distributions) * len(dtypes)
        for dist in distributions:
            for dname in dtypes:
                if progress:
                    progress(f"{dist} {dname} ({len(results) + 1}/{total})")
                dt = _np_dtype(dname)
                out = np.empty(size, dt)
                fast = size / _time(_fastinit_call(dist, out), repeat)
                del out
                ref = np.empty(size, dt)
                nump = size / _time(_numpy_call(dist, ref, gen), repeat)
                del ref
                tor = None
                if torch is not None:
                    tor = size / _time(_torch_call(dist, dname, size), repeat)
                mk = _mkl_rate(dist, dname, size, repeat, mkl_rates)
                results.append({
                    "distribution": dist,
                    "dtype": dname,
                    "fastinit": fast,
                    "numpy": nump,
                    "torch": tor,
                    "ceiling": ceiling / dt.itemsize,
                    "speedup_numpy": fast / nump,
                    "speedup_torch": fast / tor if tor else None,
                    "mkl": mk,
                    "speedup_mkl": fast / mk if mk else None,
                })
    finally:
        _core.set_num_threads(previous)
        if torch is not None:
            torch.set_num_threads(torch_threads)
    return {
        "fastinit": __version__,
        "stream_version": _core.STREAM_VERSION,
        "simd": _core.simd(),
        "threads": threads,
        "size": size,
        "repeat": repeat,
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "write_ceiling_bytes_per_s": ceiling,
        "call_overhead_us": overhead,
        "results": results,
        "mkl": _mkl.version() if mkl_rates.get("found") else None,
    }


def _mkl_rate(dist, dname, size, repeat, cache):
    """oneMKL's float32 rate for ``dist`` (float32-family rows only), or None."""
    if dname not in ("float32", "float16", "bfloat16") or size >= 2 ** 31:
        return None
    if dist not in cache:
        buf = np.empty(size, np.float32)
        call = _mkl.call(dist, buf)
        cache[dist] = None if call is None else size / _time(call, repeat)
        cache["found"] = cache.get("found") or call is not None
    return cache[dist]


def format_table(report):
    """A plain-text table of samples/s (millions) and speed-ups."""
    head = (f"fastinit {report['fastinit']} | stream v{report['stream_version']} | "
            f"simd {report['simd']} | threads {report['threads']} | "
            f"{report['size']:,} elements, warm buffers, median of {report['repeat']}")
    ceiling = report["write_ceiling_bytes_per_s"]
    lines = [head,
             f"memory-write ceiling: {ceiling / 1e9:.1f} GB/s "
             f"(= {ceiling / 4e6:,.0f} M float32/s);  "
             f"call overhead (1,000-element float32 normal): {report['call_overhead_us']:.2f} us",
             ""]
    has_torch = report["torch"] is not None
    cols = ["distribution", "dtype", "fastinit M/s", "numpy M/s", "x numpy"]
    if has_torch:
        cols += ["torch M/s", "x torch"]
    has_mkl = any(r.get("mkl") for r in report["results"])
    if has_mkl:
        cols += ["mkl M/s", "x mkl"]
    cols += ["ceiling M/s", "% ceiling"]
    rows = []
    for r in report["results"]:
        row = [r["distribution"], r["dtype"], f"{r['fastinit'] / 1e6:,.0f}",
               f"{r['numpy'] / 1e6:,.0f}", f"{r['speedup_numpy']:.1f}x"]
        if has_torch:
            row += [f"{r['torch'] / 1e6:,.0f}", f"{r['speedup_torch']:.1f}x"]
        if has_mkl:
            mk = r.get("mkl")
            row += [f"{mk / 1e6:,.0f}" if mk else "-",
                    f"{r['speedup_mkl']:.2f}x" if mk else "-"]
        row += [f"{r['ceiling'] / 1e6:,.0f}", f"{100 * r['fastinit'] / r['ceiling']:.0f}%"]
        rows.append(row)
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c)
              for i, c in enumerate(cols)]
    fmt = lambda row: "  ".join(  # noqa: E731
        (v.ljust(w) if i < 2 else v.rjust(w)) for i, (v, w) in enumerate(zip(row, widths)))
    lines.append(fmt(cols))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(fmt(row) for row in rows)
    if not has_torch:
        lines.append("(torch columns omitted: PyTorch not installed, or --no-torch)")
    return "\n".join(lines)


def plot(report, path):
    """Bar chart of samples/s: fastinit vs NumPy vs PyTorch, one group per case."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("--plot needs matplotlib: pip install matplotlib") from exc
    res = report["results"]
    labels = [f"{r['distribution'].replace('truncated_normal', 'trunc. normal')}\n{r['dtype']}"
              for r in res]
    series = [("fastinit", "fastinit", "#1f77b4"), ("NumPy", "numpy", "#ff7f0e")]
    if report["torch"] is not None:
        series.append(("PyTorch", "torch", "#2ca02c"))
    x = np.arange(len(res))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(res) + 2), 4.8))
    for k, (label, key, color) in enumerate(series):
        vals = [(r[key] or 0) / 1e6 for r in res]
        ax.bar(x + (k - (len(series) - 1) / 2) * width, vals, width, label=label, color=color)
    ax.set_yscale("log")
    ax.set_ylabel("million samples / s (log scale)")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_title(f"fastinit {report['fastinit']} ({report['simd']}, {report['threads']} "
                 f"thread{'s' if report['threads'] != 1 else ''}) on {report['machine']}, "
                 f"{report['size']:,} elements", fontsize=10)
    ax.legend()
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args):
    """Run ``fastinit bench`` for parsed ``args``: print the table, write ``--json``
    and ``--plot`` if asked; return the exit status (0)."""
    import sys

    tty = sys.stderr.isatty()

    def progress(msg):
        # on a terminal one line rewritten in place; in a log, one line per row
        print(f"  measuring {msg} ...", file=sys.stderr, end="\r" if tty else "\n", flush=True)

    for option, path in (("--json", args.json), ("--plot", args.plot)):
        # checked before the run, not after minutes of measuring
        if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            print(f"fastinit bench: error: {option} {path}: the directory does not exist",
                  file=sys.stderr)
            return 1
    try:
        report = run(size=args.size, threads=args.threads, repeat=args.repeat,
                     distributions=args.dist or DISTRIBUTIONS, dtypes=args.dtype or DTYPES,
                     use_torch=not args.no_torch, progress=progress)
    except (ValueError, MemoryError) as e:  # buffers of --size elements cannot exist
        print(f"fastinit bench: error: --size {args.size:,}: cannot allocate the buffers "
              f"({type(e).__name__}: {e})", file=sys.stderr)
        return 1
    if tty:
        print(" " * 60, file=sys.stderr, end="\r")
    print(format_table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")
    if args.plot:
        plot(report, args.plot)
        print(f"wrote {args.plot}")
    return 0
