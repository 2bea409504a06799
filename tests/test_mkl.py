"""The oneMKL comparator behind ``fastinit bench``'s MKL columns (fastinit._mkl).

The test extra installs ``mkl-random`` on x86-64, whose wheel carries
``libmkl_rt``: there the comparator must be found and must produce the
distributions it claims, or the benchmark's MKL columns would compare
fastinit with something else.
"""
import platform

import numpy as np
import pytest

from fastinit import _mkl, benchmark

x86_64 = platform.machine().lower() in ("x86_64", "amd64")
pytestmark = pytest.mark.skipif(not x86_64, reason="mkl-random ships wheels for x86-64 only")

N = 1 << 20


def test_libmkl_rt_is_found_and_reports_a_version():
    assert _mkl.load() is not None, "libmkl_rt not found beside the test extra's mkl-random"
    assert "Math Kernel Library" in _mkl.version() or "oneMKL" in _mkl.version()


def _sample(dist):
    out = np.empty(N, np.float32)
    _mkl.call(dist, out, seed=7)()
    return out.astype(np.float64)


def test_uniform_row_is_uniform_on_the_unit_interval():
    x = _sample("uniform")
    assert x.min() >= 0.0 and x.max() < 1.0
    # N(0.5, 1/12/N) for the mean; 6 standard errors
    assert abs(x.mean() - 0.5) < 6 * np.sqrt(1 / 12 / N)
    assert abs(x.var() - 1 / 12) < 0.002


def test_normal_row_is_standard_normal():
    x = _sample("normal")
    assert abs(x.mean()) < 6 / np.sqrt(N)
    assert abs(x.std() - 1.0) < 0.005
    assert np.isfinite(x).all()


def test_truncated_normal_row_stays_in_the_window_with_its_std():
    x = _sample("truncated_normal")
    assert x.min() >= -2.0 and x.max() <= 2.0
    assert abs(x.mean()) < 6 * 0.88 / np.sqrt(N)
    assert abs(x.std() - 0.87962566103423978) < 0.005


def test_streams_with_the_same_seed_repeat_and_other_seeds_differ():
    a, b, c = (np.empty(1000, np.float32) for _ in range(3))
    _mkl.call("uniform", a, seed=3)()
    _mkl.call("uniform", b, seed=3)()
    _mkl.call("uniform", c, seed=4)()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_buffers_are_refused():
    with _mkl.Stream(1) as s:
        with pytest.raises(TypeError, match="float32"):
            s.uniform(np.empty(10, np.float64))
        with pytest.raises(TypeError, match="C-contiguous"):
            s.uniform(np.empty((10, 10), np.float32)[:, ::2])


def test_bench_report_has_the_mkl_columns():
    report = benchmark.run(size=4096, threads=1, repeat=1, distributions=("uniform",),
                           dtypes=("float32", "bfloat16"), use_torch=False)
    assert report["mkl"]
    rows = report["results"]
    assert {r["dtype"] for r in rows} == {"float32", "bfloat16"}
    for r in rows:
        assert r["mkl"] > 0 and r["speedup_mkl"] > 0
