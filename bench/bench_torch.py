"""Model construction time: torch's default init vs fastinit.torch.

A stack of ``nn.Linear(width, width)`` layers (default about 1B parameters:
60 x 4096 x 4096, float32, 4 GB) is built three ways, in one process:

* ``torch-default``: plain ``nn.Sequential(*[nn.Linear(...)])``: torch's
  ``kaiming_uniform_`` / ``uniform_`` on its global generator;
* ``fastinit-patch``: the same code inside ``fastinit.torch.patch()``;
* ``fastinit-meta-reset``: built on the meta device (no memory, no init), then
  ``to_empty(device="cpu")`` and ``fastinit.torch.reset_parameters`` (each
  parameter on its own named stream, small ones in a thread pool).

Every variant allocates fresh memory, so each pays the first-touch page faults
of its 4 GB (fastinit's threads take those in parallel, torch's serial fill
does not); that is the honest figure for model construction.

Script mode (the figure to report)::

    PYTHONPATH=src python bench/bench_torch.py                  # ~1B parameters
    PYTHONPATH=src python bench/bench_torch.py --params 2.5e8 --repeat 3 --json out.json

pytest-benchmark mode (a smaller stack by default, ``FASTINIT_BENCH_PARAMS`` to change)::

    PYTHONPATH=src python -m pytest bench/bench_torch.py --benchmark-only \\
        --benchmark-group-by=group

fastinit uses ``fastinit.get_num_threads()`` threads (``--threads`` /
``FASTINIT_NUM_THREADS``); torch uses ``torch.get_num_threads()``. No timing is
asserted anywhere.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time

import torch
from torch import nn

import fastinit
import fastinit.torch as fit


def layer_count(params: float, width: int) -> int:
    """Layers of Linear(width, width) (weights and biases) closest to ``params``."""
    return max(1, round(params / (width * width + width)))


def build_torch(layers: int, width: int) -> nn.Module:
    return nn.Sequential(*[nn.Linear(width, width) for _ in range(layers)])


def build_patched(layers: int, width: int) -> nn.Module:
    with fit.patch():
        return build_torch(layers, width)


def build_meta_reset(layers: int, width: int, seed: int = 0) -> nn.Module:
    with torch.device("meta"):
        model = build_torch(layers, width)
    return fit.reset_parameters(model.to_empty(device="cpu"), seed=seed)


VARIANTS = {
    "torch-default": build_torch,
    "fastinit-patch": build_patched,
    "fastinit-meta-reset": build_meta_reset,
}


def _check(model: nn.Module, width: int) -> None:
    """A cheap sanity check that the model holds nn.Linear's default init."""
    w = model[0].weight.detach()
    bound = 1 / math.sqrt(width)
    if not (float(w.abs().max()) <= bound and float(w[:8].std()) > 0.5 * bound / math.sqrt(3)):
        raise AssertionError("the first layer does not hold U(-1/sqrt(width), 1/sqrt(width))")


def time_variant(name: str, layers: int, width: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process, all threads) of one construction."""
    gc.collect()
    torch.manual_seed(0)
    cpu, start = time.process_time(), time.perf_counter()
    model = VARIANTS[name](layers, width)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    _check(model, width)
    del model
    gc.collect()
    return seconds, cpu


def run(params: float, width: int, repeat: int) -> dict:
    layers = layer_count(params, width)
    total = layers * (width * width + width)
    results = {name: [] for name in VARIANTS}
    cpu = {name: [] for name in VARIANTS}
    # interleave the variants so machine noise hits them alike
    for _ in range(repeat):
        for name in VARIANTS:
            wall, used = time_variant(name, layers, width)
            results[name].append(wall)
            cpu[name].append(used)
    best = {name: min(times) for name, times in results.items()}
    return {
        "parameters": total,
        "layers": layers,
        "width": width,
        "dtype": "float32",
        "repeat": repeat,
        "fastinit_threads": fastinit.get_num_threads(),
        "torch_threads": torch.get_num_threads(),
        "simd": fastinit.simd(),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "torch": torch.__version__,
        "seconds": results,
        "cpu_seconds": cpu,
        "best_seconds": best,
        "speedup": {name: best["torch-default"] / best[name] for name in VARIANTS},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=float, default=1e9,
                        help="number of parameters of the stack (default 1e9)")
    parser.add_argument("--width", type=int, default=4096, help="Linear width (default 4096)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per variant; the best is reported (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="fastinit threads")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.threads is not None:
        fastinit.set_num_threads(args.threads)
    report = run(args.params, args.width, args.repeat)
    print(f"{report['layers']} x nn.Linear({args.width}, {args.width}) = "
          f"{report['parameters'] / 1e9:.3f}B float32 parameters; fastinit "
          f"{report['fastinit_threads']} threads ({report['simd']}), torch "
          f"{report['torch_threads']} threads, {report['cpus']} CPUs, best of {args.repeat}")
    print(f"{'variant':<22}{'seconds':>10}{'Mparams/s':>12}{'speed-up':>10}{'CPU s':>9}")
    for name, seconds in report["best_seconds"].items():
        print(f"{name:<22}{seconds:>10.2f}{report['parameters'] / seconds / 1e6:>12.0f}"
              f"{report['speedup'][name]:>9.2f}x{min(report['cpu_seconds'][name]):>9.2f}")
    print("seconds: wall clock, best run; CPU s: process CPU time (all threads), best run")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


# ---------------------------------------------------------------------------
# pytest-benchmark

if "pytest" in sys.modules:
    import pytest

    pytest.importorskip("pytest_benchmark")
    BENCH_PARAMS = float(os.environ.get("FASTINIT_BENCH_PARAMS", "1.3e8"))
    BENCH_WIDTH = 4096

    @pytest.mark.parametrize("name", list(VARIANTS))
    def test_construct(benchmark, name):
        benchmark.group = f"construct-{BENCH_PARAMS:.2g}-params"
        layers = layer_count(BENCH_PARAMS, BENCH_WIDTH)

        def setup():
            gc.collect()
            torch.manual_seed(0)
            return (layers, BENCH_WIDTH), {}

        model = benchmark.pedantic(VARIANTS[name], setup=setup, rounds=3, iterations=1)
        _check(model, BENCH_WIDTH)


if __name__ == "__main__":
    sys.exit(main())
