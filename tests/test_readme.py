"""The examples of README.md (and of docs/*.md) run, so they cannot rot.

Every fenced block opened with exactly ```python is executed, each in a fresh
interpreter (examples set ``KERAS_BACKEND``, patch ``torch.nn.init``, ...)
whose working directory is the repository root (examples use
``examples/specs/*.json``) and which imports the same fastinit as this process.
Markers, among a block's leading comment lines:

* ``# requires: pkg, pkg``: skipped when one of those packages is missing;
* ``# not run: why`` (docs only): an illustration that cannot run here
  (a cluster, a shared file system).

A block written as a doctest (``>>>`` prompts) is run with ``doctest``
(ELLIPSIS, NORMALIZE_WHITESPACE); the doctest blocks of one page share their
names, in order, as in an interactive session. Code not meant to run goes in
another kind of block (```text, ```bash).

README.md is found next to ``tests/``; without it (tests run against an
installed wheel from elsewhere) everything here is skipped.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))

#: The lines README.md must start with (the install/bench and test commands).
HEAD = [
    "# fastinit",
    "",
    "```bash",
    "pip install . && fastinit bench",
    'pip install "torch==2.13.0" ".[test]" && python -m pytest',
    "```",
]

_DOCTEST_RUNNER = """
import doctest, sys
text = sys.stdin.read()
test = doctest.DocTestParser().get_doctest(text, {}, sys.argv[1], sys.argv[1], 0)
runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
runner.run(test)
sys.exit(1 if runner.failures else 0)
"""


def _blocks(path):
    """``(first line number, language, code)`` of each fenced block of ``path``."""
    if not path.is_file():
        return []
    blocks, lang, start, lines = [], None, 0, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if lang is None:
            m = re.match(r"^```(\S*)\s*$", line)
            if m:
                lang, start, lines = m.group(1), number + 1, []
        elif line.rstrip() == "```":
            blocks.append((start, lang, "\n".join(lines) + "\n"))
            lang = None
        else:
            lines.append(line)
    assert lang is None, f"{path.name}: the block opened at line {start - 1} is never closed"
    return blocks


def _markers(code):
    """``{marker: value}`` of the ``# marker: value`` lines leading a block."""
    found = {}
    for line in code.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        m = re.match(r"#\s*(requires|not run)\s*:\s*(.*)$", stripped)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def _is_doctest(code):
    return code.lstrip().startswith(">>>")


def _python_blocks(path):
    return [(start, code) for start, lang, code in _blocks(path) if lang == "python"]


def _env():
    """The environment of this process, with this process's fastinit first on the path."""
    import fastinit

    env = dict(os.environ)
    paths = [str(Path(fastinit.__file__).resolve().parents[1])]
    paths += [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _skip_if_missing(code, where):
    wanted = _markers(code).get("requires", "")
    missing = [p.strip() for p in wanted.split(",")
               if p.strip() and importlib.util.find_spec(p.strip()) is None]
    if missing:
        pytest.skip(f"{where} needs {', '.join(missing)}")


def _run(args, where, stdin=None):
    proc = subprocess.run(
        [sys.executable, *args], check=False, cwd=ROOT, env=_env(), input=stdin,
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, (
        f"{where} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )


def _run_script(path, start, code, tmp_path):
    where = f"{path.name} example at line {start}"
    _skip_if_missing(code, where)
    # Pad so that line numbers in a traceback are the page's.
    script = tmp_path / "example.py"
    script.write_text("\n" * (start - 1) + code, encoding="utf-8")
    _run([str(script)], where)


needs_readme = pytest.mark.skipif(not README.is_file(), reason="no README.md next to tests/")


def _params(paths, doctests):
    params = []
    for path in paths:
        blocks = _python_blocks(path)
        for start, code in blocks:
            if _is_doctest(code) or "not run" in _markers(code):
                continue
            params.append(pytest.param(path, start, code, id=f"{path.name}:{start}"))
        if doctests and any(_is_doctest(code) for _, code in blocks):
            params.append(pytest.param(path, 0, None, id=f"{path.name}:doctests"))
    return params or [pytest.param(None, 0, "", id="none",
                                   marks=pytest.mark.skip(reason="no README.md"))]


@needs_readme
def test_readme_starts_with_the_two_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[: len(HEAD)] == HEAD


@needs_readme
def test_readme_has_runnable_examples():
    runnable = [c for _, c in _python_blocks(README) if not _is_doctest(c)]
    assert len(runnable) >= 5
    assert not [c for c in runnable if "not run" in _markers(c)], "every README example runs"


@needs_readme
@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_links_and_files_exist(path):
    """Relative links (pages, images, specs) and ``examples/...`` paths point at real files."""
    text = path.read_text(encoding="utf-8")
    targets = set(re.findall(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)", text))
    missing = []
    for target in sorted(targets):
        if re.match(r"^[a-z]+://", target):
            continue
        resolved = (path.parent / target).resolve()
        if resolved == (ROOT / "docs" / "img" / "bench.png").resolve():
            continue  # made by `fastinit bench --plot docs/img/bench.png` on the reference machine
        if not resolved.exists():
            missing.append(target)
    for spec in set(re.findall(r"\b(examples/specs/[\w.-]+\.json)\b", text)):
        if not (ROOT / spec).exists():
            missing.append(spec)
    assert not missing, f"{path.name} refers to missing files: {sorted(missing)}"


@needs_readme
@pytest.mark.parametrize("path, start, code", _params([README], doctests=False))
def test_readme_example_runs(path, start, code, tmp_path):
    _run_script(path, start, code, tmp_path)


@needs_readme
@pytest.mark.parametrize("path, start, code", _params(DOCS, doctests=True))
def test_docs_example_runs(path, start, code, tmp_path):
    if code is not None:
        _run_script(path, start, code, tmp_path)
        return
    # The page's doctest blocks, in order, as one session.
    blocks = [c for _, c in _python_blocks(path) if _is_doctest(c)]
    for c in blocks:
        _skip_if_missing(c, f"{path.name} doctests")
    _run(["-c", _DOCTEST_RUNNER, path.name], f"{path.name} doctests", stdin="\n".join(blocks))
