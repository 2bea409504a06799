"""fastinit initializers inside real Keras 3 (torch backend).

Skipped when Keras (or its torch backend) cannot be imported. The backend is
chosen before Keras is imported, as Keras reads it only once.
"""

import os
import sys

import numpy as np
import pytest
from _deps import require

os.environ["KERAS_BACKEND"] = "torch"

import fastinit
import fastinit.initializers as fi

_KERAS_WAS_LOADED = "keras" in sys.modules
keras = require("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - Keras imported earlier elsewhere
    pytest.skip(f"Keras runs on {keras.backend.backend()!r}, not torch", allow_module_level=True)
# Looked up right after `import keras`, before fastinit had any other chance
# to register (get_config, register_keras): only the import hook can have done it.
_REGISTERED_AT_IMPORT = keras.saving.get_registered_object("fastinit>GlorotUniform")


def as_numpy(variable):
    return keras.ops.convert_to_numpy(variable)


def build_model():
    return keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(
                8, 3, kernel_initializer=fi.HeNormal(seed=11), bias_initializer=fi.Constant(0.1)
            ),
            keras.layers.Conv2D(
                4,
                (3, 2),
                kernel_initializer=fi.Orthogonal(gain=1.3, seed=12),
                bias_initializer=fi.RandomNormal(seed=13, stream=2),
            ),
            keras.layers.Flatten(),
            keras.layers.Dense(
                16,
                kernel_initializer=fi.GlorotUniform(seed=14, stream="dense.kernel"),
                bias_initializer=fi.Zeros(),
            ),
            keras.layers.Dense(
                3,
                kernel_initializer=fi.VarianceScaling(2.0, "fan_avg", "uniform", seed=15),
                bias_initializer=fi.TruncatedNormal(seed=16),
            ),
        ]
    )


def assert_holds_fastinit_values(model):
    for layer in model.layers:
        for attr in ("kernel", "bias"):
            if not hasattr(layer, attr):
                continue
            value = as_numpy(getattr(layer, attr))
            init = getattr(layer, f"{attr}_initializer")
            assert isinstance(init, fi.Initializer)
            expected = init(value.shape, "float32")
            assert value.dtype == np.float32
            assert value.tobytes() == expected.tobytes(), (layer.name, attr)


def test_sequential_holds_fastinit_values():
    model = build_model()
    assert_holds_fastinit_values(model)
    # kernel shapes are Keras' (HWIO / (in, out)), as fastinit assumed
    assert tuple(model.layers[0].kernel.shape) == (3, 3, 3, 8)
    assert tuple(model.layers[3].kernel.shape) == (8 * 9 * 4, 16)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_layer_dtypes(dtype):
    init = fi.LecunNormal(seed=3)
    layer = keras.layers.Dense(5, kernel_initializer=init, dtype=dtype)
    layer.build((None, 7))
    got = as_numpy(layer.kernel)
    assert str(layer.kernel.dtype) == dtype
    assert np.asarray(got).tobytes() == init((7, 5), dtype).tobytes()


def test_save_and_reload_keeps_initializers(tmp_path):
    model = build_model()
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    for before, after in zip(model.layers, reloaded.layers):
        for attr in ("kernel_initializer", "bias_initializer"):
            if not hasattr(before, attr):
                continue
            a, b = getattr(before, attr), getattr(after, attr)
            assert type(b) is type(a) and type(b).__module__ == "fastinit.initializers"
            assert b.get_config() == a.get_config()
        for w0, w1 in zip(before.weights, after.weights):
            assert as_numpy(w0).tobytes() == as_numpy(w1).tobytes()
    # The config stores the seeds actually used: a model rebuilt from it has
    # the same initial weights.
    rebuilt = keras.Sequential.from_config(model.get_config())
    assert_holds_fastinit_values(rebuilt)
    for w0, w1 in zip(model.weights, rebuilt.weights):
        assert as_numpy(w0).tobytes() == as_numpy(w1).tobytes()


def test_import_hook_registered_on_keras_import():
    if _KERAS_WAS_LOADED:  # pragma: no cover - another module imported Keras first
        pytest.skip("Keras was imported before fastinit in this session")
    assert _REGISTERED_AT_IMPORT is fi.GlorotUniform
    # the hook removed itself and gave Keras its own loader back
    assert not any(type(f).__name__ == "_KerasImportHook" for f in sys.meta_path)
    assert type(keras.__spec__.loader).__name__ != "_RegisteringLoader"


def test_serialized_form_uses_registered_name():
    config = keras.saving.serialize_keras_object(fi.HeUniform(seed=4))
    assert config["registered_name"] == "fastinit>HeUniform"
    assert config["config"]["seed"] == 4
    again = keras.saving.deserialize_keras_object(config)
    assert type(again) is fi.HeUniform and again.seed == 4
    # fastinit.get understands Keras' serialized form as well
    assert fastinit.get(config).get_config() == again.get_config()
    for cls in fi._CLASSES:
        assert keras.saving.get_registered_object(f"fastinit>{cls.__name__}") is cls


def test_compute_fans_matches_keras():
    import inspect

    from keras.src.initializers.random_initializers import compute_fans as keras_fans

    if "input_axes" not in inspect.signature(keras_fans).parameters:  # pragma: no cover
        pytest.skip("this Keras predates input_axes/output_axes (Keras 3.15)")

    shapes = [(), (7,), (3, 5), (3, 8, 16), (3, 3, 16, 32), (2, 3, 4, 5, 6), (3, 0, 4, 5)]
    for shape in shapes:
        assert fastinit.compute_fans(shape) == keras_fans(shape)
    axes = [([0, 1], [2]), ([0], [1, 2, 3]), ([-1], [-2]), ([0], None), (None, [1])]
    for input_axes, output_axes in axes:
        shape = (8, 4, 16, 3)
        assert fastinit.compute_fans(
            shape, input_axes=input_axes, output_axes=output_axes
        ) == keras_fans(shape, input_axes=input_axes, output_axes=output_axes)


KERAS_TWINS = [
    ("RandomUniform", {"minval": -0.2, "maxval": 0.4}),
    ("RandomNormal", {"mean": 0.1, "stddev": 0.2}),
    ("TruncatedNormal", {"mean": 0.0, "stddev": 0.3}),
    ("VarianceScaling", {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal"}),
    ("VarianceScaling", {"scale": 0.5, "mode": "fan_avg", "distribution": "normal"}),
    ("GlorotUniform", {}),
    ("GlorotNormal", {}),
    ("HeUniform", {}),
    ("HeNormal", {}),
    ("LecunUniform", {}),
    ("LecunNormal", {}),
    ("Orthogonal", {"gain": 0.7}),
]


@pytest.mark.parametrize("name, kwargs", KERAS_TWINS)
def test_same_distribution_as_keras(name, kwargs):
    shape = (3, 3, 48, 64)
    ours = getattr(fi, name)(seed=5, **kwargs)(shape).astype(np.float64)
    theirs = as_numpy(getattr(keras.initializers, name)(seed=5, **kwargs)(shape)).astype(np.float64)
    assert ours.shape == theirs.shape
    assert abs(ours.std() / theirs.std() - 1) < 0.02
    assert abs(ours.mean() - theirs.mean()) < 0.02 * theirs.std() + 1e-3
    # the same support: max |w| agrees within 2% for bounded distributions
    if (
        "uniform" in name.lower()
        or "Truncated" in name
        or kwargs.get("distribution") == "normal"
        or name in ("GlorotNormal", "HeNormal", "LecunNormal")
    ):
        assert abs(abs(ours).max() / abs(theirs).max() - 1) < 0.02
    # same config keys as Keras (plus fastinit's stream)
    keras_keys = set(getattr(keras.initializers, name)(seed=5, **kwargs).get_config())
    assert set(getattr(fi, name)(seed=5, **kwargs).get_config()) == keras_keys
    with_stream = getattr(fi, name)(seed=5, stream=1, **kwargs)
    assert set(with_stream.get_config()) == keras_keys | {"stream"}


@pytest.mark.parametrize(
    "name, kwargs",
    [("Zeros", {}), ("Ones", {}), ("Constant", {"value": 2.5}), ("Identity", {"gain": 3.0})],
)
def test_constants_equal_keras(name, kwargs):
    shape = (6, 9)
    ours = getattr(fi, name)(**kwargs)(shape)
    theirs = as_numpy(getattr(keras.initializers, name)(**kwargs)(shape))
    assert ours.tobytes() == theirs.tobytes()


@pytest.mark.parametrize("side", ["real", "imag"])
@pytest.mark.parametrize(
    "window, scaling, periodic",
    [("hann", "density", False), ("hamming", "spectrum", True), (None, None, False)],
)
def test_stft_equals_keras(side, window, scaling, periodic):
    require("scipy.signal")
    shape = (64, 1, 33)
    kwargs = {"side": side, "window": window, "scaling": scaling, "periodic": periodic}
    ours = fi.STFT(**kwargs)(shape, "float64")
    theirs = as_numpy(keras.initializers.STFT(**kwargs)(shape, dtype="float64"))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    ours32 = fi.STFT(**kwargs)(shape)
    theirs32 = as_numpy(keras.initializers.STFT(**kwargs)(shape, dtype="float32"))
    np.testing.assert_allclose(ours32, theirs32, rtol=0, atol=2e-5)


def test_keras_names_are_ours():
    # Every name Keras' initializers.get accepts, fastinit.get accepts too.
    from keras.src.initializers import ALL_OBJECTS_DICT

    for name, cls in ALL_OBJECTS_DICT.items():
        if cls.__name__ == "Initializer":
            continue
        ours = fastinit.get(name)
        assert type(ours).__name__ == cls.__name__, name


# ---------------------------------------------------------------------------
# seed semantics, fans inside EinsumDense / MultiHeadAttention, get(), Constant


def _mha_kernels(init, seed=0):
    keras.utils.set_random_seed(seed)
    mha = keras.layers.MultiHeadAttention(num_heads=4, key_dim=16, kernel_initializer=init)
    x = np.zeros((1, 3, 48), "float32")
    mha(x, x)
    dense = (mha._query_dense, mha._key_dense, mha._value_dense, mha._output_dense)
    return [as_numpy(d.kernel) for d in dense]


@pytest.mark.parametrize("name", ["GlorotUniform", "HeNormal", "LecunNormal"])
def test_multi_head_attention_kernels_differ_and_scale_as_keras(name):
    ours = _mha_kernels(getattr(fi, name)())
    theirs = _mha_kernels(getattr(keras.initializers, name)())
    q, k, v, _ = ours
    assert not np.array_equal(q, k) and not np.array_equal(q, v) and not np.array_equal(k, v)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        # 3072 samples each: the sample std is within ~2.5% of the true one
        assert abs(a.std() / b.std() - 1) < 0.06, (a.shape, a.std(), b.std())
    # Keras' fans (query kernel (48, 4, 16): fan_in 48, fan_out 64), not the default ones
    fan_in, fan_out = 48, 64
    expected = {
        "GlorotUniform": (2 / (fan_in + fan_out)) ** 0.5,
        "HeNormal": (2 / fan_in) ** 0.5,
        "LecunNormal": (1 / fan_in) ** 0.5,
    }[name]
    assert abs(q.std() / expected - 1) < 0.06


def test_einsum_dense_gets_keras_axes_and_keeps_explicit_ones():
    init = fi.HeUniform(seed=3)
    assert isinstance(init, keras.initializers.VarianceScaling)
    layer = keras.layers.EinsumDense("abc,cde->abde", output_shape=(2, 4, 5),
                                     kernel_initializer=init)
    layer.build((None, 2, 6))
    kernel = as_numpy(layer.kernel)
    expected = fi.HeUniform(seed=3, input_axes=[0], output_axes=[1, 2])((6, 4, 5))
    assert kernel.tobytes() == expected.tobytes()
    # the layer's own initializer object is left as it was
    assert init.input_axes is None and init.get_config()["seed"] == 3


def test_clone_seeded_repeats_unseeded_differs():
    for seeded, unseeded in [(fi.GlorotUniform(seed=5), fi.GlorotUniform()),
                             (fi.RandomNormal(seed=5), fi.RandomNormal()),
                             (fi.Orthogonal(seed=5), fi.Orthogonal())]:
        shape = (6, 4)
        # a clone as Keras makes one (MultiHeadAttention, Keras' own clone())
        again = type(seeded).from_config(seeded.get_config())
        assert again(shape).tobytes() == seeded(shape).tobytes()
        other = keras.initializers.Initializer.clone(unseeded)
        assert other(shape).tobytes() != unseeded(shape).tobytes()
        assert unseeded.get_config()["seed"] is None
        # the instance itself keeps its drawn seed: clone(), regions
        assert unseeded.clone()(shape).tobytes() == unseeded(shape).tobytes()


def test_seed_generator_draws_per_call_as_keras():
    gen = keras.random.SeedGenerator(7)
    init = fi.RandomNormal(seed=gen)
    a, b = init((50,)), init((50,))
    assert not np.array_equal(a, b)
    assert init.seed is gen
    # reproducible from the generator's seed, and the config round-trips it
    again = fi.RandomNormal(seed=keras.random.SeedGenerator(7))
    assert again((50,)).tobytes() == a.tobytes()
    config = init.get_config()
    assert config["seed"]["class_name"] == "SeedGenerator"
    assert fi.RandomNormal.from_config(config)((50,)).tobytes() == a.tobytes()
    # inside a layer
    layer = keras.layers.Dense(4, kernel_initializer=fi.GlorotUniform(seed=gen))
    layer.build((None, 3))
    assert as_numpy(layer.kernel).std() > 0


@pytest.mark.parametrize("cls", [fi.RandomNormal, fi.GlorotUniform, fi.Orthogonal])
def test_seed_generator_draws_once_per_prepared_fill(cls):
    # init.prepare() makes one draw, which every fill of the Prepared uses
    prepared = cls(seed=keras.random.SeedGenerator(3)).prepare((6, 4))
    top, bottom = prepared.fill(region=(slice(0, 3),)), prepared.fill(region=(slice(3, 6),))
    assert np.concatenate([top, bottom]).tobytes() == prepared.fill().tobytes()
    # ... and it is the draw a plain call of a fresh twin makes
    assert cls(seed=keras.random.SeedGenerator(3))((6, 4)).tobytes() == prepared.fill().tobytes()


def test_constant_array_broadcasts_as_keras():
    value = np.array([1.0, -2.0, 3.5], np.float32)
    ours = fi.Constant(value)((2, 3))
    theirs = as_numpy(keras.initializers.Constant(value)((2, 3)))
    assert ours.tobytes() == theirs.tobytes()
    assert fi.Constant(keras.ops.convert_to_tensor(value))((4, 3), "float64")[3].tolist() == [
        1.0, -2.0, 3.5]
    layer = keras.layers.Dense(3, bias_initializer=fi.Constant(value))
    layer.build((None, 2))
    assert as_numpy(layer.bias).tobytes() == value.tobytes()
    config = fi.Constant(value).get_config()
    assert config == {"value": [1.0, -2.0, 3.5]}
    # the config loads into Keras' own Constant too
    assert as_numpy(keras.initializers.Constant.from_config(config)((3,))).tolist() == [
        1.0, -2.0, 3.5]
    with pytest.raises(ValueError, match="broadcast"):
        fi.Constant(value)((3, 2))


def test_get_accepts_what_keras_get_accepts():
    tensor = keras.ops.ones((2, 3))
    for identifier in (tensor, np.ones((2, 3)), np.ones((2, 3), np.float16)):
        init = fastinit.get(identifier)
        expect = as_numpy(keras.initializers.get(identifier)((2, 3)))
        assert init((2, 3)).tolist() == expect.tolist()
        with pytest.raises(ValueError, match=r"Expected `shape` to be \(2, 3\)"):
            init((3, 2))

    def fn(shape, dtype=None):
        return np.zeros(shape)

    assert fastinit.get(fn) is fn
    theirs = keras.initializers.HeNormal(seed=1)
    assert fastinit.get(theirs) is theirs
    assert type(fastinit.get(keras.initializers.Ones)) is keras.initializers.Ones


def test_error_messages_contain_keras_wording():
    for kwargs in ({"scale": -1.0}, {"mode": "fan_sum"}, {"distribution": "gaussian"}):
        with pytest.raises(ValueError) as theirs:
            keras.initializers.VarianceScaling(**kwargs)
        with pytest.raises(ValueError) as ours:
            fi.VarianceScaling(**kwargs)
        # Keras' sentence up to the list of accepted values (a set, in any order)
        head = str(theirs.value).split("Please use one of")[0].strip()
        assert head in str(ours.value), (head, str(ours.value))


_LOAD_WITHOUT_FASTINIT = r"""
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np, keras
path = sys.argv[1]
try:
    model = keras.saving.load_model(path)
except Exception as exc:
    print("ERROR", type(exc).__name__, str(exc))
else:
    np.save(path + ".npy", keras.ops.convert_to_numpy(model.layers[0].kernel))
    print("LOADED", type(model.layers[0].kernel_initializer).__module__)
assert "fastinit" not in sys.modules
"""


def _load_in_fresh_process(path):
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no fastinit there
    out = subprocess.run([sys.executable, "-c", _LOAD_WITHOUT_FASTINIT, str(path)],
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_keras_file_loads_where_fastinit_was_never_imported(tmp_path):
    model = keras.Sequential([
        keras.Input((5,)),
        keras.layers.Dense(4, kernel_initializer=fi.HeNormal(), bias_initializer=fi.Constant(0.5)),
        keras.layers.Dense(2, kernel_initializer=fi.VarianceScaling(2.0, "fan_avg", "uniform")),
    ])
    path = tmp_path / "default_streams.keras"
    model.save(path)
    # The stored config is Keras' own: Keras' classes of the same names stand in.
    assert "LOADED keras." in _load_in_fresh_process(path)
    loaded = np.load(str(path) + ".npy")
    assert loaded.tobytes() == as_numpy(model.layers[0].kernel).tobytes()


def test_keras_file_with_named_stream_fails_naming_fastinit(tmp_path):
    model = keras.Sequential([
        keras.Input((5,)),
        keras.layers.Dense(4, kernel_initializer=fi.HeNormal(seed=1, stream="dense")),
    ])
    path = tmp_path / "named_stream.keras"
    model.save(path)
    out = _load_in_fresh_process(path)
    assert out.startswith("ERROR") and "fastinit" in out, out[:500]
    # with fastinit imported it loads with fastinit's class
    again = keras.saving.load_model(path)
    assert type(again.layers[0].kernel_initializer) is fi.HeNormal


_LAZY_BASES = r"""
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import fastinit, fastinit.initializers as fi
from fastinit.initializers._base import _RandomInitializer
assert "keras" not in sys.modules
assert fi.VarianceScaling.__bases__ == (_RandomInitializer,)
import keras
assert issubclass(fi.HeNormal, keras.initializers.VarianceScaling)
assert not issubclass(fi.RandomNormal, keras.initializers.VarianceScaling)
print("OK")
"""


def test_keras_base_class_is_added_only_when_keras_is_imported():
    import subprocess

    out = subprocess.run([sys.executable, "-c", _LAZY_BASES], capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "OK", out.stderr[-2000:]
