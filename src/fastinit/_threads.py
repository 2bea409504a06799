"""The ``num_threads`` context manager (docs/api.md §7)."""
from contextlib import contextmanager

from ._core import check_threads, get_num_threads, set_num_threads


@contextmanager
def num_threads(n):
    """num_threads(n) -> context manager

    Use up to ``n`` threads for large fills inside a ``with`` block, then
    restore the previous setting (also on an exception). Process-wide, like
    :func:`fastinit.set_num_threads`: a fill of ``size`` elements runs on
    ``min(n, size // 2**18)`` threads. Values never depend on it.

    Parameters
    ----------
    n : int
        At least 1.

    Yields
    ------
    int
        ``n``.

    Raises
    ------
    TypeError
        If ``n`` is not an integer.
    ValueError
        If ``n < 1``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastinit
    >>> with fastinit.num_threads(1):
    ...     one = fastinit.fill_normal(np.empty(1 << 20, np.float32), seed=0)
    ...     fastinit.get_num_threads()
    1
    >>> with fastinit.num_threads(4):
    ...     four = fastinit.fill_normal(np.empty(1 << 20, np.float32), seed=0)
    >>> bool((one == four).all())
    True
    """
    n = check_threads(n)
    previous = get_num_threads()
    set_num_threads(n)
    try:
        yield n
    finally:
        set_num_threads(previous)
