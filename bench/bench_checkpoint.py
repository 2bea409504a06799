"""Streaming checkpoint writes: peak memory and write rate of ``fastinit init``.

    python bench/bench_checkpoint.py [--spec examples/specs/llama_1b.json]
        [--dtype bfloat16] [--dir /tmp] [--chunk-size 16M] [--threads N] [--json FILE]

Writes the spec's checkpoint (by default the Llama-3.2-1B-shaped spec in
bfloat16: 2.47 GB) with ``fastinit init`` in a fresh subprocess and reports:

* peak RSS of that process, from ``resource.getrusage`` (and ``VmHWM`` from
  /proc where available), against the file's size; the target is < 25 %;
* its write rate, against the disk's plain write rate measured in the same run:
  the same number of bytes of zeros, written with the same chunking, temporary
  file, fsync and rename;
* the generation-only rate: the same command writing to /dev/null.

Every case runs in its own interpreter, started through a small launcher:
Linux carries the RSS high-water mark of the spawning process into a child's
``ru_maxrss``, so a child of this (numpy-importing) script would report at
least this script's size. Free disk space is checked first (``df``-style, via
``shutil.disk_usage``); each file is deleted after its case. Exit status 1 if
the RSS target is missed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"

_PRELUDE = """
import json, resource, sys, time
def vm_hwm_kb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
def report(**extra):
    print("RESULT " + json.dumps(dict(
        maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        vm_hwm_kb=vm_hwm_kb(), **extra)))
"""

INIT_WORKER = _PRELUDE + textwrap.dedent("""
    import argparse
    from fastinit.cli.init import add_parser, run
    parser = argparse.ArgumentParser(prog="fastinit")
    add_parser(parser.add_subparsers())
    args = parser.parse_args(sys.argv[1:])
    start = time.perf_counter()
    rc = run(args)
    report(seconds=time.perf_counter() - start, rc=rc)
    sys.exit(rc)
""")

ZEROS_WORKER = _PRELUDE + textwrap.dedent("""
    import numpy as np
    from fastinit.io import atomic_output, write_fully
    path, nbytes, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    buffers = [np.zeros(min(chunk, nbytes), np.uint8) for _ in range(2)]
    start = time.perf_counter()
    with atomic_output(path) as f:
        done = 0
        while done < nbytes:
            n = min(chunk, nbytes - done)
            write_fully(f, buffers[(done // chunk) % 2][:n], path)
            done += n
    report(seconds=time.perf_counter() - start, rc=0)
""")


def _parse_size(text):
    from fastinit.cli.init import _size

    return _size(text)


def _run(code, args, timeout):
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, "-c", code, *args],
                          capture_output=True, text=True, timeout=timeout, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"case failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", default=str(ROOT / "examples" / "specs" / "llama_1b.json"))
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--dir", default=tempfile.gettempdir(), help="where to write (default /tmp)")
    p.add_argument("--chunk-size", default="16M")
    p.add_argument("--threads", default=None)
    p.add_argument("--seed", default="0")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--timeout", type=float, default=3600)
    args = p.parse_args(argv)

    from fastinit import get_num_threads, simd
    from fastinit.io import safetensors_layout
    from fastinit.params import load_spec

    entries, metadata = load_spec(args.spec, dtype=args.dtype)
    header, _ = safetensors_layout([(e.name, e.shape, e.dtype) for e in entries], metadata)
    # The header written also records fastinit's version and the seed: a few
    # bytes more, checked against the file below.
    size = len(header) + sum(e.dtype.itemsize * _prod(e.shape) for e in entries)
    chunk = _parse_size(args.chunk_size)
    usage = shutil.disk_usage(args.dir)
    print(f"spec {args.spec}: {len(entries)} tensors, {size / 1e9:.2f} GB as {args.dtype}")
    print(f"disk {args.dir}: {usage.free / 1e9:.1f} GB free of {usage.total / 1e9:.1f} GB")
    if usage.free < size * 1.1 + (256 << 20):
        sys.exit(f"not enough free space in {args.dir} for a {size / 1e9:.2f} GB file")
    print(f"fastinit: simd {simd()}, threads {args.threads or get_num_threads()}, "
          f"chunk {chunk:,} bytes\n")

    out = os.path.join(args.dir, f"bench_checkpoint_{os.getpid()}.safetensors")
    init_args = [args.spec, "-o", out, "--dtype", args.dtype, "--chunk-size", str(chunk),
                 "--seed", args.seed, "-q"]
    if args.threads:
        init_args += ["--threads", str(args.threads)]
    results = {}
    try:
        results["disk: zeros, same chunking"] = _run(ZEROS_WORKER, [out, str(size), str(chunk)],
                                                     args.timeout)
        os.unlink(out)
        results["fastinit init"] = _run(INIT_WORKER, ["init", *init_args], args.timeout)
        written = os.path.getsize(out)
        if not size <= written < size + 4096:
            sys.exit(f"{out}: expected about {size} bytes, got {written}")
        os.unlink(out)
        if os.path.exists("/dev/null"):
            gen_args = list(init_args)
            gen_args[gen_args.index(out)] = "/dev/null"
            results["generate only (/dev/null)"] = _run(INIT_WORKER, ["init", *gen_args],
                                                        args.timeout)
    finally:
        if os.path.exists(out):
            os.unlink(out)

    print(f"{'case':30s} {'seconds':>8s} {'MB/s':>8s} {'peak RSS':>10s} {'VmHWM':>10s} "
          f"{'RSS/file':>9s}")
    for name, r in results.items():
        r["bytes"] = size
        r["rate_MBps"] = size / r["seconds"] / 1e6
        r["rss_fraction"] = r["maxrss_kb"] * 1024 / size
        hwm = f"{r['vm_hwm_kb'] / 1024:8.1f}MB" if r.get("vm_hwm_kb") else f"{'-':>10s}"
        print(f"{name:30s} {r['seconds']:8.2f} {r['rate_MBps']:8.1f} "
              f"{r['maxrss_kb'] / 1024:8.1f}MB {hwm} {100 * r['rss_fraction']:8.2f}%")
    init = results["fastinit init"]
    disk = results["disk: zeros, same chunking"]
    ok = init["rss_fraction"] < 0.25
    print(f"\nfastinit init writes at {100 * init['rate_MBps'] / disk['rate_MBps']:.0f}% of the "
          f"disk's plain write rate; peak RSS {init['maxrss_kb'] / 1024:.1f} MB = "
          f"{100 * init['rss_fraction']:.2f}% of the {size / 1e9:.2f} GB file "
          f"(target < 25%): {'PASS' if ok else 'FAIL'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"spec": args.spec, "dtype": args.dtype, "chunk_bytes": chunk,
                       "file_bytes": size, "simd": simd(), "results": results}, f, indent=2)
    return 0 if ok else 1


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


if __name__ == "__main__":
    sys.exit(main())
