#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer run of the test suite.
#
# Builds the compiled core with -fsanitize=address,undefined (setup.py's
# FASTINIT_SANITIZE) in a scratch copy of the source tree, so the in-place
# build of the checkout is never touched, then runs pytest against that copy
# with the ASan runtime preloaded into the (uninstrumented) Python.
#
#   scripts/sanitize.sh                      # whole suite
#   scripts/sanitize.sh tests/test_fills.py  # some tests (paths relative to the repo)
#   scripts/sanitize.sh -k threads           # any pytest arguments
#
# Environment:
#   FASTINIT_SANITIZE      sanitizers (default: address,undefined)
#   FASTINIT_SANITIZE_DIR  scratch directory (default: a fresh mktemp -d; kept
#                          afterwards so a failure can be re-run by hand)
#   FASTINIT_NO_SIMD=1     skip the AVX kernels (set automatically when
#                          csrc/ has no fi_kernels_avx2.c yet)
#   PYTHON                 interpreter (default: python3)
#
# Any ASan report or UBSan diagnostic aborts the interpreter (halt_on_error),
# so a clean exit status means a clean run.  Leak detection is off: CPython
# keeps its interned objects alive until exit, which LeakSanitizer reports;
# tests/test_robustness.py checks for leaks by RSS instead.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
SANITIZERS=${FASTINIT_SANITIZE:-address,undefined}
WORK=${FASTINIT_SANITIZE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/fastinit-sanitize.XXXXXX")}

. "$REPO/scripts/_scratch_copy.sh"

echo "== building with -fsanitize=$SANITIZERS"
FASTINIT_SANITIZE="$SANITIZERS" "$PYTHON" setup.py -q build_ext --inplace -t "$WORK/build-tmp" \
    > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }

SO=$(ls "$WORK"/src/fastinit/_core*.so)
PRELOAD=()
if [[ "$SANITIZERS" == *address* ]]; then
    ASAN_RT=$(gcc -print-file-name=libasan.so)
    [[ -f "$ASAN_RT" ]] || { echo "cannot find libasan.so (gcc -print-file-name)"; exit 1; }
    # libstdc++ too: ASan's __cxa_throw interceptor must find the real one
    # at start-up, or the first C++ exception (matplotlib, torch) aborts.
    STDCXX=$(gcc -print-file-name=libstdc++.so)
    PRELOAD=("$ASAN_RT")
    [[ -f "$STDCXX" ]] && PRELOAD+=("$STDCXX")
    nm -D "$SO" | grep __asan_init > /dev/null || { echo "$SO is not instrumented"; exit 1; }
fi

export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
export PYTHONPATH="$WORK/src"
export PYTHONDONTWRITEBYTECODE=1
export PYTHONFAULTHANDLER=1
# One BLAS thread keeps the instrumented run's memory and time down.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

run() { LD_PRELOAD="${PRELOAD[*]:-}" "$PYTHON" "$@"; }

# The interpreter must pick up the instrumented module from the copy.
run -c "import fastinit._core as c, sys; assert c.__file__ == sys.argv[1], c.__file__; print('== using', c.__file__)" "$SO"

# Tests that measure memory (RSS) are meaningless under ASan, whose shadow
# memory and quarantine inflate it: ours skip on FASTINIT_SANITIZED, others
# are deselected here.
export FASTINIT_SANITIZED="$SANITIZERS"
DESELECT=(
    --deselect tests/test_cli_init.py::test_peak_rss_is_a_fraction_of_the_file
)
if [[ $# -eq 0 ]]; then
    set -- tests
fi
echo "== pytest $*"
run -m pytest -p no:cacheprovider -q -rfEs "${DESELECT[@]}" "$@"
echo "== sanitizer run clean ($SANITIZERS)"
