"""Benchmarks: fastinit initializers vs keras.initializers (torch backend) and NumPy.

Run with::

    PYTHONPATH=src python -m pytest bench/bench_initializers.py --benchmark-only \\
        --benchmark-group-by=group

Two kernels, one benchmark group each: a 4096 x 4096 dense kernel and a
3 x 3 x 512 x 512 conv kernel (about 16.8M and 2.4M float32 values). Per group:

* ``fastinit-*``: a fresh array per call, as Keras uses an initializer;
* ``fastinit-*-out``: filling a preallocated (warm) buffer, no page faults;
* ``numpy-*``: the same distribution with ``numpy.random.Generator``
  (float32 output; NumPy has no truncated normal, so HeNormal is compared with
  an untruncated normal of the same scale, which flatters NumPy);
* ``keras-*``: ``keras.initializers`` on the torch backend (skipped when Keras
  or torch is missing).

fastinit uses its default thread count (``fastinit.get_num_threads()``);
pass ``FASTINIT_NUM_THREADS=1`` for single-core figures. No timing is asserted.
"""

import math
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import fastinit

pytest.importorskip("pytest_benchmark")

SHAPES = {
    "dense-4096x4096": (4096, 4096),
    "conv-3x3x512x512": (3, 3, 512, 512),
}


def _keras():
    try:
        import keras
    except Exception:  # noqa: BLE001 - ImportError, or a backend that fails to load
        return None
    return keras if keras.backend.backend() == "torch" else None


def _fans(shape):
    rf = math.prod(shape[:-2])
    return shape[-2] * rf, shape[-1] * rf


def _numpy_glorot_uniform(rng, shape):
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def _numpy_he_normal(rng, shape):
    fan_in, _ = _fans(shape)
    out = np.empty(shape, np.float32)
    rng.standard_normal(dtype=np.float32, out=out)
    out *= np.float32(math.sqrt(2.0 / fan_in))
    return out


INITIALIZERS = {
    "GlorotUniform": (fastinit.GlorotUniform, _numpy_glorot_uniform),
    "HeNormal": (fastinit.HeNormal, _numpy_he_normal),
}

CASES = [(g, name) for g in SHAPES for name in INITIALIZERS]
IDS = [f"{g}-{name}" for g, name in CASES]


@pytest.mark.parametrize("group, name", CASES, ids=IDS)
def test_fastinit(benchmark, group, name):
    benchmark.group = group
    benchmark.name = f"fastinit-{name}"
    shape = SHAPES[group]
    init = INITIALIZERS[name][0](seed=0)
    w = benchmark(init, shape)
    assert w.shape == shape and w.dtype == np.float32


@pytest.mark.parametrize("group, name", CASES, ids=IDS)
def test_fastinit_out(benchmark, group, name):
    benchmark.group = group
    benchmark.name = f"fastinit-{name}-out"
    shape = SHAPES[group]
    init = INITIALIZERS[name][0](seed=0)
    buf = np.zeros(shape, np.float32)  # touched once: warm pages
    w = benchmark(init, shape, out=buf)
    assert w is buf


@pytest.mark.parametrize("group, name", CASES, ids=IDS)
def test_numpy(benchmark, group, name):
    benchmark.group = group
    benchmark.name = f"numpy-{name}"
    shape = SHAPES[group]
    rng = np.random.default_rng(0)
    w = benchmark(INITIALIZERS[name][1], rng, shape)
    assert w.shape == shape and w.dtype == np.float32


@pytest.mark.parametrize("group, name", CASES, ids=IDS)
def test_keras(benchmark, group, name):
    keras = _keras()
    if keras is None:
        pytest.skip("keras with the torch backend is not available")
    benchmark.group = group
    benchmark.name = f"keras-{name}"
    shape = SHAPES[group]
    init = getattr(keras.initializers, name)(seed=0)
    w = benchmark(init, shape, dtype="float32")
    assert tuple(w.shape) == shape
