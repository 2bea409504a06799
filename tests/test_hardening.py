"""Regression tests for the hardening issue: one (or more) per defect found.

Crashes are reproduced in a child process: the test passes only if the child
exits normally having observed the right values or the right exception.
"""
from __future__ import annotations

import json
import math
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest
from _deps import require

import fastinit as fi
from fastinit import _tempfiles

h5py = require("h5py")

PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fi.__file__)))


def child_env():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PKG_PARENT, env.get("PYTHONPATH", "")) if p)
    return env


def run_child(code, timeout=300):
    """Run ``code`` in a fresh interpreter; it must exit 0 (no signal, no abort)
    and print one JSON line, which is returned."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=child_env(), check=False)
    assert proc.returncode == 0, f"child died ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli(*argv, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "fastinit", *map(str, argv)],
                          capture_output=True, text=True, timeout=timeout, env=child_env(),
                          cwd=cwd, check=False)


# ---------------------------------------------------------------------------
# 1-3: the fill driver never indexes through a subclass and reads the layout once


def test_large_strided_matrix_fill_does_not_recurse():
    got = run_child("""
        import json, warnings
        import numpy as np, fastinit as fi
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        m = np.matrix(np.zeros((1, 2**23 + 20), np.float32))[:, ::2]
        fi.fill_uniform(m, seed=1)
        ref = fi.fill_uniform(np.empty(m.shape, np.float32), seed=1)
        print(json.dumps({"equal": bool((np.asarray(m) == ref).all()),
                          "type": type(m).__name__}))
    """)
    assert got == {"equal": True, "type": "matrix"}


def test_subclass_getitem_is_never_used():
    got = run_child("""
        import json
        import numpy as np, fastinit as fi

        class NotAnArray(np.ndarray):
            def __getitem__(self, i):
                return 5

        class OtherDtype(np.ndarray):
            def __getitem__(self, i):
                return np.zeros(3, np.float64)

        class Copies(np.ndarray):
            def __getitem__(self, i):
                return np.ndarray.__getitem__(self, i).copy()

        class LyingAttributes(np.ndarray):
            dtype = property(lambda self: np.dtype(np.float64))
            size = property(lambda self: 10**12)
            shape = property(lambda self: (1,))

        out = {}
        for cls in (NotAnArray, OtherDtype, Copies, LyingAttributes):
            for shape in ((4, 2**21 + 3), (3, 5)):  # above and below the chunk size
                base = np.zeros(shape, np.float32).view(cls)
                view = np.ndarray.__getitem__(base, (slice(None), slice(None, None, 2)))
                fi.fill_normal(view, seed=2, offset=5)
                ref = fi.fill_normal(np.empty(np.ndarray.view(view, np.ndarray).shape,
                                              np.float32), seed=2, offset=5)
                plain = np.ndarray.view(base, np.ndarray)
                out[f"{cls.__name__}{shape}"] = bool(
                    (plain[:, ::2] == ref).all() and (plain[:, 1::2] == 0).all())
        print(json.dumps(out))
    """)
    assert all(got.values()) and len(got) == 8, got


def test_arguments_that_reassign_the_dtype_cannot_corrupt_memory():
    got = run_child("""
        import json, numbers, warnings
        import numpy as np, fastinit as fi
        warnings.simplefilter("ignore")
        res = {}

        def attempt(label, call, out, new):
            try:
                call()
                res[label] = ["filled", str(out.dtype), out.shape[0]]
            except ValueError as e:
                res[label] = ["ValueError", str(out.dtype), out.shape[0]]

        for new in (np.float16, np.float32, np.float64):
            out = np.zeros(16, np.float32)

            class Low:
                def __float__(self):
                    out.dtype = new
                    return 0.0
            numbers.Real.register(Low)
            attempt(f"float {np.dtype(new)}", lambda: fi.fill_uniform(out, Low(), 1.0, seed=3),
                    out, new)
            # what was filled is exactly a fill of the array as it is now
            if res[f"float {np.dtype(new)}"][0] == "filled":
                ref = fi.fill_uniform(np.empty(out.shape, out.dtype), seed=3)
                res[f"float {np.dtype(new)} values"] = bool((out == ref).all())

            out = np.zeros(16, np.float32)

            class Offset:
                def __index__(self):
                    out.dtype = new
                    return 0
                __int__ = __index__
            numbers.Integral.register(Offset)
            attempt(f"offset {np.dtype(new)}",
                    lambda: fi.fill_normal(out, seed=3, offset=Offset()), out, new)

            out = np.zeros(16, np.float32)

            class Gen(np.random.Generator):
                def integers(self, *a, **k):
                    out.dtype = new
                    return np.uint64(7)
            before = out.tobytes()
            attempt(f"generator {np.dtype(new)}",
                    lambda: fi.fill_truncated_normal(out, seed=Gen(np.random.PCG64(0))),
                    out, new)
            res[f"generator {np.dtype(new)} untouched"] = out.tobytes() == before
        print(json.dumps(res))
    """)
    for new, n in (("float16", 32), ("float32", 16), ("float64", 8)):
        assert got[f"float {new}"] == ["filled", new, n]
        assert got[f"float {new} values"] is True
        assert got[f"offset {new}"] == ["filled", new, n]
        # the seed is drawn after the layout is read: a change is refused
        expected = "filled" if new == "float32" else "ValueError"
        assert got[f"generator {new}"] == [expected, new, n]
        if new != "float32":
            assert got[f"generator {new} untouched"] is True


@pytest.mark.parametrize("make", [
    lambda: np.zeros((6, 7), np.float64).T,
    lambda: np.zeros((5, 4, 3), np.float16)[::-1, :, ::2],
    lambda: np.zeros((2, 2**21 + 1), np.float32)[:, 1:],  # above one chunk, 2-d
    lambda: np.zeros(2**22 + 10, np.float32)[::-1],       # above one chunk, 1-d
    lambda: np.zeros((3, 1, 4), np.float32).transpose(2, 1, 0),
])
def test_strided_fills_equal_the_contiguous_fill(make):
    out = make()
    fi.fill_truncated_normal(out, 0.5, 2.0, -1.0, 3.0, seed=9, stream=4, offset=11)
    ref = fi.fill_truncated_normal(np.empty(out.shape, out.dtype), 0.5, 2.0, -1.0, 3.0,
                                   seed=9, stream=4, offset=11)
    np.testing.assert_array_equal(out, ref)


# ---------------------------------------------------------------------------
# 8: truncation windows beyond the dtype's finite range


F32_MAX = float(np.finfo(np.float32).max)


@pytest.mark.parametrize("dtype, params", [
    (np.float16, (0.0, 1.0, 1e6, math.inf)),
    (np.float16, (0.0, 1.0, -math.inf, -70000.0)),
    (np.float32, (F32_MAX, F32_MAX, 1.0, 2.0)),
    (np.float32, (0.0, 1.0, -math.inf, -1e150)),
    (np.float64, (1e308, 1e308, 1.0, 2.0)),
])
def test_truncation_window_beyond_the_dtype_raises(dtype, params):
    out = np.arange(8).astype(dtype)
    before = out.copy()
    with pytest.raises(ValueError, match="truncation window"):
        fi.fill_truncated_normal(out, *params, seed=0)
    np.testing.assert_array_equal(out, before)


def test_truncation_window_partly_in_range_is_finite():
    # [65000 - 1000, 65000 + 10 * 1000]: its float16 part is sampled
    x = fi.fill_truncated_normal(np.empty(1000, np.float16), 65000.0, 1000.0, -1.0, 10.0,
                                 seed=1)
    assert (x >= 64000).all()
    # [65400, inf) with std 10: the float16 values lie near the largest finite one
    y = fi.fill_truncated_normal(np.empty(1000, np.float16), 65400.0, 10.0, 0.0, math.inf,
                                 seed=1)
    assert np.isfinite(y).all() and (y >= 65400).all()
    # a window 65000 std out in the tail has no probability in double: refused
    z = np.zeros(10, np.float16)
    with pytest.raises(ValueError, match="underflows"):
        fi.fill_truncated_normal(z, 0.0, 1.0, 65000.0, math.inf, seed=1)
    assert not z.any()


# ---------------------------------------------------------------------------
# 4: HDF5 external storage and virtual datasets


@pytest.fixture
def hostile_h5(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(8, dtype=np.float32).tobytes())
    ext = tmp_path / "external.h5"
    with h5py.File(ext, "w") as f:
        f.create_dataset("w", shape=(8,), dtype="f4",
                         external=[(str(secret), 0, h5py.h5f.UNLIMITED)])
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f["d"] = np.arange(8, dtype=np.float32)
    layout = h5py.VirtualLayout(shape=(8,), dtype="f4")
    layout[:] = h5py.VirtualSource(str(src), "d", shape=(8,))
    vds = tmp_path / "virtual.h5"
    with h5py.File(vds, "w") as f:
        f.create_virtual_dataset("w", layout)
    # h5py itself follows both
    for p in (ext, vds):
        with h5py.File(p, "r") as f:
            assert f["w"][()].tolist() == list(range(8))
    return {"external": ext, "virtual": vds}


@pytest.mark.parametrize("kind", ["external", "virtual"])
def test_hdf5_data_from_other_files_is_refused_everywhere(hostile_h5, kind, tmp_path):
    path = hostile_h5[kind]
    match = r"dataset 'w'.*(external|virtual)"
    with pytest.raises(ValueError, match=match):
        fi.load(path)
    with pytest.raises(ValueError, match=match):
        fi.Pretrained(str(path), "w")
    spec = {"w": {"shape": [8], "init": "zeros"}}
    with pytest.raises(ValueError, match=match):
        fi.init_params(spec, seed=0, pretrained=str(path))
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    out = tmp_path / "out.safetensors"
    proc = cli("init", spec_file, "-o", out, "--pretrained", path)
    assert proc.returncode == 1 and "dataset 'w'" in proc.stderr, proc.stderr
    assert not out.exists()


# ---------------------------------------------------------------------------
# 5: .npz members "a" and "a.npy"


@pytest.mark.parametrize("order", [("a", "a.npy"), ("a.npy", "a")])
def test_npz_lookup_follows_numpy(tmp_path, order):
    path = tmp_path / "m.npz"
    arrays = {"a": np.arange(3.0), "a.npy": np.ones((2, 2), np.float32)}
    with zipfile.ZipFile(path, "w") as z:
        for member in order:
            with z.open(member, "w") as m:
                np.lib.format.write_array(m, arrays[member])
    ckpt = fi.load(path)
    with np.load(path) as ref:
        np.testing.assert_array_equal(ckpt["a"], ref["a"])
        np.testing.assert_array_equal(ckpt["a.npy"], ref["a.npy"])
    np.testing.assert_array_equal(ckpt["a"], arrays["a"])
    assert sorted(ckpt) == ["a", "a.npy"]


# ---------------------------------------------------------------------------
# 6: safetensors exactly as strict as the safetensors library


def _st(tmp_path, header, data):
    h = header.encode() if isinstance(header, str) else json.dumps(header).encode()
    path = tmp_path / "t.safetensors"
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    return path


def _u8(b, e):
    return {"dtype": "U8", "shape": [e - b], "data_offsets": [b, e]}


E = '"dtype":"U8","shape":[2],"data_offsets":[0,2]'
REFUSED = [
    ("alias", {"a": _u8(0, 4), "b": _u8(0, 4)}, 4),
    ("overlap", {"a": _u8(0, 4), "b": _u8(2, 6)}, 6),
    ("gap", {"a": _u8(0, 2), "b": _u8(3, 5)}, 5),
    ("trailing bytes", {"a": _u8(0, 4)}, 6),
    ("does not start at 0", {"a": _u8(2, 4)}, 4),
    ("empty past the end", {"a": _u8(0, 2), "b": _u8(3, 3)}, 2),
    ("repeated field", '{"a":{%s,"shape":[2]}}'.replace("%s", E), 2),
    ("repeated metadata", '{"__metadata__":{},"__metadata__":{},"a":{%s}}'.replace("%s", E), 2),
    ("minus zero", '{"a":{"dtype":"U8","shape":[-0],"data_offsets":[0,0]}}', 0),
    ("lone surrogate", '{"a":{%s,"x":"\\ud800"}}'.replace("%s", E), 2),
    ("overflowing number", '{"a":{%s,"x":1e400}}'.replace("%s", E), 2),
    ("too deep", '{"a":{%s,"x":%s}}'.replace("%s", E, 1).replace("%s", "[" * 126 + "]" * 126), 2),
    ("NaN", '{"a":{%s,"x":NaN}}'.replace("%s", E), 2),
    ("array entry of 4", '{"a":["U8",[2],[0,2],1]}', 2),
]
ACCEPTED = [
    ("empty tensors share an offset", {"a": _u8(0, 0), "b": _u8(0, 0)}, 0),
    ("empty tensor at the end", {"a": _u8(0, 2), "b": _u8(2, 2)}, 2),
    ("entries out of order", {"b": _u8(2, 4), "a": _u8(0, 2)}, 4),
    ("repeated tensor name", '{"a":{%s},"a":{%s}}'.replace("%s", E), 2),
    ("repeated metadata key", '{"__metadata__":{"k":"v","k":"w"},"a":{%s}}'.replace("%s", E), 2),
    ("unknown keys", '{"a":{%s,"x":[-0, 1e300, {"y": null}]}}'.replace("%s", E), 2),
    ("depth 127", '{"a":{%s,"x":%s}}'.replace("%s", E, 1).replace("%s", "[" * 125 + "]" * 125), 2),
    ("array entry", '{"a":["U8",[2],[0,2]]}', 2),
]


@pytest.mark.parametrize("label, header, n", REFUSED, ids=[c[0] for c in REFUSED])
def test_safetensors_refused_like_the_reference(tmp_path, label, header, n):
    safetensors = require("safetensors")
    path = _st(tmp_path, header, bytes(range(n)))
    with pytest.raises(safetensors.SafetensorError), \
            safetensors.safe_open(str(path), "np") as f:
        [f.get_tensor(k) for k in f.keys()]  # noqa: SIM118 - not a dict
    with pytest.raises(ValueError, match="t.safetensors"):
        fi.load(path)


@pytest.mark.parametrize("label, header, n", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_safetensors_accepted_like_the_reference(tmp_path, label, header, n):
    safetensors = require("safetensors")
    path = _st(tmp_path, header, bytes(range(n)))
    with safetensors.safe_open(str(path), "np") as f:
        ref = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    got = fi.load(path)
    assert sorted(got) == sorted(ref)
    for k, v in ref.items():
        np.testing.assert_array_equal(got[k], v)


# ---------------------------------------------------------------------------
# 7: writers refuse what no reader would load, before writing


def test_save_refuses_a_header_over_the_limit(tmp_path):
    path = tmp_path / "big.safetensors"
    params = {f"{i:03d}" + "x" * 1_000_000: np.zeros(0, np.float32) for i in range(101)}
    with pytest.raises(ValueError, match="header would be"):
        fi.save(params, path)
    assert os.listdir(tmp_path) == []


def test_writers_refuse_shapes_no_array_can_have(tmp_path):
    path = tmp_path / "w.safetensors"
    for shape, match in (((2**63, 0), "too big"), ((1,) * 65, "65 dimensions")):
        with pytest.raises(ValueError, match=match):
            fi.io.write_safetensors_stream(path, [("w", shape, np.dtype(np.uint8),
                                                   lambda region, out: None)])
    with pytest.raises(ValueError, match="lone surrogate"):
        fi.save({"\ud800": np.zeros(2)}, path)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# 9: errors name the file or argument; no tracebacks


@pytest.fixture
def spec_dir(tmp_path):
    d = tmp_path / "work"
    d.mkdir()
    specs = {
        "deep.json": '{"w": {"shape": [2], "init": ' + "[" * 3000 + "]" * 3000 + "}}",
        "digits.json": '{"w": {"shape": [' + "9" * 5000 + '], "init": "zeros"}}',
        "dims65.json": json.dumps({"w": {"shape": [1] * 65, "init": "zeros"}}),
        "ok.json": json.dumps({"w": {"shape": [2, 3], "init": "zeros"}}),
    }
    for name, text in specs.items():
        (d / name).write_text(text)
    return d


@pytest.mark.parametrize("name, match", [
    ("deep.json", "deep.json: not valid JSON: nested too deeply"),
    ("digits.json", "digits.json: not valid JSON"),
    ("dims65.json", "dims65.json: tensor 'w': 65 dimensions"),
])
def test_bad_specs_are_value_errors_naming_the_spec(spec_dir, name, match):
    with pytest.raises(ValueError, match=match):
        fi.init_params(str(spec_dir / name), seed=0)
    proc = cli("init", spec_dir / name, "-o", spec_dir / "out.safetensors")
    assert proc.returncode == 1 and match in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(os.listdir(spec_dir)) == ["deep.json", "digits.json", "dims65.json",
                                            "ok.json"]


def test_empty_output_path_is_refused(spec_dir):
    proc = cli("init", "ok.json", "-o", "", cwd=spec_dir)
    assert proc.returncode == 1 and "output path is empty" in proc.stderr
    assert sorted(os.listdir(spec_dir.parent)) == ["work"]
    with pytest.raises(FileNotFoundError, match="empty"), fi.io.atomic_output(""):
        pass


@pytest.mark.parametrize("argv, match", [
    (["bench", "--size", "1e19", "--repeat", "1"], "--size 10,000,000,000,000,000,000"),
    (["bench", "--size", "1000", "--json", "/nonexistent-dir/x.json"], "--json"),
    (["bench", "--size", "1000", "--plot", "/nonexistent-dir/x.png"], "--plot"),
    (["check", "--propagation", "--width", "1e8", "--batch", "1e8", "--depth", "1",
      "--activation", "relu", "--init", "he_normal"], "not enough memory"),
])
def test_cli_argument_errors_without_traceback(argv, match):
    proc = cli(*argv)
    assert proc.returncode == 1, proc.stderr
    assert match in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    if argv[0] == "bench":
        assert "M/s" not in proc.stdout  # refused before measuring anything


# ---------------------------------------------------------------------------
# 10: an output that is one of the inputs


def test_output_that_is_an_input_is_refused(spec_dir):
    spec = spec_dir / "ok.json"
    text = spec.read_text()
    proc = cli("init", spec, "-o", spec)
    assert proc.returncode == 1 and "replace its own input" in proc.stderr
    assert spec.read_text() == text
    ckpt = spec_dir / "w.safetensors"
    assert cli("init", spec, "-o", ckpt).returncode == 0
    before = ckpt.read_bytes()
    link = spec_dir / "link.safetensors"
    link.symlink_to(ckpt)
    for argv in (["init", ckpt, "-o", link], ["init", spec, "-o", link, "--pretrained", ckpt]):
        proc = cli(*argv)
        assert proc.returncode == 1 and "replace its own input" in proc.stderr, proc.stderr
    assert ckpt.read_bytes() == before


# ---------------------------------------------------------------------------
# 11: SIGTERM/SIGHUP clean up; leftovers of killed runs are removed later


def _slow_spec(directory):
    # header first, then several QR decompositions: seconds between the temporary
    # file's creation and the end
    spec = {f"q{i}": {"shape": [1500, 1500], "init": "orthogonal"} for i in range(6)}
    path = directory / "slow.json"
    path.write_text(json.dumps(spec))
    return path


def _start_and_wait_for_temp(directory, spec, out):
    proc = subprocess.Popen([sys.executable, "-m", "fastinit", "init", str(spec), "-o",
                             str(out), "-q", "--threads", "1"], env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not [n for n in os.listdir(directory) if n.endswith(".tmp")]:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    return proc


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGTERM, getattr(signal, "SIGHUP", 1)])
def test_terminating_signals_remove_the_temporary_file(tmp_path, signum):
    spec = _slow_spec(tmp_path)
    out = tmp_path / "out.safetensors"
    proc = _start_and_wait_for_temp(tmp_path, spec, out)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert f"terminated by {signal.Signals(signum).name}" in err
    assert sorted(os.listdir(tmp_path)) == ["slow.json"]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_a_later_run_removes_leftovers_of_killed_runs(tmp_path):
    spec = _slow_spec(tmp_path)
    out = tmp_path / "out.safetensors"
    proc = _start_and_wait_for_temp(tmp_path, spec, out)
    proc.kill()
    proc.communicate(timeout=60)
    left = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(left) == 1
    # files that must stay: a live writer's, another host's, not ours at all
    live = _tempfiles.temp_name("x.safetensors")
    other_host = f".x.safetensors.otherhost.{proc.pid}.0123abcd.tmp"
    unrelated = ".notes.tmp"
    # a dead PID but a held lock: a live writer in another PID namespace
    locked = left[0].replace(f".{proc.pid}.", f".{proc.pid}.", 1)[:-12] + "deadbeef.tmp"
    for name in (live, other_host, unrelated, locked):
        (tmp_path / name).write_bytes(b"")
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"w": {"shape": [2], "init": "zeros"}}))
    with open(tmp_path / locked, "rb") as f:
        _tempfiles.hold(f.fileno())
        assert cli("init", small, "-o", tmp_path / "small.safetensors").returncode == 0
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["slow.json", "small.json", "small.safetensors", live, other_host, unrelated, locked])


# ---------------------------------------------------------------------------
# the span check of the one prepared fill (offset + out.size <= 2**64)


@pytest.mark.parametrize("fill", [fi.fill_uniform, fi.fill_normal, fi.fill_truncated_normal])
def test_offset_two_to_64_only_for_an_empty_out(fill):
    assert fill(np.empty(0, np.float32), seed=1, offset=2**64).size == 0
    a = np.arange(3, dtype=np.float32)
    for offset in (2**64, 2**64 - 2):
        with pytest.raises(ValueError, match="offset"):
            fill(a, seed=1, offset=offset)
    with pytest.raises(ValueError, match="offset"):
        fill(np.empty(0, np.float32), seed=1, offset=2**64 + 1)
    np.testing.assert_array_equal(a, [0, 1, 2])
    assert fi.fill_raw(np.empty((0, 4), np.uint32), seed=1, offset=2**64).shape == (0, 4)
