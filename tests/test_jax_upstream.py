"""JAX's own initializer checks (jax/tests/nn_test.py, NNInitializersTest),
restated here against fastinit.jax: the same initializers, shapes and dtypes,
and the same assertions (result shape, canonical dtype, error message).
"""
import itertools

import numpy as np
import pytest
from _deps import require

jax = require("jax")
import jax.numpy as jnp

import fastinit.jax as fij

SHAPES = [(2,), (2, 2), (2, 3), (3, 2), (2, 3, 4), (4, 3, 2), (2, 3, 4, 5)]
FLOATING = [jnp.bfloat16, np.float16, np.float32, np.float64]
INEXACT = FLOATING + [np.complex64, np.complex128]


def _record(name, factory, dtypes, min_dims=2, max_dims=4):
    shapes = [s for s in SHAPES if min_dims <= len(s) <= max_dims]
    return [(name, factory, s, d) for s, d in itertools.product(shapes, dtypes)]


RECORDS = (
    _record("uniform", fij.uniform, FLOATING, 1)
    + _record("normal", fij.normal, INEXACT, 1)
    + _record("he_normal", fij.he_normal, INEXACT)
    + _record("he_uniform", fij.he_uniform, INEXACT)
    + _record("glorot_normal", fij.glorot_normal, INEXACT)
    + _record("glorot_uniform", fij.glorot_uniform, INEXACT)
    + _record("lecun_normal", fij.lecun_normal, INEXACT)
    + _record("lecun_uniform", fij.lecun_uniform, INEXACT)
    + _record("orthogonal", fij.orthogonal, FLOATING, 2, 2)
    + _record("truncated_normal", fij.truncated_normal, FLOATING, 1)
    + _record("delta_orthogonal", fij.delta_orthogonal, FLOATING, 4, 4)
    + _record("variance_scaling_fan_geo_avg",
              lambda dtype=None: fij.variance_scaling(1, "fan_geo_avg", "normal", dtype=dtype),
              FLOATING)
)
IDS = [f"{n}-{s}-{np.dtype(d).name}" for n, _, s, d in RECORDS]


@pytest.mark.parametrize("name,factory,shape,dtype", RECORDS, ids=IDS)
def test_initializer(name, factory, shape, dtype):
    key = jax.random.PRNGKey(0)
    val = factory()(key, shape, dtype)
    assert shape == jnp.shape(val)
    assert jax.dtypes.canonicalize_dtype(dtype) == val.dtype
    provided = factory(dtype=dtype)(key, shape)  # the factory's dtype
    assert shape == jnp.shape(provided)
    assert jax.dtypes.canonicalize_dtype(dtype) == provided.dtype


def test_variance_scaling_multi_axis_and_batch_axis():
    key = jax.random.PRNGKey(0)
    shape = (2, 3, 4, 5)
    init = fij.variance_scaling(1.0, "fan_avg", "truncated_normal", in_axis=(0, 1),
                                out_axis=(-2, -1))
    assert jnp.shape(init(key, shape)) == shape
    init = fij.variance_scaling(1.0, "fan_avg", "truncated_normal", in_axis=0,
                                out_axis=(2, 3), batch_axis=1)
    assert jnp.shape(init(key, shape)) == shape


def test_variance_scaling_error():
    init = fij.variance_scaling(1.0, "fan_avg", "truncated_normal")
    with pytest.raises(ValueError, match="Can't compute input and output sizes of a 1"
                                         "-dimensional weights tensor"):
        init(jax.random.PRNGKey(0), (5,))


def test_accidental_upcasting():
    key = jax.random.PRNGKey(0)
    scalar = jnp.array(1.0, dtype=jnp.float32)
    for init in (fij.uniform(scalar, jnp.bfloat16), fij.normal(scalar, jnp.bfloat16),
                 fij.truncated_normal(scalar, jnp.bfloat16)):
        key, sub = jax.random.split(key)
        assert init(sub, (4, 4)).dtype == jnp.bfloat16
