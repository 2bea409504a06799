# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled core of fastinit: buffer checks, kernel dispatch, GIL release, threads.

The numbers themselves are computed by the C kernels in ``csrc/``; this
module validates every argument before anything is written, picks the
kernel for the output dtype and the active instruction set, and splits
large fills over native threads.
"""

import hashlib
import os
import numbers

import numpy as np
cimport numpy as cnp
from libc.stdint cimport uint32_t, uint64_t
from libc.math cimport fabs, isfinite, isinf, isnan

cnp.import_array()

cdef extern from "Python.h":
    int PyErr_CheckSignals() except -1

cdef extern from "fi_kernels.h":
    ctypedef struct fi_params:
        int stream
    ctypedef void (*fi_fill_fn)(const fi_params *p, uint64_t offset, uint64_t n, void *out) noexcept nogil
    ctypedef struct fi_kernel_table:
        const char *name
        fi_fill_fn fill[4][4]
    int FI_STREAM_VERSION
    int FI_RAW, FI_UNIFORM, FI_NORMAL, FI_TRUNCNORM
    int FI_F32, FI_F64, FI_F16, FI_BF16
    int FI_SCALAR, FI_AVX2, FI_AVX512
    int fi_cpu_level() nogil
    const fi_kernel_table *fi_table_for(int level) nogil
    void fi_philox4x32_10(const uint32_t *ctr, const uint32_t *key, uint32_t *out) nogil
    void fi_params_key(fi_params *p, uint64_t seed, uint64_t stream) nogil
    void fi_params_uniform(fi_params *p, double low, double high) nogil
    void fi_params_normal(fi_params *p, double mean, double std) nogil
    int fi_params_truncnorm(fi_params *p, double mean, double std, double a, double b) nogil
    int fi_fill_parallel(fi_fill_fn fn, const fi_params *p, uint64_t offset, uint64_t n,
                         void *out, size_t itemsize, int nthreads, uint64_t min_per_thread) nogil

STREAM_VERSION = FI_STREAM_VERSION

# ---------------------------------------------------------------------------
# dtypes

try:
    import ml_dtypes as _ml_dtypes
    _BF16 = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is a dependency
    _ml_dtypes = None
    _BF16 = None

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_F16 = np.dtype(np.float16)
_U32 = np.dtype(np.uint32)

_FLOAT_NAMES = "float16, bfloat16, float32 or float64"
# largest finite value of each output dtype, for parameter checks
_DTYPE_LABEL = {0: "float32", 1: "float64", 2: "float16", 3: "bfloat16"}

cdef int _float_code(object dt) except -2:
    if dt is _F32 or dt == _F32:
        return FI_F32
    if dt is _F64 or dt == _F64:
        return FI_F64
    if dt is _F16 or dt == _F16:
        return FI_F16
    if _BF16 is not None and (dt is _BF16 or dt == _BF16):
        return FI_BF16
    return -1

# ---------------------------------------------------------------------------
# instruction set and threads

_LEVEL_NAMES = ("scalar", "avx2", "avx512")
cdef int _cpu_level = fi_cpu_level()
cdef int _level = _cpu_level
cdef const fi_kernel_table *_table = fi_table_for(_cpu_level)


def _simd_from_env():
    name = os.environ.get("FASTINIT_SIMD", "").strip().lower()
    if not name:
        return
    if name not in _LEVEL_NAMES:
        raise ValueError(
            f"FASTINIT_SIMD must be one of {', '.join(_LEVEL_NAMES)}; got {name!r}")
    wanted = _LEVEL_NAMES.index(name)
    _set_simd(_LEVEL_NAMES[min(wanted, _cpu_level)])


def _set_simd(name):
    """Force an instruction set no higher than the CPU's best (for tests and benchmarks)."""
    global _level, _table
    if name not in _LEVEL_NAMES:
        raise ValueError(f"simd level must be one of {', '.join(_LEVEL_NAMES)}; got {name!r}")
    lvl = _LEVEL_NAMES.index(name)
    if lvl > _cpu_level:
        raise ValueError(
            f"this CPU supports at most {_LEVEL_NAMES[_cpu_level]!r}; cannot use {name!r}")
    _level = lvl
    _table = fi_table_for(lvl)


def simd():
    """simd() -> str

    Name of the active instruction set: ``"avx512"``, ``"avx2"`` or ``"scalar"``.

    The default is the best level this CPU supports (see
    :func:`simd_available`); the environment variable ``FASTINIT_SIMD``
    (same names, read once at import) forces a lower one, and a level above
    the CPU's best falls back to the CPU's best. Every level produces
    bit-identical values; only the speed differs.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        At import, if ``FASTINIT_SIMD`` is set to another name.

    Examples
    --------
    >>> import fastinit
    >>> fastinit.simd() in ("avx512", "avx2", "scalar")
    True
    >>> fastinit.simd() in fastinit.simd_available()
    True
    """
    return _LEVEL_NAMES[_level]


def simd_available():
    """simd_available() -> tuple[str, ...]

    The instruction sets this CPU can run, lowest first: ``("scalar",)``,
    ``("scalar", "avx2")`` or ``("scalar", "avx2", "avx512")``.
    ``FASTINIT_SIMD`` may name any of them.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> import fastinit
    >>> fastinit.simd_available()[0]
    'scalar'
    """
    return _LEVEL_NAMES[:_cpu_level + 1]


def _default_threads():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


cdef int _nthreads = 1
# elements per thread below which a fill stays on fewer threads
cdef uint64_t _min_per_thread = 1 << 18
# elements per uninterrupted kernel run; signals are checked between runs
cdef uint64_t _chunk_per_thread = 1 << 22
# bytes from which a contiguous fill uses streaming (non-temporal) stores;
# the values are the same either way (measured: docs/performance.md)
cdef uint64_t _stream_bytes_raw = 32 << 20
cdef uint64_t _stream_bytes = 32 << 20


def _set_stream_threshold(nbytes, raw=None):
    """Set the streaming-store threshold in bytes of the float fills (and of
    ``fill_raw``: ``raw``, default the same); returns the old float one."""
    global _stream_bytes, _stream_bytes_raw
    old = _stream_bytes
    _stream_bytes = <uint64_t>nbytes
    _stream_bytes_raw = <uint64_t>(nbytes if raw is None else raw)
    return old


def _check_threads(n, name="n"):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1; got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{name} must be an int >= 1; got {n}")
    return int(n)


def set_num_threads(n):
    """set_num_threads(n) -> None

    Use up to ``n`` native threads for large fills, process-wide.

    A contiguous fill of ``size`` elements runs on ``min(n, size // 2**18)``
    threads, so a fill of fewer than 524,288 elements stays on the calling
    thread. The threads are created per call and joined before it returns
    (no pool: safe after ``fork()``). Values never depend on the thread
    count. ``n`` above 256 counts as 256. The default is the number of CPUs
    this process may run on (``os.sched_getaffinity``), or
    ``FASTINIT_NUM_THREADS`` when that is set; :func:`fastinit.num_threads`
    sets it for a ``with`` block.

    Parameters
    ----------
    n : int
        At least 1 (a Python or NumPy integer, not ``bool``).

    Raises
    ------
    TypeError
        If ``n`` is not an integer.
    ValueError
        If ``n < 1``.

    Examples
    --------
    >>> import fastinit
    >>> previous = fastinit.get_num_threads()
    >>> fastinit.set_num_threads(1)
    >>> fastinit.get_num_threads()
    1
    >>> fastinit.set_num_threads(previous)
    """
    global _nthreads
    _nthreads = min(_check_threads(n), 256)


def get_num_threads():
    """get_num_threads() -> int

    The number of threads large fills use: the last :func:`set_num_threads`,
    else ``FASTINIT_NUM_THREADS``, else the CPUs this process may run on.

    Returns
    -------
    int

    Examples
    --------
    >>> import fastinit
    >>> with fastinit.num_threads(2):
    ...     fastinit.get_num_threads()
    2
    """
    return _nthreads


def _threads_from_env():
    raw = os.environ.get("FASTINIT_NUM_THREADS", "").strip()
    if not raw:
        set_num_threads(_default_threads())
        return
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"FASTINIT_NUM_THREADS must be an int >= 1; got {raw!r}") from None
    set_num_threads(_check_threads(n, "FASTINIT_NUM_THREADS"))


_threads_from_env()
_simd_from_env()

# ---------------------------------------------------------------------------
# seeds, streams, offsets

_TWO64 = 1 << 64


def stream_id(name):
    """stream_id(name) -> int

    The named stream of ``name``: the first 8 bytes, little-endian, of
    ``hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()``.

    Giving every tensor of a model the stream of its name (as
    :func:`fastinit.init_params` and ``fastinit.torch.reset_parameters`` do)
    makes its values independent of construction order and of the other
    tensors. Initializers accept ``stream="name"`` for the same.

    Parameters
    ----------
    name : str

    Returns
    -------
    int
        In ``[0, 2**64)``.

    Raises
    ------
    TypeError
        If ``name`` is not a ``str``.

    Examples
    --------
    >>> import hashlib
    >>> from fastinit import stream_id
    >>> stream_id("dense.kernel")
    5379060296151245553
    >>> digest = hashlib.blake2b(b"dense.kernel", digest_size=8).digest()
    >>> stream_id("dense.kernel") == int.from_bytes(digest, "little")
    True
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got {type(name).__name__}")
    d = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(d, "little")


def _check_seed_type(seed):
    if seed is None or type(seed) is int and 0 <= seed < _TWO64:
        return
    if isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            "seed must be an int in [0, 2**64), None, a numpy.random.Generator or a "
            f"numpy.random.SeedSequence; got {type(seed).__name__}")
    if not 0 <= seed < _TWO64:
        raise ValueError(f"seed must be in [0, 2**64); got {seed}")


def resolve_seed(seed):
    """resolve_seed(seed) -> int

    The 64-bit seed that every ``seed=`` argument of fastinit makes of ``seed``:

    * an ``int`` (or NumPy integer, not ``bool``) in ``[0, 2**64)``: itself;
    * ``None``: fresh OS entropy (``os.urandom``), drawn anew at each call;
    * a ``numpy.random.Generator``:
      ``int(gen.integers(0, 2**64, dtype=numpy.uint64))``, which advances it;
    * a ``numpy.random.SeedSequence``:
      ``int(ss.generate_state(1, dtype=numpy.uint64)[0])``.

    Parameters
    ----------
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence

    Returns
    -------
    int
        In ``[0, 2**64)``.

    Raises
    ------
    TypeError
        For any other type (``bool`` and floats included).
    ValueError
        For an integer outside ``[0, 2**64)``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastinit import resolve_seed
    >>> resolve_seed(42)
    42
    >>> resolve_seed(np.random.SeedSequence(0))
    15793235383387715774
    >>> resolve_seed(np.random.default_rng(0)) == resolve_seed(np.random.default_rng(0))
    True
    """
    _check_seed_type(seed)
    if seed is None:
        return int.from_bytes(os.urandom(8), "little")
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, _TWO64, dtype=np.uint64))
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(1, dtype=np.uint64)[0])
    return int(seed)


def _check_u64(value, name):
    if type(value) is int and 0 <= value < _TWO64:
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int in [0, 2**64); got {type(value).__name__}")
    value = int(value)
    if not 0 <= value < _TWO64:
        raise ValueError(f"{name} must be in [0, 2**64); got {value}")
    return value


def _check_offset(value, out):
    # An empty out may start at 2**64 (the end of the stream): nothing is drawn.
    if type(value) is int and 0 <= value < _TWO64:
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) \
            and int(value) == _TWO64:
        if out.size == 0:
            return 0
        raise ValueError(f"offset + out.size must be <= 2**64; got offset={value} and "
                         f"out.size={out.size}")
    return _check_u64(value, "offset")


cdef double _real(object value, str name) except? -1.0:
    if type(value) is float:
        return <double>value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        text = str(value)
        if len(text) > 40:
            text = f"{text[:12]}...({len(text)} digits)"
        raise ValueError(f"{name} must be finite; got {text}") from None


def philox4x32(counter, key):
    """philox4x32(counter, key) -> tuple[int, int, int, int]

    One block of Philox4x32-10 (Salmon et al., SC11; Random123): ten rounds
    with multipliers ``0xD2511F53``, ``0xCD9E8D57`` and key increments
    ``0x9E3779B9``, ``0xBB67AE85``. Raw word ``i`` of ``(seed, stream)`` is
    word ``i % 4`` of ``philox4x32(counter, key)`` with ``b = i // 4``,
    ``counter = (b & 0xFFFFFFFF, b >> 32, stream & 0xFFFFFFFF, stream >> 32)``
    and ``key = (seed & 0xFFFFFFFF, seed >> 32)``.

    Parameters
    ----------
    counter : sequence of 4 ints
        Each in ``[0, 2**32)``.
    key : sequence of 2 ints
        Each in ``[0, 2**32)``.

    Returns
    -------
    tuple of 4 ints

    Raises
    ------
    TypeError
        For words that are not integers.
    ValueError
        For a wrong number of words, or a word outside ``[0, 2**32)``.

    Examples
    --------
    Two of Random123's known answers:

    >>> from fastinit import philox4x32
    >>> [hex(w) for w in philox4x32((0, 0, 0, 0), (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    >>> [hex(w) for w in philox4x32((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344),
    ...                             (0xa4093822, 0x299f31d0))]
    ['0xd16cfe09', '0x94fdcceb', '0x5001e420', '0x24126ea1']
    """
    cdef uint32_t c[4]
    cdef uint32_t k[2]
    cdef uint32_t o[4]
    for name, seq, n in (("counter", counter, 4), ("key", key, 2)):
        try:
            items = list(seq)
        except TypeError:
            raise TypeError(f"{name} must be a sequence of {n} ints in [0, 2**32)") from None
        if len(items) != n:
            raise ValueError(f"{name} must have {n} words; got {len(items)}")
        for w in items:
            if isinstance(w, (bool, np.bool_)) or not isinstance(w, numbers.Integral):
                raise TypeError(f"{name} words must be ints in [0, 2**32); got {type(w).__name__}")
            if not 0 <= w < (1 << 32):
                raise ValueError(f"{name} words must be in [0, 2**32); got {w}")
    for i in range(4):
        c[i] = <uint32_t>int(counter[i])
    for i in range(2):
        k[i] = <uint32_t>int(key[i])
    fi_philox4x32_10(c, k, o)
    return (o[0], o[1], o[2], o[3])

# ---------------------------------------------------------------------------
# the fill driver


cdef int _check_out(object out, bint raw) except -2:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    dt = out.dtype
    cdef int code
    native = dt if dt.isnative else dt.newbyteorder("=")
    if raw:
        if not (native is _U32 or native == _U32):
            raise TypeError(f"out must have dtype uint32; got {dt}")
        code = FI_F32
    else:
        code = _float_code(native)
        if code < 0:
            raise TypeError(f"out must have dtype {_FLOAT_NAMES}; got {dt}")
    if not dt.isnative:
        raise ValueError(f"out must be in native byte order; got dtype {dt.str!r}")
    if not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out):
        raise ValueError("out must be writable; got a read-only array")
    return code


cdef _check_span(object out, uint64_t offset):
    size = out.size
    if offset + size > _TWO64:
        raise ValueError(
            f"offset + out.size must be <= 2**64; got offset={offset} and out.size={size}")


cdef _fill(object out, int dist, int code, fi_params *params, uint64_t offset):
    """Fill out (already validated) with the kernel for (dist, dtype)."""
    cdef cnp.ndarray arr = <cnp.ndarray>out
    cdef uint64_t n = <uint64_t>cnp.PyArray_SIZE(arr)
    cdef size_t itemsize = <size_t>cnp.PyArray_ITEMSIZE(arr)
    cdef fi_fill_fn fn = _table.fill[dist][code]
    cdef char *data
    cdef uint64_t start, step, count
    cdef int nthreads = _nthreads
    cdef uint64_t minper = _min_per_thread
    if n == 0:
        return
    params.stream = n * itemsize >= (_stream_bytes_raw if dist == FI_RAW else _stream_bytes)
    if cnp.PyArray_IS_C_CONTIGUOUS(arr):
        data = <char *>cnp.PyArray_DATA(arr)
        if n <= minper:
            with nogil:
                fn(params, offset, n, data)
            return
        step = _chunk_per_thread * <uint64_t>nthreads
        start = 0
        while start < n:
            count = n - start if n - start < step else step
            with nogil:
                fi_fill_parallel(fn, params, offset + start, count, data + start * itemsize,
                                 itemsize, nthreads, minper)
            start += count
            if start < n:
                PyErr_CheckSignals()
        return
    # Any other layout: the value at a multi-index is the value of its C-order
    # flat index.  Small arrays go through one contiguous scratch buffer; large
    # ones are split along the first axis (each slice is a view whose C-order
    # indices are a contiguous range).
    if n <= (1 << 22) or arr.ndim <= 1:
        if arr.ndim <= 1 and n > (1 << 22):
            inner = 1 << 22
            flat = out
            for s in range(0, n, inner):
                piece = flat[s:s + inner]
                tmp = np.empty(piece.shape, dtype=out.dtype)
                _fill(tmp, dist, code, params, offset + s)
                piece[...] = tmp
                PyErr_CheckSignals()
            return
        tmp = np.empty(out.shape, dtype=out.dtype)
        _fill(tmp, dist, code, params, offset)
        np.copyto(out, tmp)
        return
    inner_n = n // out.shape[0]
    for i in range(out.shape[0]):
        _fill(out[i], dist, code, params, offset + i * inner_n)
        PyErr_CheckSignals()


cdef double _DTYPE_MAXV[4]
_DTYPE_MAXV[0] = 3.4028234663852886e38
_DTYPE_MAXV[1] = 1.7976931348623157e308
_DTYPE_MAXV[2] = 65504.0
_DTYPE_MAXV[3] = 3.3895313892515355e38


cdef int _check_param_in_dtype(double value, str name, int code) except -1:
    if not isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if fabs(value) > _DTYPE_MAXV[code]:
        raise ValueError(
            f"{name} must be finite in the output dtype {_DTYPE_LABEL[code]} "
            f"(|{name}| <= {_DTYPE_MAXV[code]:g}); got {value}")
    return 0


def fill_raw(out, *, seed=None, stream=0, offset=0):
    """fill_raw(out, *, seed=None, stream=0, offset=0) -> out

    Fill a uint32 array with raw Philox4x32-10 words.

    Element ``k`` of ``out`` (C order) is word ``i = offset + k`` of
    ``(seed, stream)``: word ``i % 4`` of :func:`philox4x32` with counter
    ``(b & 0xFFFFFFFF, b >> 32, stream & 0xFFFFFFFF, stream >> 32)``,
    ``b = i // 4``, and key ``(seed & 0xFFFFFFFF, seed >> 32)``.

    Parameters
    ----------
    out : numpy.ndarray
        Writable uint32 array in native byte order; any shape or layout.
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        See :func:`resolve_seed`; ``None`` (the default) draws fresh OS
        entropy: pass a seed to reproduce a fill.
    stream : int
        In ``[0, 2**64)``; :func:`stream_id` names one.
    offset : int
        Logical C-order flat index of ``out``'s first element.
        ``offset + out.size <= 2**64``.

    Returns
    -------
    numpy.ndarray
        ``out`` itself.

    Raises
    ------
    TypeError
        For a non-array ``out``, a dtype other than uint32, or a seed, stream
        or offset of the wrong type.
    ValueError
        For a read-only or byte-swapped ``out``, a seed, stream or offset out
        of range, or ``offset + out.size > 2**64``. Nothing is written when
        anything raises.

    Examples
    --------
    >>> import numpy as np
    >>> from fastinit import fill_raw, philox4x32
    >>> words = fill_raw(np.empty(8, np.uint32), seed=0)
    >>> hex(int(words[0]))
    '0x6627e8d5'
    >>> tuple(int(w) for w in words[4:]) == philox4x32((1, 0, 0, 0), (0, 0))
    True
    """
    cdef fi_params params
    _check_out(out, True)
    stream_ = _check_u64(stream, "stream")
    offset_ = _check_offset(offset, out)
    _check_seed_type(seed)
    _check_span(out, offset_)
    fi_params_key(&params, resolve_seed(seed), stream_)
    _fill(out, FI_RAW, FI_F32, &params, offset_)
    return out


def fill_uniform(out, low=0.0, high=1.0, *, seed=None, stream=0, offset=0):
    r"""fill_uniform(out, low=0.0, high=1.0, *, seed=None, stream=0, offset=0) -> out

    Fill ``out`` with samples of the uniform distribution on ``[low, high)``:

    .. math::

        x = \min(\mathrm{low} + u\,(\mathrm{high} - \mathrm{low}),\ \mathrm{high})

    with :math:`u = \lfloor w / 2^8 \rfloor\, 2^{-24}` for a raw word
    :math:`w` (float32, float16 and bfloat16, computed in float32), or a
    53-bit :math:`u` from two words (float64); ``docs/stream.md`` gives the
    exact operations. float16/bfloat16 values are the float32 values rounded
    once to nearest even, so no value leaves ``[low, high]`` rounded to the
    dtype (``high`` itself is reached only by rounding).

    Parameters
    ----------
    out : numpy.ndarray
        Writable, native byte order, dtype float16, bfloat16
        (``ml_dtypes.bfloat16``), float32 or float64; any shape, layout or
        alignment (C-contiguous is the fast path). The value at a multi-index
        is the value of its C-order flat index.
    low, high : float
        ``low <= high``, both finite in the output dtype (and ``high - low``
        finite in float32, except for float64 output).
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        See :func:`resolve_seed`; ``None`` (the default) draws fresh OS
        entropy: pass a seed to reproduce a fill.
    stream : int
        In ``[0, 2**64)``; :func:`stream_id` names one.
    offset : int
        Logical C-order flat index of ``out``'s first element: filling
        ``x[k:]`` with ``offset=k`` gives exactly the values that filling
        all of ``x`` puts there. ``offset + out.size <= 2**64``.

    Returns
    -------
    numpy.ndarray
        ``out`` itself.

    Raises
    ------
    TypeError
        For a non-array ``out``, another dtype, or an argument of the wrong
        type.
    ValueError
        For a read-only or byte-swapped ``out``, NaN, infinite or (in the
        output dtype) overflowing bounds, ``low > high``, a seed, stream or
        offset out of range, or ``offset + out.size > 2**64``. Nothing is
        written when anything raises.

    Examples
    --------
    >>> import numpy as np
    >>> from fastinit import fill_uniform
    >>> x = fill_uniform(np.empty(4, np.float32), seed=0)
    >>> x
    array([0.39904642, 0.97224116, 0.01944941, 0.78736776], dtype=float32)
    >>> tail = fill_uniform(np.empty(2, np.float32), seed=0, offset=2)
    >>> bool((tail == x[2:]).all())
    True
    >>> y = fill_uniform(np.empty((256, 256), np.float32), -1.0, 1.0, seed=7)
    >>> bool(y.min() >= -1.0 and y.max() <= 1.0)
    True
    """
    cdef fi_params params
    cdef int code = _check_out(out, False)
    cdef double low_, high_
    low_ = _real(low, "low")
    high_ = _real(high, "high")
    _check_param_in_dtype(low_, "low", code)
    _check_param_in_dtype(high_, "high", code)
    if low_ > high_:
        raise ValueError(f"low must be <= high; got low={low_} and high={high_}")
    # the float32 kernels scale by the float32 difference of the float32 bounds
    if code == FI_F64 and isinf(high_ - low_):
        raise ValueError(
            f"high - low must be finite in float64; got low={low_} and high={high_}")
    if code != FI_F64 and isinf(<float>(<float>high_ - <float>low_)):
        raise ValueError(
            f"high - low must be finite in float32; got low={low_} and high={high_}")
    stream_ = _check_u64(stream, "stream")
    offset_ = _check_offset(offset, out)
    _check_seed_type(seed)
    _check_span(out, offset_)
    fi_params_key(&params, resolve_seed(seed), stream_)
    fi_params_uniform(&params, low_, high_)
    _fill(out, FI_UNIFORM, code, &params, offset_)
    return out


def fill_normal(out, mean=0.0, std=1.0, *, seed=None, stream=0, offset=0):
    r"""fill_normal(out, mean=0.0, std=1.0, *, seed=None, stream=0, offset=0) -> out

    Fill ``out`` with samples of :math:`\mathcal N(\mathrm{mean}, \mathrm{std}^2)`
    by the Box-Muller transform:

    .. math::

        x = \mathrm{mean} + \mathrm{std}\,\sqrt{-2 \ln u_1}\,
            \{\cos, \sin\}(2 \pi u_2)

    with :math:`u_1 \in (0, 1]` and :math:`u_2 \in [0, 1)` from one pair of
    raw words for each two elements (``docs/stream.md`` gives the exact
    operations). Computed in float32 for float32, float16 and bfloat16
    (rounded once to the dtype) and in float64 for float64, with fastinit's
    own ``log`` and ``sincos``, so the bits are the same on every platform.

    Parameters
    ----------
    out : numpy.ndarray
        Writable, native byte order, dtype float16, bfloat16
        (``ml_dtypes.bfloat16``), float32 or float64; any shape, layout or
        alignment (C-contiguous is the fast path). The value at a multi-index
        is the value of its C-order flat index.
    mean, std : float
        ``std >= 0``; both finite in the output dtype.
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        See :func:`resolve_seed`; ``None`` (the default) draws fresh OS
        entropy: pass a seed to reproduce a fill.
    stream : int
        In ``[0, 2**64)``; :func:`stream_id` names one.
    offset : int
        Logical C-order flat index of ``out``'s first element.
        ``offset + out.size <= 2**64``.

    Returns
    -------
    numpy.ndarray
        ``out`` itself.

    Raises
    ------
    TypeError
        For a non-array ``out``, another dtype, or an argument of the wrong
        type.
    ValueError
        For a read-only or byte-swapped ``out``, NaN, infinite or (in the
        output dtype) overflowing parameters, ``std < 0``, a seed, stream or
        offset out of range, or ``offset + out.size > 2**64``. Nothing is
        written when anything raises.

    Examples
    --------
    >>> import numpy as np
    >>> from fastinit import fill_normal
    >>> fill_normal(np.empty(4, np.float32), seed=0)
    array([ 0.99113744, -0.15363811, -1.1863573 , -0.5954069 ], dtype=float32)
    >>> x = fill_normal(np.empty(100_000, np.float32), 0.0, 2.0, seed=1)
    >>> bool(abs(x.std() - 2.0) < 0.05)
    True
    """
    cdef fi_params params
    cdef int code = _check_out(out, False)
    cdef double mean_, std_
    mean_ = _real(mean, "mean")
    std_ = _real(std, "std")
    _check_param_in_dtype(mean_, "mean", code)
    _check_param_in_dtype(std_, "std", code)
    if std_ < 0:
        raise ValueError(f"std must be >= 0; got {std_}")
    stream_ = _check_u64(stream, "stream")
    offset_ = _check_offset(offset, out)
    _check_seed_type(seed)
    _check_span(out, offset_)
    fi_params_key(&params, resolve_seed(seed), stream_)
    fi_params_normal(&params, mean_, std_)
    _fill(out, FI_NORMAL, code, &params, offset_)
    return out


def fill_truncated_normal(out, mean=0.0, std=1.0, a=-2.0, b=2.0, *, seed=None, stream=0,
                          offset=0):
    r"""fill_truncated_normal(out, mean=0.0, std=1.0, a=-2.0, b=2.0, *, seed=None, stream=0, offset=0) -> out

    Fill ``out`` with samples of :math:`\mathcal N(\mathrm{mean}, \mathrm{std}^2)`
    conditioned on :math:`\mathrm{mean} + a\,\mathrm{std} \le x \le
    \mathrm{mean} + b\,\mathrm{std}`, by inverting the normal CDF on the
    window, one raw word per element and no rejection:

    .. math::

        x = \mathrm{mean} + \mathrm{std}\,
            \Phi^{-1}\bigl(\Phi(a) + u\,(\Phi(b) - \Phi(a))\bigr),
        \qquad u \in (0, 1),

    clamped to the window; :math:`\Phi^{-1}` is Wichura's AS 241, evaluated
    on the nearer tail so that windows far in a tail stay exact (in every
    dtype out to about 37.5 std: float32-family windows beyond about 12.9
    std are inverted in double precision); ``docs/stream.md`` gives the exact
    operations. ``a`` and ``b`` are in units of ``std``, as in Keras and JAX
    (torch's ``trunc_normal_`` takes absolute bounds; ``fastinit.torch``
    converts). No value lies outside ``[mean + a*std, mean + b*std]``
    rounded to the dtype, and values do not pile up at the bounds, in
    float16 and bfloat16 too.

    Parameters
    ----------
    out : numpy.ndarray
        Writable, native byte order, dtype float16, bfloat16
        (``ml_dtypes.bfloat16``), float32 or float64; any shape, layout or
        alignment (C-contiguous is the fast path). The value at a multi-index
        is the value of its C-order flat index.
    mean, std : float
        Mean and standard deviation of the normal *before* truncation,
        ``std >= 0``; both finite in the output dtype.
    a, b : float
        The window in units of ``std``, ``a < b``; either may be infinite.
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        See :func:`resolve_seed`; ``None`` (the default) draws fresh OS
        entropy: pass a seed to reproduce a fill.
    stream : int
        In ``[0, 2**64)``; :func:`stream_id` names one.
    offset : int
        Logical C-order flat index of ``out``'s first element.
        ``offset + out.size <= 2**64``.

    Returns
    -------
    numpy.ndarray
        ``out`` itself.

    Raises
    ------
    TypeError
        For a non-array ``out``, another dtype, or an argument of the wrong
        type.
    ValueError
        For a read-only or byte-swapped ``out``, NaN, infinite or (in the
        output dtype) overflowing ``mean`` or ``std``, ``std < 0``, NaN ``a``
        or ``b``, ``a >= b``, a window whose probability underflows double
        precision (lying wholly beyond about 37.5 std), a seed, stream or
        offset out of range, or ``offset + out.size > 2**64``. Nothing is
        written when anything raises.

    Examples
    --------
    >>> import numpy as np
    >>> from fastinit import fill_truncated_normal
    >>> x = fill_truncated_normal(np.empty(10_000, np.float32), 0.0, 0.5, seed=3)
    >>> bool(x.min() >= -1.0 and x.max() <= 1.0)
    True
    >>> tail = fill_truncated_normal(np.empty(1000), a=6.0, b=np.inf, seed=3)
    >>> bool(tail.min() >= 6.0)
    True
    """
    cdef fi_params params
    cdef int code = _check_out(out, False)
    cdef int rc
    cdef double mean_, std_, a_, b_
    mean_ = _real(mean, "mean")
    std_ = _real(std, "std")
    a_ = _real(a, "a")
    b_ = _real(b, "b")
    _check_param_in_dtype(mean_, "mean", code)
    _check_param_in_dtype(std_, "std", code)
    if std_ < 0:
        raise ValueError(f"std must be >= 0; got {std_}")
    if isnan(a_) or isnan(b_):
        raise ValueError(f"a and b must not be NaN; got a={a_} and b={b_}")
    if not a_ < b_:
        raise ValueError(f"a must be < b; got a={a_} and b={b_}")
    stream_ = _check_u64(stream, "stream")
    offset_ = _check_offset(offset, out)
    _check_seed_type(seed)
    _check_span(out, offset_)
    fi_params_key(&params, resolve_seed(seed), stream_)
    rc = fi_params_truncnorm(&params, mean_, std_, a_, b_)
    if rc == -2:
        raise ValueError(f"the window a={a_}, b={b_} lies so far in a tail (beyond about "
                         "37.5 std) that its probability underflows double precision; "
                         "no value can be sampled from it")
    if rc != 0:  # pragma: no cover
        raise ValueError(f"a must be < b; got a={a_} and b={b_}")
    _fill(out, FI_TRUNCNORM, code, &params, offset_)
    return out
