r"""Signal propagation through deep MLPs (:func:`diagnose`) and advice (:func:`recommend`).

* :func:`diagnose` runs a plain NumPy multilayer perceptron whose weights come
  from an initializer and reports how the standard deviation of the forward
  signal and of the backward gradient evolves with depth
  (:class:`PropagationReport`), with flags for vanishing and exploding
  signals, dead units and symmetric weights.
* :func:`recommend` names the initializer (and torch gain) that keeps the
  variance for an activation.

The names are re-exported by :mod:`fastinit.diagnostics`, the path to import
them from. The network (all float64)::

    h_0 = x                      x: (batch, widths[0]) standard normal
    z_i = h_{i-1} @ W_i          W_i: (widths[i-1], widths[i]), no bias
    h_i = phi(z_i)               i = 1 .. depth, the activation on every layer
    L   = sum(G * h_depth)       G: standard normal "upstream gradient"

so the backward pass starts from :math:`\partial L / \partial h_{depth} = G`
(unit variance, like a loss gradient of a random target) and runs
:math:`\partial L/\partial z_i = \partial L/\partial h_i \odot \phi'(z_i)`,
:math:`\partial L/\partial h_{i-1} = (\partial L/\partial z_i)\,W_i^\top`.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .._core import fill_normal, fill_uniform, resolve_seed, stream_id
from .._validate import positive_int as _positive_int
from ..initializers import (
    GlorotUniform,
    HeNormal,
    Initializer,
    LecunNormal,
    VarianceScaling,
    get,
)

__all__ = [
    "ACTIVATIONS",
    "GROWTH_LIMIT",
    "LEAKY_RELU_SLOPE",
    "PropagationReport",
    "diagnose",
    "recommend",
]

#: The activations :func:`diagnose` and :func:`recommend` accept.
ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu", "gelu")

#: Negative slope of ``leaky_relu``: torch's ``nn.LeakyReLU`` and
#: ``calculate_gain`` default, and JAX's (Keras' ``leaky_relu`` uses 0.2).
LEAKY_RELU_SLOPE = 0.01

#: SELU constants (Klambauer et al. 2017), as in torch, JAX and Keras.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

#: A signal whose std changes by more than this factor over the depth is
#: flagged as vanishing (shrinks) or exploding (grows).
GROWTH_LIMIT = 1e3

#: E[gelu(z)^2] for z ~ N(0, 1): 1/3 + 1/(2 pi sqrt 3) (Stein's lemma twice).
_GELU_SECOND_MOMENT = 1.0 / 3.0 + 1.0 / (2.0 * math.pi * math.sqrt(3.0))

_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_ERFC = np.frompyfunc(math.erfc, 1, 1)


# ---------------------------------------------------------------------------
# activations: each returns (phi(z), phi'(z))


def _ndtr_erfc(x):
    """Standard normal CDF via ``math.erfc`` per element (no SciPy needed)."""
    return (0.5 * _ERFC(np.multiply(x, -_SQRT1_2))).astype(np.float64)


def _ndtr(x):
    """Standard normal CDF in float64: SciPy's ``ndtr`` when installed (faster)."""
    try:
        from scipy.special import ndtr
    except ImportError:
        return _ndtr_erfc(x)
    return ndtr(np.asarray(x, np.float64))


def _linear(z):
    return z, np.ones_like(z)


def _relu(z):
    return np.maximum(z, 0.0), (z > 0).astype(np.float64)


def _leaky_relu(z):
    positive = z > 0
    return np.where(positive, z, LEAKY_RELU_SLOPE * z), np.where(positive, 1.0, LEAKY_RELU_SLOPE)


def _tanh(z):
    h = np.tanh(z)
    return h, 1.0 - h * h


def _sigmoid(z):
    # exp(-log(1 + e^-z)) never overflows and keeps full relative precision.
    h = np.exp(-np.logaddexp(0.0, -z))
    return h, h * np.exp(-np.logaddexp(0.0, z))


def _selu(z):
    positive = z > 0
    neg = SELU_ALPHA * np.expm1(np.minimum(z, 0.0))
    return (SELU_SCALE * np.where(positive, z, neg),
            SELU_SCALE * np.where(positive, 1.0, neg + SELU_ALPHA))


def _gelu(z):
    cdf = _ndtr(z)
    return z * cdf, cdf + z * _INV_SQRT_2PI * np.exp(-0.5 * z * z)


_ACTIVATION_FNS = {
    "linear": _linear,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "selu": _selu,
    "gelu": _gelu,
}


def _check_activation(activation):
    if activation not in _ACTIVATION_FNS:
        raise ValueError(
            f"Unknown activation {activation!r}; accepted: " + ", ".join(ACTIVATIONS)
        )
    return activation


# ---------------------------------------------------------------------------
# the forward and backward passes


def _forward(weights, x, activation):
    """Yield ``(h_i, phi'(z_i))`` for each layer ``i = 1 .. depth``."""
    act = _ACTIVATION_FNS[_check_activation(activation)]
    h = x
    for w in weights:
        h, slope = act(h @ w)
        yield h, slope


def _backward(weights, slopes, upstream):
    """Yield ``(i, dL/dz_i, dL/dh_{i-1})`` from the last layer to the first.

    ``slopes[i]`` is :math:`\\phi'(z_i)` (0-based layer index), ``upstream``
    is :math:`\\partial L / \\partial h_{depth}`.
    """
    grad = upstream
    for i in reversed(range(len(weights))):
        delta = grad * slopes[i]
        grad = delta @ weights[i].T
        yield i, delta, grad


def _loss(weights, x, upstream, activation):
    """``L = sum(upstream * h_depth)`` of the MLP (for finite differences)."""
    h = x
    for out, _ in _forward(weights, x, activation):
        h = out
    return float(np.sum(upstream * h))


def _gradients(weights, x, upstream, activation):
    """Backpropagated ``(dL/dx, [dL/dW_1, ..., dL/dW_depth])`` of :func:`_loss`.

    The same :func:`_forward` / :func:`_backward` passes :func:`diagnose` runs,
    kept whole so that a test can compare them with finite differences.
    """
    inputs, slopes = [x], []
    for h, slope in _forward(weights, x, activation):
        inputs.append(h)
        slopes.append(slope)
    weight_grads = [None] * len(weights)
    grad_x = None
    for i, delta, grad in _backward(weights, slopes, upstream):
        weight_grads[i] = inputs[i].T @ delta
        grad_x = grad
    return grad_x, weight_grads


def _std(a):
    """Standard deviation of all entries; ``inf`` once the signal overflowed."""
    if a.size == 0:
        return 0.0
    peak = float(np.max(np.abs(a)))
    if not math.isfinite(peak):
        return math.inf
    if peak == 0.0:
        return 0.0
    # Scaling first keeps the squares finite for values up to the float64 limit.
    return peak * float(np.std(a / peak))


def _has_equal_lines(w):
    """True when two rows, or two columns, of the matrix ``w`` are equal."""
    for m in (w, w.T):
        if m.shape[0] < 2:
            continue
        m = np.ascontiguousarray(m)
        # Equal lines get equal keys (the same products summed in the same
        # order); with a random probe, distinct lines share a key only by
        # accident, so only lines with a shared key are compared exactly.
        probe = fill_uniform(np.empty(m.shape[1]), 1.0, 2.0, seed=0,
                             stream=stream_id("diagnose/probe"))
        keys = (m * probe).sum(axis=1)
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        shared = m[counts[inverse] > 1] + 0.0  # a copy, and -0.0 -> +0.0
        if shared.shape[0] > 1:
            lines = shared.view(np.dtype((np.void, shared.shape[1] * shared.itemsize)))
            if np.unique(lines).size < shared.shape[0]:
                return True
    return False


# ---------------------------------------------------------------------------
# the report


def describe_initializer(init):
    """``ClassName(arg=value, ...)`` without the seed, stream and unset axes."""
    config = init.get_config()
    args = ", ".join(
        f"{key}={value!r}" for key, value in config.items()
        if key not in ("seed", "stream") and value is not None
    )
    return f"{type(init).__name__}({args})" if args else type(init).__name__


@dataclass(frozen=True)
class PropagationReport:
    """How a signal propagates through the MLP of :func:`diagnose`.

    Lists have one entry per layer, index ``i`` for layer ``i + 1``.

    Attributes
    ----------
    initializer : str
        The initializer, as ``ClassName(args)`` (seed and stream left out).
    activation : str
        The activation on every layer.
    widths : tuple of int
        Input width, then each layer's output width.
    batch, seed : int
        Number of input rows, and the seed of the weights and inputs.
    input_std : float
        Std of the input ``x`` (close to 1).
    activation_std : list of float
        Std of each layer's output :math:`h_i` over the batch and the units
        (``inf`` once it overflowed).
    gradient_std : list of float
        Entry ``i``: std of :math:`\\partial L/\\partial h_i`, the gradient
        that layer ``i + 1`` sends backwards (entry 0: the gradient at the
        input ``x = h_0``).
    upstream_std : float
        Std of the upstream gradient :math:`G` fed to the last layer.
    dead_fraction : list of float
        Fraction of each layer's units whose output is exactly zero for every
        row of the batch (dead ReLUs; with other activations, units whose
        weights are all zero, or GELUs saturated far in the negative range).
    symmetric_layers : list of int
        Indices of the layers whose weight matrix has two identical rows or
        two identical columns.

    The flags are properties derived from these lists:

    * ``vanishing``: the forward signal (``activation_std[-1] / input_std``)
      or the backward one (``gradient_std[0] / upstream_std``) shrinks by more
      than :data:`GROWTH_LIMIT` (1e3) over the depth;
    * ``exploding``: one of them grows by more than :data:`GROWTH_LIMIT`;

    (with ``batch=1`` and a first or last width of 1, ``input_std`` or
    ``upstream_std`` is the std of a single number, 0: a gain ``0 / 0`` then
    counts as 1 and ``x / 0`` as inf, i.e. exploding -- use ``batch >= 2`` for
    meaningful gains);
    * ``dead_units``: some unit of some layer is dead (``dead_fraction``);
    * ``symmetric``: some layer has identical rows or columns, as
      ``Zeros``, ``Ones`` and ``Constant`` produce: units that start equal
      receive equal updates and stay equal.

    Examples
    --------
    >>> import fastinit
    >>> r = fastinit.diagnose(fastinit.Zeros(), widths=[16, 16, 16], activation="tanh", batch=8)
    >>> r.depth, r.activation_std, r.symmetric_layers
    (2, [0.0, 0.0], [0, 1])
    >>> r.vanishing, r.exploding, r.dead_units, r.symmetric
    (True, False, True, True)
    >>> print(r)                                   # doctest: +ELLIPSIS
    PropagationReport: Zeros, tanh, widths 16 (2 layers), batch 8, seed 0
    ...
      flags: vanishing, dead_units, symmetric
      dead units: up to 100.0% of layer 1
      symmetric weights in layers 1, 2
    """

    initializer: str
    activation: str
    widths: tuple[int, ...]
    batch: int
    seed: int
    input_std: float
    activation_std: list[float]
    gradient_std: list[float]
    upstream_std: float
    dead_fraction: list[float]
    symmetric_layers: list[int] = field(default_factory=list)

    @property
    def depth(self) -> int:
        """Number of layers."""
        return len(self.activation_std)

    @property
    def forward_gain(self) -> float:
        """``activation_std[-1] / input_std``: growth of the forward signal
        (``0 / 0`` is 1, ``x / 0`` is inf: see :func:`_gain`)."""
        return _gain(self.activation_std[-1], self.input_std)

    @property
    def backward_gain(self) -> float:
        """``gradient_std[0] / upstream_std``: growth of the backward signal
        (``0 / 0`` is 1, ``x / 0`` is inf: see :func:`_gain`)."""
        return _gain(self.gradient_std[0], self.upstream_std)

    @property
    def vanishing(self) -> bool:
        """A signal (forward or backward) shrinks by more than ``GROWTH_LIMIT``."""
        return min(self.forward_gain, self.backward_gain) < 1.0 / GROWTH_LIMIT

    @property
    def exploding(self) -> bool:
        """A signal (forward or backward) grows by more than ``GROWTH_LIMIT``."""
        # A NaN gain comes from inf - inf after an overflow: it exploded.
        gains = (self.forward_gain, self.backward_gain)
        return any(g > GROWTH_LIMIT or math.isnan(g) for g in gains)

    @property
    def dead_units(self) -> bool:
        """Some unit outputs zero for every input of the batch."""
        return any(f > 0.0 for f in self.dead_fraction)

    @property
    def symmetric(self) -> bool:
        """Some weight matrix has identical rows or identical columns."""
        return bool(self.symmetric_layers)

    def __str__(self):
        head = (f"PropagationReport: {self.initializer}, {self.activation}, "
                f"widths {_format_widths(self.widths)} ({self.depth} layers), "
                f"batch {self.batch}, seed {self.seed}")
        lines = [head, f"  {'layer':>5}  {'activation std':>14}  {'gradient std':>12}  dead units"]
        lines.append(f"  {'input':>5}  {self.input_std:14.4g}")
        shown = range(self.depth)
        if self.depth > 20:  # the first and last layers tell the story
            shown = [*range(8), None, *range(self.depth - 8, self.depth)]
        for i in shown:
            if i is None:
                lines.append(f"  {'...':>5}")
                continue
            lines.append(f"  {i + 1:5d}  {self.activation_std[i]:14.4g}  "
                         f"{self.gradient_std[i]:12.4g}  {self.dead_fraction[i]:9.1%}")
        lines.append(f"  forward gain {self.forward_gain:.3g} (last layer / input std), "
                     f"backward gain {self.backward_gain:.3g} (input / upstream gradient std)")
        flags = [name for name in ("vanishing", "exploding", "dead_units", "symmetric")
                 if getattr(self, name)]
        lines.append("  flags: " + (", ".join(flags) if flags else "none"))
        if self.dead_units:
            worst = max(range(self.depth), key=self.dead_fraction.__getitem__)
            lines.append(f"  dead units: up to {self.dead_fraction[worst]:.1%} "
                         f"of layer {worst + 1}")
        if self.symmetric:
            lines.append("  symmetric weights in layers "
                         + _format_layers([i + 1 for i in self.symmetric_layers]))
        return "\n".join(lines)


def _gain(std, reference):
    """``std / reference``, defined when ``reference`` is 0 too.

    A reference std of 0 happens when it is the std of a single number
    (``batch=1`` with an input width, or a last width, of 1) or of a constant
    signal. Then ``0 / 0`` counts as 1 (no change: the signal stayed constant)
    and ``x / 0`` for ``x > 0`` as inf (growth from no spread at all: flagged
    ``exploding``); a NaN stays NaN (an overflow: ``exploding`` too).
    """
    std, reference = float(std), float(reference)
    if reference == 0.0:
        if std == 0.0:
            return 1.0
        return math.inf if std > 0.0 else math.nan
    return std / reference


def _format_widths(widths):
    if len(set(widths)) == 1:
        return f"{widths[0]}"
    return "-".join(map(str, widths))


def _format_layers(layer_numbers):
    if len(layer_numbers) > 6:
        return ", ".join(map(str, layer_numbers[:3])) + ", ..., " + str(layer_numbers[-1])
    return ", ".join(map(str, layer_numbers))


def diagnose(init, *, widths, activation="relu", batch=1024, seed=0) -> PropagationReport:
    r"""diagnose(init, *, widths, activation="relu", batch=1024, seed=0) -> PropagationReport

    Propagate a signal through a deep MLP initialized by ``init`` and report
    the per-layer std of the activations and of the backward gradients.

    The network has ``len(widths) - 1`` dense layers, layer ``i`` mapping
    ``widths[i-1]`` to ``widths[i]`` units with a kernel of shape
    ``(fan_in, fan_out) = (widths[i-1], widths[i])`` (Keras' Dense layout),
    zero biases and ``activation`` after every layer, in float64:

    .. math::

        h_0 = x,\quad h_i = \phi(h_{i-1} W_i),\quad
        L = \textstyle\sum G \odot h_{\mathrm{depth}}

    with :math:`x` and :math:`G` (the upstream gradient) standard normal.
    Layer ``i``'s kernel (0-based ``i``) is ``init`` configured with
    ``seed=seed, stream=stream_id(f"layer{i}")`` -- the values
    :func:`fastinit.init_params` gives a tensor named ``"layer{i}"`` -- so
    the report is a pure function of the initializer's other parameters,
    ``widths``, ``activation``, ``batch`` and ``seed``. Deterministic
    initializers (``Zeros``, ``Identity``, ...) are used as they are. ``x``
    and ``G`` come from ``fill_normal`` on the streams
    ``stream_id("diagnose/inputs")`` and ``stream_id("diagnose/upstream")``.

    Activations (:math:`\phi`): ``"linear"``, ``"relu"``,
    ``"leaky_relu"`` (negative slope 0.01, torch's and JAX's default),
    ``"tanh"``, ``"sigmoid"``, ``"selu"`` (:math:`\lambda = 1.0507...`,
    :math:`\alpha = 1.6733...`) and ``"gelu"`` in its exact form
    :math:`z\,\Phi(z)` (torch's and Keras' default; not the tanh
    approximation). :math:`\phi'(0)` is 0 for ReLU.

    Memory: about ``depth * (width**2 + batch * width) * 8`` bytes (the
    weights and each layer's :math:`\phi'(z_i)` are kept for the backward
    pass).

    Parameters
    ----------
    init : Initializer or anything :func:`fastinit.get` accepts
        The kernel initializer.
    widths : sequence of int
        Input width followed by each layer's output width (at least two
        entries, all positive).
    activation : str
        One of :data:`ACTIVATIONS`.
    batch : int
        Rows of the input.
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        Seed of the weights, inputs and upstream gradient (``None`` draws
        one; the report records the seed used).

    Returns
    -------
    PropagationReport

    Raises
    ------
    ValueError
        For an unknown activation (the message lists the accepted ones),
        fewer than two widths, or a non-positive width or batch.
    TypeError
        For non-integer widths or batch.

    Examples
    --------
    >>> import fastinit
    >>> r = fastinit.diagnose(fastinit.HeNormal(), widths=[64] * 21, activation="relu", batch=128)
    >>> r.vanishing, r.exploding, r.symmetric
    (False, False, False)
    >>> fastinit.diagnose("zeros", widths=[8, 8, 8], batch=4).symmetric
    True
    """
    init = get(init)
    activation = _check_activation(activation)
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise TypeError(f"widths must be a sequence of positive ints; got {widths!r}")
    widths = tuple(_positive_int(w, "each width") for w in widths)
    if len(widths) < 2:
        raise ValueError(f"widths needs the input width and at least one layer; got {widths}")
    batch = _positive_int(batch, "batch")
    seed = resolve_seed(seed)

    def layer(i):  # the diagnosis' seed, one stream per layer (as init_params does)
        if isinstance(init, Initializer):
            return init.reseeded(seed, stream_id(f"layer{i}"))
        return init

    weights = [
        layer(i)((fan_in, fan_out), "float64")
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths))
    ]
    x = fill_normal(np.empty((batch, widths[0])), seed=seed, stream=stream_id("diagnose/inputs"))
    upstream = fill_normal(np.empty((batch, widths[-1])), seed=seed,
                           stream=stream_id("diagnose/upstream"))

    activation_std, dead_fraction, slopes = [], [], []
    gradient_std = [0.0] * len(weights)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for h, slope in _forward(weights, x, activation):
            activation_std.append(_std(h))
            dead_fraction.append(float(np.mean(np.all(h == 0.0, axis=0))))
            slopes.append(slope)
        for i, _, grad in _backward(weights, slopes, upstream):
            gradient_std[i] = _std(grad)

    return PropagationReport(
        initializer=describe_initializer(init),
        activation=activation,
        widths=widths,
        batch=batch,
        seed=seed,
        input_std=_std(x),
        activation_std=activation_std,
        gradient_std=gradient_std,
        upstream_std=_std(upstream),
        dead_fraction=dead_fraction,
        symmetric_layers=[i for i, w in enumerate(weights) if _has_equal_lines(w)],
    )


# ---------------------------------------------------------------------------
# advice


def _leaky_relu_scale():
    return 2.0 / (1.0 + LEAKY_RELU_SLOPE**2)


def recommend(activation):
    r"""recommend(activation) -> (initializer, torch_gain)

    The initializer that keeps the signal's variance through layers with this
    activation, and torch's ``calculate_gain(activation)``.

    A dense layer :math:`z = W^\top h` with i.i.d. zero-mean weights of
    variance :math:`\sigma_w^2` gives
    :math:`\mathrm{Var}(z) = n_{in}\,\sigma_w^2\,E[\phi(z_{prev})^2]`
    forwards and :math:`n_{out}\,\sigma_w^2\,E[\phi'^2]` times the gradient
    variance backwards. Keeping both at 1:

    ==============  =====================================================  ===========
    activation      initializer (variance of the weights)                   torch gain
    ==============  =====================================================  ===========
    linear          ``GlorotUniform`` :math:`2/(n_{in}+n_{out})`            1
    tanh            ``GlorotUniform`` (:math:`\tanh' (0) = 1`)              5/3
    sigmoid         ``GlorotUniform``                                       1
    relu            ``HeNormal`` :math:`2/n_{in}`                           √2
    leaky_relu      ``VarianceScaling(2/(1+a^2), "fan_in")``, a = 0.01      √(2/(1+a²))
    selu            ``LecunNormal`` :math:`1/n_{in}`                        3/4
    gelu            ``VarianceScaling(2.3517, "fan_in")``                   1.5335 (*)
    ==============  =====================================================  ===========

    Reasoning:

    * linear, tanh, sigmoid -- Glorot & Bengio (2010): :math:`\phi' \approx
      1` near 0 (1/4 for sigmoid), so the forward condition
      :math:`n_{in}\sigma_w^2 = 1` and the backward one
      :math:`n_{out}\sigma_w^2 = 1` are both met on average by
      :math:`\sigma_w^2 = 2/(n_{in}+n_{out})` (exactly when the layer is
      square). For tanh this is the edge of chaos: deeper, the activations
      shrink slowly (like :math:`1/\sqrt{2\,\mathrm{layer}}`), never
      exponentially; a larger gain (torch's 5/3) makes deep tanh nets chaotic
      and their gradients grow.
    * relu -- He et al. (2015): half the units are zero,
      :math:`E[\mathrm{relu}(z)^2] = \mathrm{Var}(z)/2`, hence
      :math:`\sigma_w^2 = 2/n_{in}` at any depth (ReLU is homogeneous).
    * leaky_relu -- the same with the negative part:
      :math:`E[\phi(z)^2] = (1+a^2)\,\mathrm{Var}(z)/2`; with the default
      slope 0.01 this is He within 0.01 %, and the same variance as torch's
      ``kaiming_normal_(w, a=0.01, nonlinearity="leaky_relu")``.
    * selu -- Klambauer et al. (2017): SELU's constants make mean 0 and
      variance 1 a stable fixed point when :math:`\sigma_w^2 = 1/n_{in}`
      (LeCun normal). torch's ``calculate_gain("selu")`` is 3/4, an empirical
      value; torch's own documentation says to use ``nonlinearity="linear"``
      (gain 1, the LeCun variance) for self-normalizing networks.
    * gelu -- :math:`E[\mathrm{gelu}(z)^2] = 1/3 + 1/(2\pi\sqrt 3) = 0.4252`
      for :math:`z \sim N(0,1)`, so :math:`\sigma_w^2 = 2.3517/n_{in}` keeps
      unit variance. This fixed point is not stable (GELU is not
      homogeneous): a deep plain GELU stack drifts slowly away from it, while
      He (:math:`2/n_{in}`) makes it shrink. (*) torch's ``calculate_gain``
      has no ``"gelu"``; the gain returned is :math:`\sqrt{2.3517}`, the
      one that gives this variance as ``std = gain / sqrt(fan_in)``.

    Initializers are returned unseeded (each call draws a seed, as Keras
    does); pass ``seed=`` by rebuilding from ``get_config()`` if needed.

    Parameters
    ----------
    activation : str
        One of :data:`ACTIVATIONS`.

    Returns
    -------
    (Initializer, float)

    Raises
    ------
    ValueError
        For an unknown activation (the message lists the accepted ones).

    Examples
    --------
    >>> import fastinit
    >>> init, gain = fastinit.recommend("relu")
    >>> init, round(gain, 4)                             # doctest: +ELLIPSIS
    (HeNormal(seed=None, input_axes=None, output_axes=None), 1.4142)
    >>> type(fastinit.recommend("tanh")[0]).__name__, fastinit.recommend("tanh")[1]
    ('GlorotUniform', 1.6666666666666667)
    """
    activation = _check_activation(activation)
    if activation in ("linear", "tanh", "sigmoid"):
        return GlorotUniform(), 5.0 / 3.0 if activation == "tanh" else 1.0
    if activation == "relu":
        return HeNormal(), math.sqrt(2.0)
    if activation == "leaky_relu":
        scale = _leaky_relu_scale()
        return VarianceScaling(scale, "fan_in", "truncated_normal"), math.sqrt(scale)
    if activation == "selu":
        return LecunNormal(), 0.75
    scale = 1.0 / _GELU_SECOND_MOMENT  # gelu
    return VarianceScaling(scale, "fan_in", "truncated_normal"), math.sqrt(scale)
