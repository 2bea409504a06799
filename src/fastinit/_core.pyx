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
from libc.math cimport fabs, isfinite, isinf, isnan, INFINITY

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

from ._dtypes import BFLOAT16 as _BF16  # ml_dtypes' bfloat16 (a dependency)

_FLOAT_NAMES = "float16, bfloat16, float32 or float64"
# largest finite value of each output dtype, for parameter checks
_DTYPE_LABEL = {0: "float32", 1: "float64", 2: "float16", 3: "bfloat16"}

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


def check_threads(n, name="n"):
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
    _nthreads = min(check_threads(n), 256)


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
    set_num_threads(check_threads(n, "FASTINIT_NUM_THREADS"))


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
#
# One prepared fill for all four public functions, in this order:
#   1. every argument that can run user code (__float__, __index__, __int__)
#      is converted to a C value;
#   2. the buffer's layout is read ONCE, at C level, from the ndarray struct
#      (never through a subclass's attributes or __getitem__) into a
#      _layout: base pointer, dtype code, item size, size, and shape/strides
#      unless C-contiguous;
#   3. the parameters are checked against that dtype, and offset + size;
#   4. the seed is drawn (a Generator or SeedSequence may run user code, and
#      is not advanced when step 2 or 3 raises), then the array is checked to
#      be the one that was read (same dtype object, data pointer, size and
#      writability), else ValueError;
#   5. the kernels write through the _layout only.

cdef extern from "string.h":
    void *memcpy(void *dst, const void *src, size_t n) nogil

cdef extern from "numpy/arrayobject.h":
    # steals a reference to descr
    object PyArray_NewFromDescr(type subtype, cnp.dtype descr, int nd, cnp.npy_intp *dims,
                                cnp.npy_intp *strides, void *data, int flags, object obj)

from cpython.ref cimport Py_INCREF

cdef enum:
    _MAXDIM = 64

ctypedef struct _layout:
    char *data
    uint64_t n
    size_t itemsize
    int code                  # FI_F32/F64/F16/BF16 (FI_F32 for raw uint32)
    int contiguous            # C-contiguous: shape/strides unused
    int ndim                  # after dropping length-1 axes and merging
    void *descr               # identity of the dtype that was read
    Py_ssize_t shape[_MAXDIM]
    Py_ssize_t strides[_MAXDIM]

cdef int _BF16_NUM = _BF16.num
cdef int _NPY_HALF = np.dtype(np.float16).num


cdef int _dtype_code(cnp.dtype dt, bint raw, str what) except -1:
    """The kernels' output code of ``dt`` (byte order aside), else TypeError."""
    cdef int tn = dt.type_num
    if raw:
        if tn == cnp.NPY_UINT or (tn == cnp.NPY_ULONG and dt.itemsize == 4):
            return FI_F32
        raise TypeError(f"{what} uint32; got {dt}")
    if tn == cnp.NPY_FLOAT:
        return FI_F32
    if tn == cnp.NPY_DOUBLE:
        return FI_F64
    if tn == _NPY_HALF:
        return FI_F16
    if tn == _BF16_NUM:
        return FI_BF16
    raise TypeError(f"{what} {_FLOAT_NAMES}; got {dt}")


cdef int _read_layout(object out, bint raw, _layout *L) except -1:
    """Step 2: read out's layout from the ndarray struct; raise for a bad out."""
    cdef cnp.ndarray arr
    cdef cnp.dtype dt
    cdef int code, nd, i, k
    cdef cnp.npy_intp *dims
    cdef cnp.npy_intp *strd
    if not cnp.PyArray_Check(out):
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    arr = <cnp.ndarray>out
    dt = <cnp.dtype>cnp.PyArray_DESCR(arr)
    code = _dtype_code(dt, raw, "out must have dtype")
    if not cnp.PyArray_ISNBO(dt.byteorder):
        raise ValueError(f"out must be in native byte order; got dtype {dt.str!r}")
    if not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError("out must be writable; got a read-only array")
    L.data = <char *>cnp.PyArray_DATA(arr)
    L.n = <uint64_t>cnp.PyArray_SIZE(arr)
    L.itemsize = <size_t>cnp.PyArray_ITEMSIZE(arr)
    L.code = code
    L.descr = <void *>cnp.PyArray_DESCR(arr)
    L.contiguous = cnp.PyArray_IS_C_CONTIGUOUS(arr)
    L.ndim = 0
    if L.contiguous or L.n == 0:
        L.contiguous = 1
        return 0
    # Drop length-1 axes and merge neighbours that step as one (C order).
    nd = cnp.PyArray_NDIM(arr)
    dims = cnp.PyArray_DIMS(arr)
    strd = cnp.PyArray_STRIDES(arr)
    k = 0
    for i in range(nd):
        if dims[i] == 1:
            continue
        if k > 0 and L.strides[k - 1] == strd[i] * dims[i]:
            L.shape[k - 1] *= dims[i]
            L.strides[k - 1] = strd[i]
            continue
        L.shape[k] = dims[i]
        L.strides[k] = strd[i]
        k += 1
    L.ndim = k
    if k == 0 or (k == 1 and L.strides[0] == <Py_ssize_t>L.itemsize):
        L.contiguous = 1  # pragma: no cover - NumPy's flags already say so
    return 0


cdef int _check_same(object out, _layout *L) except -1:
    """Step 4: out is still the array whose layout was read."""
    cdef cnp.ndarray arr = <cnp.ndarray>out
    if (<void *>cnp.PyArray_DESCR(arr) != L.descr or <char *>cnp.PyArray_DATA(arr) != L.data
            or <uint64_t>cnp.PyArray_SIZE(arr) != L.n or not cnp.PyArray_ISWRITEABLE(arr)):
        raise ValueError(
            "out changed (dtype, data, size or writability) while the seed was drawn; "
            "nothing was written")
    return 0


cdef inline void _fill_contig(fi_fill_fn fn, const fi_params *params, uint64_t offset,
                              uint64_t n, char *data, size_t itemsize, int nthreads,
                              uint64_t minper) noexcept nogil:
    if n <= minper or nthreads <= 1:
        fn(params, offset, n, data)
    else:
        fi_fill_parallel(fn, params, offset, n, data, itemsize, nthreads, minper)


cdef void _scatter(const char *src, size_t isz, uint64_t m, const _layout *L,
                   Py_ssize_t *idx, char **cursor) noexcept nogil:
    """Copy m contiguous items from src to the strided positions of L that
    follow the multi-index idx (pointer *cursor), advancing both."""
    cdef int nd = L.ndim, d
    cdef Py_ssize_t st = L.strides[nd - 1], inner = L.shape[nd - 1], k, j
    cdef char *p = cursor[0]
    while m > 0:
        k = inner - idx[nd - 1]
        if <uint64_t>k > m:
            k = <Py_ssize_t>m
        if isz == 4:
            for j in range(k):
                memcpy(p, src, 4)
                p += st
                src += 4
        elif isz == 2:
            for j in range(k):
                memcpy(p, src, 2)
                p += st
                src += 2
        else:
            for j in range(k):
                memcpy(p, src, 8)
                p += st
                src += 8
        m -= <uint64_t>k
        idx[nd - 1] += k
        if idx[nd - 1] == inner:
            p -= st * inner
            idx[nd - 1] = 0
            d = nd - 2
            while d >= 0:
                idx[d] += 1
                p += L.strides[d]
                if idx[d] < L.shape[d]:
                    break
                p -= L.strides[d] * L.shape[d]
                idx[d] = 0
                d -= 1
    cursor[0] = p


cdef int _run(_layout *L, int dist, const fi_params *params, uint64_t offset,
              cnp.dtype descr) except -1:
    """Step 5: fill the buffer L describes; signals are checked between chunks.
    ``descr`` is the dtype object L was read with (held by the caller)."""
    cdef fi_fill_fn fn = _table.fill[dist][L.code]
    cdef int nthreads = _nthreads
    cdef uint64_t minper = _min_per_thread
    cdef uint64_t n = L.n, start, step, count
    cdef size_t isz = L.itemsize
    cdef char *scratch
    cdef char *cursor
    cdef Py_ssize_t idx[_MAXDIM]
    cdef int d
    if n == 0:
        return 0
    if L.contiguous:
        if n <= minper:
            with nogil:
                fn(params, offset, n, L.data)
            return 0
        step = _chunk_per_thread * <uint64_t>nthreads
        start = 0
        while start < n:
            count = n - start if n - start < step else step
            with nogil:
                fi_fill_parallel(fn, params, offset + start, count, L.data + start * isz,
                                 isz, nthreads, minper)
            start += count
            if start < n:
                PyErr_CheckSignals()
        return 0
    # Any other layout: the value at a multi-index is the value of its C-order
    # flat index.  Fill a contiguous scratch buffer chunk by chunk and scatter
    # it in C order; no Python indexing, no recursion.
    step = _chunk_per_thread if n > _chunk_per_thread else n
    # NumPy's allocator, as for any temporary array (tracked, and returned to
    # the system as NumPy's own temporaries are)
    cdef cnp.ndarray held = np.empty(<Py_ssize_t>(step * isz), np.uint8)
    scratch = <char *>cnp.PyArray_DATA(held)
    cdef cnp.ndarray dst, src
    if n <= step:
        # One chunk: NumPy's strided copy (it picks a cache-friendly order, which
        # matters for transposes) between two plain ndarrays made here from L.
        with nogil:
            _fill_contig(fn, params, offset, n, scratch, isz, nthreads, minper)
        Py_INCREF(descr)
        dst = PyArray_NewFromDescr(np.ndarray, descr, L.ndim, <cnp.npy_intp *>L.shape,
                                   <cnp.npy_intp *>L.strides, L.data, cnp.NPY_ARRAY_WRITEABLE,
                                   None)
        Py_INCREF(descr)
        src = PyArray_NewFromDescr(np.ndarray, descr, L.ndim, <cnp.npy_intp *>L.shape, NULL,
                                   scratch, cnp.NPY_ARRAY_WRITEABLE, None)
        cnp.PyArray_CopyInto(dst, src)
        return 0
    for d in range(L.ndim):
        idx[d] = 0
    cursor = L.data
    start = 0
    while start < n:
        count = n - start if n - start < step else step
        with nogil:
            _fill_contig(fn, params, offset + start, count, scratch, isz, nthreads, minper)
            _scatter(scratch, isz, count, L, idx, &cursor)
        start += count
        if start < n:
            PyErr_CheckSignals()
    return 0


cdef double _DTYPE_MAXV[4]
_DTYPE_MAXV[0] = 3.4028234663852886e38
_DTYPE_MAXV[1] = 1.7976931348623157e308
_DTYPE_MAXV[2] = 65504.0
_DTYPE_MAXV[3] = 3.3895313892515355e38
# smallest magnitude that rounds (to nearest even) to infinity in each dtype
cdef double _DTYPE_OVERFLOW[4]
_DTYPE_OVERFLOW[0] = 3.4028235677973366e38
_DTYPE_OVERFLOW[1] = float("inf")
_DTYPE_OVERFLOW[2] = 65520.0
_DTYPE_OVERFLOW[3] = 3.3961775292304416e38


cdef int _check_param_in_dtype(double value, str name, int code) except -1:
    if not isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if fabs(value) > _DTYPE_MAXV[code]:
        raise ValueError(
            f"{name} must be finite in the output dtype {_DTYPE_LABEL[code]} "
            f"(|{name}| <= {_DTYPE_MAXV[code]:g}); got {value}")
    return 0


cdef int _check_params(int dist, int code, double p0, double p1, double p2,
                       double p3) except -1:
    """Step 3: the distribution's parameters, against the output dtype."""
    cdef double lo, hi
    if dist == FI_UNIFORM:
        _check_param_in_dtype(p0, "low", code)
        _check_param_in_dtype(p1, "high", code)
        if p0 > p1:
            raise ValueError(f"low must be <= high; got low={p0} and high={p1}")
        # the float32 kernels scale by the float32 difference of the float32 bounds
        if code == FI_F64 and isinf(p1 - p0):
            raise ValueError(
                f"high - low must be finite in float64; got low={p0} and high={p1}")
        if code != FI_F64 and isinf(<float>(<float>p1 - <float>p0)):
            raise ValueError(
                f"high - low must be finite in float32; got low={p0} and high={p1}")
    elif dist == FI_NORMAL or dist == FI_TRUNCNORM:
        _check_param_in_dtype(p0, "mean", code)
        _check_param_in_dtype(p1, "std", code)
        if p1 < 0:
            raise ValueError(f"std must be >= 0; got {p1}")
    if dist == FI_TRUNCNORM:
        if isnan(p2) or isnan(p3):
            raise ValueError(f"a and b must not be NaN; got a={p2} and b={p3}")
        if not p2 < p3:
            raise ValueError(f"a must be < b; got a={p2} and b={p3}")
        # a window wholly beyond the dtype's finite range could only give inf
        lo = -INFINITY if p2 == -INFINITY else p0 + p2 * p1
        hi = INFINITY if p3 == INFINITY else p0 + p3 * p1
        if lo >= _DTYPE_OVERFLOW[code] or hi <= -_DTYPE_OVERFLOW[code]:
            raise ValueError(
                f"the truncation window [mean + a*std, mean + b*std] = [{lo:g}, {hi:g}] "
                f"lies outside the finite range of the output dtype {_DTYPE_LABEL[code]} "
                f"(|x| <= {_DTYPE_MAXV[code]:g}); got mean={p0}, std={p1}, a={p2}, b={p3}")
    return 0


cdef int _check_span(uint64_t n, uint64_t offset) except -1:
    # offset + n > 2**64, without wrapping
    if n > 0 and offset > <uint64_t>0xFFFFFFFFFFFFFFFF - (n - 1):
        raise ValueError(
            f"offset + out.size must be <= 2**64; got offset={offset} and out.size={n}")
    return 0


cdef int _read_offset(object offset, uint64_t *offset_, bint *at_end) except -1:
    """Step 1 for ``offset``: [0, 2**64), or exactly 2**64 (an empty fill may end there)."""
    at_end[0] = False
    if type(offset) is int and 0 <= offset < _TWO64:
        offset_[0] = offset
    elif (isinstance(offset, numbers.Integral) and not isinstance(offset, (bool, np.bool_))
            and int(offset) == _TWO64):
        at_end[0] = True
        offset_[0] = 0
    else:
        offset_[0] = _check_u64(offset, "offset")
    return 0


cdef int _set_dist(fi_params *params, int dist, double p0, double p1, double p2,
                   double p3) except -1:
    """The distribution's constants in ``params`` (checked parameters; the key apart)."""
    cdef int rc
    if dist == FI_UNIFORM:
        fi_params_uniform(params, p0, p1)
    elif dist == FI_NORMAL:
        fi_params_normal(params, p0, p1)
    elif dist == FI_TRUNCNORM:
        rc = fi_params_truncnorm(params, p0, p1, p2, p3)
        if rc == -2:
            raise ValueError(f"the window a={p2}, b={p3} lies so far in a tail (beyond about "
                             "37.5 std) that its probability underflows double precision; "
                             "no value can be sampled from it")
        if rc != 0:  # pragma: no cover
            raise ValueError(f"a must be < b; got a={p2} and b={p3}")
    return 0


cdef int _check_extent(const _layout *L, uint64_t offset, bint at_end) except -1:
    """Step 3 for the buffer: offset + size <= 2**64."""
    if at_end and L.n:
        raise ValueError(f"offset + out.size must be <= 2**64; got offset={_TWO64} and "
                         f"out.size={L.n}")
    _check_span(L.n, offset)
    return 0


cdef int _write(_layout *L, int dist, fi_params *params, uint64_t offset) except -1:
    """Step 5 for a buffer whose layout L was read and checked, with params
    complete but for the streaming-store flag."""
    # streaming stores for large contiguous fills (the bytes are the same)
    params.stream = L.contiguous and L.n * L.itemsize >= (
        _stream_bytes_raw if dist == FI_RAW else _stream_bytes)
    _run(L, dist, params, offset, <cnp.dtype>L.descr)
    return 0


cdef object _prepared_fill(object out, int dist, double p0, double p1, double p2, double p3,
                           object seed, object stream, object offset):
    """Steps 1 (rest) to 5 for one public fill; the caller converted p0..p3."""
    cdef fi_params params
    cdef _layout L
    cdef uint64_t stream_, offset_, seed_
    cdef bint at_end
    stream_ = _check_u64(stream, "stream")
    _read_offset(offset, &offset_, &at_end)
    _check_seed_type(seed)
    _read_layout(out, dist == FI_RAW, &L)
    _check_params(dist, L.code, p0, p1, p2, p3)
    _check_extent(&L, offset_, at_end)
    _set_dist(&params, dist, p0, p1, p2, p3)  # before the seed is drawn: may raise
    if type(seed) is int:
        seed_ = seed
    else:
        seed_ = resolve_seed(seed)
        _check_same(out, &L)
    fi_params_key(&params, seed_, stream_)
    _write(&L, dist, &params, offset_)
    return out


_DISTS = {"raw": FI_RAW, "uniform": FI_UNIFORM, "normal": FI_NORMAL,
          "truncated_normal": FI_TRUNCNORM}
# the fill functions' defaults of p0..p3, by distribution
_DIST_NAMES = {v: k for k, v in _DISTS.items()}
_DEFAULTS = {FI_RAW: (0.0, 0.0, 0.0, 0.0), FI_UNIFORM: (0.0, 1.0, 0.0, 0.0),
             FI_NORMAL: (0.0, 1.0, 0.0, 0.0), FI_TRUNCNORM: (0.0, 1.0, -2.0, 2.0)}


cdef class PreparedFill:
    """PreparedFill(dist, dtype, p0=None, p1=None, p2=None, p3=None, *, seed, stream=0)

    A fill checked once and run on any number of buffers: the distribution,
    its parameters against the output dtype, the seed and the stream are
    checked (and the seed resolved) at construction; a call then only reads
    the buffer's layout and writes it.

    ``fill = PreparedFill("normal", np.dtype("float32"), mean, std, seed=s, stream=k)``
    followed by ``fill(out, offset)`` writes exactly what
    ``fill_normal(out, mean, std, seed=s, stream=k, offset=offset)`` writes.

    Parameters
    ----------
    dist : {"raw", "uniform", "normal", "truncated_normal"}
    dtype : numpy.dtype
        The output dtype (uint32 for ``"raw"``; else float16, bfloat16,
        float32 or float64); every buffer must have it.
    p0, p1, p2, p3 : float
        ``low, high`` (uniform), ``mean, std`` (normal), ``mean, std, a, b``
        (truncated normal), with the checks and (for None) the defaults of
        the ``fill_*`` functions.
    seed
        As :func:`resolve_seed`, resolved once here (``None`` draws once).
    stream : int
        In ``[0, 2**64)``.

    Calling: ``fill(out, offset=0) -> out``, ``out`` an array of the dtype
    (any shape or layout), ``offset`` its first element's C-order flat index
    in the stream, ``offset + out.size <= 2**64``.
    """
    cdef fi_params params
    cdef int dist, code
    cdef readonly object dtype
    cdef readonly object seed
    cdef readonly object stream
    cdef tuple _params  # (p0, p1, p2, p3) as checked, for pickling

    def __cinit__(self, str dist, dtype, p0=None, p1=None, p2=None, p3=None, *, seed,
                  stream=0):
        cdef double q0, q1, q2, q3
        if dist not in _DISTS:
            raise ValueError(f"dist must be one of {', '.join(_DISTS)}; got {dist!r}")
        self.dist = _DISTS[dist]
        d0, d1, d2, d3 = _DEFAULTS[self.dist]
        p0 = d0 if p0 is None else p0
        p1 = d1 if p1 is None else p1
        p2 = d2 if p2 is None else p2
        p3 = d3 if p3 is None else p3
        if not isinstance(dtype, np.dtype):
            raise TypeError(f"dtype must be a numpy.dtype; got {type(dtype).__name__}")
        self.code = _dtype_code(<cnp.dtype>dtype, self.dist == FI_RAW, "dtype must be")
        if not cnp.PyArray_ISNBO((<cnp.dtype>dtype).byteorder):
            raise ValueError(f"dtype must be in native byte order; got {dtype.str!r}")
        self.dtype = dtype
        q0 = _real(p0, "p0")
        q1 = _real(p1, "p1")
        q2 = _real(p2, "p2")
        q3 = _real(p3, "p3")
        self.stream = _check_u64(stream, "stream")
        _check_seed_type(seed)
        _check_params(self.dist, self.code, q0, q1, q2, q3)
        _set_dist(&self.params, self.dist, q0, q1, q2, q3)
        self._params = (q0, q1, q2, q3)
        self.seed = seed if type(seed) is int and 0 <= seed < _TWO64 else resolve_seed(seed)
        fi_params_key(&self.params, <uint64_t>self.seed, <uint64_t>self.stream)

    def __call__(self, out, offset=0):
        cdef fi_params params = self.params
        cdef _layout L
        cdef uint64_t offset_
        cdef bint at_end
        _read_offset(offset, &offset_, &at_end)
        _read_layout(out, self.dist == FI_RAW, &L)
        if L.code != self.code:
            raise TypeError(f"out must have dtype {self.dtype}; got {out.dtype}")
        _check_extent(&L, offset_, at_end)
        _write(&L, self.dist, &params, offset_)
        return out

    def __reduce__(self):
        return (_rebuild_prepared_fill,
                (_DIST_NAMES[self.dist], self.dtype, self._params, self.seed, self.stream))

    def __repr__(self):
        return (f"PreparedFill({_DIST_NAMES[self.dist]!r}, {self.dtype}, seed={self.seed}, "
                f"stream={self.stream})")


def _rebuild_prepared_fill(dist, dtype, params, seed, stream):
    return PreparedFill(dist, dtype, *params, seed=seed, stream=stream)


cdef inline int _check_is_array(object out) except -1:
    if not cnp.PyArray_Check(out):
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
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
    _check_is_array(out)
    return _prepared_fill(out, FI_RAW, 0.0, 0.0, 0.0, 0.0, seed, stream, offset)


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
    _check_is_array(out)
    return _prepared_fill(out, FI_UNIFORM, _real(low, "low"), _real(high, "high"), 0.0, 0.0,
                          seed, stream, offset)


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
    _check_is_array(out)
    return _prepared_fill(out, FI_NORMAL, _real(mean, "mean"), _real(std, "std"), 0.0, 0.0,
                          seed, stream, offset)


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
        or ``b``, ``a >= b``, a window ``[mean + a*std, mean + b*std]`` wholly
        beyond the output dtype's finite range, a window whose probability
        underflows double precision (lying wholly beyond about 37.5 std), a
        seed, stream or offset out of range, or ``offset + out.size > 2**64``.
        Nothing is written when anything raises.

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
    _check_is_array(out)
    return _prepared_fill(out, FI_TRUNCNORM, _real(mean, "mean"), _real(std, "std"),
                          _real(a, "a"), _real(b, "b"), seed, stream, offset)
