"""``fastinit.torch.patch()``: route torch's and model libraries' init functions to fastinit.

What is routed.  A *route* maps a library's function object (an *original*)
to its fastinit replacement: every function of ``torch.nn.init`` to the
``fastinit.torch`` function of the same name, and the functions listed in
``_libs.LIBRARY_ROUTES`` (timm's ``trunc_normal_``, ``trunc_normal_tf_``,
``variance_scaling_``, ``lecun_normal_``) to theirs.  A *site* is a place that
holds an original: a module attribute, or an entry of a ``dict`` held by a
module attribute (a dispatch table such as transformers'
``TORCH_INIT_FUNCTIONS``; dicts nested in it too, three levels deep).
Lists, tuples, class attributes and closures are not searched.  Entering the
outermost block points every site at the replacement; leaving it puts the
original back (a site someone else changed meanwhile is left alone).

Finding sites cheaply.  Sites are found by identity in each module's
namespace, once per module: the first entry scans the modules imported so
far, later entries only the modules imported since (noticed from
``len(sys.modules)`` and its last key), so entering and leaving costs the
cached sites' count of dict operations.  Modules imported *during* a block
are scanned on leaving it: what they copied from a routed attribute (e.g.
``from torch.nn.init import normal_``, or transformers building its table)
is a replacement, and is put back to the original, so a library imported
inside the block keeps torch's (or its own) functions afterwards.  A library
module of ``LIBRARY_ROUTES`` imported during a block is routed right after it
runs (a meta-path hook wraps its loader, only while a block is active), so
the modules importing its functions by name get fastinit's.

Seeds.  ``patch(seed=S)`` gives the init calls of the block the seeds
``W[1], W[2], ...`` in call order, where ``W[k]`` is the k-th 64-bit word
(``lo + 2**32 * hi`` of the raw 32-bit values ``2k, 2k + 1``) of fastinit's
raw stream ``stream_id("fastinit.torch.patch")`` of seed ``S``; torch's CPU
generator is seeded with ``W[0]`` for the block (so direct ``Tensor.normal_``
calls are reproducible too) and restored on exit.
"""
from __future__ import annotations

import builtins
import contextlib
import itertools
import sys
import threading
import types
from itertools import compress, repeat
from operator import is_
from typing import Any

import numpy as np
import torch

from .._core import fill_raw, resolve_seed, stream_id
from . import _fast, _libs, _nn_init

_PATCH_STREAM = stream_id("fastinit.torch.patch")
_BLOCK = 512  # seed words computed at a time
_TABLE_DEPTH = 3  # dicts in dicts held by a module: scanned this many levels deep


class _Seeder:
    """The per-call seeds of one ``patch(seed=S)`` block (see the module docstring)."""

    __slots__ = ("_cache", "_counter", "seed")

    def __init__(self, seed):
        self.seed = seed
        self._counter = itertools.count(1)  # next() is atomic
        self._cache = (-1, None)

    def word(self, k):
        block, i = divmod(k, _BLOCK)
        cached_block, words = self._cache
        if cached_block != block:
            raw = fill_raw(np.empty(2 * _BLOCK, np.uint32), seed=self.seed,
                           stream=_PATCH_STREAM, offset=2 * _BLOCK * block)
            lo, hi = raw[0::2].astype(np.uint64), raw[1::2].astype(np.uint64)
            words = (lo | (hi << np.uint64(32))).tolist()
            self._cache = (block, words)
        return words[i]

    def next_seed(self):
        return self.word(next(self._counter))


def _is_own(name):
    return name == "fastinit" or name.startswith("fastinit.")


class _Router:
    """The routes, the cached sites, and applying/undoing them."""

    def __init__(self):
        self.routes = {}  # id(original) -> (original, replacement)
        self.back = {}  # id(replacement) -> (replacement, original)
        self.sites = []  # (namespace dict, key, original, replacement)
        self.site_keys = set()  # (id(namespace), key)
        self.applied = []  # sites pointed at the replacement by the current block
        self.seen = {}  # name -> module object, of the modules scanned
        self.mark = None  # (len(sys.modules), last key) at the last scan
        self.pending = {name: dict(table) for name, table in
                        _libs.LIBRARY_ROUTES.items()}
        self.finder = _LibraryFinder(self)
        for name, original in _fast._TORCH.items():
            self._add_route(original, getattr(_nn_init, name, None) or getattr(_fast, name))

    # -- routes and sites

    def _add_route(self, original, replacement):
        if original is replacement or id(original) in self.routes:
            return
        assert id(replacement) not in self.back, replacement
        self.routes[id(original)] = (original, replacement)
        self.back[id(replacement)] = (replacement, original)

    def _add_library(self, module):
        """Register the routes of a LIBRARY_ROUTES module (its originals)."""
        table = self.pending.pop(module.__name__, None)
        if not table:
            return
        namespace = vars(module)
        for attr, replacement in table.items():
            original = namespace.get(attr)
            if callable(original) and id(original) not in self.back:
                self._add_route(original, replacement)

    def _site(self, namespace, key, original, replacement, patched):
        ident = (id(namespace), key)
        site = (namespace, key, original, replacement)
        if ident not in self.site_keys:
            self.site_keys.add(ident)
            self.sites.append(site)
        if patched:
            self.applied.append(site)

    def _scan_namespace(self, namespace, in_block, visited, depth=0):
        """Record the sites of ``namespace`` (a module's dict, or a table in it).

        Dicts found among the values are tables: scanned too, nested ones up
        to ``_TABLE_DEPTH`` levels below the module, each dict once per scan
        (``visited``: their ids).  The common case -- nothing to find -- runs
        in C-level set and iterator operations.
        """
        routes, back = self.routes, self.back
        values = list(namespace.values())
        ids = set(map(id, values))
        if not ids.isdisjoint(routes.keys()) or (in_block and not ids.isdisjoint(back.keys())):
            for key, value in list(namespace.items()):
                hit = routes.get(id(value))
                if hit is not None and hit[0] is value:
                    self._site(namespace, key, value, hit[1], False)
                elif in_block:
                    hit = back.get(id(value))
                    if hit is not None and hit[0] is value:
                        self._site(namespace, key, hit[1], value, True)
        if depth < _TABLE_DEPTH:
            for table in compress(values, map(is_, map(type, values), repeat(dict))):
                if id(table) not in visited:
                    visited.add(id(table))
                    self._scan_namespace(table, in_block, visited, depth + 1)

    def _current_mark(self):
        modules = sys.modules
        return (len(modules), next(reversed(modules), None))

    def _scan_new(self, in_block):
        """Scan the modules imported since the last scan (all of them the first time)."""
        mark = self._current_mark()
        if mark == self.mark:
            return
        for name in list(self.pending):
            module = sys.modules.get(name)
            if isinstance(module, types.ModuleType):
                self._add_library(module)
        seen = self.seen
        # each dict once per scan; builtins (every module's __builtins__) never
        visited = {id(vars(builtins))}
        for name, module in list(sys.modules.items()):
            if seen.get(name) is module:
                continue
            seen[name] = module  # a module imported again under a known name is new too
            if _is_own(name) or not isinstance(module, types.ModuleType):
                continue
            namespace = vars(module)
            visited.add(id(namespace))
            self._scan_namespace(namespace, in_block, visited)
        self.mark = self._current_mark()

    # -- entering and leaving the outermost block

    def enter(self):
        self._scan_new(in_block=False)
        applied = self.applied
        for site in self.sites:
            namespace, key, original, replacement = site
            if namespace.get(key) is original:
                namespace[key] = replacement
                applied.append(site)
        if self.pending:
            sys.meta_path.insert(0, self.finder)

    def exit(self):
        try:
            if self.finder in sys.meta_path:
                sys.meta_path.remove(self.finder)
            self._scan_new(in_block=True)
        finally:
            for namespace, key, original, replacement in reversed(self.applied):
                if namespace.get(key) is replacement:
                    namespace[key] = original
            self.applied.clear()

    def library_loaded(self, module):
        """A LIBRARY_ROUTES module just ran inside a block: route it right away."""
        with _lock:
            self._add_library(module)
            if _depth > 0:
                namespace = vars(module)
                self._scan_namespace(namespace, False, {id(namespace)})
                for site in self.sites:
                    if site[0] is namespace and namespace.get(site[1]) is site[2]:
                        namespace[site[1]] = site[3]
                        self.applied.append(site)


class _HookedLoader:
    """A module's own loader, plus a call once the module has run."""

    def __init__(self, loader, router):
        self._loader = loader
        self._router = router

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # the module sees its own loader, as without the hook
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._router.library_loaded(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _LibraryFinder:
    """On sys.meta_path during a block: hooks the loading of LIBRARY_ROUTES modules."""

    def __init__(self, router):
        self._router = router

    def find_spec(self, name, path=None, target=None):
        if name not in self._router.pending:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _HookedLoader(spec.loader, self._router)
        return spec


_lock = threading.RLock()
_depth = 0
# per active enable(): None, or (outer seeder, torch RNG state)
_frames: list[tuple[Any, torch.Tensor] | None] = []
_router = None


def _enable(seed):
    """enable() with ``seed`` already resolved (an int) or None."""
    global _depth, _router
    with _lock:
        if _depth == 0:
            if _router is None:
                _router = _Router()
            try:
                _router.enter()
            except BaseException:
                _router.exit()
                raise
        _depth += 1
        if seed is None:
            _frames.append(None)
            return
        seeder = _Seeder(seed)
        _frames.append((_fast._seeder, torch.default_generator.get_state()))
        torch.default_generator.manual_seed(seeder.word(0))
        _fast._seeder = seeder


def enable(*, seed=None):
    """enable(*, seed=None) -> None

    Route ``torch.nn.init.*`` -- and the references to those functions held
    by other modules, dispatch tables included, and timm's init functions --
    to fastinit until the matching :func:`disable` (see :func:`patch`).
    Calls nest: each ``enable()`` needs its own ``disable()``.  Process-wide:
    enable from one thread at a time.

    Parameters
    ----------
    seed : int, optional
        As in :func:`patch`; None keeps an enclosing block's seed, or
        torch's RNG outside any seeded block.

    >>> import torch, fastinit.torch as fi
    >>> fi.enable()
    >>> torch.nn.init.kaiming_uniform_ is fi.kaiming_uniform_
    True
    >>> fi.disable()
    >>> torch.nn.init.kaiming_uniform_ is fi.kaiming_uniform_
    False
    """
    _enable(None if seed is None else resolve_seed(seed))


def disable():
    """disable() -> None

    Undo one :func:`enable`; the last one restores every routed site to the
    library's own function object (a site changed by someone else in the
    meantime is left as they set it), and leaving a seeded one restores the
    seed source and torch's CPU RNG state from before it.  A no-op when not
    enabled.

    >>> import fastinit.torch as fi
    >>> fi.disable()
    >>> fi.is_enabled()
    False
    """
    global _depth
    with _lock:
        if _depth == 0:
            return
        frame = _frames.pop()
        try:
            if frame is not None:
                _fast._seeder, state = frame
                torch.default_generator.set_state(state)
        finally:
            _depth -= 1
            if _depth == 0:
                _router.exit()


def is_enabled():
    """is_enabled() -> bool

    Whether ``torch.nn.init`` is routed to fastinit now.

    >>> import fastinit.torch as fi
    >>> with fi.patch():
    ...     fi.is_enabled()
    True
    """
    return _depth > 0


class patch(contextlib.ContextDecorator):
    r"""patch(*, seed=None) -> context manager

    Within the block, unchanged model code initializes through fastinit:

    * every function of ``torch.nn.init`` is the ``fastinit.torch`` function
      of the same name, and so is every reference to one held elsewhere --
      module attributes (``from torch.nn.init import xavier_uniform_``) and
      entries of dicts held by modules (transformers' ``TORCH_INIT_FUNCTIONS``,
      through which ``transformers.initialization`` dispatches: its guards
      keep working, so ``from_pretrained`` initializes only missing weights);
    * timm's ``trunc_normal_``, ``trunc_normal_tf_``, ``variance_scaling_``
      and ``lecun_normal_`` (and their by-name imports in timm's models) are
      fastinit implementations with timm's semantics
      (:func:`trunc_normal_tf_`, :func:`variance_scaling_`,
      :func:`lecun_normal_`);

    whether those libraries were imported before or inside the block.  On
    exit, also after an exception, every one of them is the library's own
    function object again (a library imported inside the block too).
    Nested blocks are safe.  Entering and leaving costs a few dict
    operations per routed reference; the first block (and the first after
    new imports) also scans the newly imported modules once.

    Parameters
    ----------
    seed : int, optional
        None: each init call draws its seed from torch's RNG, so
        ``torch.manual_seed`` keeps construction reproducible.  An int in
        ``[0, 2**64)`` (or anything ``fastinit.resolve_seed`` takes): the
        calls of the block get seeds made from ``seed`` and the call order,
        whatever ``torch.manual_seed`` was; calls that pass their own
        ``generator=`` still draw from it.  torch's CPU generator is seeded
        from ``seed`` for the block (so direct ``Tensor.normal_`` calls in
        model code are reproducible too) and restored on exit.  Inside a
        seeded block, ``seed=None`` keeps the outer seed.

    >>> import torch, fastinit.torch as fi
    >>> with fi.patch():
    ...     conv = torch.nn.Conv2d(16, 32, 3)
    >>> bool(conv.weight.abs().max() <= 1 / 12)
    True
    >>> def build():
    ...     with fi.patch(seed=7):
    ...         return torch.nn.Linear(8, 4)
    >>> a = build(); _ = torch.manual_seed(123); b = build()
    >>> torch.equal(a.weight, b.weight)
    True
    """

    def __init__(self, *, seed=None):
        self._seed = None if seed is None else resolve_seed(seed)

    def __enter__(self):
        _enable(self._seed)
        return self

    def __exit__(self, *exc):
        disable()
        return False
