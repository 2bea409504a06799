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

Keras' own fans in ``EinsumDense`` / ``MultiHeadAttention``.  ``EinsumDense.build``
passes its ``input_axes``/``output_axes`` only to initializers that are
``isinstance`` of Keras' ``VarianceScaling`` (a plain class: virtual subclasses
cannot be registered with it).  So, at the moment the classes are registered
(Keras just imported, or already loaded when fastinit is), fastinit's
``VarianceScaling`` gets Keras' ``VarianceScaling`` appended to its bases
(``__bases__`` reassignment; the MRO keeps every fastinit method first, Keras'
``__init__`` is never called).  From then on every fastinit variance-scaling
initializer (``GlorotUniform``, ``HeNormal``, ...) is also a Keras
``VarianceScaling``, and Keras clones it with the layer's axes through
``from_config`` exactly as it does its own.  Before Keras is imported nothing of
Keras is touched.

Seeds.  A ``keras.random.SeedGenerator`` seed is recognised only when Keras is
loaded (a Keras object implies it); each call draws the generator's next state
(``SeedGenerator.next()``, two integers ``(s0, s1)``) and uses the fastinit seed
``int.from_bytes(blake2b(int64 little-endian s0, s1, digest_size=8), "little")``.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import sys
import threading

import numpy as np

__all__ = [
    "draw_seed",
    "install_keras_hook",
    "is_seed_generator",
    "keras_loaded",
    "register_with_keras",
]

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
        _adopt_keras_variance_scaling()
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


def _adopt_keras_variance_scaling() -> bool:
    """Make fastinit's ``VarianceScaling`` a subclass of Keras' (see the module doc)."""
    ours = next((c for c in _classes if c.__name__ == "VarianceScaling"), None)
    if ours is None:
        return False
    try:
        from keras.src.initializers.random_initializers import VarianceScaling as theirs
    except Exception:  # noqa: BLE001  # pragma: no cover - a Keras without it
        return False
    if issubclass(ours, theirs):
        return True
    try:
        ours.__bases__ = (*ours.__bases__, theirs)
    except TypeError:  # pragma: no cover - an incompatible Keras class layout
        return False
    return True


def _seed_generator_class():
    keras = sys.modules.get("keras")
    random = getattr(keras, "random", None) if keras is not None else None
    return getattr(random, "SeedGenerator", None)


def is_seed_generator(obj) -> bool:
    """True for a ``keras.random.SeedGenerator`` (never imports Keras)."""
    cls = _seed_generator_class()
    return cls is not None and isinstance(obj, cls)


def deserialize_seed(config):
    """A SeedGenerator from Keras' serialized form (a dict), or None if it is not one."""
    if not keras_loaded():
        return None
    try:
        obj = sys.modules["keras"].saving.deserialize_keras_object(config)
    except Exception:  # noqa: BLE001
        return None
    return obj if is_seed_generator(obj) else None


def serialize_seed(gen):
    """Keras' serialized form of a SeedGenerator (what Keras' initializers store)."""
    return sys.modules["keras"].saving.serialize_keras_object(gen)


def draw_seed(gen) -> int:
    """Advance ``gen`` (a SeedGenerator) and return a 64-bit fastinit seed from its state."""
    keras = sys.modules["keras"]
    state = np.asarray(keras.ops.convert_to_numpy(gen.next()), dtype=np.int64).reshape(-1)
    digest = hashlib.blake2b(state.astype("<i8").tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


_TENSOR_MODULES = ("torch", "jax", "jaxlib", "tensorflow", "keras", "mlx")


def is_tensor(obj) -> bool:
    """True for a NumPy array/scalar or a backend tensor (torch, JAX, TensorFlow, Keras)."""
    if isinstance(obj, (np.ndarray, np.generic)):
        return True
    module = type(obj).__module__.split(".", 1)[0]
    return module in _TENSOR_MODULES and hasattr(obj, "shape") and hasattr(obj, "dtype")


def to_numpy(obj):
    """A NumPy array of a backend tensor (on the host); anything else through ``numpy.asarray``."""
    if type(obj).__module__.split(".", 1)[0] == "torch" and hasattr(obj, "detach"):
        obj = obj.detach().cpu()
        if str(obj.dtype) == "torch.bfloat16":
            import ml_dtypes

            return obj.float().numpy().astype(ml_dtypes.bfloat16)
        return obj.numpy()
    if type(obj).__module__.split(".", 1)[0] == "keras" and keras_loaded():
        return np.asarray(sys.modules["keras"].ops.convert_to_numpy(obj))
    return np.asarray(obj)
