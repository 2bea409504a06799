"""``fastinit init --scheme S [--explain]``: the scheme options of the init command."""
from __future__ import annotations

import sys

__all__ = ["add_arguments", "meta_model_from_hf", "pre_run"]


def meta_model_from_hf(path):
    """The transformers model of a ``config.json`` (or a directory holding one), on the
    meta device: its names, shapes and config, with no memory for the weights.

    The class is the config's causal-LM class where transformers has one, else its base
    model class.
    """
    import os

    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    path = os.fspath(path)
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    with torch.device("meta"):
        try:
            return AutoModelForCausalLM.from_config(config)
        except ValueError:  # no causal-LM class for this config (BERT, ...)
            return AutoModel.from_config(config)


def add_arguments(p):
    """Add ``--scheme`` and ``--explain`` to the ``init`` parser; -o becomes optional
    (required unless ``--explain``, checked by :func:`pre_run`)."""
    from ..schemes import names

    p.add_argument("--scheme", default=None, metavar="S",
                   help="init scheme deciding every tensor's initializer from its name and "
                        "shape: " + ", ".join(names()) + "; or a JSON object "
                        "'{\"name\": S, ...hyper-parameters}' (e.g. '{\"name\": \"gpt2\", "
                        "\"n_layers\": 12}'); see docs/schemes.md")
    p.add_argument("--explain", action="store_true",
                   help="with --scheme: print what each tensor gets (role, layer, "
                        "distribution, formula) and exit without writing")
    for action in p._actions:
        if action.dest == "output":
            action.required = False


def pre_run(args):
    """None to carry on with the init command, else its exit status.

    ``--explain`` prints the scheme's table for SPEC (status 1 if a tensor has
    no rule); a missing ``-o`` without ``--explain`` is an error (status 2).
    """
    explain = getattr(args, "explain", False)
    scheme = getattr(args, "scheme", None)
    if explain and scheme is None:
        print("fastinit init: error: --explain needs --scheme", file=sys.stderr)
        return 2
    if scheme is not None and getattr(args, "layout", None):
        print("fastinit init: error: --layout does not apply with --scheme (the scheme decides "
              "every initializer; DeepNet takes \"layout\" in the scheme's JSON)",
              file=sys.stderr)
        return 2
    if not explain:
        if getattr(args, "output", None) is None:
            print("fastinit init: error: the following arguments are required: -o/--output",
                  file=sys.stderr)
            return 2
        return None
    from ..params import load_spec
    from ..schemes import resolve

    try:
        hf = getattr(args, "from_hf", None)
        if hf is not None:
            table = resolve(scheme, meta_model_from_hf(hf))
        else:
            entries, _ = load_spec(args.spec, scheme=scheme)
            table = resolve(scheme, [(e.name, e.shape) for e in entries])
    except (ValueError, TypeError, OSError, ImportError) as e:
        print(f"fastinit init: error: {e}", file=sys.stderr)
        return 1
    print(table)
    return 1 if table.unrecognized else 0
