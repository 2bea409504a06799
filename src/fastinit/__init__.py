"""fastinit: fast, bit-reproducible neural-network weight initialization.

The compiled core fills preallocated NumPy buffers with uniform, normal and
truncated-normal samples from a counter-based Philox4x32-10 stream, so each
value depends only on (seed, stream, parameters, dtype, index): the same for
any thread count, instruction set, chunking or sharding.

* Fills: :func:`fill_uniform`, :func:`fill_normal`,
  :func:`fill_truncated_normal`, :func:`fill_raw`; streams and seeds:
  :func:`stream_id`, :func:`resolve_seed`, :func:`philox4x32`.
* Keras 3 initializers (also in :mod:`fastinit.initializers`):
  :class:`GlorotUniform`, :class:`HeNormal`, ... and :func:`get`.
* Models and checkpoints: :func:`init_params`, :func:`load`, :func:`save`,
  :class:`Pretrained`.
* Diagnostics: :func:`diagnose`, :func:`recommend`.
* Init schemes of training code (GPT-2, Megatron, torchtitan, OLMo-core,
  muP, DeepNet, ...): :mod:`fastinit.schemes` (imported on first use).
* Threads and instruction sets: :func:`set_num_threads`,
  :func:`num_threads`, :func:`simd`, :func:`info`.
* Optional modules: ``fastinit.torch`` (``torch.nn.init`` drop-in),
  ``fastinit.jax`` (``jax.nn.initializers`` drop-in), ``fastinit.dask``.

Examples
--------
>>> import numpy as np
>>> import fastinit
>>> w = np.empty((256, 128), np.float32)
>>> _ = fastinit.fill_normal(w, 0.0, 0.02, seed=0, stream=fastinit.stream_id("w"))
>>> init = fastinit.RandomNormal(0.0, 0.02, seed=0, stream="w")
>>> bool((init((256, 128)) == w).all())           # same (seed, stream): same values
True
>>> bool((init((256, 128), region=(slice(8, 16),)) == w[8:16]).all())
True
"""
from ._version import __version__
from ._core import (
    STREAM_VERSION,
    fill_normal,
    fill_raw,
    fill_truncated_normal,
    fill_uniform,
    get_num_threads,
    philox4x32,
    resolve_seed,
    set_num_threads,
    simd,
    simd_available,
    stream_id,
)
from ._threads import num_threads
from ._info import info
from .fans import compute_fans
from . import initializers
from .initializers import (
    Initializer,
    Zeros,
    Ones,
    Constant,
    RandomUniform,
    RandomNormal,
    TruncatedNormal,
    VarianceScaling,
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
    Orthogonal,
    Identity,
    STFT,
    get,
    serialize,
    deserialize,
)
from .io import Pretrained, load, save
from .params import InitReport, init_params
from .diagnostics import PropagationReport, diagnose, recommend

__all__ = [
    "__version__",
    "STREAM_VERSION",
    "fill_raw",
    "fill_uniform",
    "fill_normal",
    "fill_truncated_normal",
    "philox4x32",
    "stream_id",
    "resolve_seed",
    "set_num_threads",
    "get_num_threads",
    "num_threads",
    "simd",
    "simd_available",
    "info",
    "compute_fans",
    "initializers",
    "Initializer",
    "Zeros",
    "Ones",
    "Constant",
    "RandomUniform",
    "RandomNormal",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotUniform",
    "GlorotNormal",
    "HeUniform",
    "HeNormal",
    "LecunUniform",
    "LecunNormal",
    "Orthogonal",
    "Identity",
    "STFT",
    "get",
    "serialize",
    "deserialize",
    "load",
    "save",
    "Pretrained",
    "init_params",
    "InitReport",
    "diagnose",
    "recommend",
    "PropagationReport",
]


def __getattr__(name):
    # fastinit.schemes is imported on first use (it is not needed to import fastinit).
    if name == "schemes":
        import importlib

        return importlib.import_module(".schemes", __name__)
    raise AttributeError(f"module 'fastinit' has no attribute {name!r}")
