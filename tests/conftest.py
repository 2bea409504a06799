"""Shared pytest configuration: the ``slow`` marker.

Tests marked ``@pytest.mark.slow`` (long robustness variants: multi-GB
fills, long leak loops, deep fuzzing) are skipped unless
``FASTINIT_SLOW_TESTS=1`` is set, so the default run stays fast.
"""
import os

import pytest


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
