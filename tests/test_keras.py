"""fastinit initializers inside real Keras 3 (torch backend).

Skipped when Keras (or its torch backend) cannot be imported. The backend is
chosen before Keras is imported, as Keras reads it only once.
"""

import os
import sys

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "torch"

import fastinit
import fastinit.initializers as fi

_KERAS_WAS_LOADED = "keras" in sys.modules
keras = pytest.importorskip("keras")
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
    assert set(getattr(fi, name)(seed=5, **kwargs).get_config()) == keras_keys | {"stream"}


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
    pytest.importorskip("scipy.signal")
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
