"""The docstring examples of every public module run, and every public name has one.

Doctests are collected from the imported module objects with
``doctest.DocTestFinder`` (the compiled ``fastinit._core`` included), so this
runs the same against the source tree and against an installed wheel. Options:
ELLIPSIS and NORMALIZE_WHITESPACE. Modules that need an optional package
(``fastinit.torch``: torch; ``fastinit.dask``: dask and zarr) are skipped
when it is missing; ``fastinit.jax`` runs with or without JAX.

Besides what the finder collects (docstrings of objects defined in each
module), the docstring of every public name (the module's ``__all__``) is run
too, so a name whose example is not found by the finder is still executed;
and every public function or class must have an example (a ``>>>`` line).
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect

import pytest

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

#: module -> optional packages it needs
MODULES = {
    "fastinit": (),
    "fastinit._core": (),
    "fastinit.initializers": (),
    "fastinit.fans": (),
    "fastinit.io": (),
    "fastinit.io._output": (),  # chunk_regions (the public names are fastinit.io's)
    "fastinit.params": (),
    "fastinit.diagnostics": (),
    "fastinit.diagnostics._propagation": (),
    "fastinit.diagnostics._selfcheck": (),
    "fastinit._threads": (),
    "fastinit._info": (),
    "fastinit.dask": ("dask", "zarr"),
    "fastinit.torch": ("torch",),
    "fastinit.jax": (),
}

def _import(name):
    missing = [pkg for pkg in MODULES[name] if importlib.util.find_spec(pkg) is None]
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)}")
    return importlib.import_module(name)


def _public_names(module):
    """Public functions and classes of ``module``: its ``__all__``, else the
    names ``fastinit`` re-exports from it."""
    names = getattr(module, "__all__", None)
    if names is None:
        import fastinit

        names = [
            n
            for n in fastinit.__all__
            if getattr(getattr(fastinit, n), "__module__", None) == module.__name__
        ]
    out = {}
    for n in names:
        obj = getattr(module, n)
        if inspect.ismodule(obj) or not callable(obj):
            continue  # constants (__version__, STREAM_VERSION, LAYOUTS, ...) and submodules
        out[n] = obj
    return out


def _collect(module):
    """The module's doctests, each docstring once."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = finder.find(module, module.__name__)
    for name, obj in _public_names(module).items():
        tests += finder.find(obj, f"{module.__name__}.{name}", module=False,
                             globs=vars(module))
    # Cython adds a ``__test__`` dict repeating the compiled functions'
    # docstrings: keep one copy of each, preferring the function's own name.
    tests.sort(key=lambda t: (".__test__." in t.name, t.name))
    seen, unique = set(), []
    for t in tests:
        if t.examples and t.docstring not in seen:
            seen.add(t.docstring)
            unique.append(t)
    return unique


@pytest.mark.parametrize("name", list(MODULES))
def test_docstring_examples_run(name):
    module = _import(name)
    tests = _collect(module)
    report = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for t in tests:
        runner.run(t, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
    if _public_names(module) or module.__name__ == "fastinit":
        assert result.attempted > 0, f"no doctest examples found in {name}"


@pytest.mark.parametrize("name", list(MODULES))
def test_public_names_have_examples(name):
    module = _import(name)
    missing = [
        n
        for n, obj in _public_names(module).items()
        if ">>>" not in (inspect.getdoc(obj) or "")
    ]
    assert not missing, f"public names of {name} without a docstring example: {missing}"


def test_every_reexport_is_checked():
    """Each public function/class of ``fastinit`` lives in a module listed above."""
    import fastinit

    homes = set()
    for n in fastinit.__all__:
        obj = getattr(fastinit, n)
        if callable(obj) and not inspect.ismodule(obj):
            homes.add(obj.__module__)
    assert homes <= set(MODULES), sorted(homes - set(MODULES))
