"""fastinit.jax against the jax.nn.initializers definitions.

The formulas are written out here from JAX's source (fans, variance, the
0.87962566103423978 correction, uniform limits), independently of fastinit,
and each initializer must equal fastinit's fill with those parameters exactly.
When JAX is installed, the samples are also compared with JAX's own
initializers (two-sample KS, bounds, shapes, dtypes); only those tests are
skipped without JAX.
"""
import hashlib
import math
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
from scipy import stats

import fastinit
import fastinit.jax as fij

try:
    import jax
    import jax.numpy as jnp
except ImportError:  # pragma: no cover - depends on the environment
    jax = None

requires_jax = pytest.mark.skipif(jax is None, reason="jax is not installed")
P_MIN = 1e-4
BF16 = ml_dtypes.bfloat16


def host(x):
    return np.asarray(x)


# --- JAX's definitions (jax/_src/nn/initializers.py), written out ------------


def jax_fans(shape, in_axis=-2, out_axis=-1, batch_axis=()):
    def size(axes):
        return shape[axes] if isinstance(axes, int) else math.prod(shape[i] for i in axes)

    in_size, out_size, batch_size = size(in_axis), size(out_axis), size(batch_axis)
    receptive_field = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive_field, out_size * receptive_field


def vs_params(scale, mode, distribution, shape, **axes):
    fan_in, fan_out = jax_fans(shape, **axes)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
         "fan_geo_avg": (fan_in * fan_out) ** 0.5}[mode]
    variance = scale / n
    if distribution == "truncated_normal":
        return "trunc", (0.0, math.sqrt(variance) / 0.87962566103423978, -2.0, 2.0)
    if distribution == "normal":
        return "normal", (0.0, math.sqrt(variance))
    return "uniform", (-math.sqrt(3 * variance), math.sqrt(3 * variance))


FILL = {"uniform": fastinit.fill_uniform, "normal": fastinit.fill_normal,
        "trunc": fastinit.fill_truncated_normal}


def expected(kind, params, shape, dtype=np.float32, seed=0):
    return FILL[kind](np.empty(shape, dtype), *params, seed=seed)


PRESETS = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
}
CASES = [((64, 32), {}), ((3, 3, 16, 32), {}), ((5, 7, 11), {"in_axis": 0, "out_axis": 2}),
         ((4, 6, 8, 10), {"in_axis": (0, 1), "out_axis": -1, "batch_axis": 2})]


# --- import and return types ---------------------------------------------------


def test_import_and_use_without_jax():
    code = (
        "import sys; sys.modules['jax'] = None\n"  # makes `import jax` fail
        "import numpy as np, fastinit.jax as fij\n"
        "x = fij.he_normal()(3, (8, 4))\n"
        "assert type(x) is np.ndarray and x.dtype == np.float32, type(x)\n"
        "assert type(fij.zeros(0, (2,))) is np.ndarray\n"
        "k = np.array([0, 3], np.uint32)\n"
        "assert (fij.he_normal()(k, (8, 4)) == x).all()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_fastinit_jax_does_not_import_jax():
    code = "import sys, fastinit.jax; assert 'jax' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@requires_jax
def test_returns_jax_arrays_when_jax_is_installed():
    x = fij.glorot_uniform()(jax.random.key(0), (4, 5))
    assert isinstance(x, jax.Array) and x.dtype == jnp.float32 and x.shape == (4, 5)
    assert isinstance(fij.ones(None, (2,)), jax.Array)


def test_every_public_function_is_documented_with_an_example():
    for name in fij.__all__:
        doc = getattr(fij, name).__doc__
        assert doc and ">>>" in doc, name


def test_aliases_are_the_same_functions():
    assert fij.xavier_uniform is fij.glorot_uniform
    assert fij.xavier_normal is fij.glorot_normal
    assert fij.kaiming_uniform is fij.he_uniform
    assert fij.kaiming_normal is fij.he_normal


# --- formulas, exactly ---------------------------------------------------------


@pytest.mark.parametrize("shape,axes", CASES, ids=[str(c[0]) for c in CASES])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
def test_variance_scaling_exact(shape, axes, mode, distribution):
    init = fij.variance_scaling(0.7, mode, distribution, **axes)
    kind, params = vs_params(0.7, mode, distribution, shape, **axes)
    np.testing.assert_array_equal(host(init(5, shape)), expected(kind, params, shape, seed=5))


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, BF16, np.float16])
def test_presets_exact(name, dtype):
    shape = (3, 3, 16, 32)
    kind, params = vs_params(*PRESETS[name], shape)
    got = getattr(fij, name)(dtype=dtype)(9, shape)
    assert host(got).dtype == (np.float32 if dtype == np.float64 and jax is not None
                               and not jax.config.jax_enable_x64 else dtype)
    ref = expected(kind, params, shape, dtype, seed=9)
    np.testing.assert_array_equal(host(got), ref.astype(host(got).dtype))
    # the dtype given at the call wins over the factory's
    got = getattr(fij, name)(in_axis=-2)(9, shape, np.float32)
    np.testing.assert_array_equal(host(got), expected(kind, params, shape, np.float32, seed=9))


def test_uniform_normal_truncated_normal_exact():
    shape = (50, 20)
    np.testing.assert_array_equal(host(fij.uniform()(1, shape)),
                                  expected("uniform", (0.0, 1e-2), shape, seed=1))
    np.testing.assert_array_equal(host(fij.uniform(7.5)(1, shape)),
                                  expected("uniform", (0.0, 7.5), shape, seed=1))
    np.testing.assert_array_equal(host(fij.uniform(-2.0)(1, shape)),
                                  -expected("uniform", (0.0, 2.0), shape, seed=1))
    np.testing.assert_array_equal(host(fij.normal()(2, shape)),
                                  expected("normal", (0.0, 1e-2), shape, seed=2))
    np.testing.assert_array_equal(host(fij.normal(3.0)(2, shape)),
                                  expected("normal", (0.0, 3.0), shape, seed=2))
    # JAX: truncated_normal(key, lower, upper) * stddev -- no 0.8796 correction here
    np.testing.assert_array_equal(host(fij.truncated_normal()(3, shape)),
                                  expected("trunc", (0.0, 1e-2, -2.0, 2.0), shape, seed=3))
    np.testing.assert_array_equal(
        host(fij.truncated_normal(0.5, lower=-1.0, upper=3.0)(3, shape)),
        expected("trunc", (0.0, 0.5, -1.0, 3.0), shape, seed=3))
    x = host(fij.truncated_normal(-0.5, lower=-1.0, upper=3.0)(3, (10_000,)))
    assert x.min() >= -1.5 and x.max() <= 0.5  # stddev * z for z in [-1, 3]


def test_zeros_ones_constant():
    assert host(fij.zeros(0, (2, 3))).tolist() == [[0.0] * 3] * 2
    assert host(fij.ones(0, (3, 2), np.float16)).dtype == np.float16
    assert host(fij.ones(0, 4)).tolist() == [1.0] * 4
    c = host(fij.constant(-7, dtype="bfloat16")(0, (2, 3)))
    assert c.dtype == BF16 and (c == -7).all()


def test_statistics():
    shape = (1000, 800)
    w = host(fij.he_uniform()(11, shape)).astype(np.float64).ravel()
    limit = math.sqrt(6 / 1000)
    assert w.min() >= -limit and w.max() < limit
    assert stats.kstest(w, "uniform", args=(-limit, 2 * limit)).pvalue > P_MIN
    w = host(fij.variance_scaling(1.0, "fan_out", "normal")(12, shape)).astype(np.float64)
    assert stats.kstest(w.ravel(), "norm", args=(0, math.sqrt(1 / 800))).pvalue > P_MIN
    w = host(fij.glorot_normal()(13, (400, 500))).astype(np.float64).ravel()
    std = math.sqrt(2 / 900)
    sigma = std / 0.87962566103423978
    assert np.abs(w).max() <= 2 * sigma
    assert stats.kstest(w, "truncnorm", args=(-2, 2, 0, sigma)).pvalue > P_MIN
    assert abs(w.std() - std) < 0.005 * std  # the correction gives the intended std


# --- orthogonal -------------------------------------------------------------------


@pytest.mark.parametrize("shape,column_axis", [((30, 50), -1), ((50, 30), -1),
                                               ((4, 5, 6), -1), ((8, 3, 3), 0), ((6, 40), 0)])
def test_orthogonal(shape, column_axis):
    w = host(fij.orthogonal(2.0, column_axis)(4, shape)).astype(np.float64)
    assert w.shape == shape
    m = np.moveaxis(w, column_axis, -1).reshape(-1, shape[column_axis])
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=2e-5)


def test_orthogonal_edge_cases():
    assert host(fij.orthogonal()(0, (0, 5))).shape == (0, 5)
    with pytest.raises(ValueError, match="at least a 2D"):
        fij.orthogonal()(0, (5,))
    a = host(fij.orthogonal(dtype=np.float64)(1, (20, 20)))
    assert a.dtype == np.float64 or jax is not None


def test_delta_orthogonal():
    w = host(fij.delta_orthogonal(1.5)(6, (3, 5, 4, 6))).astype(np.float64)
    centre = w[1, 2]
    np.testing.assert_allclose(centre @ centre.T, 2.25 * np.eye(4), atol=2e-5)
    mask = np.zeros(w.shape, bool)
    mask[1, 2] = True
    assert (w[~mask] == 0).all()
    np.testing.assert_array_equal(centre, host(fij.orthogonal(1.5)(6, (4, 6))))
    for shape in [(4, 4, 4, 4, 2, 3)[:3], (3, 3, 3, 2, 2)]:
        assert host(fij.delta_orthogonal()(0, shape)).shape == shape
    for shape in [(0, 3, 4), (3, 0, 2, 2), (3, 3, 0, 0)]:  # empty arrays (JAX: IndexError)
        w = host(fij.delta_orthogonal()(0, shape))
        assert w.shape == shape and not w.any()
    with pytest.raises(ValueError, match="3D, 4D or 5D"):
        fij.delta_orthogonal()(0, (3, 3))
    with pytest.raises(ValueError, match="fan_in"):
        fij.delta_orthogonal()(0, (3, 5, 4))


# --- keys, dtypes, errors --------------------------------------------------------


def test_key_data_gives_the_seed():
    init = fij.he_uniform()
    ref = host(init(42, (6, 4)))
    np.testing.assert_array_equal(host(init(np.array([0, 42], np.uint32), (6, 4))), ref)
    high = np.array([1, 2], np.uint32)
    np.testing.assert_array_equal(host(init(high, (6, 4))), host(init((1 << 32) + 2, (6, 4))))
    four = np.array([1, 2, 3, 4], np.uint32)
    seed = int.from_bytes(hashlib.blake2b(four.astype("<u4").tobytes(),
                                          digest_size=8).digest(), "little")
    np.testing.assert_array_equal(host(init(four, (6, 4))), host(init(seed, (6, 4))))
    np.testing.assert_array_equal(host(init(np.random.SeedSequence(1), (6, 4))),
                                  host(init(np.random.SeedSequence(1), (6, 4))))
    with pytest.raises(ValueError, match="single PRNG key"):
        init(np.zeros((2, 2), np.uint32), (6, 4))
    with pytest.raises(TypeError):
        init(1.5, (6, 4))
    with pytest.raises(TypeError):
        init(True, (6, 4))


@requires_jax
def test_jax_keys():
    init = fij.lecun_normal()
    ref = host(init(42, (6, 4)))
    np.testing.assert_array_equal(host(init(jax.random.key(42), (6, 4))), ref)
    np.testing.assert_array_equal(host(init(jax.random.PRNGKey(42), (6, 4))), ref)
    k1, k2 = jax.random.split(jax.random.key(0))
    assert not np.array_equal(host(init(k1, (6, 4))), host(init(k2, (6, 4))))
    rbg = jax.random.key(1, impl="rbg")
    assert host(init(rbg, (6, 4))).shape == (6, 4)
    # traced keys: the same bits as eager
    traced = jax.jit(lambda k: init(k, (6, 4)))(jax.random.key(42))
    np.testing.assert_array_equal(host(traced), ref)


def test_dtypes_and_errors():
    assert host(fij.normal()(0, (3,))).dtype == np.float32
    assert host(fij.normal(dtype="bfloat16")(0, (3,))).dtype == BF16
    assert host(fij.normal()(0, (3,), np.complex64)).dtype == np.complex64
    with pytest.raises(TypeError, match="float16, bfloat16"):
        fij.uniform()(0, (3,), np.complex64)  # as jax.random.uniform
    with pytest.raises(TypeError, match="float16, bfloat16"):
        fij.normal()(0, (3,), np.int32)
    assert host(fij.zeros(0, (2,), np.int8)).dtype == np.int8
    assert host(fij.constant(True, bool)(0, (2,))).tolist() == [True, True]
    with pytest.raises(ValueError, match="fan_in, fan_out, fan_avg, fan_geo_avg"):
        fij.variance_scaling(1.0, "fan_sum", "uniform")
    with pytest.raises(ValueError, match="truncated_normal, normal, uniform"):
        fij.variance_scaling(1.0, "fan_in", "untruncated_normal")
    with pytest.raises(TypeError):
        fij.he_normal()(0, (3.0, 2))


# --- against JAX itself ------------------------------------------------------------

FACTORIES = [("uniform", (2.0,)), ("normal", (0.5,)), ("truncated_normal", (0.5,)),
             ("glorot_uniform", ()), ("glorot_normal", ()), ("lecun_uniform", ()),
             ("lecun_normal", ()), ("he_uniform", ()), ("he_normal", ()),
             ("variance_scaling", (3.0, "fan_geo_avg", "normal")),
             ("variance_scaling", (0.5, "fan_out", "truncated_normal"))]


@requires_jax
@pytest.mark.parametrize("name,args", FACTORIES, ids=[f"{n}{a}" for n, a in FACTORIES])
def test_distribution_equals_jax(name, args):
    shape = (2, 2, 150, 200)
    ours = getattr(fij, name)(*args)(jax.random.key(1), shape)
    theirs = getattr(jax.nn.initializers, name)(*args)(jax.random.key(2), shape)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    a, b = host(ours).ravel().astype(np.float64), host(theirs).ravel().astype(np.float64)
    assert stats.ks_2samp(a, b).pvalue > P_MIN
    # the same support: both inside the bounds written out above, both close to them
    if name in PRESETS or name == "variance_scaling":
        kind, params = vs_params(*(PRESETS.get(name) or args), shape)
        if kind != "normal":
            lo, hi = ((params[0], params[1]) if kind == "uniform" else
                      (params[2] * params[1], params[3] * params[1]))
            for x in (a, b):
                assert lo <= x.min() and x.max() <= hi
                assert x.min() < 0.99 * lo and x.max() > 0.99 * hi


@requires_jax
def test_fans_equal_jax():
    from jax._src.nn.initializers import _compute_fans
    for shape, axes in CASES:
        assert fastinit.compute_fans(shape, layout="jax", **axes) == _compute_fans(shape, **axes)
        assert jax_fans(shape, **axes) == _compute_fans(shape, **axes)


@requires_jax
def test_constant_like_equal_jax():
    key = jax.random.key(0)
    for name in ("zeros", "ones"):
        ours = getattr(fij, name)(key, (3, 4), jnp.bfloat16)
        theirs = getattr(jax.nn.initializers, name)(key, (3, 4), jnp.bfloat16)
        assert ours.dtype == theirs.dtype and (ours == theirs).all()
    ours, theirs = fij.constant(2.5)(key, (5,)), jax.nn.initializers.constant(2.5)(key, (5,))
    assert ours.dtype == theirs.dtype and (ours == theirs).all()


@requires_jax
def test_orthogonal_like_jax():
    shape, column_axis = (6, 4, 10), 1  # JAX compiles a QR per shape: one case
    for make in (fij.orthogonal, jax.nn.initializers.orthogonal):
        w = host(make(1.0, column_axis)(jax.random.key(3), shape)).astype(np.float64)
        assert w.shape == shape
        m = np.moveaxis(w, column_axis, -1).reshape(-1, shape[column_axis])
        gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=2e-5)
    shape = (3, 3, 4, 60)  # a QR of the same (60, 4) shape as above
    ours = host(fij.delta_orthogonal()(jax.random.key(4), shape))
    theirs = host(jax.nn.initializers.delta_orthogonal()(jax.random.key(4), shape))
    np.testing.assert_array_equal(ours != 0, theirs != 0)
