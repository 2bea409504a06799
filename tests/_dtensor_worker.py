"""The rank program of tests/test_dtensor.py (spawned processes, gloo on localhost).

Each rank runs every case, compares what it can see and writes its records,
``{"case": name, "key": group, "ok": bool, "detail": str}``, as JSON lines into
``outdir/rank<r>.jsonl``; the test module asserts on them.  Kept out of the
test module so the children import no pytest plugin state.
"""
from __future__ import annotations

import datetime
import json
import logging
import math
import os
import traceback
import warnings

CASES_SHAPES = ((7, 5), (3, 9), (4, 3, 6))


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def _functions(fi, math_):
    """(name, f(tensor, generator)) of the init functions under test."""
    return (
        ("normal_", lambda t, g: fi.normal_(t, 0.5, 2.0, generator=g)),
        ("uniform_", lambda t, g: fi.uniform_(t, -1.0, 3.0, generator=g)),
        ("trunc_normal_", lambda t, g: fi.trunc_normal_(t, 0.0, 0.02, -0.03, 0.04, generator=g)),
        ("kaiming_uniform_", lambda t, g: fi.kaiming_uniform_(t, a=math_.sqrt(5), generator=g)),
        ("kaiming_normal_", lambda t, g: fi.kaiming_normal_(t, mode="fan_out", generator=g)),
        ("xavier_uniform_", lambda t, g: fi.xavier_uniform_(t, gain=1.5, generator=g)),
        ("xavier_normal_", lambda t, g: fi.xavier_normal_(t, generator=g)),
        ("orthogonal_", lambda t, g: fi.orthogonal_(t, gain=2.0, generator=g)),
        ("sparse_", lambda t, g: fi.sparse_(t, 0.4, generator=g) if t.dim() == 2 else None),
        ("variance_scaling_", lambda t, g: fi.variance_scaling_(
            t, 2.0, "fan_avg", "truncated_normal", generator=g)),
    )


def _placements(ndim_mesh):
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor.placement_types import _StridedShard

    if ndim_mesh == 1:
        return {
            "S0": (Shard(0),), "S1": (Shard(1),), "R": (Replicate(),),
            "SS0": (_StridedShard(0, split_factor=2),),
        }
    return {
        "S0,S1": (Shard(0), Shard(1)), "S0,S0": (Shard(0), Shard(0)),
        "R,S1": (Replicate(), Shard(1)), "S1,R": (Shard(1), Replicate()),
        "SS0,S0": (_StridedShard(0, split_factor=2), Shard(0)),
        "SS1,S1": (_StridedShard(1, split_factor=2), Shard(1)),
    }


def _record(out, key, case, ok, detail=""):
    out.append({"key": key, "case": case, "ok": bool(ok), "detail": detail})


def _init_cases(out, mesh, mesh_name, rank):
    import torch
    from torch.distributed.tensor import empty as dempty

    import fastinit.torch as fi

    for pname, placements in _placements(mesh.ndim).items():
        for shape in CASES_SHAPES:
            for dtype in (torch.float32, torch.bfloat16):
                for fname, fn in _functions(fi, math):
                    if dtype is torch.bfloat16 and fname not in ("normal_", "trunc_normal_"):
                        continue
                    if fname == "sparse_" and len(shape) != 2:
                        continue
                    case = f"{mesh_name}/{pname}/{shape}/{dtype}/{fname}"
                    key = f"{mesh_name}/{fname}"
                    try:
                        dt = dempty(shape, device_mesh=mesh, placements=placements, dtype=dtype)
                        dt._local_tensor.fill_(float("nan"))  # nothing may stay unwritten
                        fn(dt, torch.Generator().manual_seed(1234))
                        ref = fn(torch.empty(shape, dtype=dtype),
                                 torch.Generator().manual_seed(1234))
                        full = dt.full_tensor()
                        ok = torch.equal(full.view(torch.int16 if dtype is torch.bfloat16
                                                   else torch.int32),
                                         ref.view(torch.int16 if dtype is torch.bfloat16
                                                  else torch.int32))
                        _record(out, key, case, ok,
                                "" if ok else f"local {tuple(dt._local_tensor.shape)}")
                    except Exception:  # noqa: BLE001 - recorded, reported by the test
                        _record(out, key, case, False, traceback.format_exc())


def _patch_case(out, mesh, mesh_name):
    """torch.nn.init under patch() reaches a DTensor; the seed from torch's (synced) RNG."""
    import torch
    from torch.distributed.tensor import Shard
    from torch.distributed.tensor import empty as dempty

    import fastinit.torch as fi

    dt = dempty((6, 10), device_mesh=mesh, placements=(Shard(1),) * mesh.ndim)
    torch.manual_seed(77)  # the same on every rank: every rank draws the same seed
    with fi.patch():
        torch.nn.init.kaiming_normal_(dt)
    torch.manual_seed(77)
    ref = fi.kaiming_normal_(torch.empty(6, 10))
    _record(out, f"{mesh_name}/patch", f"{mesh_name}/patch", torch.equal(dt.full_tensor(), ref))
    # patch(seed=): seeds from the block's seed and the call order, no RNG state at all
    dt = dempty((5, 12), device_mesh=mesh, placements=(Shard(0),) * mesh.ndim)
    with fi.patch(seed=99):
        torch.nn.init.trunc_normal_(dt, std=0.5)
    with fi.patch(seed=99):
        ref = torch.nn.init.trunc_normal_(torch.empty(5, 12), std=0.5)
    _record(out, f"{mesh_name}/patch", f"{mesh_name}/patch-seed",
            torch.equal(dt.full_tensor(), ref))


def _fsdp_case(out, mesh, mesh_name):
    """FSDP2 fully_shard on the meta device, to_empty, reset_parameters == unsharded.

    On a 2-D mesh ("dp", "tp"): tensor parallelism on "tp" first, then FSDP2
    on "dp" -- the layout with ``_StridedShard`` placements.
    """
    import torch
    from torch import nn
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    import fastinit.torch as fi

    def build():
        return nn.Sequential(nn.Linear(7, 5), nn.LayerNorm(5), nn.Embedding(3, 5),
                             nn.Linear(5, 9, bias=False))

    with torch.device("meta"):
        model = build()
    if mesh.ndim == 2:
        parallelize_module(model, mesh["tp"], {"0": ColwiseParallel(), "3": RowwiseParallel()})
        fully_shard(model, mesh=mesh["dp"])
    else:
        fully_shard(model, mesh=mesh)
    model.to_empty(device="cpu")
    fi.reset_parameters(model, seed=11)
    ref = fi.reset_parameters(build(), seed=11)
    ref_params = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        ok = torch.equal(p.full_tensor(), ref_params[name].detach())
        _record(out, f"{mesh_name}/fsdp-reset", f"{mesh_name}/fsdp-reset/{name}", ok)


def _fsdp_materialize_case(out, mesh, mesh_name):
    """FSDP2 fully_shard while on meta, then materialize == materialize of the unsharded model."""
    import torch
    from torch import nn
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import ColwiseParallel, parallelize_module

    import fastinit.torch as fi

    def build():
        return nn.Sequential(nn.Linear(7, 5), nn.LayerNorm(5), nn.Embedding(3, 5, padding_idx=1),
                             nn.Conv1d(5, 6, 3))

    with torch.device("meta"):
        model = build()
    if mesh.ndim == 2:
        parallelize_module(model, mesh["tp"], {"0": ColwiseParallel()})
        fully_shard(model, mesh=mesh["dp"])
    else:
        fully_shard(model, mesh=mesh)
    fi.materialize(model, seed=21)
    with torch.device("meta"):
        plain = build()
    ref = dict(fi.materialize(plain, seed=21).named_parameters())
    for name, p in model.named_parameters():
        ok = torch.equal(p.full_tensor(), ref[name].detach())
        _record(out, f"{mesh_name}/fsdp-materialize", f"{mesh_name}/fsdp-materialize/{name}", ok)


def _memory_case(out, mesh, mesh_name):
    """A tensor larger than any one rank's budget: peak RSS grows by the shard only."""
    import torch
    from torch.distributed.tensor import Shard
    from torch.distributed.tensor import empty as dempty

    import fastinit.torch as fi

    n = mesh.size()
    shape = (1024, 8192 * n)  # 32 MiB of float32 per rank, n times that globally
    for pname, placement in (("S0", Shard(0)), ("S1", Shard(1))):
        for fname in ("normal_", "trunc_normal_", "kaiming_uniform_"):
            dt = dempty(shape, device_mesh=mesh, placements=(placement,))
            local_bytes = dt._local_tensor.numel() * 4
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
            before = _status_kb("VmRSS") * 1024
            getattr(fi, fname)(dt, generator=torch.Generator().manual_seed(5))
            peak = _status_kb("VmHWM") * 1024
            grown = peak - before
            ok = local_bytes <= grown + (4 << 20) and grown <= local_bytes + (16 << 20)
            _record(out, f"{mesh_name}/memory", f"{mesh_name}/memory/{pname}/{fname}", ok,
                    f"grew {grown / 2**20:.1f} MiB; shard {local_bytes / 2**20:.1f} MiB, "
                    f"global {local_bytes * n / 2**20:.1f} MiB")
            del dt


def rank_main(rank, world, port, outdir):
    warnings.filterwarnings("ignore")
    logging.getLogger("torch.distributed").setLevel(logging.ERROR)
    os.environ.setdefault("FASTINIT_NUM_THREADS", "1")
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import DeviceMesh, init_device_mesh

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=120))
    out = []
    try:
        meshes = []
        for k in range(1, world + 1):  # 1-D meshes over the first k ranks
            meshes.append((str(k), DeviceMesh("cpu", list(range(k)))))
        if world == 4:
            meshes.append(("2x2", init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))))
        for name, mesh in meshes:
            if mesh.get_coordinate() is None:
                continue  # not in this mesh
            _init_cases(out, mesh, name, rank)
            _patch_case(out, mesh, name)
            _fsdp_case(out, mesh, name)
            try:
                _fsdp_materialize_case(out, mesh, name)
            except Exception:  # noqa: BLE001 - recorded, reported by the test
                _record(out, f"{name}/fsdp-materialize", f"{name}/fsdp-materialize", False,
                        traceback.format_exc())
        _memory_case(out, meshes[world - 1][1], str(world))
    except Exception:  # noqa: BLE001 - recorded, reported by the test
        _record(out, "fatal", "fatal", False, traceback.format_exc())
    finally:
        with open(os.path.join(outdir, f"rank{rank}.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in out)
        dist.destroy_process_group()
