"""Writing files: all or nothing (:func:`atomic_output`, with the temporary
files of :mod:`fastinit._tempfiles`), free space checked up front, short writes
retried (:func:`write_fully`), and the streaming safetensors writer
(:func:`write_safetensors_stream`) with its blocks (:func:`chunk_regions`) and
writeback pacing (:class:`_Writeback`).

``write_fully`` and ``_sync_file_range`` are called through the package
(``fastinit.io.write_fully``), so that replacing them there (as the tests do)
reaches the writers.
"""
from __future__ import annotations

import errno
import itertools
import math
import os
import queue
import stat
import threading
from contextlib import contextmanager

import numpy as np

from .. import _tempfiles
from ._safetensors import safetensors_layout


@contextmanager
def atomic_output(path):
    """Write ``path`` through a binary file object, all or nothing.

    Regular files are written to a hidden temporary file in the same directory,
    synced and renamed over ``path`` at the end, so an error (or an interrupt)
    at any point leaves no partial output and any previous file untouched.
    Temporary files of writers on this host that were killed outright are
    removed first (:mod:`fastinit._tempfiles`).
    An existing non-regular file (``/dev/null``, ``/dev/full``, a pipe) is
    written directly instead: renaming over a device would replace it.
    """
    path = os.fspath(path)
    if not path:
        raise FileNotFoundError(errno.ENOENT, "the output path is empty", path)
    if os.path.islink(path):
        path = os.path.realpath(path)  # write through a link, as open() would
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        with open(path, "wb", buffering=0) as f:
            yield f
        return
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "output path is a directory", path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, "output directory does not exist", directory)
    _tempfiles.remove_stale(directory)  # leftovers of writers killed outright
    tmp = os.path.join(directory, _tempfiles.temp_name(os.path.basename(path)))
    # os.open with 0o666 honours the umask, as a plain open() of path would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                 0o666)
    _tempfiles.hold(fd)
    try:
        with open(fd, "wb", buffering=0) as f:
            if os.path.isfile(path):
                # A replaced file keeps its permissions.
                os.chmod(f.fileno(), stat.S_IMODE(os.stat(path).st_mode))
            yield f
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def check_free_space(path, nbytes):
    """Raise ``OSError(ENOSPC)`` up front if ``path``'s file system lacks ``nbytes``."""
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        st = os.statvfs(directory)
    except (OSError, AttributeError):
        return
    free = st.f_bavail * st.f_frsize
    if free < nbytes:
        raise OSError(errno.ENOSPC, f"not enough space for {os.fspath(path)}: it needs "
                      f"{nbytes:,} bytes, {free:,} are free")


def write_fully(f, data, path):
    """Write all of ``data`` (bytes or a uint8 array) to the raw file ``f``.

    Raw writes may be short (a file-size limit, a signal), so this loops; a
    failing write raises ``OSError`` naming ``path``.
    """
    view = memoryview(data).cast("B")
    try:
        while view.nbytes:
            n = f.write(view)
            if n is None:  # pragma: no cover - non-blocking file
                continue
            view = view[n:]
    except OSError as e:
        raise OSError(e.errno, f"cannot write {os.fspath(path)}: {e.strerror}") from e


def _array_bytes(arr):
    """An array's data as a flat uint8 array in C order, little-endian."""
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr.reshape(-1).view(np.uint8)


def chunk_regions(shape, itemsize, chunk_bytes):
    """Cut a tensor into C-order-contiguous blocks of at most ``chunk_bytes``.

    Yields ``region`` tuples (one slice per axis) in C order, so writing the
    blocks one after the other writes the tensor's bytes in order. A block is
    a run of whole trailing axes and a range of one axis, with single indices
    on the axes before it; it holds at least one element.

    >>> [r[0] for r in chunk_regions((5, 4), 4, 32)]
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    shape = tuple(shape)
    if math.prod(shape) == 0:
        return
    max_elems = max(1, chunk_bytes // itemsize)
    inner, k = 1, len(shape)
    while k > 0 and inner * shape[k - 1] <= max_elems:
        inner *= shape[k - 1]
        k -= 1
    whole = tuple(slice(0, n) for n in shape[k:])
    if k == 0:
        yield whole
        return
    n = shape[k - 1]
    step = max(1, max_elems // inner)
    for lead in itertools.product(*(range(d) for d in shape[:k - 1])):
        head = tuple(slice(i, i + 1) for i in lead)
        for a in range(0, n, step):
            yield head + (slice(a, min(a + step, n)),) + whole


class _Writeback:
    """Keep a long sequential write flowing to the disk while it is produced.

    Left alone, the kernel lets dirty pages pile up until it throttles the
    writer, and the closing ``fsync`` then waits for most of the file: the
    disk idles while values are computed and the computation waits while the
    disk writes. Every ``window`` bytes this starts the writeback of the
    newest window (``sync_file_range(SYNC_FILE_RANGE_WRITE)``), waits for the
    window before it to reach the disk and drops it from the page cache
    (``posix_fadvise(DONTNEED)``), so dirty memory stays near two windows and
    the disk works alongside the producer. Linux only; elsewhere a no-op.
    """

    WAIT_BEFORE, WRITE, WAIT_AFTER = 1, 2, 4

    def __init__(self, fd, start, window=64 << 20):
        self.fd, self.window = fd, window
        self.synced = self.kicked = start
        self._sync = _sync_file_range()

    def advance(self, end):
        """The file now holds every byte before ``end``."""
        if self._sync is None:
            return
        while end - self.kicked >= self.window:
            begin, self.kicked = self.kicked, self.kicked + self.window
            if self._sync(self.fd, begin, self.window, self.WRITE) != 0:
                self._sync = None  # unsupported here (a pipe, an odd file system)
                return
            if begin - self.synced >= self.window:  # the window before: on disk, then drop
                done = self.synced
                self._sync(self.fd, done, begin - done,
                           self.WAIT_BEFORE | self.WRITE | self.WAIT_AFTER)
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(self.fd, done, begin - done, os.POSIX_FADV_DONTNEED)
                self.synced = begin


def _sync_file_range():
    """libc's ``sync_file_range`` through ctypes, or None where it is missing."""
    global _SYNC_FILE_RANGE
    if _SYNC_FILE_RANGE is False:
        _SYNC_FILE_RANGE = None
        try:
            import ctypes

            fn = ctypes.CDLL(None, use_errno=True).sync_file_range
            fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
            fn.restype = ctypes.c_int
            _SYNC_FILE_RANGE = fn
        except (OSError, AttributeError):  # not Linux/glibc
            pass
    return _SYNC_FILE_RANGE


_SYNC_FILE_RANGE = False


def write_safetensors_stream(path, tensors, *, metadata=None, chunk_bytes=16 << 20,
                             progress=None):
    """Write a safetensors file whose tensors are produced block by block.

    The header is written first (every shape and dtype is known up front),
    then each tensor in blocks of at most ``chunk_bytes`` from
    :func:`chunk_regions`: ``fill(region, out)`` writes the tensor's values
    for ``region`` into ``out`` (a view of one of two reusable buffers), and a
    writer thread writes the previous block meanwhile. Peak memory is about
    two blocks whatever the file's size. The output is atomic (see
    :func:`atomic_output`) and free space is checked before anything is written.

    Parameters
    ----------
    path : str or os.PathLike
    tensors : sequence of (name, shape, dtype, fill)
    metadata : mapping of str to str, optional
    chunk_bytes : int
    progress : callable, optional
        Called with the number of bytes of each block once it is produced.

    Returns
    -------
    int
        The file's size in bytes.
    """
    fills = {name: fill for name, _, _, fill in tensors}
    header, order = safetensors_layout([t[:3] for t in tensors], metadata)
    total = len(header) + (order[-1][4] if order else 0)
    if os.path.isfile(path) or not os.path.exists(path):
        check_free_space(path, total)
    largest = max((end - begin for *_, begin, end in order), default=0)
    size = max(8, min(int(chunk_bytes), largest))
    size += -size % 8
    free = queue.Queue()
    for _ in range(2):
        free.put(np.empty(size, np.uint8))
    work = queue.Queue()
    failed = []

    def writer(f):
        flow = _Writeback(f.fileno(), len(header))
        end = len(header)
        while True:
            item = work.get()
            if item is None:
                return
            buf, n = item
            if not failed:
                try:
                    write_fully(f, buf[:n], path)
                    end += n
                    flow.advance(end)
                except BaseException as e:  # noqa: BLE001 - re-raised by the producer
                    failed.append(e)
            free.put(buf)

    with atomic_output(path) as f:
        write_fully(f, header, path)
        thread = threading.Thread(target=writer, args=(f,), name="fastinit-writer",
                                  daemon=True)
        thread.start()
        try:
            for name, shape, dtype, _, _ in order:
                for region in chunk_regions(shape, dtype.itemsize, size):
                    block = tuple(s.stop - s.start for s in region)
                    n = math.prod(block) * dtype.itemsize
                    buf = free.get()
                    if failed:
                        raise failed[0]
                    out = buf[:n].view(dtype).reshape(block)
                    fills[name](region, out)
                    work.put((buf, n))
                    if progress is not None:
                        progress(n)
        finally:
            work.put(None)
            thread.join()
        if failed:
            raise failed[0]
    return total
