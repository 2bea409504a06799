"""Per-call overhead of small fills: the Python layers above the kernels.

Run with::

    PYTHONPATH=src python bench/bench_overhead.py

For each call, 5 rounds of best-of-3 timings of 20,000 calls; prints the
median, min and max in microseconds. Compare two trees by running this script
against each in the same session, interleaved; the machine's noise is the
spread printed. No timing is asserted anywhere.
"""
import statistics
import timeit

import numpy as np

import fastinit


def cases():
    x = np.empty(1000, np.float32)
    normal = fastinit.RandomNormal(seed=1)
    he = fastinit.HeNormal(seed=1)
    found = {
        "fill_uniform(1k f32)": lambda: fastinit.fill_uniform(x, seed=1),
        "RandomNormal()((1000,))": lambda: normal((1000,)),
        "HeNormal()((32, 32), region rows 0-16)": lambda: he((32, 32), region=(slice(0, 16),)),
    }
    try:
        import torch

        import fastinit.torch as fit
    except ImportError:
        return found
    t = torch.empty(1000)
    found["fastinit.torch.normal_(1k)"] = lambda: fit.normal_(t)
    return found


def main(rounds=5, number=20_000):
    for name, call in cases().items():
        runs = [min(timeit.repeat(call, number=number, repeat=3)) / number * 1e6
                for _ in range(rounds)]
        print(f"{name:40s} median {statistics.median(runs):7.2f} us   "
              f"min {min(runs):7.2f}   max {max(runs):7.2f}")


if __name__ == "__main__":
    main()
