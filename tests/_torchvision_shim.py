"""Let ``import torchvision`` work beside a torch build its C++ ops don't fit.

Every torchvision wheel on PyPI is a CUDA build.  Next to torch's CPU build its
C++ extension does not load, and ``torchvision/__init__.py`` then fails in
``torchvision._meta_registrations`` (``operator torchvision::nms does not
exist``) -- and so does ``import transformers`` once torchvision is installed,
since transformers imports it when present.  Building models needs none of
those ops (nms, roi_align, deform_conv2d, ...), only torchvision's Python
modules.

:func:`install` puts a finder first on ``sys.meta_path`` that, only when
torchvision's extension reports no ops (``torchvision.extension._has_ops()``
is False), hands back an empty module for ``torchvision._meta_registrations``
and ``torchvision._autograd_registrations`` -- the two modules that register
Python kernels for the missing operators.  With a matching torchvision
build the finder does nothing.  Calling one of the missing ops still fails,
with torchvision's own message.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

SKIPPED = ("torchvision._meta_registrations", "torchvision._autograd_registrations")


class _EmptyLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        module.__doc__ = ("Not run: torchvision's C++ ops are not available beside this torch "
                          "build (see tests/_torchvision_shim.py).")


class _SkipRegistrations(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in SKIPPED:
            return None
        extension = sys.modules.get("torchvision.extension")
        if extension is None or extension._has_ops():
            return None  # a matching build: register as usual
        return importlib.machinery.ModuleSpec(name, _EmptyLoader())


def install():
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _SkipRegistrations) for f in sys.meta_path):
        sys.meta_path.insert(0, _SkipRegistrations())
