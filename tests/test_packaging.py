"""What a fresh machine needs: the ``test`` extra installs every package a test
imports, dependency ranges are floors, doctests print no other library's repr,
and ``.ci/run`` runs the README's test command and fails on any pytest status
but 0 (5, "no tests collected", included)."""
import ast
import doctest
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _deps import require

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
CI = ROOT / ".ci" / "run"
README = ROOT / "README.md"
needs_tree = pytest.mark.skipif(not PYPROJECT.is_file(), reason="not run from a source tree")

tomllib = require("tomllib") if sys.version_info >= (3, 11) else \
    require("tomli")

#: import name -> distribution name, where they differ
DISTRIBUTION = {"mkl_random": "mkl-random", "yaml": "pyyaml", "PIL": "pillow"}


def _project():
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


def _name(requirement):
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_by_tests():
    """Top-level modules the test files import or ``require`` (tests/_deps.py)."""
    found = set()
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
            elif (isinstance(node, ast.Call)
                  and (getattr(node.func, "id", "") == "require"
                       or getattr(node.func, "attr", "") == "importorskip")
                  and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(str(node.args[0].value).split(".")[0])
    local = {p.stem for p in (ROOT / "tests").glob("*.py")} | {"fastinit", "tomli"}
    return {m for m in found if m not in sys.stdlib_module_names and m not in local}


@needs_tree
def test_test_extra_installs_every_package_a_test_imports():
    project = _project()
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for r in project["optional-dependencies"]["test"]}
    missing = sorted(m for m in _imported_by_tests()
                     if DISTRIBUTION.get(m, m).lower().replace("_", "-") not in declared)
    assert not missing, f"imported by tests but not in the test extra: {missing}"


@needs_tree
def test_test_extra_has_what_the_model_and_jax_tests_need():
    test = {_name(r) for r in _project()["optional-dependencies"]["test"]}
    assert {"jax", "jaxlib", "flax", "transformers", "timm", "torchvision", "torch",
            "keras", "mkl-random"} <= test
    extras = _project()["optional-dependencies"]
    assert {_name(r) for r in extras["models"]} == {"transformers", "timm", "torchvision"}
    assert {"jax", "jaxlib", "flax"} <= {_name(r) for r in extras["flax"]}
    assert "mkl-random" in {_name(r) for r in extras["bench"]}


@needs_tree
def test_dependency_ranges_are_floors():
    project = _project()
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    for req in requirements:
        spec = req.split(";")[0]
        assert not re.search(r"<|==|~=|!=", spec), f"{req}: a ceiling or pin needs a written reason"


def _doctest_wants():
    names = ["fastinit", "fastinit._core", "fastinit.initializers", "fastinit.fans", "fastinit.io",
             "fastinit.io._output", "fastinit.params", "fastinit.diagnostics",
             "fastinit.diagnostics._propagation", "fastinit.diagnostics._selfcheck",
             "fastinit._threads", "fastinit._info", "fastinit.jax"]
    names += [n for n, pkg in (("fastinit.torch", "torch"), ("fastinit.dask", "dask"))
              if importlib.util.find_spec(pkg) is not None]
    for name in names:
        for test in doctest.DocTestFinder().find(importlib.import_module(name)):
            for example in test.examples:
                yield test.name, example.source, example.want
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:   # doctest blocks of the docs
        if page.is_file():
            for example in doctest.DocTestParser().get_examples(page.read_text(encoding="utf-8")):
                yield page.name, example.source, example.want


def test_doctests_print_no_ml_dtypes_or_numpy_scalar_repr():
    """ml_dtypes 0.7 prints ``dtype(bfloat16)`` where 0.6 printed ``bfloat16``; NumPy 2
    prints ``np.float32(1.0)`` where 1.x printed ``1.0``: examples show names and floats."""
    ml_types = r"(bfloat16|float8_\w+|float4_\w+|float6_\w+|u?int[24]\b)"
    bad = re.compile(rf"dtype\(|dtype={ml_types}|\bnp\.(float|int|uint|bool|complex)\w*\(")
    offenders = [(name, src.strip()) for name, src, want in _doctest_wants() if bad.search(want)]
    assert not offenders, offenders


@needs_tree
def test_ci_runs_the_readme_test_command_without_pip_cache():
    ci = CI.read_text(encoding="utf-8")
    grep = re.search(r'README_TEST="\$\((grep .+ README\.md)\)"', ci).group(1)
    found = subprocess.run(["bash", "-c", grep], cwd=ROOT, capture_output=True, text=True,
                           timeout=60, check=True).stdout
    assert found == 'pip install "torch==2.13.0" ".[test]" && python -m pytest\n'
    assert 'eval "$README_TEST"' in ci and "export PIP_NO_CACHE_DIR=1" in ci
    # every other pytest run of CI goes through run_pytest
    calls = [line for line in ci.splitlines() if "python -m pytest" in line
             and not line.lstrip().startswith("#") and "README_TEST=" not in line]
    assert calls == ['    python -m pytest "$@" || rc=$?'], calls


@needs_tree
@pytest.mark.parametrize("status", [0, 1, 5])
def test_ci_pytest_wrapper_fails_on_every_nonzero_status(tmp_path, status):
    ci = CI.read_text(encoding="utf-8")
    function = re.search(r"^run_pytest\(\) \{.*?^\}$", ci, re.S | re.M).group(0)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").write_text(f"#!/bin/sh\nexit {status}\n")
    (fake / "python").chmod(0o755)
    script = f'set -euo pipefail\n{function}\nrun_pytest -q\necho "went on"\n'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": f"{fake}:/usr/bin:/bin"})
    assert proc.returncode == status
    assert ("went on" in proc.stdout) == (status == 0)
    if status == 5:
        assert "collected no tests" in proc.stderr


@pytest.mark.parametrize("required", [False, True])
def test_require_skips_or_fails_by_the_environment(required):
    # tests/_deps.py: a missing optional library skips, unless CI requires the test extra
    code = ("import pytest, _deps\n"
            "try:\n    _deps.require('fastinit_no_such_module')\n"
            "except ImportError as e:\n    print('ImportError', 'required here' in str(e))\n"
            "except pytest.skip.Exception:\n    print('skip')\n")
    env = {k: v for k, v in os.environ.items() if k != "FASTINIT_REQUIRE_TEST_DEPS"}
    if required:
        env["FASTINIT_REQUIRE_TEST_DEPS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == (["ImportError", "True"] if required else ["skip"])
