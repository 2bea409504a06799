"""Register fastinit's initializers with Keras serialization, without importing Keras.

Keras finds a custom class in a saved model only through its registry
(``keras.saving.register_keras_serializable``): a ``.keras`` file names the
class ``"fastinit>GlorotUniform"`` and loading looks that name up. Importing
Keras just to register would cost seconds (and, on the torch backend, import
torch), so fastinit never imports it. Instead:

* if Keras is already imported when :mod:`fastinit.initializers` is, the
  classes are registered at once;
* otherwise a one-shot import hook on ``sys.meta_path`` waits for ``import
  keras`` and registers the classes right after Keras' own ``__init__`` has
  run, then removes itself. It costs nothing until Keras is imported (the
  hook only answers for the top-level name ``"keras"``);
* ``get_config()`` also registers when it finds Keras loaded (a safety net
  for a Keras imported in some way the hook did not see);
* :func:`fastinit.initializers.register_keras` does it explicitly.

Registration is best effort: any failure in it leaves Keras' import untouched.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading

__all__ = ["install_keras_hook", "keras_loaded", "register_with_keras"]

_PACKAGE = "fastinit"
_lock = threading.RLock()
_classes: list[type] = []
_registered = False


def keras_loaded() -> bool:
    """True when Keras is imported completely (its ``saving`` module is bound)."""
    keras = sys.modules.get("keras")
    return keras is not None and getattr(keras, "saving", None) is not None


def register_with_keras(classes=None) -> bool:
    """Register ``classes`` (default: those given before) with the loaded Keras.

    Returns True when the classes are registered; False when Keras is not
    loaded or has no registry. Never imports Keras itself.
    """
    global _registered
    with _lock:
        if classes is not None:
            for cls in classes:
                if cls not in _classes:
                    _classes.append(cls)
        if _registered and classes is None:
            return True
        if not keras_loaded():
            return False
        try:
            register = sys.modules["keras"].saving.register_keras_serializable
            for cls in _classes:
                register(package=_PACKAGE, name=cls.__name__)(cls)
        except Exception:  # noqa: BLE001  # pragma: no cover - an unusual Keras; stay importable
            return False
        _registered = True
        return True


class _RegisteringLoader(importlib.abc.Loader):
    """Runs Keras' own loader, then registers; puts the original loader back."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        try:
            self._loader.exec_module(module)
        finally:
            # Hand the module its real loader, so nothing later sees ours.
            spec = getattr(module, "__spec__", None)
            if spec is not None and spec.loader is self:
                spec.loader = self._loader
            if getattr(module, "__loader__", None) is self:
                module.__loader__ = self._loader
        register_with_keras()

    def __getattr__(self, name):
        # get_data, get_resource_reader, is_package, ... of the real loader.
        return getattr(self._loader, name)


class _KerasImportHook(importlib.abc.MetaPathFinder):
    """Meta-path finder that answers only for ``keras`` and only once."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras":
            return None
        _remove_hook()
        spec = None
        for finder in sys.meta_path:  # the finders after us, as Python would ask
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _RegisteringLoader(spec.loader)
        return spec


_hook: _KerasImportHook | None = None


def _remove_hook() -> None:
    global _hook
    with _lock:
        if _hook is not None:
            try:
                sys.meta_path.remove(_hook)
            except ValueError:
                pass
            _hook = None


def install_keras_hook(classes) -> None:
    """Register ``classes`` now if Keras is loaded, else when it gets imported."""
    global _hook
    with _lock:
        if register_with_keras(classes):
            return
        if "keras" in sys.modules:
            # Keras is being imported right now (we are inside its import);
            # get_config() will register once it is complete.
            return
        if _hook is None:
            _hook = _KerasImportHook()
            sys.meta_path.insert(0, _hook)
