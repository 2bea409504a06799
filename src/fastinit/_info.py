"""Facts about this build and process, for ``fastinit info`` and bug reports."""
import os
import platform

from ._core import STREAM_VERSION, get_num_threads, simd, simd_available
from ._version import __version__


def info():
    """info() -> dict

    Facts about this fastinit and process, as ``fastinit info`` prints them
    (include them in bug reports).

    Returns
    -------
    dict
        ``version`` (fastinit's), ``stream_version``
        (:data:`fastinit.STREAM_VERSION`), ``simd`` (the active instruction
        set), ``simd_available``, ``num_threads``
        (:func:`fastinit.get_num_threads`), ``cpus`` (``os.cpu_count()``),
        ``machine``, ``python``, and ``env``: ``FASTINIT_SIMD`` and
        ``FASTINIT_NUM_THREADS`` when set.

    Examples
    --------
    >>> import fastinit
    >>> facts = fastinit.info()
    >>> facts["stream_version"], facts["simd"] == fastinit.simd()
    (1, True)
    >>> sorted(facts)                               # doctest: +NORMALIZE_WHITESPACE
    ['cpus', 'env', 'machine', 'num_threads', 'python', 'simd', 'simd_available',
     'stream_version', 'version']
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
