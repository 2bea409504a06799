"""``fastinit check``: statistical self-check of every initializer, or signal propagation.

    fastinit check [--seed N] [--plot FILE.png]
    fastinit check --propagation [--activation A] [--depth D] [--width W] [--batch B]
                   [--init NAME] [--seed N] [--plot FILE.png]
    fastinit check --propagation --scheme S [--scheme S2 ...] [--depth D] [--width W]
                   [--batch B] [--seed N] [--plot FILE.png]

The first form samples each initializer of :mod:`fastinit.initializers` and
compares the values with its formula (:func:`fastinit.diagnostics.check_initializers`),
prints a table with PASS/FAIL and exits with status 1 if anything failed.

The second runs :func:`fastinit.diagnose` for every (activation, initializer)
pair -- by default RandomNormal(stddev=0.05), GlorotUniform, HeNormal and
LecunNormal, for relu and tanh, 50 layers of width 256 -- and prints the
flags; it is informational and exits with status 0. With ``--scheme`` it
compares init schemes (:mod:`fastinit.schemes`) on a transformer-shaped stack
instead (:func:`fastinit.schemes._propagation.propagate`; docs/schemes.md).

``--plot`` (needs matplotlib) draws histograms of each sampled initializer
against its density, or the std of the activations and gradients per layer.
"""
from __future__ import annotations

import json
import math
import sys

from ._args import parse_positive_int, parse_seed, propagation_sizes

__all__ = ["add_parser", "run"]

#: The initializers of the default propagation run, as fastinit.get names.
DEFAULT_INITS = ("normal", "glorot_uniform", "he_normal", "lecun_normal")
DEFAULT_ACTIVATIONS = ("relu", "tanh")

_PROPAGATION_ONLY = ("activation", "depth", "width", "batch", "init", "scheme")


def add_parser(subparsers):
    """Add the ``check`` command to an ``argparse`` subparsers object; return its parser."""
    from ..diagnostics import ACTIVATIONS

    p = subparsers.add_parser(
        "check",
        help="statistical self-check of every initializer, or signal propagation (--propagation)",
        description="Sample every initializer and compare its values with the formula "
                    "(mean, std, limits, Kolmogorov-Smirnov test); exit status 1 on any "
                    "failure. With --propagation, compare how initializers propagate a signal "
                    "through a deep MLP instead.")
    p.add_argument("--propagation", action="store_true",
                   help="signal propagation through a deep MLP instead of the self-check")
    p.add_argument("--activation", action="append", choices=ACTIVATIONS, metavar="A",
                   help="--propagation: activation (repeatable; default relu and tanh); one of "
                        + ", ".join(ACTIVATIONS))
    p.add_argument("--depth", type=parse_positive_int, metavar="D",
                   help="--propagation: number of layers (default 50)")
    p.add_argument("--width", type=parse_positive_int, metavar="W",
                   help="--propagation: units per layer (default 256)")
    p.add_argument("--batch", type=parse_positive_int, metavar="B",
                   help="--propagation: input rows (default 512)")
    p.add_argument("--init", action="append", metavar="NAME",
                   help="--propagation: initializer name or {class_name, config} JSON "
                        "(repeatable; default: " + ", ".join(DEFAULT_INITS) + ")")
    p.add_argument("--scheme", action="append", metavar="S",
                   help="--propagation: compare init schemes (fastinit.schemes names or "
                        "{\"name\": ...} JSON; repeatable) on a transformer-shaped stack "
                        "instead of initializers on an MLP")
    p.add_argument("--seed", type=parse_seed, default=0, metavar="N",
                   help="seed (default 0; 'random' draws one and prints it)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also draw histograms (or, with --propagation, std per layer); "
                        "needs matplotlib")
    p.set_defaults(func=run)
    return p


def _error(message):
    print(f"fastinit check: error: {message}", file=sys.stderr)


def run(args):
    """Run ``fastinit check`` for parsed ``args``; return the exit status.

    0 when every initializer passed (always, for ``--propagation``); 1 when one
    failed, or after printing ``fastinit check: error: ...`` for a bad
    ``--init``, a ``--plot`` without matplotlib or a file that cannot be
    written; 2 for propagation options given without ``--propagation``.
    """
    if not args.propagation:
        given = [f"--{name}" for name in _PROPAGATION_ONLY if getattr(args, name) is not None]
        if given:
            _error(", ".join(given) + " only apply with --propagation")
            return 2
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            _error("--plot needs matplotlib: pip install matplotlib")
            return 1
    try:
        if args.propagation and args.scheme:
            if args.init or args.activation:
                _error("--scheme compares schemes on a transformer stack; --init and "
                       "--activation apply to the MLP comparison")
                return 2
            from ..schemes._propagation import run_cli
            return run_cli(args, *propagation_sizes(args, depth=24, width=256, batch=4))
        if args.propagation:
            return _run_propagation(args)
        return _run_self_check(args)
    except (ValueError, TypeError, OSError) as exc:
        _error(exc)
        return 1
    except MemoryError as exc:  # --width/--batch too large for this machine
        _error(f"not enough memory for --width {args.width} and --batch {args.batch} "
               f"({exc or 'MemoryError'})")
        return 1


# ---------------------------------------------------------------------------
# the self-check


def _run_self_check(args):
    from .._core import resolve_seed
    from ..diagnostics import check_initializers

    seed = resolve_seed(args.seed)
    alpha = 1e-3
    results = check_initializers(seed, alpha=alpha)
    print(f"fastinit check: {len(results)} initializers in float32, seed {seed}, "
          f"Kolmogorov-Smirnov test at alpha = {alpha:g}\n")
    label_width = max(len(r.label) for r in results)
    head = (f"{'initializer':{label_width}}  {'shape':15}  {'expected':22}  {'mean':>10}  "
            f"{'std':>10}  {'formula':>10}  {'KS p':>6}  result")
    print(head)
    print("-" * len(head))
    for r in results:
        ks = "" if math.isnan(r.ks_pvalue) else f"{r.ks_pvalue:6.3f}"
        print(f"{r.label:{label_width}}  {r.shape!s:15}  {r.expected:22}  {r.mean:10.3g}  "
              f"{r.std:10.4g}  {r.expected_std:10.4g}  {ks:>6}  "
              f"{'PASS' if r.passed else 'FAIL'}")
        for problem in r.problems:
            print(f"    {problem}")
    failed = sum(not r.passed for r in results)
    print(f"\n{len(results) - failed} passed, {failed} failed")
    if args.plot:
        _plot_histograms(results, args.plot)
        print(f"wrote {args.plot}")
    return 1 if failed else 0


def _plot_histograms(results, path):
    import numpy as np
    from matplotlib.figure import Figure

    sampled = [r for r in results if r.distribution is not None]
    cols = 4
    rows = -(-len(sampled) // cols)
    fig = Figure(figsize=(4.0 * cols, 2.9 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, r in zip(axes, sampled):
        dist = r.distribution
        lo = dist.lo if math.isfinite(dist.lo) else dist.mean - 4.5 * dist.std
        hi = dist.hi if math.isfinite(dist.hi) else dist.mean + 4.5 * dist.std
        pad = 0.05 * (hi - lo)
        # Bins end at the limits, so that no bin straddles a bound.
        ax.hist(r.samples, bins=80, range=(lo, hi), density=True,
                color="#9ecae1", edgecolor="none", label="values")
        x = np.linspace(lo - pad, hi + pad, 1601)
        ax.plot(x, dist.pdf(x), color="#08306b", lw=1.2, label="expected density")
        ax.set_xlim(lo - pad, hi + pad)
        verdict = "PASS" if r.passed else "FAIL"
        ax.set_title(f"{r.label}: {verdict}\n{r.shape}  {r.expected}", fontsize=7.5,
                     color="black" if r.passed else "#cb181d")
        ax.tick_params(labelsize=7)
    for ax in axes[len(sampled):]:
        ax.set_visible(False)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower right", fontsize=9)
    fig.suptitle("fastinit check: each initializer's values against its density "
                 "(float32, KS test)", fontsize=11)
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------------------
# propagation


def _initializer(text):
    from ..initializers import get

    if text.lstrip().startswith("{"):
        return get(json.loads(text))
    return get(text)


def _run_propagation(args):
    from ..diagnostics import GROWTH_LIMIT, describe_initializer, diagnose

    activations = args.activation or list(DEFAULT_ACTIVATIONS)
    inits = [_initializer(text) for text in (args.init or DEFAULT_INITS)]
    depth, width, batch, seed = propagation_sizes(args, depth=50, width=256, batch=512)
    print(f"fastinit check --propagation: {depth} dense layers of width {width}, "
          f"batch {batch}, seed {seed}; vanishing/exploding = the signal shrinks/grows "
          f"by more than {GROWTH_LIMIT:g}\n")

    labels = [describe_initializer(init) for init in inits]
    label_width = max(len(label) for label in labels)
    head = (f"{'activation':10}  {'initializer':{label_width}}  {'act std in -> out':20}  "
            f"{'fwd gain':>9}  {'bwd gain':>9}  vanishing  exploding  dead units  symmetric")
    print(head)
    print("-" * len(head))
    reports = {}
    for activation in activations:
        for init, label in zip(inits, labels):
            r = diagnose(init, widths=[width] * (depth + 1), activation=activation,
                         batch=batch, seed=seed)
            reports[activation, label] = r
            flags = "  ".join(f"{'yes' if getattr(r, name) else 'no':{w}}" for name, w in
                              (("vanishing", 9), ("exploding", 9), ("dead_units", 10),
                               ("symmetric", 9)))
            span = f"{r.input_std:.3g} -> {r.activation_std[-1]:.3g}"
            print(f"{activation:10}  {label:{label_width}}  {span:20}  "
                  f"{r.forward_gain:9.3g}  {r.backward_gain:9.3g}  {flags}".rstrip())
    print("\nfwd gain: std of the last layer's output / std of the input; bwd gain: std of "
          "the gradient at the input / std of the upstream gradient")
    if args.plot:
        _plot_propagation(reports, activations, labels, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _plot_propagation(reports, activations, labels, path):
    import numpy as np
    from matplotlib.figure import Figure

    def positive(values):
        a = np.asarray(values, np.float64)
        return np.where(np.isfinite(a) & (a > 0), a, np.nan)  # log scale: drop 0 and inf

    fig = Figure(figsize=(5.5 * len(activations), 7.0), layout="constrained")
    axes = fig.subplots(2, len(activations), squeeze=False)
    for col, activation in enumerate(activations):
        top, bottom = axes[0, col], axes[1, col]
        for k, label in enumerate(labels):
            r = reports[activation, label]
            layers = np.arange(r.depth + 1)
            # Dashes keep equal curves visible (Glorot = LeCun on square layers).
            style = {"lw": 1.6, "ls": ("-", "--", "-.", ":")[k % 4], "label": label}
            top.plot(layers, positive([r.input_std, *r.activation_std]), **style)
            bottom.plot(layers[:-1], positive(r.gradient_std), **style)
        first = reports[activation, labels[0]]
        top.set_title(f"{activation}: activation std per layer "
                      f"({first.depth} layers, width {first.widths[1]})", fontsize=10)
        bottom.set_title(f"{activation}: gradient std at each layer's input", fontsize=10)
        for ax in (top, bottom):
            ax.set_yscale("log")
            ax.set_xlabel("layer (0 = input)")
            ax.grid(True, which="major", alpha=0.3)
        top.set_ylabel("std of h_i")
        bottom.set_ylabel("std of dL/dh_i")
    axes[0, 0].legend(fontsize=8)
    fig.savefig(path, dpi=110)
