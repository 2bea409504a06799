"""``fastinit init --from-hf`` of a Llama-3-8B-shaped model: write rate and peak memory.

    python bench/bench_hf_checkpoint.py --dir /work/tmp-bench [--layers 32] [--dd-gb 4]

Measured in one run, on one disk:

* the disk's durable sequential write rate: ``dd if=/dev/zero of=DIR/dd.bin
  bs=16M count=N conv=fdatasync`` of as many bytes as the checkpoint (the
  yardstick; a smaller dd mostly measures the page cache), once before and once
  after the write, the faster counting (a virtual disk may still be flushing
  one run while the next starts);
* ``fastinit init --from-hf`` of the config (bfloat16, default 5GB shards), run
  in this process through the same code as the command line: bytes of the
  shard files / wall time, including the final ``fsync`` of every shard;
* peak RSS during the write (``VmHWM`` after resetting it) minus the RSS after
  importing torch and transformers and building the meta model.

Targets: write rate >= 80% of the ``dd`` rate; peak RSS <= 300 MB above that
baseline.  ``--layers`` shrinks the model (same widths) when disk or time is
short; the files are deleted at the end.  Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def dd_rate(directory, gigabytes):
    """Durable sequential write rate of ``directory``'s disk in bytes/s (dd, fdatasync)."""
    path = os.path.join(directory, "dd.bin")
    count = max(1, int(gigabytes * 1e9 / (16 << 20)))
    try:
        res = subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=16M", f"count={count}",
                              "conv=fdatasync"], capture_output=True, text=True, check=True)
    finally:
        if os.path.exists(path):
            os.unlink(path)
    m = re.search(r"(\d+) bytes .* copied, ([\d.]+) s", res.stderr)
    return int(m.group(1)) / float(m.group(2))


def llama3_8b_config(layers):
    return {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"],
        "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
        "num_hidden_layers": layers, "num_attention_heads": 32, "num_key_value_heads": 8,
        "max_position_embeddings": 8192, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "bos_token_id": 128000, "eos_token_id": 128001,
        "dtype": "bfloat16",
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", default="/work/tmp-bench")
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--dd-gb", type=float, default=None,
                   help="size of the dd yardstick (default: the checkpoint's size, so both "
                        "outrun the page cache alike)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    os.makedirs(args.dir, exist_ok=True)
    out = os.path.join(args.dir, "llama3-8b") + "/"
    config_path = os.path.join(args.dir, "config.json")
    with open(config_path, "w") as f:
        json.dump(llama3_8b_config(args.layers), f)
    try:
        tests = os.path.join(os.path.dirname(__file__), "..", "tests")
        sys.path.insert(0, tests)  # torchvision wheels built for another torch
        import _torchvision_shim

        _torchvision_shim.install()
    except ImportError:
        pass
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from fastinit._hf_checkpoint import write_checkpoint
    from fastinit._hf_model import HFSource

    # the yardstick is measured before and after the write and the faster of the
    # two is used: a virtual disk may still be flushing one run while the next starts
    dd_before = dd_rate(args.dir, args.dd_gb or 16.06 * args.layers / 32)  # about the checkpoint
    source = HFSource(config_path, seed=args.seed, dtype="bfloat16")
    source.tensors()  # builds the meta model
    baseline = _status_kb("VmRSS") * 1024
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # peak RSS := current RSS
    start = time.perf_counter()
    result = write_checkpoint(out, source, max_shard_size="5GB",
                              extra_files={"config.json": source.config_dict()})
    elapsed = time.perf_counter() - start
    peak = _status_kb("VmHWM") * 1024
    written = result["bytes"]
    shutil.rmtree(out)
    dd_after = dd_rate(args.dir, args.dd_gb or written / 1e9)
    yardstick = max(dd_before, dd_after)
    os.unlink(config_path)
    report = {
        "layers": args.layers, "bytes": written, "seconds": round(elapsed, 2),
        "write_rate_MBps": round(written / elapsed / 1e6, 1),
        "dd_fdatasync_MBps": round(yardstick / 1e6, 1),
        "dd_before_after_MBps": [round(dd_before / 1e6, 1), round(dd_after / 1e6, 1)],
        "ratio_to_dd": round(written / elapsed / yardstick, 3),
        "rss_baseline_MB": round(baseline / 1e6, 1),
        "peak_rss_above_baseline_MB": round((peak - baseline) / 1e6, 1),
        "files": len(result["files"]),
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
