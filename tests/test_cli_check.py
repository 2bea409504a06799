"""``fastinit check``: the self-check table and exit status, propagation, plots."""
import argparse
import math
import sys

import pytest
from _deps import require

import fastinit
from fastinit import diagnostics as diag
from fastinit.cli.check import add_parser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def cli(*argv):
    parser = argparse.ArgumentParser(prog="fastinit")
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["check", *map(str, argv)])
    return args.func(args)


def assert_png(path, min_bytes=20_000):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > min_bytes


def test_check_passes_and_plots(tmp_path, capsys):
    require("matplotlib")
    out = tmp_path / "check.png"
    assert cli("--plot", out) == 0
    text = capsys.readouterr().out
    assert "18 passed, 0 failed" in text
    for label in ("GlorotUniform", "HeNormal", "Orthogonal", "STFT", "Constant(value=0.5)"):
        assert any(line.startswith(label) and line.endswith("PASS")
                   for line in text.splitlines()), label
    assert "FAIL" not in text
    assert_png(out, 100_000)


def test_check_fails_with_nonzero_status(monkeypatch, capsys):
    limit = math.sqrt(6.0 / 512)  # fan_in where Glorot uses fan_avg

    def cases(seed):
        return [diag._Case("GlorotUniform", fastinit.GlorotUniform(seed=seed), (512, 256),
                           diag._Uniform(-limit, limit)),
                diag._Case("Zeros", fastinit.Zeros(), (3, 3), diag.np.zeros((3, 3)))]

    monkeypatch.setattr(diag._selfcheck, "_default_cases", cases)
    assert cli("--seed", 7) == 1
    text = capsys.readouterr().out
    assert "1 passed, 1 failed" in text and "seed 7" in text
    glorot = next(line for line in text.splitlines() if line.startswith("GlorotUniform"))
    assert glorot.endswith("FAIL")
    assert "    std " in text  # the reason, under the row


def test_propagation_table_and_plot(tmp_path, capsys):
    require("matplotlib")
    out = tmp_path / "propagation.png"
    assert cli("--propagation", "--depth", 12, "--width", 48, "--batch", 64,
               "--plot", out) == 0
    text = capsys.readouterr().out
    assert "12 dense layers of width 48, batch 64, seed 0" in text
    rows = [line.split() for line in text.splitlines() if line.startswith(("relu ", "tanh "))]
    assert [(r[0], r[1]) for r in rows] == [
        (act, name) for act in ("relu", "tanh") for name in
        ("RandomNormal(mean=0.0,", "GlorotUniform", "HeNormal", "LecunNormal")]
    he_relu = rows[2]
    assert he_relu[-4:-2] == ["no", "no"]  # neither vanishing nor exploding
    assert_png(out)


def test_propagation_options(capsys):
    init = '{"class_name": "RandomNormal", "config": {"stddev": 1.0}}'
    assert cli("--propagation", "--activation", "selu", "--activation", "gelu",
               "--init", "lecun_normal", "--init", init, "--depth", 30, "--width", 32,
               "--batch", 16, "--seed", 3) == 0
    text = capsys.readouterr().out
    rows = {(line.split()[0], line.split()[1]): line.split()
            for line in text.splitlines() if line.startswith(("selu ", "gelu "))}
    assert set(rows) == {(a, n) for a in ("selu", "gelu")
                         for n in ("LecunNormal", "RandomNormal(mean=0.0,")}
    # vanishing, exploding columns
    assert rows["selu", "LecunNormal"][-4:-2] == ["no", "no"]
    assert rows["selu", "RandomNormal(mean=0.0,"][-4:-2] == ["no", "yes"]
    expected = fastinit.diagnose(fastinit.LecunNormal(), widths=[32] * 31, activation="selu",
                                 batch=16, seed=3)
    assert f"{expected.forward_gain:9.3g}".strip() in rows["selu", "LecunNormal"]


def test_propagation_only_options_need_propagation(capsys):
    assert cli("--depth", 3) == 2
    assert "--depth only apply with --propagation" in capsys.readouterr().err


def test_bad_initializer_name(capsys):
    assert cli("--propagation", "--init", "he_normall", "--depth", 2, "--width", 4) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastinit check: error: Unknown initializer 'he_normall'")
    assert "he_normal" in err


def test_bad_activation_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli("--propagation", "--activation", "swish")
    assert exc.value.code == 2
    assert "relu" in capsys.readouterr().err


def test_plot_without_matplotlib(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    assert cli("--plot", tmp_path / "x.png") == 1
    assert "--plot needs matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_wired_into_the_fastinit_command(capsys):
    from fastinit import cli

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "check" in commands.choices
    assert cli.main(["check", "--propagation", "--depth", "3", "--width", "8",
                     "--batch", "4", "--activation", "relu", "--init", "he_normal"]) == 0
    assert "HeNormal" in capsys.readouterr().out
