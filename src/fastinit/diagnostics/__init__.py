r"""Diagnostics: signal propagation through deep MLPs, advice, and a self-check.

* :func:`diagnose` runs a plain NumPy multilayer perceptron whose weights come
  from an initializer and reports how the standard deviation of the forward
  signal and of the backward gradient evolves with depth
  (:class:`PropagationReport`), with flags for vanishing and exploding
  signals, dead units and symmetric weights.
* :func:`recommend` names the initializer (and torch gain) that keeps the
  variance for an activation.
* :func:`check_initializers` samples every initializer of
  :mod:`fastinit.initializers` on a representative shape and compares the
  values with the formula (moments, limits, Kolmogorov-Smirnov test); the
  ``fastinit check`` command prints it.

The code lives in two submodules: ``_propagation`` (the activations, the
forward and backward passes, :class:`PropagationReport`, :func:`diagnose`,
:func:`recommend`) and ``_selfcheck`` (the expected distributions, the
Kolmogorov-Smirnov test, :class:`CheckResult`, :func:`check_initializers`).
The public names are imported from here, with the few private ones tests use.
Replacing ``fastinit.diagnostics._selfcheck._default_cases`` (a testing hook)
changes the built-in cases of :func:`check_initializers`.
"""
from __future__ import annotations

import numpy as np  # noqa: F401 (re-exported: tests reach numpy as fastinit.diagnostics.np)

from ._propagation import (  # noqa: F401 (re-exported)
    _ACTIVATION_FNS,
    ACTIVATIONS,
    GROWTH_LIMIT,
    LEAKY_RELU_SLOPE,
    SELU_ALPHA,
    SELU_SCALE,
    PropagationReport,
    _forward,
    _gradients,
    _has_equal_lines,
    _loss,
    _ndtr,
    _ndtr_erfc,
    _std,
    describe_initializer,
    diagnose,
    recommend,
)
from ._selfcheck import (  # noqa: F401 (re-exported)
    CheckResult,
    _Case,
    _kolmogorov_sf,
    _ks_test,
    _Normal,
    _TruncatedNormal,
    _Uniform,
    check_initializers,
)

__all__ = [
    "ACTIVATIONS",
    "GROWTH_LIMIT",
    "LEAKY_RELU_SLOPE",
    "CheckResult",
    "PropagationReport",
    "check_initializers",
    "diagnose",
    "recommend",
]
