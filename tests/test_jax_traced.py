"""fastinit.jax under JAX transformations, in flax, and sharded.

Traced keys go through a host callback that runs the same code as an eager
call, so every transformation must give exactly the eager bits.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from _deps import require

import fastinit

jax = require("jax")
import jax.numpy as jnp

import fastinit.jax as fij


def host(x):
    return np.asarray(x)


INITS = [
    ("he_normal", fij.he_normal()),
    ("glorot_uniform", fij.glorot_uniform()),
    ("normal", fij.normal(0.5)),
    ("truncated_normal", fij.truncated_normal(0.5)),
    ("orthogonal", fij.orthogonal()),
    ("zeros", fij.zeros),
    ("constant", fij.constant(3.0)),
]


@pytest.mark.parametrize("name,init", INITS, ids=[n for n, _ in INITS])
def test_jit_vmap_equal_eager(name, init):
    key = jax.random.key(7)
    shape = (6, 5)
    eager = host(init(key, shape))
    assert host(jax.jit(lambda k: init(k, shape))(key)).tobytes() == eager.tobytes()
    # a concrete int seed closed over inside jit: the same key words, the same bits
    assert host(jax.jit(lambda: init(7, shape))()).tobytes() == eager.tobytes()
    keys = jax.random.split(jax.random.key(3), 4)
    batched = host(jax.vmap(lambda k: init(k, shape))(keys))
    for i in range(4):
        assert batched[i].tobytes() == host(init(keys[i], shape)).tobytes()
    # raw uint32 keys too, and nested vmap
    raw = jax.random.key_data(keys).reshape(2, 2, 2)
    nested = host(jax.vmap(jax.vmap(lambda k: init(k, shape)))(raw))
    assert nested[1, 0].tobytes() == host(init(keys[2], shape)).tobytes()


def test_eval_shape_computes_nothing(monkeypatch):
    import fastinit.jax._bridge as bridge

    calls = []
    monkeypatch.setattr(bridge, "seed_from_key_data",
                        lambda d: calls.append(1) or fij.seed_from_key_data(d))
    out = jax.eval_shape(lambda k: fij.he_normal()(k, (4096, 4096)), jax.random.key(0))
    assert out.shape == (4096, 4096) and out.dtype == jnp.float32 and calls == []
    # the same patch sees the callback run when the values are computed
    jax.jit(lambda k: fij.he_normal()(k, (4, 4)))(jax.random.key(0)).block_until_ready()
    assert calls == [1]


def test_complex_dtypes_as_jax():
    key = jax.random.key(0)
    z = host(fij.normal(1.0)(key, (200_000,), jnp.complex64))
    assert z.dtype == np.complex64
    # real and imaginary parts each have half the variance (as jax.random.normal)
    assert abs(z.real.var() - 0.5) < 0.01 and abs(z.imag.var() - 0.5) < 0.01
    # element i is elements 2i, 2i+1 of the real stream
    real = host(fij.normal(1.0 / np.sqrt(2))(key, (200_000, 2), jnp.float32))
    assert np.array_equal(z.view(np.float32).reshape(-1, 2), real)
    for dist in ("uniform", "truncated_normal", "normal"):
        init = fij.variance_scaling(2.0, "fan_in", dist)
        w = host(init(key, (400, 300), jnp.complex64))
        theirs = host(jax.nn.initializers.variance_scaling(2.0, "fan_in", dist)(
            key, (400, 300), jnp.complex64))
        assert w.dtype == theirs.dtype
        assert abs(np.abs(w).std() / np.abs(theirs).std() - 1) < 0.02, dist
        assert abs((np.abs(w) ** 2).mean() / (np.abs(theirs) ** 2).mean() - 1) < 0.02, dist
        assert np.abs(w).max() <= np.abs(theirs).max() * 1.05 or dist == "normal"
        jitted = host(jax.jit(lambda k, f=init: f(k, (400, 300), jnp.complex64))(key))
        assert jitted.tobytes() == w.tobytes()


def test_one_d_with_explicit_axes_as_jax():
    key = jax.random.key(0)
    ours = fij.variance_scaling(1.0, "fan_in", "normal", in_axis=0, out_axis=0)(key, (9,))
    theirs = jax.nn.initializers.variance_scaling(1.0, "fan_in", "normal", in_axis=0,
                                                  out_axis=0)(key, (9,))
    assert ours.shape == theirs.shape == (9,)
    with pytest.raises(ValueError, match="at least 2D"):
        fij.he_normal()(key, (9,))


def test_initializer_protocol():
    assert isinstance(fij.glorot_uniform(), fij.Initializer)
    assert isinstance(fij.zeros, jax.nn.initializers.Initializer)


def test_large_eager_call_is_adopted_without_copy(monkeypatch):
    import fastinit.jax._bridge as bridge

    made = []
    real = bridge.aligned_empty
    monkeypatch.setattr(bridge, "aligned_empty", lambda *a: made.append(real(*a)) or made[-1])
    out = fij.normal(1.0)(0, (1 << 16,))
    # the JAX array lives in the very buffer fastinit filled (CPU backend)
    assert out.unsafe_buffer_pointer() == made[0].ctypes.data
    assert host(out).tobytes() == made[0].tobytes()
    assert host(out).tobytes() == host(fij.normal(1.0)(jax.random.key(0), (1 << 16,))).tobytes()


# --- flax ---------------------------------------------------------------------------


def test_flax_linen_mlp_init_apply_jit():
    nn = require("flax.linen")

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(16, kernel_init=fij.he_normal(), bias_init=fij.normal(0.1))(x)
            x = nn.relu(x)
            x = nn.Dense(8, kernel_init=fij.glorot_uniform(), bias_init=fij.zeros)(x)
            return nn.Dense(2, kernel_init=fij.orthogonal())(x)

    model = MLP()
    x = jnp.ones((3, 10))
    key = jax.random.key(0)
    params = model.init(key, x)
    jitted = jax.jit(model.init)(key, x)
    flat, tree = jax.tree_util.tree_flatten(params)
    flat_j, tree_j = jax.tree_util.tree_flatten(jitted)
    assert tree == tree_j
    for a, b in zip(flat, flat_j):
        assert host(a).tobytes() == host(b).tobytes()
    y = model.apply(params, x)  # linen checks parameter shapes with eval_shape here
    assert y.shape == (3, 2)
    assert host(jax.jit(model.apply)(params, x)).shape == (3, 2)
    # the kernels are fastinit's values for the keys flax derives
    k = params["params"]["Dense_0"]["kernel"]
    assert k.shape == (10, 16) and abs(float(host(k).std()) - (2 / 10) ** 0.5) < 0.15


def test_flax_nnx_init_under_nnx_jit():
    nnx = require("flax.nnx")

    class Model(nnx.Module):
        def __init__(self, rngs):
            self.a = nnx.Linear(8, 4, kernel_init=fij.lecun_normal(), rngs=rngs)
            self.b = nnx.Linear(4, 2, kernel_init=fij.he_uniform(), rngs=rngs)

    eager = Model(nnx.Rngs(0))
    jitted = nnx.jit(lambda: Model(nnx.Rngs(0)))()
    for layer in ("a", "b"):
        assert host(getattr(eager, layer).kernel[...]).tobytes() == \
            host(getattr(jitted, layer).kernel[...]).tobytes()


# --- sharding ---------------------------------------------------------------------------

_SHARDED = textwrap.dedent(r"""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import numpy as np, jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import fastinit.jax as fij
    assert len(jax.devices()) == 4, jax.devices()
    devices = np.array(jax.devices())
    inits = [fij.he_normal(), fij.uniform(2.0), fij.truncated_normal(1.0), fij.orthogonal(),
             fij.constant(1.5), fij.normal(1.0)]
    dtypes = [np.float32, np.float32, "bfloat16", np.float32, np.float32, np.complex64]
    shape = (8, 12)
    key = jax.random.key(5)
    count = 0
    for mesh_shape, names in [((4,), ("x",)), ((2, 2), ("x", "y"))]:
        mesh = Mesh(devices.reshape(mesh_shape), names)
        specs = [P(), P(names[0]), P(None, names[0])]
        if len(names) == 2:
            specs += [P("y"), P(None, "y"), P("x", "y"), P("y", "x"), P(("x", "y")),
                      P(None, ("y", "x"))]
        for spec in specs:
            sharding = NamedSharding(mesh, spec)
            for init, dt in zip(inits, dtypes):
                ref = np.asarray(init(key, shape, dt))
                got = init(key, shape, dt, out_sharding=sharding)
                assert got.sharding == sharding, (got.sharding, sharding)
                assert np.asarray(got).tobytes() == ref.tobytes(), (mesh_shape, spec)
                for shard in got.addressable_shards:  # each shard holds its own region
                    assert np.asarray(shard.data).tobytes() == ref[shard.index].tobytes()
                traced = jax.jit(lambda k: init(k, shape, dt, out_sharding=sharding))(key)
                assert np.asarray(traced).tobytes() == ref.tobytes()
                count += 1
    # a mesh with Explicit axes (jax.make_mesh's default), PartitionSpecs on the set mesh
    mesh = jax.make_mesh((2, 2), ("x", "y"))
    with jax.set_mesh(mesh):
        for spec in (P("x"), P(None, "y"), P("y", "x")):
            ref = np.asarray(fij.he_normal()(key, shape))
            got = fij.he_normal()(key, shape, out_sharding=spec)
            assert got.sharding.spec == spec and np.asarray(got).tobytes() == ref.tobytes()
            traced = jax.jit(lambda k: fij.he_normal()(k, shape, out_sharding=spec))(key)
            assert traced.sharding.is_equivalent_to(NamedSharding(mesh, spec), 2)
            assert np.asarray(traced).tobytes() == ref.tobytes()
            count += 1
    print("OK", count)
""")


def test_sharded_init_equals_unsharded_on_four_host_devices():
    env = dict(os.environ)
    # the child imports the same fastinit as this process (the tree's src/ holds no
    # compiled core when the tests run against an installed wheel)
    src = os.path.dirname(os.path.dirname(os.path.abspath(fastinit.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, "-c", _SHARDED], env=env, capture_output=True,
                         text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK 75" in out.stdout, out.stdout
