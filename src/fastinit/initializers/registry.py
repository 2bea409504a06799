"""Initializers by name: ``get``, ``serialize``, ``deserialize``, the name registry
(class names, Keras' and torch's aliases) and ``register_keras``."""

from __future__ import annotations

import functools
import inspect

import numpy as np

from .. import _keras_compat
from ._base import Initializer
from .constant import Constant, Identity, Ones, Zeros
from .random import (
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
)
from .structured import STFT, Orthogonal

# ---------------------------------------------------------------------------
# names, get, serialize

_CLASSES = (
    Zeros,
    Ones,
    Constant,
    RandomUniform,
    RandomNormal,
    TruncatedNormal,
    VarianceScaling,
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
    Orthogonal,
    Identity,
    STFT,
)


def _snake(name):
    # Keras' to_snake_case for these class names.
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


# torch's normal-distribution schemes: VarianceScaling with its first arguments fixed
_xavier_normal = functools.partial(VarianceScaling, 1.0, "fan_avg", "untruncated_normal")
_kaiming_normal = functools.partial(VarianceScaling, 2.0, "fan_in", "untruncated_normal")
_Factory = type[Initializer] | functools.partial[VarianceScaling]


#: Every accepted name -> class or factory (called with the config's kwargs).
_REGISTRY: dict[str, _Factory] = {cls.__name__: cls for cls in _CLASSES}
_REGISTRY.update({_snake(cls.__name__): cls for cls in _CLASSES})
_REGISTRY.update(
    {
        # Keras' own aliases
        "IdentityInitializer": Identity,
        "OrthogonalInitializer": Orthogonal,
        "STFTInitializer": STFT,
        "normal": RandomNormal,
        "uniform": RandomUniform,
        "one": Ones,
        "zero": Zeros,
        # torch.nn.init names, with torch's distributions on Keras-layout fans
        "xavier_uniform": GlorotUniform,
        "xavier_normal": _xavier_normal,
        "kaiming_uniform": HeUniform,
        "kaiming_normal": _kaiming_normal,
    }
)


def _lookup(name) -> _Factory:
    if isinstance(name, str) and name.startswith("fastinit>"):
        name = name[len("fastinit>") :]  # Keras' registered name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown initializer {name!r}; accepted names are " + ", ".join(sorted(_REGISTRY))
        ) from None


def deserialize(config: dict) -> Initializer:
    """deserialize(config) -> Initializer

    Instantiate an initializer from ``{"class_name": name, "config": {...}}``
    (the output of :func:`serialize`; Keras' own serialized form, with its
    ``module`` and ``registered_name`` keys, is accepted too).

    Examples
    --------
    >>> from fastinit.initializers import deserialize
    >>> deserialize({"class_name": "HeNormal", "config": {"seed": 3}})
    HeNormal(seed=3, input_axes=None, output_axes=None)
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "an initializer config must be a dict with keys 'class_name' and 'config'; "
            f"got {config!r}"
        )
    name = config.get("registered_name") or config["class_name"]
    target = _lookup(name)
    kwargs = dict(config.get("config") or {})
    if inspect.isclass(target):
        return target.from_config(kwargs)
    return target(**kwargs)


class _TensorInitializer(Initializer):
    """What :func:`get` makes of an array or tensor: returns it, cast, for its own shape only."""

    accepts_integers = True

    def __init__(self, value):
        self.value = value

    def _prepare(self, shape, dtype):
        if tuple(shape) != tuple(self.value.shape):
            raise ValueError(
                f"Expected `shape` to be {tuple(self.value.shape)} for direct tensor as "
                f"initializer. Received shape={tuple(shape)}"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            return self.value.astype(dtype)

    def _fill(self, out, shape, box, value):
        out[...] = value[tuple(slice(a, b) for a, b in box)]

    def get_config(self):
        raise NotImplementedError("an initializer made from a tensor has no config")

    def __repr__(self):
        return f"<initializer returning an array of shape {tuple(self.value.shape)}>"


def get(identifier):
    """get(identifier) -> Initializer, callable or None

    An initializer from an instance (returned as is), a class (instantiated
    with its defaults), a name or alias, or a ``{"class_name": ..., "config":
    ...}`` dict. ``None`` gives ``None``. As Keras' ``get``, it also takes a
    NumPy array or backend tensor (torch, JAX, ...), giving an initializer that
    returns it (cast to the dtype asked for; any other shape raises
    ``ValueError``), and returns a plain callable (``f(shape, dtype=None)``)
    or a Keras initializer object as it is; any other class is instantiated.

    Names: the class names (``"GlorotUniform"``), Keras' snake-case names
    (``"glorot_uniform"``, ``"he_normal"``, ``"zeros"``, ``"ones"``,
    ``"constant"``, ``"orthogonal"``, ``"identity"``, ``"variance_scaling"``,
    ...), Keras' aliases (``"uniform"``, ``"normal"``, ``"zero"``, ``"one"``,
    ``"IdentityInitializer"``, ``"OrthogonalInitializer"``,
    ``"STFTInitializer"``) and torch's: ``"xavier_uniform"`` = GlorotUniform,
    ``"xavier_normal"`` = ``VarianceScaling(1, "fan_avg", "untruncated_normal")``,
    ``"kaiming_uniform"`` = HeUniform, ``"kaiming_normal"`` =
    ``VarianceScaling(2, "fan_in", "untruncated_normal")``. Names are
    case-sensitive, as in Keras.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the accepted ones, sorted).
    TypeError
        For an identifier of another type.

    Examples
    --------
    >>> import fastinit
    >>> fastinit.get("he_normal")                       # doctest: +ELLIPSIS
    HeNormal(seed=None, input_axes=None, output_axes=None)
    >>> fastinit.get({"class_name": "Constant", "config": {"value": 2.0}})
    Constant(value=2.0)
    >>> fastinit.get("kaiming_normal").distribution
    'untruncated_normal'
    >>> import numpy as np
    >>> fastinit.get(np.eye(2))((2, 2), "int8")
    array([[1, 0],
           [0, 1]], dtype=int8)
    """
    if identifier is None:
        return None
    if isinstance(identifier, Initializer):
        return identifier
    if inspect.isclass(identifier):
        made = identifier()  # fastinit's classes, and any other, as Keras does
        if not callable(made):
            raise TypeError(f"initializer class {identifier.__name__} makes a non-callable")
        return made
    if isinstance(identifier, str):
        target = _lookup(identifier)
        return target()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if _keras_compat.is_tensor(identifier):
        return _TensorInitializer(_keras_compat.to_numpy(identifier))
    if callable(identifier):
        return identifier  # a plain function or a Keras initializer object
    raise TypeError(
        "initializer identifier must be a fastinit initializer, its class, a name, a "
        "{'class_name': ..., 'config': ...} dict, an array or tensor, or a callable; "
        f"got {type(identifier).__name__}"
    )


def serialize(initializer) -> dict | None:
    """serialize(initializer) -> dict

    ``{"class_name": ..., "config": ...}`` for an initializer (``None`` for
    ``None``); :func:`get` and :func:`deserialize` invert it.

    Examples
    --------
    >>> import fastinit
    >>> fastinit.serialize(fastinit.initializers.Orthogonal(gain=0.5, seed=1))
    {'class_name': 'Orthogonal', 'config': {'gain': 0.5, 'seed': 1}}
    >>> fastinit.serialize(fastinit.initializers.RandomNormal(seed=2, stream=3))
    {'class_name': 'RandomNormal', 'config': {'mean': 0.0, 'stddev': 0.05, 'seed': 2, 'stream': 3}}
    """
    if initializer is None:
        return None
    if not isinstance(initializer, Initializer):
        raise TypeError(
            f"serialize expects a fastinit initializer; got {type(initializer).__name__}"
        )
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


def register_keras() -> bool:
    """register_keras() -> bool

    Register the initializer classes with Keras serialization (as
    ``"fastinit>ClassName"``) now; True when Keras is loaded and this
    succeeded. Normally not needed: it happens automatically when Keras is
    imported (before or after fastinit).

    Examples
    --------
    >>> from fastinit.initializers import register_keras
    >>> isinstance(register_keras(), bool)
    True
    """
    return _keras_compat.register_with_keras(_CLASSES)
