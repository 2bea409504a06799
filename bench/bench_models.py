"""Building a transformers Llama (about 1B parameters): torch vs fastinit.

One process, one model at a time (each float32 model is about 4 GB; it is
deleted and garbage-collected before the next row), rows interleaved when
``--repeat`` > 1:

* ``plain``: ``LlamaForCausalLM(config)`` -- torch's default init of every
  layer, then transformers' ``_init_weights`` (N(0, 0.02) through
  ``transformers.initialization``) on torch's RNG;
* ``patch``: the same inside ``fastinit.torch.patch(seed=0)`` -- torch's
  and transformers' init calls go to fastinit, values independent of
  ``torch.manual_seed``;
* ``meta+materialize``: built under ``torch.device("meta")`` (no memory, no
  init), then ``fastinit.torch.materialize(model, seed=0)`` (skipped, with a
  message, where this fastinit has no ``materialize``).

Then the cost of entering plus leaving ``patch()`` with transformers and timm
imported: the first block (which scans the modules imported so far once), and
the median of ``--enter-repeat`` (default 1000) blocks, unseeded and seeded.

Default config (``--hidden 2048 --layers 16 --vocab 32000``, intermediate
5632, 16 heads, untied head): 953M parameters, 3.8 GB float32.  Every row
allocates fresh memory, so each pays its page faults (fastinit's threads take
them in parallel); that is the honest figure for model construction.
fastinit uses ``fastinit.get_num_threads()`` threads, torch
``torch.get_num_threads()``; ``--threads N`` sets both.  No timing is
asserted.

    PYTHONPATH=src python bench/bench_models.py
    PYTHONPATH=src python bench/bench_models.py --layers 2 --vocab 8000   # a quick run
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time

import torch

import fastinit
import fastinit.torch as fit

HERE = os.path.dirname(os.path.abspath(__file__))


def _import_libraries():
    """transformers and timm (through the tests' torchvision shim, where torchvision is broken)."""
    tests = os.path.join(os.path.dirname(HERE), "tests")
    if os.path.exists(os.path.join(tests, "_torchvision_shim.py")):
        sys.path.insert(0, tests)
        import _torchvision_shim
        _torchvision_shim.install()
    import timm  # noqa: F401
    import transformers
    return transformers


def llama_config(transformers, hidden, layers, vocab):
    return transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden * 11 // 4,
        num_hidden_layers=layers, num_attention_heads=16, num_key_value_heads=16,
        max_position_embeddings=2048, tie_word_embeddings=False)


def build_plain(transformers, config):
    return transformers.LlamaForCausalLM(config)


def build_patch(transformers, config):
    with fit.patch(seed=0):
        return transformers.LlamaForCausalLM(config)


def build_materialize(transformers, config):
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)
    return fit.materialize(model, seed=0)


ROWS = {"plain": build_plain, "patch": build_patch, "meta+materialize": build_materialize}


def _check(model):
    """The model holds its N(0, 0.02) projections and finite weights."""
    w = model.model.layers[0].self_attn.q_proj.weight.detach()
    std = float(w[:64].std())
    if not 0.015 < std < 0.025:
        raise AssertionError(f"q_proj std {std}, not the model's 0.02")


def time_row(name, transformers, config):
    gc.collect()
    torch.manual_seed(0)
    cpu, start = time.process_time(), time.perf_counter()
    model = ROWS[name](transformers, config)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    _check(model)
    del model
    gc.collect()
    return seconds, cpu


def enter_exit_cost(repeat):
    """(first block, median unseeded, median seeded) seconds of entering plus leaving patch()."""
    first_start = time.perf_counter()
    with fit.patch():
        pass
    first = time.perf_counter() - first_start
    out = [first]
    for seed in (None, 1):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            with fit.patch(seed=seed):
                pass
            times.append(time.perf_counter() - start)
        out += [statistics.median(times), min(times), max(times)]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; best reported")
    parser.add_argument("--enter-repeat", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for fastinit and torch (default: their own)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.threads is not None:
        fastinit.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    import_start = time.perf_counter()
    transformers = _import_libraries()
    import_seconds = time.perf_counter() - import_start
    config = llama_config(transformers, args.hidden, args.layers, args.vocab)
    with torch.device("meta"):
        params = sum(p.numel() for p in transformers.LlamaForCausalLM(config).parameters())

    # the patch() cost first: transformers and timm imported, nothing built yet
    first, med, lo, hi, med_s, lo_s, hi_s = enter_exit_cost(args.enter_repeat)

    rows = [name for name in ROWS if name != "meta+materialize" or hasattr(fit, "materialize")]
    seconds = {name: [] for name in rows}
    cpu = {name: [] for name in rows}
    for _ in range(args.repeat):
        for name in rows:
            wall, used = time_row(name, transformers, config)
            seconds[name].append(wall)
            cpu[name].append(used)
    best = {name: min(t) for name, t in seconds.items()}
    report = {
        "parameters": params, "hidden": args.hidden, "layers": args.layers,
        "vocab": args.vocab, "dtype": "float32", "repeat": args.repeat,
        "fastinit_threads": fastinit.get_num_threads(), "torch_threads": torch.get_num_threads(),
        "simd": fastinit.simd(), "torch": torch.__version__,
        "transformers": transformers.__version__, "modules_imported": len(sys.modules),
        "import_seconds": import_seconds, "seconds": seconds, "cpu_seconds": cpu,
        "best_seconds": best, "speedup": {n: best["plain"] / best[n] for n in rows},
        "patch_first_block_seconds": first,
        "patch_enter_exit_seconds": {"median": med, "min": lo, "max": hi},
        "patch_seeded_enter_exit_seconds": {"median": med_s, "min": lo_s, "max": hi_s},
    }
    print(f"LlamaForCausalLM hidden {args.hidden}, {args.layers} layers, vocab {args.vocab}: "
          f"{params / 1e9:.3f}B float32 parameters; fastinit {report['fastinit_threads']} "
          f"threads ({report['simd']}), torch {report['torch_threads']} threads; "
          f"best of {args.repeat}")
    print(f"{'row':<20}{'seconds':>10}{'speed-up':>10}{'CPU s':>9}")
    for name in rows:
        print(f"{name:<20}{best[name]:>10.2f}{report['speedup'][name]:>9.2f}x"
              f"{min(cpu[name]):>9.2f}")
    if "meta+materialize" not in rows:
        print("meta+materialize: skipped (this fastinit has no fastinit.torch.materialize)")
    print(f"patch() enter+exit with transformers and timm imported ({len(sys.modules)} "
          f"modules): first block {first * 1e3:.1f} ms (one scan of the imported modules); "
          f"then median of {args.enter_repeat}: {med * 1e6:.0f} us unseeded "
          f"(min {lo * 1e6:.0f}, max {hi * 1e6:.0f}), {med_s * 1e6:.0f} us with seed= "
          f"(min {lo_s * 1e6:.0f}, max {hi_s * 1e6:.0f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
