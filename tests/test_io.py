"""fastinit.load / fastinit.save / fastinit.Pretrained (docs/api.md §6)."""
import itertools
import json
import os
import struct

import ml_dtypes
import numpy as np
import pytest
from _deps import require

import fastinit
from fastinit import io as fio

BF16 = np.dtype(ml_dtypes.bfloat16)


def _sample_params():
    rng = np.random.default_rng(0)
    return {
        "w": rng.standard_normal((5, 7)).astype(np.float32),
        "b16": rng.standard_normal((3, 4)).astype(BF16),
        "h": rng.standard_normal(6).astype(np.float16),
        "d": rng.standard_normal((2, 1, 3)),
        "scalar": np.array(2.5, np.float32),
        "empty": np.zeros((0, 4), np.float32),
        "i": np.arange(5, dtype=np.int64),
        "u8": np.arange(3, dtype=np.uint8),
        "flag": np.array([True, False]),
        "f8": np.array([0.5, -2.0], ml_dtypes.float8_e4m3fn),
    }


def _same(a, b):
    """Same dtype, shape and bytes (so bfloat16 and NaNs compare by bits)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _listdir(path):
    return sorted(os.listdir(path))


# --------------------------------------------------------------------------- safetensors


def test_safetensors_roundtrip_all_dtypes(tmp_path):
    params = _sample_params()
    path = tmp_path / "m.safetensors"
    fastinit.save(params, path, metadata={"note": "x"})
    with fastinit.load(path) as ckpt:
        assert set(ckpt) == set(params)
        assert ckpt.metadata == {"note": "x"}
        for name, arr in params.items():
            assert ckpt.shape(name) == arr.shape
            assert ckpt.dtype(name) == arr.dtype
            assert _same(ckpt[name], arr), name


def test_safetensors_written_here_reads_with_the_library(tmp_path):
    st = require("safetensors")
    from safetensors.numpy import load_file

    params = {k: v for k, v in _sample_params().items() if k not in ("b16", "f8")}
    path = tmp_path / "m.safetensors"
    fastinit.save(params, path, metadata={"k": "v"})
    loaded = load_file(str(path))
    assert set(loaded) == set(params)
    for name, arr in params.items():
        assert _same(loaded[name], arr), name
    with st.safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"k": "v"}


def _library_bf16(path, name):
    """A bfloat16 tensor through the safetensors library, as raw uint16 bits."""
    import safetensors
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            return np.asarray(f.get_tensor(name)).view(np.uint16)
    except (TypeError, KeyError):
        # Older safetensors: the NumPy API has no bfloat16; read the raw bytes.
        with open(path, "rb") as fh:
            for key, info in safetensors.deserialize(fh.read()):
                if key == name:
                    assert info["dtype"] in ("bfloat16", "BF16", "bf16")
                    return np.frombuffer(bytes(info["data"]), np.uint16).reshape(info["shape"])
    raise AssertionError(name)


def test_bfloat16_roundtrips_through_the_library(tmp_path):
    require("safetensors")
    from safetensors.numpy import save_file

    x = (np.arange(-8, 8, dtype=np.float32) / 3).reshape(4, 4).astype(BF16)
    mine = tmp_path / "mine.safetensors"
    fastinit.save({"x": x}, mine)
    assert np.array_equal(_library_bf16(mine, "x"), x.view(np.uint16))
    # and the other direction, where this safetensors can write bfloat16 from NumPy
    theirs = tmp_path / "theirs.safetensors"
    try:
        save_file({"x": x}, str(theirs))
    except Exception:  # noqa: BLE001 - old safetensors raise various types
        pytest.skip("this safetensors cannot write bfloat16 from NumPy")
    assert _same(fastinit.load(theirs)["x"], x)


def test_library_files_read_here(tmp_path):
    require("safetensors")
    from safetensors.numpy import save_file

    params = {k: v for k, v in _sample_params().items() if k not in ("b16", "f8")}
    path = tmp_path / "lib.safetensors"
    save_file(params, str(path))
    ckpt = fastinit.load(path)
    for name, arr in params.items():
        assert _same(ckpt[name], arr), name


def test_safetensors_tensors_are_read_lazily_and_memory_mapped(tmp_path):
    path = tmp_path / "m.safetensors"
    fastinit.save({"a": np.ones((64, 64), np.float32)}, path)
    ckpt = fastinit.load(path)
    arr = ckpt["a"]
    assert not arr.flags.writeable and not arr.flags.owndata
    ckpt.close()
    assert arr.sum() == 64 * 64  # a view outlives close()


def test_safetensors_layout_is_aligned_and_contiguous(tmp_path):
    path = tmp_path / "m.safetensors"
    fastinit.save(_sample_params(), path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    spans = sorted(v["data_offsets"] for v in header.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(raw) - 8 - n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    for v in header.values():
        size = {"F64": 8, "I64": 8, "F32": 4, "F16": 2, "BF16": 2}.get(v["dtype"], 1)
        assert v["data_offsets"][0] % size == 0


# --------------------------------------------------------------------------- npz, npy, h5


def test_npz_roundtrip_and_any_name(tmp_path):
    params = {"file": np.arange(3.0), "allow_pickle": np.ones(2, np.float32),
              "dense/kernel": np.eye(2, dtype=np.float16)}
    path = tmp_path / "m.npz"
    fastinit.save(params, path)
    ckpt = fastinit.load(path)
    assert list(ckpt) == list(params)
    for name, arr in params.items():
        assert ckpt.shape(name) == arr.shape and ckpt.dtype(name) == arr.dtype
        assert _same(ckpt[name], arr)
    # NumPy reads it too
    with np.load(path) as z:
        assert _same(z["dense/kernel"], params["dense/kernel"])


def test_npz_refuses_bfloat16(tmp_path):
    path = tmp_path / "m.npz"
    with pytest.raises(ValueError, match="bfloat16.*safetensors"):
        fastinit.save({"x": np.ones(2, BF16)}, path)
    assert _listdir(tmp_path) == []


def test_save_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"\.safetensors, \.npz"):
        fastinit.save({"x": np.ones(2)}, tmp_path / "m.pt")


def test_npy_keyed_by_stem_and_mapped(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "embedding.npy"
    np.save(path, x)
    ckpt = fastinit.load(path)
    assert list(ckpt) == ["embedding"]
    assert _same(ckpt["embedding"], x)
    assert isinstance(ckpt["embedding"], np.memmap)


def test_h5_datasets_keyed_by_path(tmp_path):
    h5py = require("h5py")
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("dense/kernel", data=np.ones((2, 3), np.float32))
        f.create_dataset("model/block/bias", data=np.arange(3.0))
        f.create_dataset("top", data=np.zeros(1))
    with fastinit.load(path) as ckpt:
        assert sorted(ckpt) == ["dense/kernel", "model/block/bias", "top"]
        assert ckpt.shape("dense/kernel") == (2, 3)
        assert _same(ckpt["model/block/bias"], np.arange(3.0))


def test_unknown_suffix_is_sniffed(tmp_path):
    path = tmp_path / "weights.bin"
    fastinit.save({"a": np.ones(3, np.float32)}, tmp_path / "w.safetensors")
    path.write_bytes((tmp_path / "w.safetensors").read_bytes())
    assert list(fastinit.load(path)) == ["a"]
    other = tmp_path / "junk.bin"
    other.write_bytes(b"just some text, not a checkpoint")
    with pytest.raises(ValueError, match="junk.bin.*unknown checkpoint format"):
        fastinit.load(other)


# --------------------------------------------------------------------------- bad files


def _st_file(tmp_path, header, data=b"", name="bad.safetensors"):
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def test_truncated_safetensors_every_cut(tmp_path):
    good = tmp_path / "good.safetensors"
    fastinit.save({"w": np.ones((4, 4), np.float32), "b": np.ones(4, np.float32)}, good)
    raw = good.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    for cut in (0, 3, 8, 8 + n // 2, 8 + n, len(raw) - 1):
        bad = tmp_path / "cut.safetensors"
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="cut.safetensors") as e:
            fastinit.load(bad)
        assert "truncated" in str(e.value) or "short" in str(e.value), cut


def test_truncated_safetensors_names_tensor_and_shape(tmp_path):
    path = _st_file(tmp_path, {"w": {"dtype": "F32", "shape": [4, 4],
                                     "data_offsets": [0, 64]}}, b"\0" * 10)
    with pytest.raises(ValueError, match=r"bad.safetensors.*'w'.*\(4, 4\)"):
        fastinit.load(path)


@pytest.mark.parametrize("header, match", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    ({"w": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 4]}}, "dtype 'Q7'"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, "non-negative"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, r"needs 8 bytes"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, "data_offsets"),
    ({"w": [1, 2]}, "expected an object"),
    ({"__metadata__": {"a": 1}}, "__metadata__"),
])
def test_bad_safetensors_headers(tmp_path, header, match):
    path = _st_file(tmp_path, header, b"\0" * 16)
    with pytest.raises(ValueError, match=match) as e:
        fastinit.load(path)
    assert "bad.safetensors" in str(e.value)


def test_implausible_header_length(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 2**60) + b"{}")
    with pytest.raises(ValueError, match="x.safetensors.*header length"):
        fastinit.load(path)


def test_wrong_magic_npy(tmp_path):
    path = tmp_path / "w.npy"
    path.write_bytes(b"\x93NUMPX" + b"\0" * 100)
    with pytest.raises(ValueError, match=r"w\.npy.*magic"):
        fastinit.load(path)


def test_truncated_npy(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.ones((8, 8), np.float32))
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ValueError, match=r"w\.npy.*truncated.*\(8, 8\)"):
        fastinit.load(path)


def test_truncated_npz(tmp_path):
    path = tmp_path / "m.npz"
    fastinit.save({"a": np.ones(100)}, path)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match=r"m\.npz"):
        fastinit.load(path)


def test_bad_h5(tmp_path):
    require("h5py")
    path = tmp_path / "m.h5"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match=r"m\.h5.*HDF5"):
        fastinit.load(path)


def test_missing_file_is_oserror(tmp_path):
    for name in ("nope.safetensors", "nope.npz", "nope.npy", "nope.bin"):
        with pytest.raises(FileNotFoundError, match="nope"):
            fastinit.load(tmp_path / name)


# --------------------------------------------------------------------------- atomic save


def test_failing_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    calls = []

    def failing(f, data, p):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, f"cannot write {p}: No space left on device")
        f.write(memoryview(data).cast("B"))

    monkeypatch.setattr(fio._output, "write_fully", failing)
    with pytest.raises(OSError, match="No space"):
        fastinit.save({"a": np.ones(4), "b": np.ones(3)}, path)
    assert _listdir(tmp_path) == []


def test_failed_save_keeps_previous_file(tmp_path):
    path = tmp_path / "m.safetensors"
    fastinit.save({"a": np.ones(4)}, path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="object"):
        fastinit.save({"a": np.zeros(4), "bad": np.array([object()])}, path)
    assert path.read_bytes() == before
    assert _listdir(tmp_path) == ["m.safetensors"]


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fastinit.save({"a": np.ones(2)}, tmp_path / "nowhere" / "m.safetensors")
    assert _listdir(tmp_path) == []


# --------------------------------------------------------------------------- chunking


@pytest.mark.parametrize("shape", [(), (1,), (7,), (5, 3), (2, 3, 4), (1, 1, 9), (3, 0, 2),
                                   (4, 5, 6, 3)])
def test_chunk_regions_cover_in_c_order(shape):
    full = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    for chunk in (1, 4, 8, 12, 20, 4 * full.size, 4 * full.size + 100):
        pieces = []
        for region in fio.chunk_regions(shape, 4, chunk):
            block = full[region]
            assert block.nbytes <= max(chunk, 4)
            pieces.append(block.reshape(-1))
        got = np.concatenate(pieces) if pieces else np.zeros(0, np.int32)
        assert np.array_equal(got, full.reshape(-1)), (shape, chunk)


# --------------------------------------------------------------------------- Pretrained


@pytest.fixture
def ckpt_path(tmp_path):
    path = tmp_path / "pre.safetensors"
    rng = np.random.default_rng(1)
    fastinit.save({"w": rng.standard_normal((6, 5)).astype(np.float32),
                   "b": np.arange(5, dtype=np.float32),
                   "i": np.arange(4, dtype=np.int32)}, path)
    return path


def test_pretrained_returns_the_tensor(ckpt_path):
    stored = fastinit.load(ckpt_path)["w"]
    init = fastinit.Pretrained(ckpt_path, "w")
    got = init((6, 5))
    assert _same(got, stored) and got.flags.writeable and got.flags.owndata
    assert init.shape == (6, 5)
    assert _same(init((6, 5), "float64"), stored.astype(np.float64))
    assert _same(init((6, 5), "bfloat16"), stored.astype(BF16))
    assert _same(fastinit.Pretrained(ckpt_path, "w", dtype="float16")((6, 5)),
                 stored.astype(np.float16))


def test_pretrained_region_and_out(ckpt_path):
    stored = np.array(fastinit.load(ckpt_path)["w"])
    init = fastinit.Pretrained(ckpt_path, "w")
    for region in itertools.product([slice(None), slice(1, 4), slice(-2, None)],
                                    [slice(None), slice(0, 1), slice(2, -1)]):
        assert _same(init((6, 5), region=region), stored[region])
    out = np.empty((2, 5), BF16)
    assert init((6, 5), out=out, region=(slice(4, 6),)) is out
    assert _same(out, stored[4:6].astype(BF16))
    with pytest.raises(ValueError, match="shape"):
        init((6, 5), out=np.empty((3, 5), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        init((6, 5), "float64", out=np.empty((6, 5), np.float32))
    with pytest.raises(ValueError, match="out of bounds"):
        init((6, 5), region=(slice(0, 7),))


def test_pretrained_shape_mismatch_names_everything(ckpt_path):
    init = fastinit.Pretrained(ckpt_path, "w")
    with pytest.raises(ValueError) as e:
        init((5, 6))
    msg = str(e.value)
    assert "pre.safetensors" in msg and "'w'" in msg and "(5, 6)" in msg and "(6, 5)" in msg


def test_pretrained_key_rules(ckpt_path, tmp_path):
    with pytest.raises(ValueError, match="exactly one tensor.*'w'.*'b'.*'i'"):
        fastinit.Pretrained(ckpt_path)
    with pytest.raises(ValueError, match="no tensor 'zz'.*'w'"):
        fastinit.Pretrained(ckpt_path, "zz")
    one = tmp_path / "bias.npy"
    np.save(one, np.ones(3, np.float32))
    assert fastinit.Pretrained(one).key == "bias"
    assert fastinit.Pretrained({"only": np.zeros(2)}).key == "only"


def test_pretrained_casts(ckpt_path):
    ints = fastinit.Pretrained(ckpt_path, "i")
    assert _same(ints((4,), "int64"), np.arange(4, dtype=np.int64))
    assert _same(ints((4,), "float64"), np.arange(4, dtype=np.float64))
    with pytest.raises(ValueError, match="cannot cast the stored float32 to int32"):
        fastinit.Pretrained(ckpt_path, "b")((5,), "int32")


def test_pretrained_is_an_initializer(ckpt_path):
    init = fastinit.Pretrained(ckpt_path, "b")
    assert fastinit.get(init) is init
    clone = fastinit.Pretrained.from_config(init.get_config())
    assert _same(clone((5,)), init((5,)))
    with pytest.raises(TypeError, match="mapping"):
        fastinit.Pretrained({"x": np.ones(1)}).get_config()


def test_writeback_pacing_syncs_each_window_and_drops_the_one_before(monkeypatch, tmp_path):
    # the streaming writer starts writeback of each new window and waits for (then
    # drops) the window before it, so dirty memory stays near two windows
    from fastinit import io as fio

    calls = []

    def fake_sync(fd, offset, nbytes, flags):
        calls.append((offset, nbytes, flags))
        return 0

    monkeypatch.setattr(fio._output, "_sync_file_range", lambda: fake_sync)
    with open(tmp_path / "f.bin", "wb") as f:
        flow = fio._Writeback(f.fileno(), start=8, window=100)
        flow.advance(50)             # less than a window: nothing yet
        flow.advance(108)            # [8, 108) complete: start its writeback
        flow.advance(330)            # [108, 208) and [208, 308); wait for the earlier ones
    write, wait = fio._Writeback.WRITE, (fio._Writeback.WAIT_BEFORE | fio._Writeback.WRITE
                                         | fio._Writeback.WAIT_AFTER)
    assert calls == [(8, 100, write), (108, 100, write), (8, 100, wait), (208, 100, write),
                     (108, 100, wait)]


def test_writeback_pacing_turns_itself_off_where_unsupported(monkeypatch, tmp_path):
    from fastinit import io as fio

    calls = []
    monkeypatch.setattr(fio._output, "_sync_file_range",
                        lambda: lambda *a: calls.append(a) or -1)
    with open(tmp_path / "f.bin", "wb") as f:
        flow = fio._Writeback(f.fileno(), start=0, window=10)
        flow.advance(100)
        flow.advance(200)
    assert len(calls) == 1  # the first failure switches it off


def test_writeback_pacing_with_the_real_system_call(tmp_path):
    # on Linux the real sync_file_range runs (and stays on); the bytes are intact
    import sys

    from fastinit import io as fio

    data = np.random.default_rng(0).integers(0, 256, 1 << 20, dtype=np.uint8)
    with open(tmp_path / "f.bin", "wb", buffering=0) as f:
        flow = fio._Writeback(f.fileno(), start=0, window=128 << 10)
        for k in range(0, data.size, 64 << 10):
            fio.write_fully(f, data[k:k + (64 << 10)], tmp_path / "f.bin")
            flow.advance(k + (64 << 10))
        if sys.platform.startswith("linux"):
            assert flow._sync is not None and flow.synced == data.size - (128 << 10)
    assert (tmp_path / "f.bin").read_bytes() == data.tobytes()
