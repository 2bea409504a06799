"""Shared pytest configuration: the ``slow`` marker, and torchvision's import.

Tests marked ``@pytest.mark.slow`` (long robustness variants: multi-GB
fills, long leak loops, deep fuzzing) are skipped unless
``FASTINIT_SLOW_TESTS=1`` is set, so the default run stays fast.

PyPI's torchvision wheels are CUDA builds whose C++ ops do not register
beside torch's CPU build; ``_torchvision_shim`` keeps the two modules that
register kernels for those ops from running, so ``import torchvision``,
``import timm`` and ``import transformers`` work in the test session and in
the processes its tests start (model construction needs none of the ops).

``FASTINIT_REQUIRE_TEST_DEPS=1`` (set by CI, where the test extra is
installed) turns every skip into a failure except those whose reason is in
``ALLOWED_SKIPS`` (slow variants, sanitizer-only tests, the platform or a
compiler absent on purpose): a library missing from a broken install then
fails the run instead of hiding behind a skip. Test files ask for optional
libraries with ``_deps.require(name)``, which under that variable raises
``ImportError`` itself rather than skipping.
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


from _deps import REQUIRE_DEPS

# reasons a skip stays a skip under FASTINIT_REQUIRE_TEST_DEPS=1 (prefixes)
ALLOWED_SKIPS = (
    "slow variant",                                   # FASTINIT_SLOW_TESTS
    "the fuzzing itself runs in the test above",      # the sanitizer build's twin
    "RSS is meaningless under ASan", "ASan reserves",
    "needs x86-64 and a C compiler", "cannot build the MXCSR helper",  # CI step 4: no cc
    "mkl-random ships wheels for x86-64 only",
    "uses /proc", "RLIMIT_AS, /proc", "RLIMIT_FSIZE semantics", "no /dev/full",
    "POSIX signals", "needs os.fork",
)


def _skip_reason(longrepr):
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = longrepr[2]
    else:
        reason = str(longrepr)
    return reason.removeprefix("Skipped: ")


def _forbid_skip(rep):
    if not (REQUIRE_DEPS and rep.skipped) or hasattr(rep, "wasxfail"):
        return
    reason = _skip_reason(rep.longrepr)
    if not reason.startswith(ALLOWED_SKIPS):
        rep.outcome = "failed"
        rep.longrepr = (f"skipped where FASTINIT_REQUIRE_TEST_DEPS=1 forbids it (the test "
                        f"extra is installed): {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _forbid_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _forbid_skip(outcome.get_result())


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
