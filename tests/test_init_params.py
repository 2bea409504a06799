"""fastinit.init_params and InitReport (docs/api.md §6)."""
import json
import math
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from _deps import require

import fastinit
from fastinit.params import default_init, load_spec

BF16 = np.dtype(ml_dtypes.bfloat16)
SPECS = Path(__file__).resolve().parent.parent / "examples" / "specs"

SPEC = {
    "embed": {"shape": [50, 8], "init": {"class_name": "RandomNormal",
                                         "config": {"stddev": 0.02, "seed": 99, "stream": 5}}},
    "dense/kernel": {"shape": [8, 6], "init": "glorot_uniform"},
    "dense/bias": {"shape": [6], "init": "zeros"},
    "conv": {"shape": [3, 3, 2, 4], "init": "he_normal", "dtype": "bfloat16"},
    "trunc": {"shape": [7, 5], "init": {"class_name": "TruncatedNormal",
                                        "config": {"stddev": 0.5}}, "dtype": "float64"},
    "orth": {"shape": [6, 6], "init": "orthogonal"},
    "scale": {"shape": [6], "init": {"class_name": "Constant", "config": {"value": 0.5}},
              "dtype": "float16"},
}


def _expected(name, entry, seed, dtype=None):
    """The contract: the entry's initializer with seed=seed, stream=stream_id(name)."""
    init = fastinit.get(entry["init"])
    config = init.get_config()
    if "seed" in config:
        config.update(seed=seed, stream=fastinit.stream_id(name))
        init = type(init).from_config(config)
    dt = entry.get("dtype") or dtype or "float32"
    return init(tuple(entry["shape"]), dt)


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_each_tensor_is_its_initializer_on_its_named_stream():
    params, report = fastinit.init_params(SPEC, seed=1234)
    assert list(params) == list(SPEC)
    for name, entry in SPEC.items():
        assert _same(params[name], _expected(name, entry, 1234)), name
    assert report.initialized == list(SPEC) and report.loaded == []
    assert report.seed == 1234 and report.ok


def test_spec_seed_and_stream_are_overridden():
    params, _ = fastinit.init_params({"embed": SPEC["embed"]}, seed=7)
    own = fastinit.RandomNormal(stddev=0.02, seed=99, stream=5)((50, 8))
    named = fastinit.RandomNormal(stddev=0.02, seed=7, stream=fastinit.stream_id("embed"))
    assert not _same(params["embed"], own)
    assert _same(params["embed"], named((50, 8)))


def test_adding_removing_reordering_changes_nothing_else():
    full, _ = fastinit.init_params(SPEC, seed=5)
    names = list(SPEC)[::-1]
    reordered = {n: SPEC[n] for n in names if n != "conv"}
    reordered["extra"] = {"shape": [100], "init": "uniform"}
    other, _ = fastinit.init_params(reordered, seed=5)
    for name in SPEC:
        if name != "conv":
            assert _same(full[name], other[name]), name


def test_seed_changes_values():
    a, _ = fastinit.init_params(SPEC, seed=5)
    b, _ = fastinit.init_params(SPEC, seed=6)
    assert not np.array_equal(a["dense/kernel"], b["dense/kernel"])


def test_dtype_precedence():
    params, _ = fastinit.init_params(SPEC, seed=0, dtype="bfloat16")
    assert params["dense/kernel"].dtype == BF16          # dtype=
    assert params["trunc"].dtype == np.float64           # the entry's own
    assert _same(params["dense/kernel"], _expected("dense/kernel", SPEC["dense/kernel"], 0,
                                                   "bfloat16"))
    default, _ = fastinit.init_params(SPEC, seed=0)
    assert default["dense/kernel"].dtype == np.float32


def test_seed_none_generator_and_seedsequence():
    params, report = fastinit.init_params(SPEC, seed=None)
    again, _ = fastinit.init_params(SPEC, seed=report.seed)
    assert isinstance(report.seed, int)
    assert _same(params["embed"], again["embed"])
    gen_seed = int(np.random.default_rng(3).integers(0, 2**64, dtype=np.uint64))
    _, r1 = fastinit.init_params(SPEC, seed=np.random.default_rng(3))
    assert r1.seed == gen_seed
    p2, _ = fastinit.init_params(SPEC, seed=np.random.SeedSequence(3))
    assert set(p2) == set(SPEC)


def test_json_file_spec(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"__metadata__": {"about": "test"}, **SPEC}))
    from_file, _ = fastinit.init_params(path, seed=3)
    from_dict, _ = fastinit.init_params(SPEC, seed=3)
    assert list(from_file) == list(from_dict)
    for name in SPEC:
        assert _same(from_file[name], from_dict[name])
    assert load_spec(str(path))[1] == {"about": "test"}


def test_safetensors_header_spec(tmp_path):
    path = tmp_path / "model.safetensors"
    fastinit.save({"h.0.attn.weight": np.full((4, 6), 9, BF16),
                   "h.0.ln.weight": np.full(6, 9, np.float32),
                   "h.0.ln.bias": np.full(6, 9, np.float32),
                   "bn.running_var": np.full(6, 9, np.float32),
                   "bn.num_batches_tracked": np.array(9, np.int64)}, path)
    params, _ = fastinit.init_params(path, seed=4)
    w = fastinit.GlorotUniform(seed=4, stream=fastinit.stream_id("h.0.attn.weight"))
    assert _same(params["h.0.attn.weight"], w((4, 6), "bfloat16"))
    assert _same(params["h.0.ln.weight"], np.ones(6, np.float32))
    assert _same(params["h.0.ln.bias"], np.zeros(6, np.float32))
    assert _same(params["bn.running_var"], np.ones(6, np.float32))
    assert _same(params["bn.num_batches_tracked"], np.array(0, np.int64))
    entries, _ = load_spec(path, init="orthogonal", dtype="float64")
    kinds = {e.name: (type(e.init).__name__, e.dtype) for e in entries}
    assert kinds["h.0.attn.weight"] == ("Orthogonal", np.float64)


def test_default_init_rules():
    assert default_init("blocks/0/dense/kernel", (3, 4)) == "glorot_uniform"
    assert default_init("x", (3, 4, 5), "he_normal") == "he_normal"
    assert default_init("norm/gamma", (4,)) == "ones"
    assert default_init("norm/beta", (4,)) == "zeros"
    assert default_init("fc.bias", (4,)) == "zeros"
    assert default_init("step", ()) == "zeros"


def test_progress_bar(capsys):
    require("tqdm")
    fastinit.init_params(SPEC, seed=0, progress=True)
    assert "init_params" in capsys.readouterr().err


# --------------------------------------------------------------------------- pretrained


@pytest.fixture
def mixed(tmp_path):
    """A spec and a file with matching, missing, extra and mis-shaped tensors."""
    spec = {
        "a": {"shape": [4, 3], "init": "glorot_uniform"},              # in file, same shape
        "b": {"shape": [3], "init": "zeros", "dtype": "bfloat16"},     # in file, cast
        "c": {"shape": [2, 5], "init": "he_uniform"},                  # missing from file
        "d": {"shape": [5, 2], "init": "lecun_normal"},                # mis-shaped in file
    }
    rng = np.random.default_rng(0)
    stored = {"a": rng.standard_normal((4, 3)).astype(np.float32),
              "b": np.array([1.5, -2.25, 3.0], np.float64),
              "d": rng.standard_normal((2, 5)).astype(np.float32),
              "extra": np.ones(7, np.float32)}
    path = tmp_path / "pre.safetensors"
    fastinit.save(stored, path)
    return spec, stored, path


def test_mixed_init_report_and_values(mixed):
    spec, stored, path = mixed
    params, report = fastinit.init_params(spec, seed=11, pretrained=path)
    assert report.loaded == ["a", "b"]
    assert report.initialized == ["c", "d"]
    assert report.missing == ["c"]
    assert report.unexpected == ["extra"]
    assert report.mismatched == [("d", (5, 2), (2, 5))]
    assert report.source == str(path) and not report.ok
    assert _same(params["a"], stored["a"])
    assert _same(params["b"], stored["b"].astype(BF16))
    for name in ("c", "d"):
        assert _same(params[name], _expected(name, spec[name], 11)), name
    assert params["a"].flags.writeable
    text = str(report)
    for piece in ("2 loaded", "2 initialized", "missing (1): c", "unexpected (1): extra",
                  "d: spec (5, 2), file (2, 5)", "pre.safetensors"):
        assert piece in text, piece


def test_mixed_init_from_mapping_and_npz(mixed, tmp_path):
    spec, stored, _ = mixed
    from_map, report = fastinit.init_params(spec, seed=11, pretrained=stored)
    assert report.loaded == ["a", "b"] and report.mismatched == [("d", (5, 2), (2, 5))]
    npz = tmp_path / "pre.npz"
    fastinit.save(stored, npz)
    from_npz, report2 = fastinit.init_params(spec, seed=11, pretrained=npz)
    assert report2.unexpected == ["extra"]
    for name in spec:
        assert _same(from_map[name], from_npz[name])


def test_strict_raises_naming_them(mixed):
    spec, _, path = mixed
    with pytest.raises(ValueError) as e:
        fastinit.init_params(spec, seed=0, pretrained=path, strict=True)
    msg = str(e.value)
    for piece in ("pre.safetensors", "missing from the file (1): c",
                  "unexpected, not in the spec (1): extra", "d (spec (5, 2), file (2, 5))"):
        assert piece in msg, piece
    ok_spec = {"a": spec["a"], "b": spec["b"], "d": {"shape": [2, 5], "init": "zeros"},
               "extra": {"shape": [7], "init": "ones"}}
    _, report = fastinit.init_params(ok_spec, seed=0, pretrained=path, strict=True)
    assert report.ok and report.loaded == ["a", "b", "d", "extra"]


def test_pretrained_dtype_that_cannot_be_cast(tmp_path):
    path = tmp_path / "ints.safetensors"
    fastinit.save({"w": np.ones((2, 2), np.float32)}, path)
    spec = {"w": {"shape": [2, 2], "init": "zeros", "dtype": "int32"}}
    with pytest.raises(ValueError, match=r"ints.safetensors.*'w'.*float32.*int32"):
        fastinit.init_params(spec, seed=0, pretrained=path)


def test_pretrained_instance_in_spec(mixed):
    _, stored, path = mixed
    spec = {"renamed": {"shape": [4, 3], "init": fastinit.Pretrained(path, "a")}}
    params, report = fastinit.init_params(spec, seed=0)
    assert _same(params["renamed"], stored["a"]) and report.initialized == ["renamed"]


# --------------------------------------------------------------------------- bad specs


@pytest.mark.parametrize("spec, match", [
    ({"w": {"shape": [3, -1], "init": "zeros"}}, r"'w'.*negative dimension -1"),
    ({"w": {"shape": [3, 2.0], "init": "zeros"}}, r"'w'.*non-integer entry 2.0"),
    ({"w": {"shape": [True], "init": "zeros"}}, r"'w'.*non-integer"),
    ({"w": {"shape": "3", "init": "zeros"}}, r"'w'.*list of non-negative"),
    ({"w": {"shape": [3], "init": "glorot_unifrom"}},
     r"'w'.*Unknown initializer 'glorot_unifrom'.*glorot_uniform"),
    ({"w": {"shape": [3], "init": None}}, r"'w'.*None"),
    ({"w": {"shape": [3]}}, r"'w': missing 'init'"),
    ({"w": {"init": "zeros"}}, r"'w': missing 'shape'"),
    ({"w": {"shape": [3], "init": "zeros", "dtyp": "float32"}}, r"unknown keys 'dtyp'"),
    ({"w": {"shape": [3], "init": "he_normal", "dtype": "int8"}}, r"int8.*HeNormal"),
    ({"w": {"shape": [3], "init": "zeros", "dtype": "float128x"}}, r"'w'.*dtype"),
    ({"w": {"shape": [3], "init": "orthogonal"}}, r"'w'.*two-dimensional"),
    ({"w": [3, 4]}, r"'w': expected a mapping"),
    ([["w", 3]], r"must be a mapping"),
    ({"__metadata__": {"a": 1}}, "__metadata__"),
])
def test_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        fastinit.init_params(spec, seed=0)


def test_bad_json_file(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text('{"w": {"shape": [3], "init": "zeros"},}')
    with pytest.raises(ValueError, match=r"spec.json: not valid JSON.*line 1"):
        fastinit.init_params(path, seed=0)
    with pytest.raises(FileNotFoundError):
        fastinit.init_params(tmp_path / "missing.json", seed=0)


def test_seed_is_required():
    with pytest.raises(TypeError):
        fastinit.init_params(SPEC)


# --------------------------------------------------------------------------- shipped specs


@pytest.mark.parametrize("name, params", [("mlp.json", 535_818),
                                          ("resnet50.json", 25_557_032),
                                          ("llama_1b.json", 1_235_814_400)])
def test_example_specs_load(name, params):
    entries, metadata = load_spec(SPECS / name)
    assert "description" in metadata
    learnable = [e for e in entries
                 if "running_" not in e.name and "num_batches" not in e.name]
    assert sum(math.prod(e.shape) for e in learnable) == params


def test_resnet_conv_fans_are_torchs():
    entries, _ = load_spec(SPECS / "resnet50.json")
    convs = [e for e in entries if len(e.shape) == 4]
    assert len(convs) == 53
    for e in convs:
        cfg = e.init.get_config()
        fans = fastinit.compute_fans(e.shape, input_axes=cfg["input_axes"],
                                     output_axes=cfg["output_axes"])
        assert fans == fastinit.compute_fans(e.shape, layout="torch"), e.name
        assert (cfg["mode"], cfg["scale"], cfg["distribution"]) == (
            "fan_out", 2.0, "untruncated_normal")


def test_mlp_example_initializes():
    params, report = fastinit.init_params(SPECS / "mlp.json", seed=0)
    assert params["dense/kernel"].shape == (784, 512) and report.ok
    limit = math.sqrt(6 / (784 + 512))
    assert np.abs(params["dense/kernel"]).max() <= limit
