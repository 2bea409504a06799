"""The command line's rough edges: ``--version``, ``fastinit bench`` progress in a
log, one unit system for sizes, and the README's benchmark table in the CLI's terms."""
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastinit
from fastinit import benchmark, cli
from fastinit._cli_init import _format_bytes
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
    assert lines == ["  measuring uniform float32 (1/4) ...", "  measuring uniform float16 (2/4) ...",
                     "  measuring normal float32 (3/4) ...", "  measuring normal float16 (4/4) ..."]
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
    pytest.importorskip("tqdm")
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
