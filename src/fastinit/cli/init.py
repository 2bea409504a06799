"""``fastinit init``: write a freshly initialized checkpoint, streaming (docs/api.md §9).

    fastinit init SPEC -o OUT.safetensors [--seed N] [--dtype D] [--pretrained PATH]
                  [--strict] [--init NAME] [--layout L] [--threads N] [--chunk-size BYTES] [-q]

The safetensors header is written first (every shape and dtype is known from
the spec), then each tensor block by block: a reusable buffer is filled with
the tensor's values for that block (``init(shape, region=block, out=buffer)``,
which for sampled initializers is the fill kernel with the block's ``offset``;
``Orthogonal``, whose QR couples all entries, is computed once per tensor)
while a writer thread writes the previous one. Peak memory is two blocks
(``--chunk-size``, 16 MiB by default) plus the interpreter, whatever the
file's size, and the bytes equal ``init_params(SPEC, seed=N)`` exactly.

Output on stderr: a tqdm progress bar (bytes, rate, ETA) when stderr is a
terminal and tqdm is installed, else a one-line summary; then a warning per
kind of mismatch with ``--pretrained``. ``-q`` silences all of it.

The file is written to a hidden temporary file next to ``OUT`` and renamed at
the end: on any error (bad spec, disk full, a failing write, Ctrl-C, SIGTERM,
SIGHUP) no partial output is left and an existing ``OUT`` is untouched; an
``OUT`` that is the spec or the ``--pretrained`` file is refused.

``SPEC`` may also be an existing ``.safetensors`` file: its tensors' names,
shapes and dtypes are re-initialized with ``--init`` (default glorot_uniform)
for rank >= 2 and, for vectors, ones for norm scales/variances (last name
component ``weight``, ``scale``, ``gamma``, ``g``, ``running_var``,
``moving_variance``) and zeros otherwise; see
:func:`fastinit.params.default_init`. Their fans follow ``--layout``, for a
``.safetensors`` SPEC by default the layout of the framework that wrote it
(:func:`fastinit._hf_checkpoint.cli_layout`), and the layout used is printed.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time

from ._args import parse_positive_int, parse_seed

__all__ = ["add_parser", "run"]

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9,
          "ki": 2**10, "mi": 2**20, "gi": 2**30}


def _size(text):
    m = re.fullmatch(r"\s*(\d+)\s*([kmg]i?)?b?\s*", text.lower())
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive size in bytes such as 16M, 64MiB or 1048576, got {text!r}")
    return int(m.group(1)) * _UNITS[m.group(2) or ""]


def add_parser(subparsers):
    """Add the ``init`` command to an ``argparse`` subparsers object; return its parser."""
    p = subparsers.add_parser(
        "init",
        help="write an initialized .safetensors checkpoint from a spec, streaming",
        description="Write a checkpoint whose tensors are initialized as SPEC says, streaming "
                    "them to disk in bounded chunks (peak memory far below the file's size). "
                    "The values equal fastinit.init_params(SPEC, seed=SEED) bit for bit.",
        epilog="SPEC is a JSON file mapping tensor names to {\"shape\": [...], \"init\": "
               "<initializer name or {class_name, config}>, \"dtype\": optional}, or an "
               "existing .safetensors file whose names, shapes and dtypes are re-initialized "
               "(see --init).")
    p.add_argument("spec", metavar="SPEC", nargs="?",
                   help="JSON spec, or a .safetensors file to take names and shapes from")
    p.add_argument("-o", "--output", required=True, metavar="OUT.safetensors",
                   help="the checkpoint to write (replaced atomically if it exists); a "
                        "directory (ending in '/') gets sharded model-0000k-of-0000N"
                        ".safetensors files and model.safetensors.index.json")
    _add_sharded_arguments(p)
    p.add_argument("--seed", type=parse_seed, default=0,
                   help="64-bit seed (default 0; 'random' draws one and records it)")
    p.add_argument("--dtype", default=None, metavar="D",
                   help="dtype of entries without one: float32 (default), bfloat16, "
                        "float16, float64; for a .safetensors SPEC it replaces the file's")
    p.add_argument("--pretrained", metavar="PATH",
                   help="load matching tensors from this checkpoint (.safetensors, .npz, "
                        ".npy, .h5) instead of sampling them")
    p.add_argument("--strict", action="store_true",
                   help="fail if a tensor is missing from, unexpected in or mis-shaped in "
                        "--pretrained")
    p.add_argument("--init", default="glorot_uniform", metavar="NAME",
                   help="for a .safetensors SPEC: initializer of rank >= 2 tensors (default "
                        "glorot_uniform); vectors get ones (norm scales) or zeros")
    p.add_argument("--layout", choices=("keras", "torch", "jax"), default=None,
                   help="fans of rank >= 2 tensors without explicit axes: keras (*spatial, in, "
                        "out), torch (out, in, *spatial) or jax (= keras); default keras, or "
                        "for a .safetensors SPEC the layout of the framework that wrote it")
    p.add_argument("--threads", type=parse_positive_int, default=None, metavar="N",
                   help="fill threads (default: fastinit.get_num_threads())")
    p.add_argument("--chunk-size", type=_size, default=16 * 2**20, metavar="BYTES",
                   help="bytes per block (default 16MiB; accepts 4M, 64MiB, ...)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar, summary or warnings")
    from ._schemes import add_arguments as _add_scheme_arguments
    _add_scheme_arguments(p)
    p.set_defaults(func=run)
    return p


def _add_sharded_arguments(p):
    p.add_argument("--from-hf", metavar="CONFIG", default=None,
                   help="a transformers config.json (or its directory): the tensors and "
                        "their init scheme come from that model class, as "
                        "fastinit.torch.materialize (with --scheme S, materialize(..., "
                        "scheme=S)); -o must be a directory")
    p.add_argument("--max-shard-size", default="5GB", metavar="SIZE",
                   help="directory output: largest shard, transformers' units (5GB, 500MB; "
                        "default 5GB)")
    p.add_argument("--resume", action="store_true",
                   help="directory output: keep shards already complete and valid")
    p.add_argument("--workers", type=parse_positive_int, default=None, metavar="N",
                   help="directory output: write shards in parallel on a local Dask cluster")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="directory output: write shards on this Dask scheduler's workers "
                        "(they must share the output directory)")


def _format_bytes(n):
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000


def _write(args, plan):
    from .. import STREAM_VERSION, __version__
    from ..io import write_safetensors_stream
    from ..params import progress_bar

    metadata = dict(plan.metadata)
    metadata.update({"fastinit.version": __version__,
                     "fastinit.stream_version": str(STREAM_VERSION),
                     "fastinit.seed": str(plan.report.seed)})

    # one block filler for the single file and the sharded directory (Orthogonal,
    # whose QR couples every entry, is computed once per tensor there)
    from .._hf_checkpoint import block_filler as filler

    tensors = [(t.name, t.shape, t.dtype, filler(t)) for t in plan.tensors]
    show_bar = not args.quiet and sys.stderr.isatty()
    bar = progress_bar(plan.nbytes, os.path.basename(args.output), enabled=show_bar)
    start = time.perf_counter()
    try:
        size = write_safetensors_stream(args.output, tensors, metadata=metadata,
                                        chunk_bytes=args.chunk_size,
                                        progress=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    return size, time.perf_counter() - start, bar is not None


def run(args):
    """Run ``fastinit init`` for parsed ``args``; return the exit status.

    0 on success; 1 after printing ``fastinit init: error: ...`` to stderr for
    a bad spec or file (``ValueError``/``TypeError``), a file-system error
    (``OSError``) or a missing optional package. No output file is left behind
    on any error.
    """
    from .._hf_checkpoint import apply_layout, cli_layout, is_directory_output, run_cli
    from .._tempfiles import Terminated, check_output_path, terminating_signals
    from .._threads import num_threads
    from ..params import make_plan
    from ._schemes import pre_run

    status = pre_run(args)
    if status is not None:
        return status

    if getattr(args, "from_hf", None) is not None or is_directory_output(args.output):
        try:
            with terminating_signals():
                return run_cli(args)
        except Terminated as e:  # the temporary files are already removed
            print(f"fastinit init: {e}; no output written", file=sys.stderr)
            return 128 + e.signum
    try:
        if args.spec is None:
            raise ValueError("SPEC is required (or --from-hf CONFIG with -o DIR/)")
        if args.resume or args.workers or args.scheduler or args.max_shard_size != "5GB":
            raise ValueError("--max-shard-size, --resume, --workers and --scheduler need a "
                             "directory output (-o DIR/)")
        check_output_path(args.output, {"the spec": args.spec,
                                        "the --pretrained file": args.pretrained})
        suffix = os.path.splitext(args.output)[1].lower()
        if suffix in (".npz", ".npy", ".h5", ".hdf5"):
            raise ValueError(f"{args.output}: fastinit init writes .safetensors files, not "
                             f"{suffix}")
        threads = (num_threads(args.threads) if args.threads is not None
                   else contextlib.nullcontext())
        with terminating_signals(), threads, make_plan(
                args.spec, seed=args.seed, dtype=args.dtype, pretrained=args.pretrained,
                strict=args.strict, init=args.init, scheme=args.scheme) as plan:
            if args.scheme is None:  # a scheme decides every initializer, fans included
                layout, why = cli_layout(args, plan)
                apply_layout(plan, layout)
                if why and not args.quiet:
                    axes = "(out, in, *spatial)" if layout == "torch" else "(*spatial, in, out)"
                    print(f"fastinit init: layout {layout} ({why}): fans of rank >= 2 tensors "
                          f"from {axes}", file=sys.stderr)
            size, elapsed, showed_bar = _write(args, plan)
    except (ValueError, TypeError, OSError, ImportError) as e:
        print(f"fastinit init: error: {e}", file=sys.stderr)
        return 1
    except Terminated as e:  # SIGTERM/SIGHUP: the temporary file is already removed
        print(f"fastinit init: {e}; no output written", file=sys.stderr)
        return 128 + e.signum
    if not args.quiet:
        report = plan.report
        dtypes = ", ".join(sorted({str(t.dtype) for t in plan.tensors})) or "-"
        line = (f"fastinit init: wrote {args.output}: {len(plan.tensors)} tensors ({dtypes}), "
                f"{_format_bytes(size)} in {elapsed:.2f} s "
                f"({_format_bytes(size / max(elapsed, 1e-9))}/s), seed {report.seed}")
        if report.source:
            line += (f"; {len(report.loaded)} loaded from {report.source}, "
                     f"{len(report.initialized)} initialized")
        if not showed_bar:  # the bar already showed bytes, rate and time
            print(line, file=sys.stderr)
        for problem in report.problems():
            print(f"fastinit init: warning: {problem}", file=sys.stderr)
    return 0
