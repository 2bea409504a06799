"""The initializer protocol (docs/architecture.md, "The initializer protocol")
and the compiled core's prepared fill it runs on."""

from __future__ import annotations

import copy

import ml_dtypes
import numpy as np
import pytest

import fastinit
import fastinit.initializers as fi
from fastinit import fill_normal, fill_raw, fill_truncated_normal, fill_uniform
from fastinit._core import PreparedFill

FLOATS = [np.float32, np.float64, np.float16, ml_dtypes.bfloat16]

# ---------------------------------------------------------------------------
# the core's PreparedFill


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("dist, fill, params", [
    ("uniform", fill_uniform, (-1.5, 2.0)),
    ("normal", fill_normal, (0.5, 2.0)),
    ("truncated_normal", fill_truncated_normal, (0.0, 1.0, -1.0, 3.0)),
])
def test_prepared_fill_writes_what_the_fill_writes(dtype, dist, fill, params):
    dt = np.dtype(dtype)
    prepared = PreparedFill(dist, dt, *params, seed=5, stream=9)
    for make in (lambda: np.empty((300, 7), dt)[:, 1:5],  # strided
                 lambda: np.empty(5000, dt),                # contiguous
                 lambda: np.empty((0, 3), dt)):             # empty
        got = prepared(make(), 123)
        want = fill(make(), *params, seed=5, stream=9, offset=123)
        assert got.tobytes() == want.tobytes()


def test_prepared_raw_and_repeated_calls():
    prepared = PreparedFill("raw", np.dtype(np.uint32), seed=1, stream=2)
    a = prepared(np.empty(10, np.uint32), 4)
    assert np.array_equal(a, fill_raw(np.empty(10, np.uint32), seed=1, stream=2, offset=4))
    assert np.array_equal(prepared(np.empty(10, np.uint32), 4), a)  # no state advances


def test_prepared_fill_defaults_are_the_fills_defaults():
    for dist, fill in (("uniform", fill_uniform), ("normal", fill_normal),
                       ("truncated_normal", fill_truncated_normal)):
        got = PreparedFill(dist, np.dtype(np.float64), seed=3)(np.empty(256))
        assert got.tobytes() == fill(np.empty(256), seed=3).tobytes(), dist


def test_prepared_fill_resolves_the_seed_once():
    prepared = PreparedFill("normal", np.dtype(np.float32), seed=None)
    assert 0 <= prepared.seed < 2**64
    x, y = prepared(np.empty(64, np.float32)), prepared(np.empty(64, np.float32))
    assert x.tobytes() == y.tobytes()
    z = fill_normal(np.empty(64, np.float32), seed=prepared.seed)
    assert x.tobytes() == z.tobytes()


@pytest.mark.parametrize("args, kwargs, exc, match", [
    (("gamma", np.dtype("f4")), {}, ValueError, "dist must be one of"),
    (("normal", "float32"), {}, TypeError, "dtype must be a numpy.dtype"),
    (("normal", np.dtype("i4")), {}, TypeError, "dtype must be"),
    (("normal", np.dtype(">f4")), {}, ValueError, "native byte order"),
    (("normal", np.dtype("f2"), 1e6, 1.0), {}, ValueError, "mean must be finite in the output"),
    (("uniform", np.dtype("f4"), 2.0, 1.0), {}, ValueError, "low must be <= high"),
    (("truncated_normal", np.dtype("f8"), 0.0, 1.0, 40.0, 41.0), {}, ValueError, "tail"),
    (("normal", np.dtype("f4")), {"stream": -1}, ValueError, "stream"),
    (("normal", np.dtype("f4")), {"seed": 1.5}, TypeError, "seed"),
])
def test_prepared_fill_refuses_at_construction(args, kwargs, exc, match):
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(exc, match=match):
        PreparedFill(*args, **kwargs)


def test_prepared_fill_and_prepared_pickle():
    import pickle

    prepared = PreparedFill("truncated_normal", np.dtype(np.float16), 0.1, 2.0, -1.0, 1.5,
                            seed=None, stream=7)
    again = pickle.loads(pickle.dumps(prepared))
    assert (again.seed, again.stream, again.dtype) == (prepared.seed, 7, np.float16)
    assert again(np.empty(99, np.float16)).tobytes() == prepared(np.empty(99, np.float16)).tobytes()
    p = fi.HeNormal(seed=2).prepare((8, 4), "bfloat16")
    q = pickle.loads(pickle.dumps(p))
    assert q.fill().tobytes() == p.fill().tobytes()


def test_prepared_fill_checks_each_buffer_and_writes_nothing_on_error():
    prepared = PreparedFill("normal", np.dtype(np.float32), seed=0)
    other = np.full(3, 7.0)
    with pytest.raises(TypeError, match="out must have dtype float32; got float64"):
        prepared(other)
    assert (other == 7.0).all()
    tail = np.full(3, 7.0, np.float32)
    with pytest.raises(ValueError, match="offset \\+ out.size"):
        prepared(tail, 2**64 - 2)
    assert (tail == 7.0).all()
    frozen = np.zeros(3, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        prepared(frozen)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        prepared([0.0, 0.0])
    assert prepared(np.empty(0, np.float32), 2**64).size == 0  # an empty fill may end at 2**64


# ---------------------------------------------------------------------------
# the Initializer protocol

ALL = [fi.Zeros(), fi.Ones(), fi.Constant(0.25), fi.Identity(2.0),
       fi.RandomUniform(seed=1), fi.RandomNormal(seed=1), fi.TruncatedNormal(seed=1),
       fi.VarianceScaling(seed=1, distribution="uniform"), fi.GlorotUniform(seed=1),
       fi.HeNormal(seed=1), fi.LecunNormal(seed=1), fi.Orthogonal(seed=1), fi.STFT()]


@pytest.mark.parametrize("init", ALL, ids=lambda i: type(i).__name__)
def test_prepare_then_fill_by_region_equals_the_call(init):
    shape = (6, 1, 8) if isinstance(init, fi.STFT) else (6, 8)
    prepared = init.prepare(shape, "float32")
    assert prepared.shape == shape and prepared.dtype == np.float32
    whole = init(shape)
    assert prepared.fill().tobytes() == whole.tobytes()
    out = np.empty(shape, np.float32)
    for rows in (slice(0, 2), slice(2, 5), slice(5, 6)):
        prepared.fill(out[rows], region=(rows,))
    assert out.tobytes() == whole.tobytes()


def test_prepare_checks_before_anything_is_written():
    with pytest.raises(ValueError, match="two-dimensional"):
        fi.Orthogonal(seed=0).prepare((5,))
    with pytest.raises(ValueError, match="finite in the output dtype float16"):
        fi.RandomNormal(mean=1e6, seed=0).prepare((3,), "float16")
    with pytest.raises(TypeError, match="dtype must be one of"):
        fi.HeNormal(seed=0).prepare((3, 3), "int32")
    with pytest.raises(ValueError, match="2\\*\\*64"):
        fi.HeNormal(seed=0).prepare((2**32, 2**32, 2))
    prepared = fi.HeNormal(seed=0).prepare((4, 4))
    keep = np.full((4, 4), 5.0, np.float64)
    with pytest.raises(TypeError, match="out must have dtype float32"):
        prepared.fill(keep)
    assert (keep == 5.0).all()
    with pytest.raises(ValueError, match="out must have shape"):
        prepared.fill(np.empty((4, 3), np.float32))


def test_check_dtype_and_accepts_integers():
    assert fi.Zeros().check_dtype("int8") == np.int8
    assert fi.Zeros.accepts_integers and not fi.HeNormal.accepts_integers
    assert fi.HeNormal().check_dtype(None) == np.float32
    assert fi.HeNormal().check_dtype("bfloat16") == np.dtype(ml_dtypes.bfloat16)
    with pytest.raises(TypeError, match="float16, bfloat16, float32, float64"):
        fi.HeNormal().check_dtype("int8")


def test_shardable_is_a_class_fact():
    assert not fi.Orthogonal.shardable
    assert all(type(i).shardable for i in ALL if not isinstance(i, fi.Orthogonal))
    assert fastinit.Pretrained.shardable


@pytest.mark.parametrize("init", [i for i in ALL if isinstance(i, fi.Initializer)],
                         ids=lambda i: type(i).__name__)
def test_reseeded_is_the_config_round_trip_without_it(init):
    again = init.reseeded(11, 3)
    assert again is not init or "seed" not in init.get_config()
    shape = (6, 1, 8) if isinstance(init, fi.STFT) else (6, 8)
    config = init.get_config()
    if "seed" in config:
        config.update(seed=11, stream=3)
    want = type(init).from_config(config)(shape)
    assert again(shape).tobytes() == want.tobytes()
    assert init(shape).tobytes() == copy.deepcopy(init)(shape).tobytes()  # init unchanged


def test_reseeded_leaves_the_original_alone():
    init = fi.GlorotUniform(seed=4, stream=2)
    before = init((5, 5))
    other = init.reseeded(9, "w")
    assert init.seed == 4 and init.stream == 2
    assert other.seed == 9 and other.stream == fastinit.stream_id("w")
    assert init((5, 5)).tobytes() == before.tobytes()
    assert other((5, 5)).tobytes() != before.tobytes()
    with pytest.raises(ValueError, match="stream"):
        init.reseeded(1, -1)


def test_full_config_rebuilds_an_unseeded_initializer():
    init = fi.HeUniform()
    assert init.get_config()["seed"] is None
    again = fi.HeUniform.from_config(init.full_config())
    assert again((7, 3)).tobytes() == init((7, 3)).tobytes()
