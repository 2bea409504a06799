"""Keras' own initializer tests, run against fastinit.

The installed Keras package ships ``keras/src/initializers/*_test.py``. They
are copied to a scratch directory with ``from keras.src import initializers``
replaced by a module exposing fastinit's classes under Keras' names, and run
by pytest in a subprocess (KERAS_BACKEND=torch). Every test must pass (the
two that Keras itself runs only on the JAX backend are skipped there).
"""
import os
import pathlib
import subprocess
import sys

import pytest

import fastinit

SHIM = """
import fastinit
import fastinit.initializers as fi
from fastinit.initializers import *  # noqa: F401,F403

OrthogonalInitializer = fi.Orthogonal
IdentityInitializer = fi.Identity
STFTInitializer = fi.STFT
Initializer = fi.Initializer
get = fastinit.get
serialize = fastinit.serialize
deserialize = fi.deserialize
"""

CONFTEST = """
import os

import pytest

os.environ["KERAS_BACKEND"] = "torch"


def skip_if_backend(given_backend, reason):
    import keras

    return pytest.mark.skipif(keras.backend.backend() == given_backend, reason=reason)
"""

NAMES = ("random_initializers_test", "constant_initializers_test", "initializer_test")


def _keras_tests_dir():
    import importlib.util

    spec = importlib.util.find_spec("keras")
    if spec is None or not spec.submodule_search_locations:
        return None
    return pathlib.Path(next(iter(spec.submodule_search_locations))) / "src" / "initializers"


def test_keras_initializer_tests_pass_against_fastinit(tmp_path):
    source = _keras_tests_dir()
    if source is None or not all((source / f"{n}.py").exists() for n in NAMES):
        pytest.skip("the installed Keras has no initializer test files")
    line = "from keras.src import initializers\n"
    for name in NAMES:
        text = (source / f"{name}.py").read_text()
        assert line in text, name  # else the tests would run against Keras itself
        (tmp_path / f"test_fi_{name}.py").write_text(
            text.replace(line, "import fastinit_keras_names as initializers\n"))
    (tmp_path / "fastinit_keras_names.py").write_text(SHIM)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    # the same fastinit as this process (an installed wheel has no compiled core in src/)
    src = pathlib.Path(fastinit.__file__).resolve().parents[1]
    env = dict(os.environ, KERAS_BACKEND="torch",
               PYTHONPATH=os.pathsep.join(p for p in (str(src), str(tmp_path),
                                                      os.environ.get("PYTHONPATH")) if p))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-rfEs", "-W", "ignore::DeprecationWarning", str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
                         check=False)
    tail = out.stdout[-4000:]
    assert out.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail and "error" not in tail.lower(), tail
