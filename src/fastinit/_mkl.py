"""Optional oneMKL comparator for the benchmarks (``fastinit bench``, bench/).

Intel oneMKL's Vector Statistics offers the same generator as fastinit,
Philox4x32-10 (``VSL_BRNG_PHILOX4X32X10``), through ``libmkl_rt``, which the
``mkl-random`` (or ``mkl``) wheel installs into the environment's ``lib/``.
This module finds that library and calls it through ctypes; nothing here is
needed by fastinit itself, and every function answers ``None``/raises
``RuntimeError`` when the library is absent.

Rows measured, per distribution (MKL's fastest accurate method for each):

- uniform: ``vsRngUniform`` with ``VSL_RNG_METHOD_UNIFORM_STD``;
- normal: ``vsRngGaussian`` with ``VSL_RNG_METHOD_GAUSSIAN_ICDF`` (faster
  here than ``BOXMULLER`` and ``BOXMULLER2``, whose method numbers are kept
  below for such comparisons);
- truncated normal on (a, b): ``vsRngUniform`` on [Phi(a), Phi(b)] followed
  in place by ``vmsCdfNormInv`` in ``VML_LA`` mode (MKL has no truncated
  normal generator; LA is its fastest mode with a few-ulp error, comparable
  to fastinit's float32 accuracy; EP keeps only about half the bits).

MKL fills a float64 from one 32-bit word and has no bfloat16: the
benchmarks compare fastinit's float32 and bfloat16 rows with MKL's float32.

Example
-------
>>> import numpy as np
>>> from fastinit import _mkl
>>> lib = _mkl.load()          # None without libmkl_rt
>>> if lib is not None:
...     x = np.empty(1000, np.float32)
...     with _mkl.Stream(seed=1) as s:
...         s.uniform(x)
"""
from __future__ import annotations

import ctypes
import glob
import math
import os
import sys

import numpy as np

VSL_BRNG_PHILOX4X32X10 = 16 << 20
VSL_RNG_METHOD_UNIFORM_STD = 0
VSL_RNG_METHOD_GAUSSIAN_BOXMULLER = 0
VSL_RNG_METHOD_GAUSSIAN_BOXMULLER2 = 1
VSL_RNG_METHOD_GAUSSIAN_ICDF = 2
VML_LA = 0x1
VML_HA = 0x2
VML_EP = 0x3

_lib = None
_tried = False


def _candidates():
    env = os.environ.get("FASTINIT_MKL_RT")
    if env:
        yield env
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        yield from sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")))
        yield from sorted(glob.glob(os.path.join(prefix, "Library", "bin", "mkl_rt*.dll")))
    yield "libmkl_rt.so.2"
    yield "libmkl_rt.so"


def load():
    """The ctypes handle of ``libmkl_rt`` (LP64 interface, one MKL thread), or None."""
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)
            lib.vslNewStream  # noqa: B018 - probe the symbol
        except (OSError, AttributeError):
            continue
        P = ctypes.c_void_p
        lib.vslNewStream.argtypes = [ctypes.POINTER(P), ctypes.c_int, ctypes.c_uint]
        lib.vslDeleteStream.argtypes = [ctypes.POINTER(P)]
        lib.vsRngUniform.argtypes = [ctypes.c_int, P, ctypes.c_int, P, ctypes.c_float,
                                     ctypes.c_float]
        lib.vsRngGaussian.argtypes = [ctypes.c_int, P, ctypes.c_int, P, ctypes.c_float,
                                      ctypes.c_float]
        lib.vmsCdfNormInv.argtypes = [ctypes.c_int, P, P, ctypes.c_longlong]
        for f in ("vslNewStream", "vslDeleteStream", "vsRngUniform", "vsRngGaussian"):
            getattr(lib, f).restype = ctypes.c_int
        lib.vmsCdfNormInv.restype = None  # VM functions return nothing
        try:
            lib.MKL_Set_Num_Threads(1)
        except AttributeError:  # pragma: no cover - older runtimes
            pass
        _lib = lib
        break
    return _lib


def version():
    """MKL's version string, or None."""
    lib = load()
    if lib is None:
        return None
    buf = ctypes.create_string_buffer(256)
    try:
        lib.mkl_get_version_string(buf, 256)
    except AttributeError:  # pragma: no cover
        return "unknown"
    return buf.value.decode(errors="replace").strip()


def _check(status, what):
    if status != 0:
        raise RuntimeError(f"oneMKL {what} failed with status {status}")


def _ndtr(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


class Stream:
    """One oneMKL Philox4x32-10 stream (``vslNewStream`` / ``vslDeleteStream``)."""

    def __init__(self, seed=1):
        lib = load()
        if lib is None:
            raise RuntimeError("libmkl_rt not found: pip install mkl-random")
        self._lib = lib
        self._h = ctypes.c_void_p()
        _check(lib.vslNewStream(ctypes.byref(self._h), VSL_BRNG_PHILOX4X32X10, seed),
               "vslNewStream")

    def close(self):
        if self._h:
            self._lib.vslDeleteStream(ctypes.byref(self._h))
            self._h = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except (OSError, AttributeError, TypeError):  # pragma: no cover - interpreter shutdown
            pass

    @staticmethod
    def _buf(out):
        if out.dtype != np.float32 or not out.flags.c_contiguous:
            raise TypeError("out must be a C-contiguous float32 array")
        if out.size >= 2 ** 31:
            raise ValueError("out is too large for MKL's 32-bit lengths")
        return out.ctypes.data

    def uniform(self, out, low=0.0, high=1.0):
        """``vsRngUniform`` (standard method) into float32 ``out``."""
        _check(self._lib.vsRngUniform(VSL_RNG_METHOD_UNIFORM_STD, self._h, out.size,
                                      self._buf(out), low, high), "vsRngUniform")

    def normal(self, out, mean=0.0, std=1.0, method=VSL_RNG_METHOD_GAUSSIAN_ICDF):
        """``vsRngGaussian`` (ICDF by default) into float32 ``out``."""
        _check(self._lib.vsRngGaussian(method, self._h, out.size, self._buf(out), mean,
                                       std), "vsRngGaussian")

    def truncated_normal(self, out, a=-2.0, b=2.0, mode=VML_LA):
        """Uniform on [Phi(a), Phi(b)], then ``vmsCdfNormInv`` in place."""
        ptr = self._buf(out)
        _check(self._lib.vsRngUniform(VSL_RNG_METHOD_UNIFORM_STD, self._h, out.size, ptr,
                                      _ndtr(a), _ndtr(b)), "vsRngUniform")
        self._lib.vmsCdfNormInv(out.size, ptr, ptr, mode)


def call(dist, out, seed=1):
    """A no-argument callable filling float32 ``out`` with MKL's row for
    ``dist`` ("uniform", "normal", "truncated_normal" on (-2, 2)), or None
    when libmkl_rt is absent."""
    if load() is None:
        return None
    s = Stream(seed)
    if dist == "uniform":
        return lambda: s.uniform(out)
    if dist == "normal":
        return lambda: s.normal(out)
    return lambda: s.truncated_normal(out, -2.0, 2.0)
