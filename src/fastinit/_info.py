"""Facts about this build and process, for ``fastinit info`` and bug reports."""
import os
import platform

from ._core import STREAM_VERSION, get_num_threads, simd, simd_available
from ._version import __version__


def info():
    """info() -> dict

    Version, stream version, active and available instruction sets, thread
    count and platform of this fastinit.

    >>> import fastinit
    >>> fastinit.info()["stream_version"]
    1
    """
    return {
        "version": __version__,
        "stream_version": STREAM_VERSION,
        "simd": simd(),
        "simd_available": list(simd_available()),
        "num_threads": get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "env": {k: os.environ[k] for k in ("FASTINIT_SIMD", "FASTINIT_NUM_THREADS")
                if k in os.environ},
    }
