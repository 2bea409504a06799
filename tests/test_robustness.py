"""Robustness: leaks, Ctrl-C, concurrent callers, fork, and known bugs.

* No leaks: long loops of fills (small, large and threaded, non-contiguous,
  error paths) and of initializer construction/serialization keep the RSS
  flat, in a fresh subprocess, with a positive control that shows the same
  measurement does see a small per-call leak.
* Ctrl-C during a multi-second threaded fill returns promptly with
  KeyboardInterrupt, joins the worker threads, and the process stays usable.
* Many Python threads filling separate buffers at once get exactly the
  single-threaded values, whatever the native thread count meanwhile.
* fork() after threaded fills: the child fills correctly.
* Known bugs, each pinned by an ``xfail(strict=True)`` test that passes (and
  so fails the suite) once the bug is fixed: remove the marker then.

Timing bounds are relative to the speed measured in the same process, so a
loaded machine slows the test without failing it.  Slow variants (2 GB
fills, 10x longer loops) are marked ``slow`` (FASTINIT_SLOW_TESTS=1).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import threading

import ml_dtypes
import numpy as np
import pytest
from _deps import require

import fastinit as fi

BF16 = np.dtype(ml_dtypes.bfloat16)
DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16), BF16)
SLOW = os.environ.get("FASTINIT_SLOW_TESTS") == "1"
# ASan's shadow memory and quarantine make RSS meaningless (scripts/sanitize.sh)
SANITIZED = bool(os.environ.get("FASTINIT_SANITIZED"))
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")


def bits(a):
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def run_child(code, *args, timeout=300, env=None):
    """Run ``code`` in a fresh interpreter that imports this fastinit; return
    the JSON object it prints last."""
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(fi.__file__)))
    child_env = dict(os.environ, **(env or {}))
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (pkg_parent, child_env.get("PYTHONPATH", "")) if p)
    child_env.setdefault("OPENBLAS_NUM_THREADS", "1")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=child_env,
                          check=False)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


PRELUDE = """
import gc, json, os, sys, threading, time
import ml_dtypes
import numpy as np
import fastinit as fi

PAGE = os.sysconf("SC_PAGE_SIZE")
BF16 = np.dtype(ml_dtypes.bfloat16)


def rss():
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def threads():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])


def control(n):
    # a deliberate leak of ~140 bytes a call: the measurement must see it
    r0 = rss()
    kept = [bytes(100 + (i & 7)) for i in range(n)]
    grown = rss() - r0
    del kept
    return grown
"""

# ---------------------------------------------------------------------------
# leaks (RSS)

LEAK_SMALL = PRELUDE + """
n_calls = int(sys.argv[1])
bufs = [np.empty(n, dt) for n in (1, 7, 64, 100, 1000)
        for dt in (np.float32, np.float64, np.float16, BF16)]
raws = [np.empty(n, np.uint32) for n in (1, 5, 64, 1000)]
strided = [np.empty((8, 9), np.float32)[::2, ::-3], np.empty(200, np.float64)[::3]]
ro = np.zeros(8, np.float32)
ro.flags.writeable = False
ints = np.zeros(8, np.int32)
swapped = np.zeros(8, ">f4")
gen = np.random.default_rng(0)


def work(i):
    b = bufs[i % len(bufs)]
    k = i % 5
    if k == 0:
        fi.fill_uniform(b, -1.0, 2.0, seed=i, stream=i, offset=i)
    elif k == 1:
        fi.fill_normal(b, 0.0, np.float32(2.0), seed=np.uint64(i))
    elif k == 2:
        fi.fill_truncated_normal(b, 0.5, 1.0, -1.0, float("inf"), seed=i, offset=2**63)
    elif k == 3:
        fi.fill_raw(raws[i % len(raws)], seed=i, stream=2**64 - 1)
    else:
        fi.fill_normal(strided[i & 1], seed=gen if i % 50 == 4 else i)
    if i % 4 == 0:  # the error paths, which must not leak either
        # each with the one exception type the contract names (docs/api.md §2)
        for exc, bad in ((ValueError, lambda: fi.fill_normal(b, 0.0, -1.0, seed=i)),
                         (ValueError, lambda: fi.fill_uniform(ro, seed=i)),
                         (TypeError, lambda: fi.fill_uniform(ints, seed=i)),
                         (ValueError, lambda: fi.fill_uniform(swapped, seed=i)),
                         (TypeError, lambda: fi.fill_raw(b, seed=i)),
                         (ValueError, lambda: fi.fill_uniform(b, seed=-1)),
                         (TypeError, lambda: fi.fill_uniform(b, "x")),
                         (ValueError, lambda: fi.fill_truncated_normal(b, a=2.0, b=1.0, seed=i)),
                         (ValueError,
                          lambda: fi.fill_uniform(bufs[-1], offset=2**64 - 1, seed=i))):
            try:
                bad()
            except exc:
                pass
            else:
                raise AssertionError("a bad call was accepted")


for i in range(n_calls // 10):  # warm-up: caches, pymalloc arenas, lazy imports
    work(i)
refs0 = [sys.getrefcount(b) for b in bufs + raws + strided]
r0 = rss()
for i in range(n_calls):
    work(i)
r1 = rss()
refs1 = [sys.getrefcount(b) for b in bufs + raws + strided]
print(json.dumps({"growth": r1 - r0, "control": control(n_calls), "refs_same": refs0 == refs1}))
"""

LEAK_LARGE = PRELUDE + """
n_calls = int(sys.argv[1])
fi.set_num_threads(2)
n = 2 * (1 << 18) + 64          # two native threads per call
bufs = [np.empty(n, dt) for dt in (np.float32, np.float16, BF16)]
big = np.empty((2, 2 * (1 << 22) + 10), np.float16)[:, ::2]   # non-contiguous > 4M: temporaries


def work(i):
    fi.fill_uniform(bufs[i % 3], seed=i, offset=i * 64)


for i in range(20):
    work(i)
for i in range(2):  # glibc serves the 2nd scratch buffer from the heap and keeps it
    fi.fill_uniform(big, seed=1)
t0 = threads()
r0 = rss()
for i in range(n_calls):
    work(i)
for i in range(max(2, n_calls // 300)):
    fi.fill_uniform(big, seed=i)
r1 = rss()
print(json.dumps({"growth": r1 - r0, "threads_before": t0, "threads_after": threads(),
                  "control": control(100_000)}))
"""

LEAK_INITIALIZERS = PRELUDE + """
n_calls = int(sys.argv[1])
names = ["glorot_uniform", "he_normal", "zeros", "orthogonal", "truncated_normal",
         "variance_scaling", "uniform", "lecun_normal", "identity"]


def work(i):
    init = fi.get(names[i % len(names)])
    config = fi.serialize(init)
    clone = fi.get(config)
    json.dumps(config)
    clone((4, 4), "float16" if i & 1 else "float32")
    fi.GlorotUniform(seed=i, stream="layer.%d" % (i % 97))((3, 5), region=(slice(1, 2),))
    fi.VarianceScaling(2.0, "fan_avg", "uniform", seed=np.random.SeedSequence(i)).get_config()
    fi.Constant(i).get_config()
    try:
        fi.get("no_such_initializer")
    except ValueError:
        pass
    try:
        fi.RandomNormal(stddev=-1.0)
    except ValueError:
        pass


for i in range(n_calls // 10):
    work(i)
r0 = rss()
for i in range(n_calls):
    work(i)
r1 = rss()
print(json.dumps({"growth": r1 - r0, "control": control(n_calls * 10)}))
"""

# A leak of 20 bytes a call over the loop is > 2 MiB; the controls leak ~140.
LEAK_BOUND = 2 << 20


def _check_leak(result, what):
    assert result["control"] > 4 * LEAK_BOUND, f"control leak not seen: {result}"
    assert result["growth"] < LEAK_BOUND, f"{what}: RSS grew by {result['growth']} bytes"


@linux_only
@pytest.mark.skipif(SANITIZED, reason="RSS is meaningless under ASan")
def test_small_fills_do_not_leak():
    """1e5 small fills of every distribution, dtype and layout, error paths included."""
    result = run_child(LEAK_SMALL, 100_000)
    _check_leak(result, "1e5 small fills")
    assert result["refs_same"], "a fill keeps a reference to its output array"


@linux_only
@pytest.mark.skipif(SANITIZED, reason="RSS is meaningless under ASan")
def test_large_threaded_fills_do_not_leak_memory_or_threads():
    """1e3 fills of 0.5M elements on two native threads, plus non-contiguous
    fills above 4M elements (temporaries): RSS flat, no thread left behind."""
    result = run_child(LEAK_LARGE, 1000)
    _check_leak(result, "1e3 large fills")
    assert result["threads_after"] == result["threads_before"]


@linux_only
@pytest.mark.skipif(SANITIZED, reason="RSS is meaningless under ASan")
def test_initializer_construction_and_serialization_do_not_leak():
    result = run_child(LEAK_INITIALIZERS, 10_000)
    _check_leak(result, "1e4 initializer round trips")


@linux_only
@pytest.mark.slow
@pytest.mark.skipif(SANITIZED, reason="RSS is meaningless under ASan")
def test_long_loops_do_not_leak():
    _check_leak(run_child(LEAK_SMALL, 1_000_000), "1e6 small fills")
    _check_leak(run_child(LEAK_LARGE, 10_000), "1e4 large fills")


# ---------------------------------------------------------------------------
# Ctrl-C

SIGINT_CHILD = PRELUDE + """
import signal

layout, cap = sys.argv[1], int(sys.argv[2])
fi.set_num_threads(2)
with fi.num_threads(1):
    ref_small = fi.fill_normal(np.empty(1000), seed=3)
    ref_threaded = fi.fill_normal(np.empty(3 << 20, np.float32), seed=4, offset=77)
# Speed of one signal-check step of the contiguous path (4M elements per
# thread, two threads), first-touch page faults included as in the real fill.
step = 8 << 20
t = time.perf_counter()
fi.fill_normal(np.empty(step), seed=2)
step_time = time.perf_counter() - t
# A fill of about 3 s (at least 32M elements, at most `cap`), whatever the speed
n = int(min(cap, max(32 << 20, 3.0 / step_time * step)))
n -= n % (1 << 15)
buf = np.empty(2 * n if layout != "contiguous" else n)
x = {"contiguous": buf, "strided1d": buf[::2],
     "2d": buf.reshape(-1, 1 << 15)[:, ::2]}[layout]
assert x.size == n and x.flags.c_contiguous == (layout == "contiguous")
estimated = step_time * n / step
before = threads()
sent = []


def interrupt():
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)


timer = threading.Timer(max(0.05, 0.1 * estimated), interrupt)
timer.start()
t0 = time.perf_counter()
try:
    fi.fill_normal(x, seed=1)
    interrupted = False
except KeyboardInterrupt:
    interrupted = True
t1 = time.perf_counter()
timer.cancel()
timer.join()
result = {
    "n": n,
    "interrupted": interrupted,
    "latency": t1 - sent[0] if sent else None,
    "step_time": step_time,
    "estimated_total": estimated,
    "threads_before": before,
    "threads_after": threads(),
    "small_ok": bool(np.array_equal(fi.fill_normal(np.empty(1000), seed=3), ref_small)),
    "threaded_ok": bool(np.array_equal(
        fi.fill_normal(np.empty(3 << 20, np.float32), seed=4, offset=77), ref_threaded)),
}
print(json.dumps(result))
"""
# the scalar kernels, so that the fill is slow enough to interrupt at any ISA
SCALAR = {"FASTINIT_SIMD": "scalar"}


def _check_interrupt(result):
    assert result["interrupted"], f"the fill was not interrupted: {result}"
    # prompt: within a few signal-check steps, and long before the fill would end
    assert result["latency"] < max(1.0, 4 * result["step_time"]), result
    assert result["latency"] < 0.35 * result["estimated_total"], result
    assert result["threads_after"] == result["threads_before"], "worker threads left running"
    assert result["small_ok"] and result["threaded_ok"], "process unusable after Ctrl-C"


@linux_only
@pytest.mark.parametrize("layout", ["contiguous", "2d"])
def test_ctrl_c_interrupts_a_large_threaded_fill(layout):
    """A float64 normal fill of about 3 s (at most 1 GB) on two threads; SIGINT
    at a tenth of it."""
    _check_interrupt(run_child(SIGINT_CHILD, layout, 1 << 27, env=SCALAR))


@linux_only
@pytest.mark.slow
def test_ctrl_c_interrupts_a_2gb_fill():
    _check_interrupt(run_child(SIGINT_CHILD, "contiguous", 1 << 28, env=SCALAR))


@linux_only
def test_ctrl_c_interrupts_a_large_strided_1d_fill():
    _check_interrupt(run_child(SIGINT_CHILD, "strided1d", 1 << 26, env=SCALAR))


# ---------------------------------------------------------------------------
# concurrency


def _case_fill(case, out):
    dist, _, _, offset, seed = case
    if dist == "uniform":
        return fi.fill_uniform(out, -3.0, 0.5, seed=seed, offset=offset)
    if dist == "normal":
        return fi.fill_normal(out, 1.0, 2.0, seed=seed, offset=offset)
    if dist == "truncated_normal":
        return fi.fill_truncated_normal(out, 0.0, 1.0, -0.5, 3.0, seed=seed, offset=offset)
    return fi.fill_raw(out, seed=seed, offset=offset)


def _cases():
    cases = []
    rng = np.random.default_rng(2024)
    for i, n in enumerate([1, 63, 1000, 4097, 70_000, 300_001, 600_000, 1_100_000]):
        for dist in ("uniform", "normal", "truncated_normal", "raw"):
            dtype = np.dtype(np.uint32) if dist == "raw" else DTYPES[(i + len(dist)) % 4]
            cases.append((dist, dtype, n, int(rng.integers(0, 2**40)), int(rng.integers(0, 2**63))))
    return cases


def test_concurrent_python_threads_get_single_threaded_values():
    """8 Python threads fill separate buffers at once (large ones on native
    threads too) while another thread keeps changing the thread count."""
    cases = _cases()
    with fi.num_threads(1):
        refs = [_case_fill(c, np.empty(c[2], c[1])) for c in cases]
    n_workers, rounds = 8, 2
    barrier = threading.Barrier(n_workers + 1)
    errors, stop = [], threading.Event()

    def worker(k):
        try:
            barrier.wait()
            for r in range(rounds):
                for j in range(k, len(cases), n_workers // 2):  # each case in two threads
                    c = cases[(j + r) % len(cases)]
                    out = _case_fill(c, np.empty(c[2], c[1]))
                    if not np.array_equal(bits(out) if c[0] != "raw" else out,
                                          bits(refs[(j + r) % len(cases)])
                                          if c[0] != "raw" else refs[(j + r) % len(cases)]):
                        errors.append(f"worker {k}: {c[:3]} differs")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"worker {k}: {type(e).__name__}: {e}")

    def toggler():
        barrier.wait()
        i = 0
        while not stop.is_set():
            fi.set_num_threads(1 + i % 4)
            i += 1

    previous = fi.get_num_threads()
    workers = [threading.Thread(target=worker, args=(k,)) for k in range(n_workers)]
    tog = threading.Thread(target=toggler)
    try:
        for t in [*workers, tog]:
            t.start()
        for t in workers:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in workers), "a worker hung"
    finally:
        stop.set()
        tog.join()
        fi.set_num_threads(previous)
    assert not errors, errors[:5]


def test_concurrent_initializer_calls_agree():
    """Initializer instances shared by several threads (as a Keras model
    built in threads would) give the same values as serial calls."""
    inits = [fi.GlorotUniform(seed=1), fi.TruncatedNormal(seed=2), fi.Orthogonal(seed=3),
             fi.RandomUniform(-1, 1, seed=4)]
    shapes = [(300, 200), (64, 3, 3, 8), (50, 40), (1, 700_000)]
    refs = [[init(s, "float32") for s in shapes] for init in inits]
    errors = []

    def worker(k):
        for r in range(3):
            i, j = (k + r) % len(inits), (k * 3 + r) % len(shapes)
            if not np.array_equal(inits[i](shapes[j], "float32"), refs[i][j]):
                errors.append((k, i, j))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors


FORK_CHILD = PRELUDE + """
fi.set_num_threads(2)
ref = fi.fill_normal(np.empty(3 << 20, np.float32), seed=5)
fi.fill_uniform(np.empty(3 << 20, np.float32), seed=6)   # native threads have run
pid = os.fork()
if pid == 0:
    ok = np.array_equal(fi.fill_normal(np.empty(3 << 20, np.float32), seed=5), ref)
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
print(json.dumps({"child_status": status}))
"""


@linux_only
def test_threaded_fill_after_fork():
    assert run_child(FORK_CHILD, timeout=120)["child_status"] == 0


# ---------------------------------------------------------------------------
# threads: the value never depends on the thread count or the split


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_thread_count_and_odd_offsets_do_not_change_values(dtype):
    n = (1 << 20) + 37
    with fi.num_threads(1):
        ref = fi.fill_truncated_normal(np.empty(n, dtype), 0.0, 1.0, -1.0, 1.5, seed=9,
                                       offset=2**64 - n - 29)
    for k in (2, 3, 7, 64):
        with fi.num_threads(k):
            got = fi.fill_truncated_normal(np.empty(n, dtype), 0.0, 1.0, -1.0, 1.5, seed=9,
                                           offset=2**64 - n - 29)
        assert np.array_equal(bits(got), bits(ref)), k


# ---------------------------------------------------------------------------
# known bugs: xfail(strict=True) until fixed


@pytest.mark.parametrize("call", [
    lambda out: fi.fill_uniform(out, 10**400, 10**401, seed=1),
    lambda out: fi.fill_normal(out, 0.0, 10**400, seed=1),
    lambda out: fi.fill_truncated_normal(out, 0.0, 1.0, -(10**400), 1.0, seed=1),
], ids=["uniform", "normal", "truncnorm"])
def test_huge_integer_parameters_raise_value_error(call):
    out = np.zeros(8, np.float32)
    with pytest.raises(ValueError):
        call(out)
    assert not out.any()


def test_float64_uniform_with_an_overflowing_range():
    out = np.zeros(1000)
    try:
        fi.fill_uniform(out, -1e308, 1e308, seed=1)
    except ValueError:
        return  # refusing, as the float32 path does, is fine
    assert out.min() < -1e307 and out.max() > 1e307 and np.unique(out).size > 900


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("a,b", [(-1e200, 2.0), (-2.0, 1e200), (-1e200, 1e200),
                                 (-math.inf, 1e300)])
def test_truncated_normal_with_huge_finite_bounds(dtype, a, b):
    x = fi.fill_truncated_normal(np.empty(20_000, dtype), 0.0, 1.0, a, b, seed=1)
    x = x.astype(np.float64)
    assert a <= x.min() and x.max() <= b
    # ~N(0, 1), truncated at 2 on one side at most
    assert 0.85 < x.std() < 1.05 and abs(np.median(x)) < 0.1


def test_initializer_leaves_out_untouched_when_a_region_crosses_two_to_64():
    init = fi.RandomNormal(seed=1)
    out = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError):
        # row 2**31 - 1 ends below 2**64, row 2**31 starts at 2**64
        init((2**33, 2**33), region=(slice(2**31 - 1, 2**31 + 1), slice(0, 2)), out=out)
    assert not out.any()


@pytest.mark.parametrize("make", [
    lambda: fi.RandomUniform(10**400, 10**401),
    lambda: fi.RandomNormal(0.0, 10**400),
    lambda: fi.VarianceScaling(10**400),
    lambda: fi.Identity(10**400),
    lambda: fi.Constant(10**400)((2,), "float32"),
], ids=["RandomUniform", "RandomNormal", "VarianceScaling", "Identity", "Constant"])
def test_initializers_refuse_huge_integers_with_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_stft_with_an_empty_window_list_raises_value_error():
    with pytest.raises(ValueError):
        fi.STFT(window=[])((4, 1, 3))


@pytest.mark.parametrize("widths", [[1, 3], [3, 1]])
def test_diagnose_with_a_single_sample(widths):
    report = fi.diagnose("he_normal", widths=widths, batch=1, seed=0)
    assert isinstance(report.vanishing, bool) and isinstance(report.exploding, bool)
    assert str(report)


def test_torch_trunc_normal_with_a_tiny_window():
    torch = require("torch")
    import fastinit.torch as fit

    t = fit.trunc_normal_(torch.empty(8), mean=1.0, std=1.0, a=0.0, b=1e-260)
    assert bool(((t >= 0.0) & (t <= 1e-260)).all())
