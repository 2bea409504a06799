"""Optional test dependencies, one rule for every test file.

``require("torch")`` returns the module. Where it is missing the test (or the
module, at import time) is skipped, as ``pytest.importorskip`` would, except
under ``FASTINIT_REQUIRE_TEST_DEPS=1`` (set by ``.ci/run`` in the steps that
install the test extra): there a missing library raises ``ImportError``, and
the test fails instead of hiding a broken install behind a skip.
"""
from __future__ import annotations

import importlib
import os

import pytest

__all__ = ["REQUIRE_DEPS", "require"]

REQUIRE_DEPS = os.environ.get("FASTINIT_REQUIRE_TEST_DEPS") == "1"


def require(name: str):
    """The module ``name``; a skip where it is missing, a failure where CI requires it."""
    if REQUIRE_DEPS:
        try:
            return importlib.import_module(name)
        except ImportError as e:
            raise ImportError(f"{name} is required here (FASTINIT_REQUIRE_TEST_DEPS=1: the "
                              f"test extra is installed), but importing it failed: {e}") from e
    return pytest.importorskip(name)
