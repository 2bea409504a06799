"""The torchvision shim in the test session's subprocesses.

``tests/conftest.py`` puts this directory first on ``PYTHONPATH``, so the
Python processes a test starts (the README's and docs' examples, run as
scripts) install ``tests/_torchvision_shim.py`` too, and can import
torchvision, timm and transformers.  A ``sitecustomize`` this one shadows
still runs.
"""
import importlib.machinery
import importlib.util
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_here))
try:
    import _torchvision_shim

    _torchvision_shim.install()
finally:
    sys.path.remove(os.path.dirname(_here))

_others = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
_spec = importlib.machinery.PathFinder.find_spec("sitecustomize", _others)
if _spec is not None and _spec.loader is not None:
    _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
