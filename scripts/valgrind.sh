#!/usr/bin/env bash
# Valgrind (memcheck) over a representative workload of the compiled core.
#
# Builds the extension with debug info (-g, same -O3 and flags otherwise) in a
# scratch copy of the source tree -- the checkout's in-place build is never
# touched -- and runs, under valgrind --error-exitcode=1:
#   every fill (raw, uniform, normal, truncated normal) x every dtype
#   (float32, float64, float16, bfloat16, uint32 for raw), sizes around the
#   64-element group, offsets at 0 and at the end of the stream; C-contiguous,
#   strided, negative-stride, transposed, 0-d, empty and misaligned outputs;
#   a threaded fill (4 native threads); a non-contiguous fill above 4M elements
#   (the temporaries path); the error paths; philox4x32's known answers; the
#   initializers on top.  The fill checks run at every instruction set the
#   CPU reports under valgrind (valgrind hides AVX-512: scalar and AVX2 here)
#   and must agree bit for bit.
#
#   scripts/valgrind.sh
#
# CPython under valgrind: PYTHONMALLOC=malloc replaces pymalloc (whose
# arenas look uninitialised to memcheck); the suppressions below cover the
# interpreter's own reports (libpython, by object file) and a glibc dynamic
# loader false positive -- nothing in NumPy (whose comparisons are where
# uninitialised output of a fill would be noticed) or in fastinit's _core*.so.
# Leak checking is off (CPython frees little at exit); tests/test_robustness.py
# checks for leaks by RSS instead.
#
# Environment: FASTINIT_VALGRIND_DIR (scratch dir, default mktemp -d), PYTHON.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
WORK=${FASTINIT_VALGRIND_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/fastinit-valgrind.XXXXXX")}
command -v valgrind > /dev/null || { echo "valgrind is not installed"; exit 2; }

. "$REPO/scripts/_scratch_copy.sh"
echo "== building with debug info"
CFLAGS="-g ${CFLAGS:-}" "$PYTHON" setup.py -q build_ext --inplace -t "$WORK/build-tmp" \
    > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }

cat > "$WORK/python.supp" <<'EOF'
# CPython's own allocator tricks and lazily initialised interpreter state
{
   cpython-cond
   Memcheck:Cond
   obj:*/libpython3*.so*
}
{
   cpython-value8
   Memcheck:Value8
   obj:*/libpython3*.so*
}
{
   cpython-addr
   Memcheck:Addr4
   fun:address_in_range
}
{
   cpython-addr8
   Memcheck:Addr8
   fun:address_in_range
}
{
   cpython-exe-cond
   Memcheck:Cond
   obj:*/bin/python3*
}
{
   cpython-exe-value8
   Memcheck:Value8
   obj:*/bin/python3*
}
# the dynamic loader and libc's string functions reading whole words
{
   ld-cond
   Memcheck:Cond
   obj:*/ld-linux-x86-64.so*
}
{
   ld-strncmp-is_dst
   Memcheck:Addr8
   fun:strncmp
   fun:is_dst
}
EOF

cat > "$WORK/workload.py" <<'EOF'
import sys

import ml_dtypes
import numpy as np

import fastinit as fi

assert fi._core.__file__.startswith(sys.argv[1]), fi._core.__file__
BF16 = np.dtype(ml_dtypes.bfloat16)
FLOATS = [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16), BF16]
FILLS = {
    "uniform": lambda o, **k: fi.fill_uniform(o, -2.0, 3.0, **k),
    "normal": lambda o, **k: fi.fill_normal(o, 0.5, 1.5, **k),
    "truncnorm": lambda o, **k: fi.fill_truncated_normal(o, 0.1, 2.0, -1.0, 2.5, **k),
    "tail": lambda o, **k: fi.fill_truncated_normal(o, 0.0, 1.0, 5.0, float("inf"), **k),
}


def bits(a):
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


checks = 0


def check_level():
    """Every fill at the active instruction set; returns a digest of values."""
    global checks
    digest = []
    for n in (0, 1, 3, 4, 63, 64, 65, 200):
        for off in (0, 5, 2**64 - n - 1 if n else 0):
            raw = fi.fill_raw(np.empty(n, np.uint32), seed=7, stream=3, offset=off)
            digest.append(raw.tobytes())
    for name, fill in FILLS.items():
        for dt in FLOATS:
            whole = fill(np.empty(300, dt), seed=11, stream=2)
            digest.append(whole.tobytes())
            for n, off in ((0, 0), (1, 299), (31, 1), (64, 64), (65, 100), (200, 7)):
                part = fill(np.empty(n, dt), seed=11, stream=2, offset=off)
                assert np.array_equal(bits(part), bits(whole[off:off + n])), (name, dt, n, off)
                checks += 1
            end = fill(np.empty(100, dt), seed=11, offset=2**64 - 100)
            tail = fill(np.empty(37, dt), seed=11, offset=2**64 - 37)
            assert np.array_equal(bits(end[-37:]), bits(tail))
            ref = fill(np.empty((6, 7, 5), dt), seed=3)
            for view in (np.empty((12, 7, 10), dt)[::2, :, ::2],
                         np.empty((6, 7, 5), dt)[::-1, :, ::-1],
                         np.empty((5, 7, 6), dt).transpose(2, 1, 0),
                         np.empty((6, 7, 5), dt, order="F")):
                fill(view, seed=3)
                assert np.array_equal(bits(view), bits(ref)), (name, dt)
            raw_bytes = np.zeros(210 * dt.itemsize + 16, np.uint8)
            for shift in range(1, dt.itemsize + 1):
                mis = raw_bytes[shift:shift + 210 * dt.itemsize].view(dt)
                fill(mis, seed=4)
                assert np.array_equal(bits(mis), bits(fill(np.empty(210, dt), seed=4)))
            zero_d = fill(np.empty((), dt), seed=5)
            assert bits(zero_d) == bits(fill(np.empty(1, dt), seed=5))[0]
            fill(np.empty((0, 4), dt), seed=5)
            checks += 1
    return digest


assert fi.philox4x32((0, 0, 0, 0), (0, 0)) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
default = fi.simd()
print("instruction sets under valgrind:", ", ".join(fi.simd_available()))
digests = {}
for level in fi.simd_available():
    fi._core._set_simd(level)
    digests[level] = check_level()
fi._core._set_simd(default)
assert all(d == digests["scalar"] for d in digests.values()), "levels disagree"

# threaded: 4 native threads, odd offset; then a non-contiguous fill > 4M elements
fi.set_num_threads(4)
n = 4 * (1 << 18) + 77
for dt in (np.dtype(np.float32), BF16):
    threaded = fi.fill_normal(np.empty(n, dt), seed=9, offset=13)
    with fi.num_threads(1):
        single = fi.fill_normal(np.empty(n, dt), seed=9, offset=13)
    assert np.array_equal(bits(threaded), bits(single))
big = np.empty(2 * (1 << 22) + 20, np.float16)[::2]
fi.fill_uniform(big, seed=1)
assert np.array_equal(bits(big[:1000]), bits(fi.fill_uniform(np.empty(1000, np.float16), seed=1)))

# error paths leave the output alone
out = np.zeros(16, np.float32)
for bad in (lambda: fi.fill_normal(out, 0.0, -1.0, seed=1),
            lambda: fi.fill_uniform(out, 2.0, 1.0, seed=1),
            lambda: fi.fill_truncated_normal(out, a=1.0, b=1.0, seed=1),
            lambda: fi.fill_uniform(out, seed=-1),
            lambda: fi.fill_uniform(out, offset=2**64 - 3, seed=1),
            lambda: fi.fill_raw(out, seed=1),
            lambda: fi.fill_uniform(np.zeros(4, ">f4"), seed=1)):
    try:
        bad()
    except (TypeError, ValueError):
        pass
    else:
        raise AssertionError("accepted a bad call")
assert not out.any()

# the Python layer on top
w = fi.GlorotUniform(seed=1)((64, 32), region=(slice(3, 9), slice(-4, None)))
assert w.shape == (6, 4)
fi.Orthogonal(seed=2)((16, 8), "float16")
fi.TruncatedNormal(seed=3)((3, 3, 8, 4), "bfloat16")
print(f"valgrind workload: {checks} checks passed")
EOF

# the real interpreter, not a wrapper script (pyenv shims are shell scripts)
PYEXE=$("$PYTHON" -c 'import sys; print(sys.executable)')
echo "== valgrind $PYEXE"
export PYTHONMALLOC=malloc PYTHONPATH="$WORK/src" OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
valgrind --tool=memcheck --error-exitcode=1 --leak-check=no --track-origins=yes \
    --num-callers=30 --suppressions="$WORK/python.supp" \
    "$PYEXE" "$WORK/workload.py" "$WORK/src" 2>&1 | tee "$WORK/valgrind.log"
status=${PIPESTATUS[0]}
grep -E "ERROR SUMMARY" "$WORK/valgrind.log" || true
if [[ $status -ne 0 ]]; then
    echo "== valgrind reported errors (exit $status); log: $WORK/valgrind.log"
    exit "$status"
fi
echo "== valgrind clean"
