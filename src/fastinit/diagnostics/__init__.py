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
Every name is imported from here, the private ones included (tests use them).
Replacing ``fastinit.diagnostics._selfcheck._default_cases`` (a testing hook)
changes the built-in cases of :func:`check_initializers`.
"""
from __future__ import annotations

import numpy as np  # noqa: F401 (re-exported: tests reach numpy as fastinit.diagnostics.np)

from ._propagation import (  # noqa: F401 (re-exported)
    _ACTIVATION_FNS,
    _ERFC,
    _GELU_SECOND_MOMENT,
    _INV_SQRT_2PI,
    _SQRT1_2,
    ACTIVATIONS,
    GROWTH_LIMIT,
    LEAKY_RELU_SLOPE,
    SELU_ALPHA,
    SELU_SCALE,
    PropagationReport,
    _backward,
    _check_activation,
    _format_layers,
    _format_widths,
    _forward,
    _gain,
    _gelu,
    _gradients,
    _has_equal_lines,
    _leaky_relu,
    _leaky_relu_scale,
    _linear,
    _loss,
    _ndtr,
    _ndtr_erfc,
    _relu,
    _selu,
    _sigmoid,
    _std,
    _tanh,
    describe_initializer,
    diagnose,
    recommend,
)
from ._selfcheck import (  # noqa: F401 (re-exported)
    _CONV,
    _CONV_FANS,
    _DENSE,
    _DENSE_FANS,
    _DETERMINISTIC,
    _GAP_LIMIT,
    _Z_LIMIT,
    CheckResult,
    _Case,
    _check_case,
    _default_cases,
    _kolmogorov_sf,
    _ks_test,
    _Normal,
    _stft_reference,
    _truncated,
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
