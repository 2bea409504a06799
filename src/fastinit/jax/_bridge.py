"""How fastinit.jax hands host-computed values to JAX.

* keys -> 64-bit seeds (the mapping is part of the stream contract, see
  docs/stream.md);
* eager calls: the values are sampled into a 64-byte aligned NumPy buffer that
  JAX adopts without a copy (DLPack) on the CPU backend; with ``out_sharding``
  each addressable shard is computed from its own index region
  (``jax.make_array_from_callback``);
* traced calls (``jit``, ``vmap``, ``eval_shape``, flax ``init``/``apply``):
  a ``jax.pure_callback`` that receives the key's data and runs the same host
  code, so the bits equal the eager call's; under ``eval_shape`` nothing runs.
"""
from __future__ import annotations

import hashlib
import numbers
import sys

import numpy as np

from .._core import resolve_seed
from .._regions import check_region

_jax_module = None
_jax_checked = False
_ALIGN = 64  # XLA:CPU adopts buffers aligned to 64 bytes without copying them
_ZERO_COPY_MIN_BYTES = 1 << 16


def jax_module():
    """The jax module if it is installed (imported on first need), else None."""
    global _jax_module, _jax_checked
    if not _jax_checked:
        try:
            import jax
        except ImportError:
            jax = None
        _jax_module, _jax_checked = jax, True
    return _jax_module


def seed_from_key_data(data) -> int:
    """The fastinit seed of one key's uint32 data: ``hi * 2**32 + lo`` for two
    words, else the first 8 bytes (little-endian) of ``blake2b(data as
    little-endian uint32, digest_size=8)``.

    Parameters
    ----------
    data : array_like of uint32
        A key's data (``jax.random.key_data(key)``, or a raw ``PRNGKey``).

    Returns
    -------
    int
        The seed in ``[0, 2**64)``; the values come from its stream 0.

    Examples
    --------
    >>> from fastinit.jax import seed_from_key_data
    >>> seed_from_key_data([0, 42]), seed_from_key_data([1, 0]) == 2**32
    (42, True)
    """
    data = np.asarray(data, dtype=np.uint32).reshape(-1)
    if data.size == 2:
        return (int(data[0]) << 32) | int(data[1])
    digest = hashlib.blake2b(data.astype("<u4").tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _is_tracer(x, jax) -> bool:
    tracer = getattr(jax.core, "Tracer", None)
    return tracer is not None and isinstance(x, tracer)


def under_trace(jax) -> bool:
    """True inside jit / vmap / eval_shape / grad tracing."""
    try:
        from jax._src import core
        return not core.trace_state_clean()
    except Exception:  # noqa: BLE001 - a JAX without it: keys decide
        return False


def key_data(key):
    """``("seed", int)`` for an int/NumPy seed or concrete key; ``("data", array)``
    for a traced JAX key (uint32 key data, still traced)."""
    if key is None or isinstance(key, (numbers.Integral, np.random.Generator,
                                       np.random.SeedSequence)):
        return "seed", resolve_seed(key)
    jax = sys.modules.get("jax")  # a JAX key implies JAX is already imported
    if jax is not None and isinstance(key, jax.Array):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        if key.dtype != np.uint32:
            raise TypeError(
                "key must be an int seed, a JAX PRNG key or uint32 key data; "
                f"got an array of dtype {key.dtype}")
        if key.ndim != 1 or key.size == 0:
            raise ValueError(f"key must be a single PRNG key; got key data of shape {key.shape}")
        if _is_tracer(key, jax):
            return "data", key
        return "seed", seed_from_key_data(np.asarray(key))
    data = np.asarray(key)
    if data.dtype != np.uint32:
        raise TypeError(
            "key must be an int seed, a JAX PRNG key or uint32 key data; "
            f"got {type(key).__name__} of dtype {data.dtype}")
    if data.ndim != 1 or data.size == 0:
        raise ValueError(f"key must be a single PRNG key; got key data of shape {data.shape}")
    return "seed", seed_from_key_data(data)


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialized C-contiguous array whose data is 64-byte aligned."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < _ZERO_COPY_MIN_BYTES:
        return np.empty(shape, dtype)
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    start = (-raw.ctypes.data) % _ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def to_jax(array: np.ndarray, jax):
    """Hand a host array to JAX: adopted without a copy where JAX allows it."""
    if (array.nbytes >= _ZERO_COPY_MIN_BYTES and array.ctypes.data % _ALIGN == 0
            and jax.default_backend() == "cpu"):
        try:
            return jax.dlpack.from_dlpack(array)
        except (TypeError, ValueError, RuntimeError, BufferError):
            return jax.numpy.asarray(array)  # a dtype DLPack lacks (bfloat16): copy
    return jax.numpy.asarray(array)


def resolve_sharding(out_sharding, jax):
    """A concrete Sharding: a PartitionSpec is taken on the mesh set with
    ``jax.set_mesh`` / ``jax.sharding.use_mesh``."""
    if isinstance(out_sharding, jax.sharding.PartitionSpec):
        mesh = jax.sharding.get_mesh()
        if mesh is None or getattr(mesh, "empty", False):
            raise ValueError("out_sharding is a PartitionSpec but no mesh is set "
                             "(use jax.set_mesh or pass a NamedSharding)")
        return jax.sharding.NamedSharding(mesh, out_sharding)
    if not isinstance(out_sharding, jax.sharding.Sharding):
        raise TypeError("out_sharding must be None, a jax.sharding.Sharding or a "
                        f"PartitionSpec; got {type(out_sharding).__name__}")
    return out_sharding


def run(plan, key, out_sharding):
    """Values of ``plan`` for ``key``: NumPy without JAX, else a JAX array."""
    jax = jax_module()
    if jax is None:
        if out_sharding is not None:
            raise ValueError("out_sharding needs JAX, which is not installed")
        seed = None if plan.constant else key_data(key)[1]
        return plan.host(seed)
    kind, value = ("seed", None) if plan.constant else key_data(key)
    if kind == "data" or under_trace(jax):
        return _traced(plan, kind, value, out_sharding, jax)
    if out_sharding is None:
        out = aligned_empty(plan.shape, plan.out_dtype)
        plan.fill(out, [(0, n) for n in plan.shape], value)
        return to_jax(out, jax)
    sharding = resolve_sharding(out_sharding, jax)

    def shard(index):
        box = check_region(index, plan.shape)  # one shard's index: a tuple of slices
        out = np.empty(tuple(b - a for a, b in box), plan.out_dtype)
        plan.fill(out, box, value)
        return out

    return jax.make_array_from_callback(plan.shape, sharding, shard)


def _traced(plan, kind, value, out_sharding, jax):
    jnp = jax.numpy
    if plan.constant:
        result = jnp.broadcast_to(jnp.asarray(plan.value), plan.shape)
    else:
        if kind == "seed":  # a concrete seed under a trace: its two key words
            value = jnp.asarray(np.array([value >> 32, value & 0xFFFFFFFF], np.uint32))
        shape, dtype = plan.shape, plan.out_dtype

        def host(data):
            data = np.asarray(data)
            batch = data.shape[:-1]
            out = np.empty(batch + shape, dtype)
            full = [(0, n) for n in shape]
            for idx in np.ndindex(*batch):
                plan.fill(out[idx], full, seed_from_key_data(data[idx]))
            return out

        result = jax.pure_callback(host, jax.ShapeDtypeStruct(shape, dtype), value,
                                   vmap_method="expand_dims")
    if out_sharding is not None:
        result = _constrain(result, out_sharding, jax)
    return result


def _explicit(out_sharding, jax) -> bool:
    """Whether the mesh of ``out_sharding`` has Explicit axes (sharding in types)."""
    mesh = getattr(out_sharding, "mesh", None)
    if mesh is None:
        mesh = jax.sharding.get_abstract_mesh()
    axis_type = getattr(jax.sharding, "AxisType", None)
    types = getattr(mesh, "axis_types", ()) or ()
    return axis_type is not None and any(t == axis_type.Explicit for t in types)


def _constrain(x, out_sharding, jax):
    """Lay the callback's result out as ``out_sharding`` (the values do not change)."""
    if _explicit(out_sharding, jax) and hasattr(jax.sharding, "reshard"):
        return jax.sharding.reshard(x, out_sharding)
    return jax.lax.with_sharding_constraint(x, out_sharding)
