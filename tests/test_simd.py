"""Bit-exact invariance of the fills across instruction sets, thread counts,
alignments and layouts (docs/api.md §§1, 2 and 7).

The scalar path defines the stream; every SIMD level the CPU can run must
reproduce its bytes exactly, and so must every thread count, every output
alignment and every memory layout.  Levels the CPU lacks are skipped.
"""
import os
import subprocess
import sys
import textwrap

import ml_dtypes
import numpy as np
import pytest

import fastinit as fi
from fastinit import _core

LEVELS = tuple(fi.simd_available())
SIMD_LEVELS = tuple(lv for lv in LEVELS if lv != "scalar")
BEST = LEVELS[-1]

BF16 = np.dtype(ml_dtypes.bfloat16)
FLOAT_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64),
                "float16": np.dtype(np.float16), "bfloat16": BF16}
SEED, STREAM = 0x0123456789ABCDEF, 0xFEDCBA9876543210

INF = float("inf")
# (id, fill function, parameters).  The huge/tiny normals push values through
# float16/bfloat16 overflow and float32 denormals (where vcvtneps2bf16 would
# differ); the windows cover central, one-sided, far-tail and narrow cases.
CASES = [
    ("uniform", fi.fill_uniform, (-1.5, 2.5)),
    ("uniform01", fi.fill_uniform, (0.0, 1.0)),
    ("normal", fi.fill_normal, (0.25, 2.0)),
    ("normal_tiny", fi.fill_normal, (0.0, 1e-40)),
    ("normal_huge", fi.fill_normal, (0.0, "huge")),
    ("tn(-2,2)", fi.fill_truncated_normal, (0.0, 1.0, -2.0, 2.0)),
    ("tn(0,inf)", fi.fill_truncated_normal, (0.5, 3.0, 0.0, INF)),
    ("tn(-inf,0)", fi.fill_truncated_normal, (0.0, 1.0, -INF, 0.0)),
    ("tn(-inf,inf)", fi.fill_truncated_normal, (0.0, 1.0, -INF, INF)),
    ("tn(3,6)", fi.fill_truncated_normal, (0.0, 1.0, 3.0, 6.0)),
    ("tn(6,9)", fi.fill_truncated_normal, (0.0, 1.0, 6.0, 9.0)),
    ("tn(-9,-6)", fi.fill_truncated_normal, (1.0, 0.5, -9.0, -6.0)),
    ("tn(-0.1,0.1)", fi.fill_truncated_normal, (0.0, 1.0, -0.1, 0.1)),
    ("tn(12,13)", fi.fill_truncated_normal, (0.0, 1.0, 12.0, 13.0)),
    ("tn(20,23)", fi.fill_truncated_normal, (0.0, 1.0, 20.0, 23.0)),
    ("tn(-inf,-15)", fi.fill_truncated_normal, (0.5, 2.0, -INF, -15.0)),
]
# largest std that keeps the parameters finite in each dtype while the
# samples overflow it
HUGE_STD = {"float32": 1e38, "float64": 1e307, "float16": 3e4, "bfloat16": 1e38}

SMALL_SIZES = (0, 1, 3, 15, 17, 63, 65)
LARGE = 1_000_007


def small_offsets(n):
    """Offsets that start inside a group, straddle the 2**32 roll-over of the
    block counter's low word (4 elements per block for the float32 family and
    raw words, 2 for float64) and end exactly at 2**64."""
    return (0, 12345, 2 * 2**32 - 29, 4 * 2**32 - 37, 2**64 - max(n, 1))


@pytest.fixture(autouse=True)
def _restore_settings():
    level, threads = fi.simd(), fi.get_num_threads()
    yield
    _core._set_simd(level)
    fi.set_num_threads(threads)


def _args(case, dtype_name):
    _, fn, args = case
    return fn, tuple(HUGE_STD[dtype_name] if a == "huge" else a for a in args)


def fill(case, dtype_name, out, offset, level=BEST, threads=1):
    fn, args = _args(case, dtype_name)
    _core._set_simd(level)
    with fi.num_threads(threads):
        fn(out, *args, seed=SEED, stream=STREAM, offset=offset)
    return out


def fresh(n, dtype):
    # a poisoned buffer, so that an unwritten element cannot pass by luck
    out = np.empty(n, dtype)
    out.view(np.uint8)[...] = 0xA5
    return out


def raw_fill(n, offset, level, threads=1, out=None):
    _core._set_simd(level)
    out = fresh(n, np.uint32) if out is None else out
    with fi.num_threads(threads):
        return fi.fill_raw(out, seed=SEED, stream=STREAM, offset=offset)


CASE_IDS = [c[0] for c in CASES]


# ---------------------------------------------------------------------------
# instruction sets


@pytest.mark.parametrize("dtype_name", FLOAT_DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_levels_agree_small(case, dtype_name):
    dt = FLOAT_DTYPES[dtype_name]
    for n in SMALL_SIZES:
        for off in small_offsets(n):
            ref = fill(case, dtype_name, fresh(n, dt), off, "scalar").tobytes()
            for level in SIMD_LEVELS:
                got = fill(case, dtype_name, fresh(n, dt), off, level).tobytes()
                assert got == ref, (level, n, off)


@pytest.mark.parametrize("dtype_name", FLOAT_DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_levels_agree_large(case, dtype_name):
    dt = FLOAT_DTYPES[dtype_name]
    off = 4 * 2**32 - 1001  # odd, and crossing the counter's low-word roll-over
    ref = fill(case, dtype_name, fresh(LARGE, dt), off, "scalar")
    assert not np.isnan(ref.astype(np.float64)).any()
    for level in SIMD_LEVELS:
        got = fill(case, dtype_name, fresh(LARGE, dt), off, level)
        assert got.tobytes() == ref.tobytes(), level


def test_levels_agree_raw():
    for n in SMALL_SIZES + (LARGE,):
        for off in small_offsets(n):
            ref = raw_fill(n, off, "scalar").tobytes()
            for level in SIMD_LEVELS:
                assert raw_fill(n, off, level).tobytes() == ref, (level, n, off)


def test_raw_known_answer_every_level():
    # docs/api.md §1: the first block of (seed 0, stream 0) is the first
    # published Philox4x32-10 vector, and word i is word i % 4 of block i // 4.
    for level in LEVELS:
        _core._set_simd(level)
        out = fi.fill_raw(np.empty(8, np.uint32), seed=0, stream=0, offset=0)
        assert [hex(w) for w in out[:4]] == ["0x6627e8d5", "0xe169c58d", "0xbc57ac4c", "0x9b00dbd8"]
        blk = fi.philox4x32((1, 0, 0, 0), (0, 0))
        assert tuple(int(w) for w in out[4:]) == blk
        seed, stream, b = 2**64 - 1, 2**64 - 1, 2**62 - 1
        last = fi.fill_raw(np.empty(4, np.uint32), seed=seed, stream=stream, offset=4 * b)
        ctr = (b & 0xFFFFFFFF, b >> 32, stream & 0xFFFFFFFF, stream >> 32)
        key = (seed & 0xFFFFFFFF, seed >> 32)
        assert tuple(int(w) for w in last) == fi.philox4x32(ctr, key)


# ---------------------------------------------------------------------------
# threads


@pytest.mark.parametrize("dtype_name", FLOAT_DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_threads_agree(case, dtype_name):
    dt = FLOAT_DTYPES[dtype_name]
    off = 777
    ref = fill(case, dtype_name, fresh(LARGE, dt), off, threads=1).tobytes()
    for threads in (2, 3):
        got = fill(case, dtype_name, fresh(LARGE, dt), off, threads=threads).tobytes()
        assert got == ref, threads


@pytest.mark.parametrize("level", LEVELS)
def test_threads_agree_raw(level):
    ref = raw_fill(LARGE, 5, level).tobytes()
    for threads in (2, 3):
        assert raw_fill(LARGE, 5, level, threads).tobytes() == ref


# ---------------------------------------------------------------------------
# alignment and layout


def misaligned(n, dtype, shift):
    """A view of n elements starting `shift` bytes past a 64-byte boundary
    inside a larger buffer (so not aligned even to its own itemsize)."""
    nbytes = n * dtype.itemsize
    buf = np.zeros(nbytes + 128, np.uint8)
    start = (shift - buf.ctypes.data) % 64
    view = buf[start:start + nbytes].view(dtype)
    view.view(np.uint8)[...] = 0xA5
    assert view.ctypes.data % 64 == shift
    return view


@pytest.mark.parametrize("dtype_name", FLOAT_DTYPES)
@pytest.mark.parametrize("case", CASES[::2], ids=CASE_IDS[::2])
def test_misaligned_outputs(case, dtype_name):
    dt = FLOAT_DTYPES[dtype_name]
    for n, levels in ((65, LEVELS), (LARGE, SIMD_LEVELS or LEVELS)):
        ref = fill(case, dtype_name, fresh(n, dt), 3, BEST).tobytes()
        for level in levels:
            for shift in (1, 2, 4, 8):
                for threads in ((1, 2) if n == LARGE else (1,)):
                    out = misaligned(n, dt, shift)
                    fill(case, dtype_name, out, 3, level, threads)
                    assert out.tobytes() == ref, (level, shift, threads)


def test_misaligned_raw():
    ref = raw_fill(LARGE, 9, BEST).tobytes()
    for level in LEVELS:
        for shift in (1, 2):
            out = misaligned(LARGE, np.dtype(np.uint32), shift)
            assert raw_fill(LARGE, 9, level, 2, out=out).tobytes() == ref, (level, shift)


@pytest.mark.parametrize("dtype_name", FLOAT_DTYPES)
@pytest.mark.parametrize("case", CASES[1::2], ids=CASE_IDS[1::2])
def test_noncontiguous_outputs(case, dtype_name):
    dt = FLOAT_DTYPES[dtype_name]
    off = 99
    for level in LEVELS:
        # every other element: the value at view index k is that of flat index k
        ref = fill(case, dtype_name, fresh(1001, dt), off, level)
        strided = fresh(2002, dt)[::2]
        assert fill(case, dtype_name, strided, off, level).tobytes() == ref.tobytes(), level
        # a transposed (Fortran-ordered) 2-D view: C-order flat index of the view
        ref2 = fill(case, dtype_name, fresh(37 * 29, dt), off, level).reshape(37, 29)
        t = fresh(29 * 37, dt).reshape(29, 37).T
        assert fill(case, dtype_name, t, off, level).tobytes() == ref2.tobytes(), level


# ---------------------------------------------------------------------------
# fork safety and the environment override

FORK_SCRIPT = textwrap.dedent("""
    import hashlib, os, sys
    import numpy as np
    import fastinit as fi

    def digest():
        out = np.empty(1_500_000, np.float32)
        fi.fill_normal(out, seed=11, stream=3, offset=5)
        return hashlib.sha256(out.tobytes()).hexdigest()

    fi.set_num_threads(3)
    parent = digest()  # a threaded fill before fork()
    pid = os.fork()
    if pid == 0:
        ok = digest() == parent
        fi.set_num_threads(1)
        ok = ok and digest() == parent
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_after_threaded_fill():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run([sys.executable, "-c", FORK_SCRIPT], env=env, timeout=60,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("level", LEVELS)
def test_env_forces_level(level):
    env = dict(os.environ, FASTINIT_SIMD=level)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run([sys.executable, "-c", "import fastinit; print(fastinit.simd())"],
                          env=env, timeout=60, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == level


# ---------------------------------------------------------------------------
# the caller's floating-point environment

FPENV_HELPER = r"""
#include <xmmintrin.h>
void fi_test_set_mxcsr(unsigned int v) { _mm_setcsr(v); }
unsigned int fi_test_get_mxcsr(void) { return _mm_getcsr(); }
"""
MXCSR_DEFAULT = 0x1F80
MXCSR_FTZ_DAZ = MXCSR_DEFAULT | 0x8040   # as a library linked with -ffast-math leaves it
MXCSR_ROUND_UP = MXCSR_DEFAULT | 0x4000


@pytest.fixture(scope="module")
def mxcsr(tmp_path_factory):
    """Set the calling thread's MXCSR through a tiny compiled helper (x86-64
    with a C compiler only)."""
    import ctypes
    import platform
    import shutil

    if platform.machine().lower() not in ("x86_64", "amd64") or not shutil.which("cc"):
        pytest.skip("needs x86-64 and a C compiler")
    d = tmp_path_factory.mktemp("fpenv")
    (d / "fpenv.c").write_text(FPENV_HELPER)
    lib_path = d / "libfpenv.so"
    proc = subprocess.run(
        ["cc", "-O1", "-shared", "-fPIC", str(d / "fpenv.c"), "-o", str(lib_path)],
        capture_output=True, text=True)
    if proc.returncode:
        pytest.skip("cannot build the MXCSR helper: " + proc.stderr)
    lib = ctypes.CDLL(str(lib_path))
    lib.fi_test_set_mxcsr.argtypes = [ctypes.c_uint]
    lib.fi_test_get_mxcsr.restype = ctypes.c_uint
    return lib


FPENV_CASES = [c for c in CASES if c[0] in ("uniform", "normal_tiny", "tn(6,9)", "tn(-2,2)")] + [
    ("uniform_denormal", fi.fill_uniform, (0.0, 1e-40))]


@pytest.mark.parametrize("csr", [MXCSR_FTZ_DAZ, MXCSR_ROUND_UP], ids=["ftz-daz", "round-up"])
def test_caller_fp_environment_is_ignored(mxcsr, csr):
    # Parameter set-up and kernels run in the default environment, so a
    # caller's flush-to-zero or rounding mode changes no value.
    refs = {}
    for case in FPENV_CASES:
        for dtype_name, dt in FLOAT_DTYPES.items():
            for level in LEVELS:
                refs[case[0], dtype_name, level] = fill(case, dtype_name, fresh(999, dt), 5, level)
    before = mxcsr.fi_test_get_mxcsr()
    mxcsr.fi_test_set_mxcsr(csr)
    try:
        got = {key: fill(next(c for c in FPENV_CASES if c[0] == key[0]), key[1],
                         fresh(999, FLOAT_DTYPES[key[1]]), 5, key[2]) for key in refs}
        assert mxcsr.fi_test_get_mxcsr() & 0xFFC0 == csr & 0xFFC0  # the caller's is restored
    finally:
        mxcsr.fi_test_set_mxcsr(before)
    bad = [key for key in refs if got[key].tobytes() != refs[key].tobytes()]
    assert not bad
