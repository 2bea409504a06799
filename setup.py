"""Build of the compiled core: one Cython module and the C kernels.

Portable by construction: no -march/-mavx flags.  The AVX2 and AVX-512
kernels live in their own translation units, which raise the target with
`#pragma GCC target` for their functions only; the rest of the module is
compiled for the baseline ISA and selects a kernel table at import after
checking the CPU.  -ffp-contract=off keeps the compiler from fusing a*b+c
on its own, so every path performs exactly the operations written.
"""
import os
import platform
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

CSRC = ["fi_philox.c", "fi_params.c", "fi_dispatch.c", "fi_threads.c", "fi_kernels_scalar.c"]
machine = platform.machine().lower()
define_macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if machine in ("x86_64", "amd64") and os.environ.get("FASTINIT_NO_SIMD") != "1":
    CSRC += ["fi_kernels_avx2.c", "fi_kernels_avx512.c"]
else:
    define_macros.append(("FI_NO_SIMD", "1"))

if sys.platform == "win32":
    extra_compile_args = ["/O2", "/fp:precise"]
    extra_link_args = []
else:
    extra_compile_args = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fvisibility=hidden"]
    extra_link_args = ["-pthread"]
    if os.environ.get("FASTINIT_SANITIZE"):
        flags = ["-fsanitize=" + os.environ["FASTINIT_SANITIZE"], "-fno-omit-frame-pointer", "-g"]
        extra_compile_args = ["-O1", "-ffp-contract=off", "-fno-math-errno"] + flags
        extra_link_args += flags

ext = Extension(
    "fastinit._core",
    sources=["src/fastinit/_core.pyx"] + [os.path.join("csrc", f) for f in CSRC],
    include_dirs=["csrc", numpy.get_include()],
    define_macros=define_macros,
    extra_compile_args=extra_compile_args,
    extra_link_args=extra_link_args,
    depends=[os.path.join("csrc", f) for f in os.listdir("csrc") if f.endswith(".h")],
)

setup(ext_modules=cythonize([ext], language_level=3, compiler_directives={"embedsignature": False}))
