"""fastinit.torch on DTensors: shard-then-init equals init-then-shard, bit for bit.

Four processes are spawned once (gloo on localhost, CPU meshes); every rank
runs the cases of tests/_dtensor_worker.py on 1-D meshes of 1, 2, 3 and 4
ranks and on a 2x2 mesh: ``Shard(0)``, ``Shard(1)``, ``Replicate()``,
``_StridedShard`` (FSDP2 with TP), uneven and empty shards, 2-D and 3-D
tensors, each init function; ``full_tensor()`` must equal the single-process
result.  Also: ``patch()`` on a DTensor, FSDP2 ``fully_shard`` on meta plus
``reset_parameters`` equal to the unsharded model, and the peak memory of a
rank filling its shard of a tensor larger than the shard.
"""
from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _deps import require

torch = require("torch")
dist = require("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():  # pragma: no cover
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

import fastinit.torch as fi  # noqa: E402 - after require("torch")
from fastinit.torch import _dtensor as _torch_dtensor  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import _dtensor_worker  # noqa: E402 - from this directory

WORLD = 4
MESHES = ("1", "2", "3", "4", "2x2")
FUNCTIONS = ("normal_", "uniform_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_",
             "xavier_uniform_", "xavier_normal_", "orthogonal_", "sparse_", "variance_scaling_")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    import torch.multiprocessing as mp

    outdir = tmp_path_factory.mktemp("dtensor")
    ctx = mp.start_processes(_dtensor_worker.rank_main, args=(WORLD, _free_port(), str(outdir)),
                             nprocs=WORLD, join=False, start_method="spawn")
    deadline = time.monotonic() + 300
    try:
        while not ctx.join(timeout=5):
            if time.monotonic() > deadline:
                raise TimeoutError("the DTensor ranks did not finish within 300 s")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
    rows = []
    for rank in range(WORLD):
        with open(outdir / f"rank{rank}.jsonl") as f:
            rows += [dict(json.loads(line), rank=rank) for line in f]
    fatal = [r for r in rows if r["key"] == "fatal"]
    assert not fatal, fatal[0]["detail"]
    return rows


def _check(records, key, min_rows):
    rows = [r for r in records if r["key"] == key]
    assert len(rows) >= min_rows, (key, len(rows))
    bad = [f"rank {r['rank']} {r['case']}: {r['detail']}" for r in rows if not r["ok"]]
    assert not bad, "\n".join(bad[:10])


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("mesh", MESHES)
def test_full_tensor_equals_single_process(records, mesh, function):
    ranks = 4 if mesh == "2x2" else int(mesh)
    placements = 6 if mesh == "2x2" else 4
    shapes = 1 if function == "sparse_" else 3
    dtypes = 2 if function in ("normal_", "trunc_normal_") else 1
    _check(records, f"{mesh}/{function}", ranks * placements * shapes * dtypes)


@pytest.mark.parametrize("mesh", MESHES)
def test_patch_routes_dtensor(records, mesh):
    _check(records, f"{mesh}/patch", 2 * (4 if mesh == "2x2" else int(mesh)))


@pytest.mark.parametrize("mesh", MESHES)
def test_fsdp2_on_meta_reset_parameters_equals_unsharded(records, mesh):
    _check(records, f"{mesh}/fsdp-reset", 6 * (4 if mesh == "2x2" else int(mesh)))


@pytest.mark.parametrize("mesh", MESHES)
def test_fsdp2_on_meta_materialize_equals_unsharded(records, mesh):
    _check(records, f"{mesh}/fsdp-materialize", 7 * (4 if mesh == "2x2" else int(mesh)))


def test_rank_peak_memory_is_its_shard(records):
    _check(records, f"{WORLD}/memory", WORLD * 6)


# --- single-process pieces: the shard geometry itself ----------------------


def test_runs_of_a_strided_index():
    assert _torch_dtensor.index_runs(np.array([0, 1, 2, 5, 6, 9])) == [
        (0, 0, 3), (3, 5, 2), (5, 9, 1)]
    assert _torch_dtensor.index_runs(np.array([], np.int64)) == []


def test_shard_view_fills_its_region():
    import fastinit

    full = fastinit.fill_normal(np.empty((6, 7, 5), np.float32), seed=3, stream=9)
    index = [np.array([1, 2, 4]), np.arange(7), np.array([0, 1, 3, 4])]
    local = np.full((3, 7, 4), np.nan, np.float32)
    view = _torch_dtensor.ShardView(local, (6, 7, 5), index)
    fi.fill_normal(view, seed=3, stream=9)
    np.testing.assert_array_equal(local, full[np.ix_(*index)])
    view[...] = np.arange(6 * 7 * 5, dtype=np.float32).reshape(6, 7, 5)
    np.testing.assert_array_equal(local, np.arange(210, dtype=np.float32).reshape(6, 7, 5)[
        np.ix_(*index)])
    view[4] = -1.0
    assert (local[2] == -1).all() and not (local[:2] == -1).any()
    view[np.array([1, 3]), 0, np.array([0, 0])] = -2.0
    assert local[0, 0, 0] == -2 and (local == -2).sum() == 1


def test_plain_tensors_are_not_dtensors():
    assert not _torch_dtensor.is_dtensor(torch.empty(2))
    assert not _torch_dtensor.is_dtensor(torch.nn.Parameter(torch.empty(2)))
