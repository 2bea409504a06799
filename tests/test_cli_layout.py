"""``fastinit init OLD.safetensors --init NAME``: fans in the layout of the framework
that wrote the file (``--layout``, else inferred), and the layout is reported."""
import argparse
import math

import numpy as np
import pytest
from _deps import require

import fastinit
from fastinit import io as fio
from fastinit.cli.init import add_parser

torch = require("torch")
st_torch = require("safetensors.torch")


def cli(*argv):
    parser = argparse.ArgumentParser(prog="fastinit")
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["init", *map(str, argv)])
    return args.func(args)


class Stem(torch.nn.Module):
    """The first layers of a ResNet: torch's parameter names and (out, in, kh, kw) weights."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(64)
        self.fc = torch.nn.Linear(64, 10)


@pytest.fixture(scope="module")
def torch_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("layout") / "resnet_stem.safetensors"
    torch.manual_seed(0)
    st_torch.save_file(Stem().state_dict(), str(path))     # no __metadata__ at all
    return path


def reinit(src, out, capsys, *extra):
    assert cli(src, "-o", out, "--seed", "0", "--init", "he_normal", *extra) == 0
    return fio.load(out), capsys.readouterr().err


def he_normal_std(fan_in):
    return math.sqrt(2 / fan_in)   # HeNormal: TN(sqrt(2 / fan_in) / 0.8796; +-2) has this std


def test_torch_written_file_gets_torch_fans(torch_file, tmp_path, capsys):
    got, err = reinit(torch_file, tmp_path / "new.safetensors", capsys)
    assert "layout torch" in err and "*.weight" in err
    w = np.asarray(got["conv1.weight"])
    assert w.shape == (64, 3, 7, 7)
    fan_in, _ = fastinit.compute_fans(w.shape, layout="torch")            # 3 * 7 * 7 = 147
    assert fan_in == 147
    assert abs(w.std() / he_normal_std(fan_in) - 1) < 0.03                # 0.117, not 0.039
    # exactly HeNormal on the tensor's stream with torch's axes
    expected = fastinit.HeNormal(seed=0, stream=fastinit.stream_id("conv1.weight"),
                                 input_axes=[1, 2, 3], output_axes=[0, 2, 3])(w.shape)
    assert w.tobytes() == expected.tobytes()
    fc = fastinit.HeNormal(seed=0, stream=fastinit.stream_id("fc.weight"),
                           input_axes=[1], output_axes=[0])((10, 64))
    assert np.asarray(got["fc.weight"]).tobytes() == fc.tobytes()
    assert np.array_equal(got["bn1.weight"], np.ones(64, np.float32))
    assert np.array_equal(got["bn1.running_mean"], np.zeros(64, np.float32))


def test_layout_option_overrides_and_is_reported(torch_file, tmp_path, capsys):
    got, err = reinit(torch_file, tmp_path / "keras.safetensors", capsys, "--layout", "keras")
    assert "layout keras (--layout)" in err
    w = np.asarray(got["conv1.weight"])
    fan_in, _ = fastinit.compute_fans(w.shape, layout="keras")             # 7 * 64 * 3
    assert fan_in == 1344
    assert abs(w.std() / he_normal_std(fan_in) - 1) < 0.03
    keras_bytes = w.tobytes()
    got, err = reinit(torch_file, tmp_path / "jax.safetensors", capsys, "--layout", "jax")
    assert "layout jax (--layout)" in err
    assert np.asarray(got["conv1.weight"]).tobytes() == keras_bytes       # same fans as Keras
    got, err = reinit(torch_file, tmp_path / "torch.safetensors", capsys, "--layout", "torch")
    assert "layout torch (--layout)" in err


@pytest.mark.parametrize("fmt,layout", [("pt", "torch"), ("flax", "jax"), ("tf", "keras")])
def test_metadata_format_decides(tmp_path, capsys, fmt, layout):
    src = tmp_path / "old.safetensors"
    fastinit.save({"dense/kernel": np.zeros((8, 12), np.float32)}, src, metadata={"format": fmt})
    got, err = reinit(src, tmp_path / "new.safetensors", capsys)
    assert f"layout {layout} (the file's __metadata__ format {fmt!r})" in err
    axes = {"input_axes": [1], "output_axes": [0]} if layout == "torch" else {}
    w = fastinit.HeNormal(seed=0, stream=fastinit.stream_id("dense/kernel"), **axes)((8, 12))
    assert np.asarray(got["dense/kernel"]).tobytes() == w.tobytes()


def test_keras_names_keep_keras_fans(tmp_path, capsys):
    src = tmp_path / "keras.safetensors"
    fastinit.save({"conv/kernel": np.zeros((3, 3, 4, 8), np.float32),
                   "conv/bias": np.zeros(8, np.float32)}, src)
    got, err = reinit(src, tmp_path / "new.safetensors", capsys)
    assert "layout keras (the default)" in err
    w = fastinit.HeNormal(seed=0, stream=fastinit.stream_id("conv/kernel"))((3, 3, 4, 8))
    assert np.asarray(got["conv/kernel"]).tobytes() == w.tobytes()


def test_quiet_and_json_specs_print_no_layout(torch_file, tmp_path, capsys):
    assert cli(torch_file, "-o", tmp_path / "q.safetensors", "-q") == 0
    assert capsys.readouterr().err == ""
    spec = tmp_path / "spec.json"
    spec.write_text('{"w": {"shape": [4, 6], "init": "he_normal"}}')
    assert cli(spec, "-o", tmp_path / "s.safetensors") == 0
    assert "layout" not in capsys.readouterr().err


def test_bad_layout_is_a_usage_error(torch_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli(torch_file, "-o", tmp_path / "x.safetensors", "--layout", "oihw")
    assert info.value.code == 2
    assert "--layout" in capsys.readouterr().err
