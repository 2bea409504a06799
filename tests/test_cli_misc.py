"""The command line's rough edges: ``--version``, ``fastinit bench`` progress in a
log, one unit system for sizes, the README's benchmark table in the CLI's terms, one
positive-integer type for every command, and the cli/ package's import structure."""
import argparse
import ast
import importlib
import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _deps import require

import fastinit
from fastinit import benchmark, cli
from fastinit._validate import parse_positive_int
from fastinit.cli.init import _format_bytes
from fastinit.params import load_spec, progress_bar

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CLI_DOC = ROOT / "docs" / "cli.md"
SPECS = ROOT / "examples" / "specs"
needs_tree = pytest.mark.skipif(not README.is_file(), reason="README.md not next to tests/")


def _env():
    env = dict(os.environ)
    src = Path(fastinit.__file__).resolve().parents[1]   # the fastinit this process imports
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH")) if p)
    return env


# --------------------------------------------------------------------------- --version

def test_version_option_prints_infos_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"fastinit {fastinit.info()['version']}\n"
    assert fastinit.info()["version"] == fastinit.__version__


def test_version_option_in_a_subprocess():
    proc = subprocess.run([sys.executable, "-m", "fastinit", "--version"], capture_output=True,
                          text=True, env=_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["fastinit", fastinit.__version__]


# --------------------------------------------------------------------------- bench progress

BENCH_ARGS = ["bench", "--size", "1000", "--repeat", "1", "--no-torch",
              "--dist", "uniform", "--dist", "normal", "--dtype", "float32", "--dtype", "float16"]


def test_bench_progress_one_line_per_row_when_stderr_is_a_pipe():
    proc = subprocess.run([sys.executable, "-m", "fastinit", *BENCH_ARGS], capture_output=True,
                          text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines == ["  measuring uniform float32 (1/4) ...",
                     "  measuring uniform float16 (2/4) ...",
                     "  measuring normal float32 (3/4) ...",
                     "  measuring normal float16 (4/4) ..."]
    assert "\r" not in proc.stderr
    assert "uniform" in proc.stdout and "x numpy" in proc.stdout


def test_bench_progress_rewrites_one_line_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli.main(BENCH_ARGS) == 0
    err = capsys.readouterr().err
    assert "\n" not in err and err.count("\r") == 5          # 4 rows, then cleared
    assert "measuring normal float16 (4/4)" in err


# --------------------------------------------------------------------------- units

def test_progress_bar_counts_decimal_gigabytes(capsys):
    require("tqdm")
    bar = progress_bar(2_471_628_800, "llama_1b.safetensors")
    bar.update(2_471_628_800)
    text = str(bar)
    bar.close()
    capsys.readouterr()
    assert "2.47GB/2.47GB" in text, text
    assert "2.30" not in text


def test_summary_uses_decimal_units():
    assert _format_bytes(999) == "999 B"
    assert _format_bytes(2_143_272) == "2.14 MB"
    assert _format_bytes(2_471_628_800) == "2.47 GB"


@needs_tree
@pytest.mark.parametrize("doc", [README, CLI_DOC], ids=lambda p: p.name)
def test_sizes_quoted_in_the_docs_are_decimal(doc):
    """Every ``fastinit init SPEC ... # N GB`` line quotes the spec's bytes in GB (10**9)."""
    text = doc.read_text(encoding="utf-8")
    quoted = re.findall(r"^(fastinit init examples/specs/(\w+)\.json .*)#\s*([\d.]+) (\w+)\s*$",
                        text, re.M)
    assert quoted, f"{doc.name}: no sized fastinit init example"
    for command, spec, number, unit in quoted:
        dtype = re.search(r"--dtype (\w+)", command)
        entries, _ = load_spec(str(SPECS / f"{spec}.json"), dtype=dtype and dtype.group(1))
        nbytes = sum(math.prod(e.shape) * e.dtype.itemsize for e in entries)
        assert f"{number} {unit}" == _format_bytes(nbytes), (doc.name, spec)
    assert not re.search(r"\d\s*GiB\b", text), "GiB sizes in " + doc.name


# --------------------------------------------------------------------------- bench table names

def _cli_columns():
    report = {"fastinit": "0", "stream_version": 1, "simd": "scalar", "threads": 1, "size": 1,
              "repeat": 1, "torch": "2", "write_ceiling_bytes_per_s": 4e9, "call_overhead_us": 1.0,
              "results": [{"distribution": "uniform", "dtype": "float32", "fastinit": 2e9,
                           "numpy": 1e9, "torch": 1e9, "ceiling": 1e9, "speedup_numpy": 2.0,
                           "speedup_torch": 2.0}]}
    lines = benchmark.format_table(report).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("distribution"))
    cols = re.split(r"\s{2,}", lines[header].strip())
    return cols, re.split(r"\s{2,}", lines[header + 2].strip())


@needs_tree
def test_readme_benchmark_table_uses_the_cli_columns():
    cols, row = _cli_columns()
    text = README.read_text(encoding="utf-8")
    lines = text[text.index("<!-- BENCH -->"):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| distribution"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    head = [c.strip() for c in table[0].strip("|").split("|")]
    assert [c for c in cols if c in head] == head, (head, cols)   # a subset, same order
    # values written as the CLI writes them
    units = {c: re.sub(r"[\d,.]+", "N", v) for c, v in zip(cols, row)}
    for line in table[2:]:
        cells = dict(zip(head, (c.strip() for c in line.strip("|").split("|"))))
        assert cells["distribution"] in benchmark.DISTRIBUTIONS
        assert cells["dtype"] in benchmark.DTYPES
        for c in head[2:]:
            assert re.sub(r"[\d,.]+", "N", cells[c]) == units[c], (c, cells[c], units[c])


# --------------------------------------------------------------------------- positive integers

@pytest.mark.parametrize("text, value", [("1", 1), ("64", 64), ("1e6", 1_000_000),
                                         ("1E3", 1000), ("16_000", 16_000), ("2.0", 2),
                                         ("1e19", 10**19)])
def test_parse_positive_int_accepts(text, value):
    got = parse_positive_int(text)
    assert got == value and type(got) is int


@pytest.mark.parametrize("text", ["0", "-3", "1.5", "1e-3", "0.0", "", "abc", "inf", "nan",
                                  "1e400", "2 cats"])
def test_parse_positive_int_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected a positive integer"):
        parse_positive_int(text)


@pytest.mark.parametrize("argv, dest", [
    (["bench", "--size", "{}"], "size"), (["bench", "--repeat", "{}"], "repeat"),
    (["bench", "--threads", "{}"], "threads"),
    (["init", "s.json", "-o", "o.safetensors", "--threads", "{}"], "threads"),
    (["init", "s.json", "-o", "d/", "--workers", "{}"], "workers"),
    (["check", "--depth", "{}"], "depth"), (["check", "--width", "{}"], "width"),
    (["check", "--batch", "{}"], "batch"),
])
def test_every_command_parses_positive_ints_alike(argv, dest, capsys):
    """One type for all: 1e6 and 16_000 are accepted everywhere (``init`` once refused
    1e6), 1.5 and 0 refused everywhere with the option named."""
    parser = cli.build_parser()
    for text, value in (("1e6", 1_000_000), ("16_000", 16_000)):
        args = parser.parse_args([a.format(text) for a in argv])
        assert getattr(args, dest) == value
    for text in ("1.5", "0"):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args([a.format(text) for a in argv])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"--{dest}" in err and f"expected a positive integer, got '{text}'" in err, err


# --------------------------------------------------------------------------- cli/ package

COMMANDS = ("bench", "init", "check", "info")


def test_cli_is_a_package_and_the_old_modules_are_gone():
    assert hasattr(cli, "__path__")  # a package, whose main is the console script
    assert cli.main is importlib.import_module("fastinit.cli").main
    for old in ("fastinit._cli_init", "fastinit._cli_check"):
        assert importlib.util.find_spec(old) is None, old
    for name in COMMANDS:
        module = importlib.import_module(f"fastinit.cli.{name}")
        assert callable(module.add_parser) and callable(module.run), name


@pytest.mark.parametrize("name", COMMANDS)
def test_a_command_module_imported_first_imports_no_other_command(name):
    """In a fresh interpreter, importing one command module loads the package (parser
    assembly only) and ``_args``, and no other command module."""
    code = (f"import sys, fastinit.cli.{name}; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('fastinit.cli'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = set(proc.stdout.split())
    assert {"fastinit.cli", f"fastinit.cli.{name}"} <= loaded <= {
        "fastinit.cli", "fastinit.cli._args", f"fastinit.cli.{name}"}, loaded


@pytest.mark.parametrize("name", COMMANDS)
def test_command_modules_import_args_not_the_package_or_each_other(name):
    """Also the function-local imports: within cli/ only its helper modules
    (``._args``, ``._schemes``: a leading underscore, no command); never
    ``fastinit.cli`` itself."""
    path = Path(importlib.import_module(f"fastinit.cli.{name}").__file__)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                assert (node.module or "").startswith("_"), (name, node.module, node.lineno)
                assert node.module.lstrip("_") not in COMMANDS, (name, node.module)
            elif node.level == 0:
                assert not (node.module or "").startswith("fastinit.cli"), (name, node.lineno)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith("fastinit.cli"), (name, node.lineno)


def test_help_imports_no_heavy_package():
    code = ("import sys; from fastinit.cli import build_parser; build_parser().format_help(); "
            "print(' '.join(m for m in ('torch', 'transformers', 'matplotlib', 'dask', 'jax') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == []
