"""The package's layout rules (docs/architecture.md), checked from the source.

* No import cycle between modules of ``src/fastinit`` (every import counts,
  function-local ones too; a package's ``__init__`` importing its submodules is
  an edge like any other).
* No Python module above 700 lines (the Cython extension is one unit).
* No module takes a private (underscore) name from a module of another feature
  package: what features share is public in its module (the initializer
  protocol, ``io``'s checks, ``_regions``, ``_dtypes``, ``_validate``).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "fastinit"


def _modules():
    mods = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        mods[".".join(parts)] = (path, is_package)
    for path in PACKAGE.rglob("*.pyx"):
        mods[".".join(path.relative_to(SRC).with_suffix("").parts)] = (path, False)
    return mods


MODULES = _modules()


def _imports(name):
    """``[(target module, imported name or None)]`` of module ``name``."""
    path, is_package = MODULES[name]
    found = []
    if path.suffix == ".pyx":
        return found  # the compiled core imports nothing of the package
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name in MODULES]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    found.append((sub, None))  # a module, imported from its package
                elif target in MODULES:
                    found.append((target, alias.name))
    return found


def _feature(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_reader_sees_the_packages():
    # the rules below would pass vacuously on an empty or misread tree
    assert {"fastinit.initializers._base", "fastinit.io._dispatch", "fastinit.torch._fast",
            "fastinit.cli.init", "fastinit._dtypes", "fastinit._validate"} <= set(MODULES)
    assert ("fastinit.initializers._base", "Initializer") in _imports("fastinit.params") or (
        ("fastinit.initializers", "Initializer") in _imports("fastinit.params"))


def test_no_import_cycles():
    graph = {m: {t for t, _ in _imports(m) if t != m} for m in MODULES}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"modules that import each other (directly or around a loop): {cycles}"


def test_a_cycle_is_seen(tmp_path):
    # the cycle finder itself, on two modules that import each other
    global MODULES
    (tmp_path / "fastinit").mkdir()
    (tmp_path / "fastinit" / "__init__.py").write_text("")
    (tmp_path / "fastinit" / "a.py").write_text("def f():\n    from .b import g\n")
    (tmp_path / "fastinit" / "b.py").write_text("from . import a\n")
    saved = MODULES
    try:
        MODULES = {"fastinit": (tmp_path / "fastinit" / "__init__.py", True),
                   "fastinit.a": (tmp_path / "fastinit" / "a.py", False),
                   "fastinit.b": (tmp_path / "fastinit" / "b.py", False)}
        with pytest.raises(AssertionError, match="fastinit.a"):
            test_no_import_cycles()
    finally:
        MODULES = saved


def test_modules_stay_small():
    lines = {m: len(path.read_text(encoding="utf-8").splitlines())
             for m, (path, _) in MODULES.items() if path.suffix == ".py"}
    long = {m: n for m, n in lines.items() if n > 700}
    assert not long, f"modules above 700 lines (split them by concern): {long}"


def test_no_private_names_across_features():
    crossing = []
    for module in MODULES:
        for target, name in _imports(module):
            if (name and name.startswith("_") and not name.startswith("__")
                    and _feature(target) != _feature(module) and target != "fastinit"):
                crossing.append(f"{module} takes {name} from {target}")
    assert not crossing, "\n".join(crossing)
