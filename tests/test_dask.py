"""fastinit.dask (docs/api.md §8): chunks generated where computed, bit for bit.

The distributed tests share one module-scoped ``LocalCluster`` of two worker
processes; everything else runs on Dask's local schedulers.
"""
import json
import logging
import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
from _deps import require

da = require("dask.array")
import cloudpickle
import dask

import fastinit
import fastinit.dask as fdask
import fastinit.initializers as fi
from fastinit import stream_id

BF16 = np.dtype(ml_dtypes.bfloat16)
# The directory holding the fastinit package: src/ in a checkout, site-packages when installed.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastinit.__file__)))

# (initializer, shape, irregular chunks): uniform, normal and truncated-normal
# fills, ranks 1 to 4, chunk boundaries that cut rows mid-way.
CASES = {
    "uniform": (fi.RandomUniform(minval=-0.3, maxval=0.7, seed=11, stream=3),
                (257, 130), ((100, 57, 100), (1, 64, 65))),
    "glorot_uniform": (fi.GlorotUniform(seed=5, stream=stream_id("dense.kernel")),
                       (300, 77), ((7, 293), (77,))),
    "normal": (fi.RandomNormal(mean=0.5, stddev=2.0, seed=12, stream=2**63 + 5),
               (1001,), ((1, 500, 500),)),
    "untruncated_vs": (fi.VarianceScaling(2.0, "fan_out", "untruncated_normal", seed=13),
                       (64, 96), ((10, 54), (50, 46))),
    "he_normal_conv": (fi.HeNormal(seed=14, stream=7),
                       (3, 3, 17, 40), ((2, 1), (3,), (5, 12), (7, 33))),
    "glorot_normal": (fi.GlorotNormal(seed=2**64 - 1), (129, 65), ((64, 65), (13, 52))),
    "truncated_normal": (fi.TruncatedNormal(mean=-1.0, stddev=0.02, seed=15, stream=1),
                         (33, 1000), ((16, 17), (999, 1))),
}
DTYPES = [np.dtype(np.float32), BF16]


def same_bits(got, want):
    """Exact equality: dtype, shape and every byte (so -0.0 and NaN payloads count)."""
    got = np.asarray(got)
    return got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()


@pytest.fixture(scope="module")
def client():
    distributed = require("distributed")
    # Spawned workers must import this same fastinit: multiprocessing's spawn
    # hands them the parent's sys.path, and PYTHONPATH covers anything they
    # start themselves. One fastinit thread per single-threaded worker.
    pythonpath = os.pathsep.join(
        p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p
    )
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        env={"PYTHONPATH": pythonpath, "FASTINIT_NUM_THREADS": "1"},
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


# ---------------------------------------------------------------------------
# import isolation


def test_import_fastinit_does_not_import_dask():
    code = (
        "import sys, fastinit\n"
        "print(sorted(m for m in ('dask', 'distributed', 'zarr') if m in sys.modules))\n"
        "import fastinit.dask\n"
        "print('dask' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["[]", "True"]


# ---------------------------------------------------------------------------
# values: distributed cluster and local schedulers


def test_workers_import_this_fastinit(client):
    files = client.run(lambda: __import__("fastinit").__file__)
    assert len(files) == 2
    assert set(files.values()) == {fastinit.__file__}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("case", sorted(CASES))
def test_cluster_equals_whole_tensor(client, case, dtype):
    init, shape, chunks = CASES[case]
    arr = fdask.from_initializer(init, shape, chunks=chunks, dtype=dtype)
    assert arr.chunks == chunks and arr.dtype == dtype
    assert same_bits(client.compute(arr).result(), init(shape, dtype))


@pytest.mark.parametrize("scheduler", ["threads", "synchronous"])
@pytest.mark.parametrize("dtype", DTYPES + [np.dtype(np.float16), np.dtype(np.float64)],
                         ids=lambda d: d.name)
def test_local_schedulers_equal_whole_tensor(scheduler, dtype):
    arrays = {name: fdask.from_initializer(init, shape, chunks=chunks, dtype=dtype)
              for name, (init, shape, chunks) in CASES.items()}
    (computed,) = dask.compute(arrays, scheduler=scheduler)
    for name, (init, shape, _) in CASES.items():
        assert same_bits(computed[name], init(shape, dtype)), name


def test_default_scheduler_auto_chunks_and_bfloat16_name():
    init = fi.HeUniform(seed=3)
    arr = fdask.from_initializer(init, (700, 300), dtype="bfloat16")
    assert arr.dtype == BF16
    assert same_bits(arr.compute(), init((700, 300), "bfloat16"))
    # "auto" with a small chunk-size limit gives many chunks; still exact.
    with dask.config.set({"array.chunk-size": "64KiB"}):
        arr = fdask.from_initializer(init, (700, 300))
    assert arr.npartitions > 4
    assert same_bits(arr.compute(), init((700, 300)))


def test_slicing_computes_only_what_is_needed():
    init = fi.RandomNormal(seed=8)
    arr = fdask.from_initializer(init, (1000, 1000), chunks=(100, 100))
    sub = arr[250:260, 990:]
    assert same_bits(sub.compute(), init((1000, 1000))[250:260, 990:])
    # dask culls the graph to the one chunk the slice touches
    culled = sub.__dask_graph__().cull(set(dask.core.flatten(sub.__dask_keys__())))
    assert [k for k in dict(culled) if k[0] == arr.name] == [(arr.name, 2, 9)]


@pytest.mark.parametrize("shape", [(), (0, 5), (5, 0), (1,)])
def test_edge_shapes(shape):
    init = fi.RandomUniform(seed=1)
    arr = fdask.from_initializer(init, shape)
    assert arr.shape == shape
    assert same_bits(arr.compute(), init(shape))


# ---------------------------------------------------------------------------
# deterministic initializers, whole-only ones, other callables


def _whole_keys(arr):
    return [k for k in dict(arr.dask) if "-whole-" in (k if isinstance(k, str) else k[0])]


def test_deterministic_initializers_shard(client):
    cases = [
        (fi.Identity(gain=3.0), (300, 200), ((64, 100, 136), (50, 150))),
        (fi.Constant(0.25), (10, 10), ((3, 7), (5, 5))),
    ]
    for init, shape, chunks in cases:
        arr = fdask.from_initializer(init, shape, chunks=chunks)
        assert not _whole_keys(arr)
        assert same_bits(client.compute(arr).result(), init(shape)), type(init).__name__
    # STFT on the threaded scheduler only: it imports SciPy, slow in fresh workers
    init, shape = fi.STFT(side="imag"), (64, 1, 33)
    arr = fdask.from_initializer(init, shape, chunks=((30, 34), (1,), (10, 23)))
    assert not _whole_keys(arr)
    assert same_bits(arr.compute(scheduler="threads"), init(shape))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_orthogonal_is_computed_once_whole(client, dtype):
    init = fi.Orthogonal(gain=1.5, seed=4)
    shape, chunks = (96, 40), ((30, 66), (17, 23))
    arr = fdask.from_initializer(init, shape, chunks=chunks, dtype=dtype)
    assert arr.chunks == chunks
    assert len(_whole_keys(arr)) == 1
    assert same_bits(client.compute(arr).result(), init(shape, dtype))
    assert same_bits(arr.compute(scheduler="threads"), init(shape, dtype))


def test_pretrained_file_is_read_by_region(tmp_path, client):
    from fastinit.io import Pretrained

    path = tmp_path / "w.npy"
    np.save(path, np.arange(60 * 7, dtype=np.float32).reshape(60, 7))
    init = Pretrained(str(path))
    arr = fdask.from_initializer(init, (60, 7), chunks=((25, 35), (3, 4)))
    assert same_bits(client.compute(arr).result(), init((60, 7), "float32"))


def _arange_region(shape, dtype=None, *, region=None):
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)[region]


def _arange_whole(shape, dtype=None):
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)


def test_plain_callables_travel_pickled():
    for func in (_arange_region, _arange_whole):
        arr = fdask.from_initializer(func, (13, 9), chunks=(5, 4), dtype="float64")
        assert same_bits(arr.compute(scheduler="threads"), _arange_whole((13, 9), "float64"))
    assert not _whole_keys(fdask.from_initializer(_arange_region, (4, 4), chunks=2))
    assert len(_whole_keys(fdask.from_initializer(_arange_whole, (4, 4), chunks=2))) == 1


def test_wrong_block_from_initializer_is_an_error():
    def broken(shape, dtype=None, *, region=None):
        return np.zeros((1, 1), dtype)

    arr = fdask.from_initializer(broken, (4, 4), chunks=2)
    with pytest.raises(RuntimeError,
                       match=r"broken returned \(1, 1\) float32 for a chunk that must "
                             r"be \(2, 2\) float32"):
        arr.compute(scheduler="synchronous")


def test_identifiers_are_resolved():
    arr = fdask.from_initializer("ones", (3, 4), chunks=2, dtype="float16")
    assert same_bits(arr.compute(), np.ones((3, 4), np.float16))
    arr = fdask.from_initializer({"class_name": "RandomUniform",
                                  "config": {"seed": 9, "stream": 2}}, (5, 6), chunks=3)
    assert same_bits(arr.compute(), fi.RandomUniform(seed=9, stream=2)((5, 6)))


# ---------------------------------------------------------------------------
# graph: tiny tasks, deterministic names, input checks


def _task_sizes(arr):
    return [len(cloudpickle.dumps(task)) for task in dict(arr.__dask_graph__()).values()]


def test_graph_holds_no_array_data():
    init = fi.GlorotUniform(seed=0)
    huge = fdask.from_initializer(init, (2**20, 2**20), chunks=(2**16, 2**16))  # 4 TiB
    small = fdask.from_initializer(init, (64, 64), chunks=(32, 32))
    assert huge.nbytes == 4 * 2**40
    assert sum(1 for k in dict(huge.dask) if k[0] == huge.name) == 256
    sizes = _task_sizes(huge)  # older Dask adds one small block_info task per chunk
    assert max(sizes) < 2048
    # a task's size does not grow with the tensor (only the digits of its slices)
    assert max(sizes) <= max(_task_sizes(small)) + 64


def test_names_are_deterministic():
    def name(init, shape=(10, 10), chunks=5, dtype=None):
        return fdask.from_initializer(init, shape, chunks=chunks, dtype=dtype).name

    base = name(fi.GlorotUniform(seed=1, stream=2))
    assert base.startswith("fastinit-glorotuniform-")
    assert name(fi.GlorotUniform(seed=1, stream=2)) == base
    others = {name(fi.GlorotUniform(seed=2, stream=2)), name(fi.GlorotUniform(seed=1, stream=3)),
              name(fi.GlorotNormal(seed=1, stream=2)), name(fi.GlorotUniform(seed=1, stream=2),
                                                            chunks=2),
              name(fi.GlorotUniform(seed=1, stream=2), dtype="bfloat16"),
              name(fi.GlorotUniform(seed=1, stream=2), shape=(10, 11))}
    assert base not in others and len(others) == 6


def test_bad_arguments():
    init = fi.RandomNormal(seed=0)
    with pytest.raises(TypeError, match="shape"):
        fdask.from_initializer(init, (2.0, 3))
    with pytest.raises(ValueError, match="shape"):
        fdask.from_initializer(init, (-1, 3))
    with pytest.raises(TypeError, match="dtype"):
        fdask.from_initializer(init, (2, 3), dtype="not-a-dtype")
    with pytest.raises(ValueError):
        fdask.from_initializer(init, (4,), chunks=((1, 2),))
    with pytest.raises(ValueError, match="no_such_init"):
        fdask.from_initializer("no_such_init", (2, 3))
    with pytest.raises(TypeError, match="got None"):
        fdask.from_initializer(None, (2, 3))
    # what the initializer refuses fails when the graph is built, not in each task
    with pytest.raises(TypeError, match="dtype"):
        fdask.from_initializer(init, (2, 3), dtype="int32")
    with pytest.raises(ValueError, match="float16"):
        fdask.from_initializer(fi.RandomUniform(-1e6, 1e6, seed=0), (2, 3), dtype="float16")
    with pytest.raises(ValueError, match="2D"):
        fdask.from_initializer(fi.Identity(), (2, 3, 4))
    with pytest.raises(ValueError, match="two-dimensional"):
        fdask.from_initializer(fi.Orthogonal(seed=0), (5,))
    with pytest.raises(TypeError, match="dtype"):
        fdask.from_initializer(fi.Orthogonal(seed=0), (5, 5), dtype="int32")


# ---------------------------------------------------------------------------
# init_params


SPEC = {
    "embed.weight": {"shape": [500, 64], "init": "normal"},
    "enc.0.kernel": {"shape": [64, 192], "init": "glorot_uniform", "dtype": "bfloat16"},
    "enc.0.bias": {"shape": [192], "init": "zeros"},
    "enc.0.conv": {"shape": [3, 3, 8, 16], "init": {"class_name": "HeNormal",
                                                    "config": {"seed": 99, "stream": 1}}},
    "enc.0.recurrent": {"shape": [32, 32], "init": "orthogonal"},
    "head/kernel": {"shape": [64, 10], "init": "truncated_normal", "dtype": "float64"},
}


def test_init_params_equals_eager(client):
    chunks = {"embed.weight": ((100, 400), (30, 34)), "enc.0.kernel": (20, 192)}
    lazy = fdask.init_params(SPEC, seed=2024, chunks=chunks, dtype="float16")
    eager, _ = fastinit.init_params(SPEC, seed=2024, dtype="float16")
    assert list(lazy) == list(SPEC)
    assert lazy["embed.weight"].chunks == chunks["embed.weight"]
    assert lazy["enc.0.kernel"].numblocks == (4, 1)
    (on_cluster,) = dask.compute(lazy, scheduler=client)
    for name in SPEC:
        assert same_bits(on_cluster[name], eager[name]), name
    # each tensor on its own stream: a spec without the others gives the same values
    alone = fdask.init_params({"head/kernel": SPEC["head/kernel"]}, seed=2024)
    assert same_bits(alone["head/kernel"].compute(), eager["head/kernel"])


def test_init_params_json_file_and_generator_seed(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    lazy = fdask.init_params(str(path), seed=np.random.default_rng(5), chunks=16)
    eager, _ = fastinit.init_params(SPEC, seed=np.random.default_rng(5))
    (computed,) = dask.compute(lazy)
    for name in SPEC:
        assert same_bits(computed[name], eager[name]), name


def test_init_params_errors():
    with pytest.raises(ValueError, match="'nope'"):
        fdask.init_params(SPEC, seed=0, chunks={"nope": 4})
    with pytest.raises(ValueError, match="bad"):
        fdask.init_params({"bad": {"shape": [2], "init": "no_such_init"}}, seed=0)


# ---------------------------------------------------------------------------
# zarr


def test_to_zarr_round_trip(tmp_path, client):
    zarr = require("zarr")
    lazy = fdask.init_params(SPEC, seed=7, chunks={"embed.weight": ((100, 400), (30, 34))})
    eager, _ = fastinit.init_params(SPEC, seed=7)
    path = str(tmp_path / "model.zarr")
    with dask.config.set(scheduler=client):
        group = fdask.to_zarr(lazy, path)
    assert group["embed.weight"].chunks == (400, 34)  # irregular chunks made regular
    assert group["enc.0.kernel"].dtype == np.uint16  # bfloat16 bits
    back = fdask.from_zarr(path)
    assert list(back) == list(SPEC)
    for name in SPEC:
        assert same_bits(back[name].compute(), eager[name]), name

    # an existing group is never replaced without overwrite=True: zarr 3 raises
    # FileExistsError, zarr 2 its ContainsGroupError (a ValueError)
    zarr3 = hasattr(zarr.Group, "create_array")
    with pytest.raises(FileExistsError if zarr3 else ValueError):
        fdask.to_zarr(lazy, path)
    other = fdask.init_params(SPEC, seed=8)
    no_compression = ({"compressors": None} if hasattr(zarr.Group, "create_array")
                      else {"compressor": None})  # zarr 3 / zarr 2
    written = fdask.to_zarr(other, path, overwrite=True, compute=False, **no_compression)
    dask.compute(written, scheduler="threads")
    back = fdask.from_zarr(path)
    assert not same_bits(back["embed.weight"].compute(), eager["embed.weight"])
    assert same_bits(back["embed.weight"].compute(), other["embed.weight"].compute())


def test_from_zarr_needs_fastinit_group(tmp_path):
    zarr = require("zarr")
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    with pytest.raises(ValueError, match="not written by fastinit.dask.to_zarr"):
        fdask.from_zarr(str(tmp_path / "plain.zarr"))
    with pytest.raises(TypeError, match="dask array"):
        fdask.to_zarr({"w": np.zeros(3)}, str(tmp_path / "x.zarr"))


def test_unseeded_initializer_chunks_use_the_seed_it_drew():
    # get_config() keeps seed=None (as Keras); the chunks still form one tensor
    init = fi.GlorotUniform()
    assert init.get_config()["seed"] is None
    arr = fdask.from_initializer(init, (40, 30), chunks=((13, 27), (11, 19)))
    assert same_bits(arr.compute(scheduler="threads"), init((40, 30)))
