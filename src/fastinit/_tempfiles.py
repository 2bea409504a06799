"""Hidden temporary files of atomic writes: their names, leftovers and signals.

An atomic write goes to ``.NAME.HOST.PID.XXXXXXXX.tmp`` next to ``NAME`` and
is renamed over it at the end (see :func:`fastinit.io.atomic_output`). An
exception removes the temporary file; so do SIGTERM and SIGHUP while
``fastinit init`` runs (:func:`terminating_signals` turns them into an
exception). A process killed outright (SIGKILL, power loss) cannot clean up:
the next atomic write into the same directory removes the temporary files of
writers on this host whose process no longer exists and whose lock
(``flock``, held by a live writer for as long as its file is open) is free
(:func:`remove_stale`).
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import threading

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["Terminated", "check_output_path", "hold", "remove_stale", "temp_name",
           "terminating_signals"]

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_PATTERN = re.compile(r"\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)"
                      r"\.[0-9a-f]{8}\.tmp")


def temp_name(basename):
    """The hidden temporary name for an atomic write of ``basename``."""
    return f".{basename}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def hold(fd):
    """Lock the open temporary file ``fd`` for as long as it stays open, so that
    no other process takes it for a leftover (even across PID namespaces)."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass


def _unlink_if_unlocked(path):
    """Remove ``path`` unless a process holds its lock; True if removed."""
    try:
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags)
    except OSError:
        return False
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # its writer is alive
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, OSError):
        return True  # another user's process, or cannot tell: keep its file
    return True


def remove_stale(directory):
    """Remove this host's atomic-write leftovers in ``directory`` whose writer
    process is gone; return their names. Errors are ignored (best effort)."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(".") and name.endswith(".tmp")):
            continue
        m = _PATTERN.fullmatch(name)
        if m is None or m.group("host") != _HOST or _alive(int(m.group("pid"))):
            continue
        if _unlink_if_unlocked(os.path.join(directory, name)):
            removed.append(name)
    return removed


def check_output_path(output, inputs):
    """Refuse an empty output path, or one that is (a link to) one of ``inputs``.

    ``inputs`` maps a description (``"the spec"``) to a path or None.
    """
    if not output:
        raise ValueError("the output path is empty; name a file (-o OUT.safetensors)")
    if not os.path.exists(output):
        return
    for what, path in inputs.items():
        if path is None or isinstance(path, dict):
            continue
        try:
            same = os.path.samefile(path, output)
        except (OSError, TypeError, ValueError):
            continue
        if same:
            raise ValueError(f"{output}: the output is {what} ({path}); writing it would "
                             "replace its own input -- choose another output path")


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM or SIGHUP inside :func:`terminating_signals`."""

    def __init__(self, signum):
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


@contextlib.contextmanager
def terminating_signals():
    """Turn SIGTERM and SIGHUP into :class:`Terminated` (once) for the block, so
    that ``finally`` clauses run and temporary files are removed; a second
    signal during that clean-up is ignored. Outside the main thread, or where
    the signals do not exist, the block runs unchanged."""
    names = [n for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    if threading.current_thread() is not threading.main_thread() or not names:
        yield
        return
    fired = []

    def handler(signum, frame):
        if not fired:
            fired.append(signum)
            raise Terminated(signum)

    previous = {}
    try:
        for n in names:
            num = getattr(signal, n)
            previous[num] = signal.signal(num, handler)
        yield
    finally:
        for num, old in previous.items():
            signal.signal(num, old if old is not None else signal.SIG_DFL)
