"""The ``num_threads`` context manager (API.md section 7)."""
from contextlib import contextmanager

from ._core import _check_threads, get_num_threads, set_num_threads


@contextmanager
def num_threads(n):
    """num_threads(n)

    Context manager: use up to ``n`` threads for large fills inside the block,
    then restore the previous setting (also on an exception).

    >>> import fastinit
    >>> with fastinit.num_threads(1):
    ...     fastinit.get_num_threads()
    1
    """
    n = _check_threads(n)
    previous = get_num_threads()
    set_num_threads(n)
    try:
        yield n
    finally:
        set_num_threads(previous)
