"""Shared pytest configuration: the ``slow`` marker, and torchvision's import.

Tests marked ``@pytest.mark.slow`` (long robustness variants: multi-GB
fills, long leak loops, deep fuzzing) are skipped unless
``FASTINIT_SLOW_TESTS=1`` is set, so the default run stays fast.

PyPI's torchvision wheels are CUDA builds whose C++ ops do not register
beside torch's CPU build; ``_torchvision_shim`` keeps the two modules that
register kernels for those ops from running, so ``import torchvision``,
``import timm`` and ``import transformers`` work in the test session and in
the processes its tests start (model construction needs none of the ops).
"""
import os
import sys

import pytest

_TESTS = os.path.dirname(os.path.abspath(__file__))
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
import _torchvision_shim

_torchvision_shim.install()
# ... and in the Python processes the tests start (README and docs examples):
# tests/_site/sitecustomize.py installs it there
_SITE = os.path.join(_TESTS, "_site")
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_SITE] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != _SITE])


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: long-running variant, run only with FASTINIT_SLOW_TESTS=1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("FASTINIT_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="slow variant: set FASTINIT_SLOW_TESTS=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
