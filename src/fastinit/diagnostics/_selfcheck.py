r"""The statistical self-check of every initializer (:func:`check_initializers`).

Each initializer of :mod:`fastinit.initializers` samples a representative
shape and the values are compared with the formula (moments, limits,
Kolmogorov-Smirnov test); the ``fastinit check`` command prints the result.
The names are re-exported by :mod:`fastinit.diagnostics`, the path to import
them from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._core import resolve_seed, stream_id
from ..initializers import (
    STFT,
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Identity,
    LecunNormal,
    LecunUniform,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
)
from ._propagation import _INV_SQRT_2PI, _SQRT1_2, _ndtr

__all__ = ["CheckResult", "check_initializers"]


@dataclass(frozen=True)
class _Uniform:
    low: float
    high: float

    def __str__(self):
        return f"U({self.low:.4g}, {self.high:.4g})"

    @property
    def mean(self):
        return 0.5 * (self.low + self.high)

    @property
    def std(self):
        return (self.high - self.low) / math.sqrt(12.0)

    kurtosis = 1.8
    lo = property(lambda self: self.low)
    hi = property(lambda self: self.high)

    def cdf(self, x):
        return np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)

    def pdf(self, x):
        inside = (x >= self.low) & (x <= self.high)
        return np.where(inside, 1.0 / (self.high - self.low), 0.0)


@dataclass(frozen=True)
class _Normal:
    loc: float
    scale: float

    def __str__(self):
        return f"N({self.loc:.4g}, {self.scale:.4g})"

    mean = property(lambda self: self.loc)
    std = property(lambda self: self.scale)
    kurtosis = 3.0
    lo, hi = -math.inf, math.inf

    def cdf(self, x):
        return _ndtr((x - self.loc) / self.scale)

    def pdf(self, x):
        u = (x - self.loc) / self.scale
        return _INV_SQRT_2PI / self.scale * np.exp(-0.5 * u * u)


@dataclass(frozen=True)
class _TruncatedNormal:
    """N(loc, scale) restricted to [loc + a*scale, loc + b*scale]."""

    loc: float
    scale: float
    a: float = -2.0
    b: float = 2.0

    def __str__(self):
        return f"TN({self.loc:.4g}, {self.scale:.4g}; {self.a:g}..{self.b:g})"

    def _moments(self):
        """Raw moments 1..4 of the standardized truncated normal (recursion
        m_k = (k-1) m_{k-2} - (b^{k-1} phi(b) - a^{k-1} phi(a)) / Z)."""
        a, b = self.a, self.b
        pa, pb = (_INV_SQRT_2PI * math.exp(-0.5 * t * t) for t in (a, b))
        z = 0.5 * (math.erfc(-b * _SQRT1_2) - math.erfc(-a * _SQRT1_2))
        m = [1.0, -(pb - pa) / z]
        for k in range(2, 5):
            m.append((k - 1) * m[k - 2] - (b ** (k - 1) * pb - a ** (k - 1) * pa) / z)
        return m

    @property
    def mean(self):
        return self.loc + self.scale * self._moments()[1]

    @property
    def std(self):
        m = self._moments()
        return self.scale * math.sqrt(m[2] - m[1] ** 2)

    @property
    def kurtosis(self):
        _, m1, m2, m3, m4 = self._moments()
        var = m2 - m1 * m1
        return (m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1**4) / var**2

    lo = property(lambda self: self.loc + self.a * self.scale)
    hi = property(lambda self: self.loc + self.b * self.scale)

    def _mass(self):
        return _ndtr(self.b) - _ndtr(self.a)

    def cdf(self, x):
        u = np.clip((x - self.loc) / self.scale, self.a, self.b)
        return np.clip((_ndtr(u) - _ndtr(self.a)) / self._mass(), 0.0, 1.0)

    def pdf(self, x):
        u = (x - self.loc) / self.scale
        inside = (u >= self.a) & (u <= self.b)
        return np.where(inside, _INV_SQRT_2PI * np.exp(-0.5 * u * u) / (self.scale * self._mass()),
                        0.0)


def _kolmogorov_sf(lam):
    """P(sqrt(n) D > lam) in the limit (Kolmogorov's distribution, as SciPy's
    ``kstwobign.sf``): two series, each fast where the other is slow."""
    if lam <= 0.0:
        return 1.0
    k = np.arange(1, 101, dtype=np.float64)
    if lam < 1.0:
        cdf = math.sqrt(2 * math.pi) / lam * float(
            np.sum(np.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * lam * lam))))
        return 1.0 - cdf
    terms = np.exp(-2.0 * k * k * lam * lam) * np.where(k % 2 == 1, 1.0, -1.0)
    return float(min(1.0, max(0.0, 2.0 * np.sum(terms))))


def _ks_test(samples, cdf):
    """One-sample Kolmogorov-Smirnov test: ``(D, asymptotic p-value)``."""
    x = np.sort(np.asarray(samples, np.float64).ravel())
    n = x.size
    f = cdf(x)
    i = np.arange(1, n + 1, dtype=np.float64)
    d = float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))
    return d, _kolmogorov_sf(math.sqrt(n) * d)


@dataclass(frozen=True)
class _Case:
    """One line of the self-check: ``init(shape)`` should follow ``expected``,
    a distribution, or equal it exactly when it is an array. ``orthogonal``
    is the gain of an orthogonal matrix to check (columns, or rows)."""

    label: str
    init: object
    shape: tuple
    expected: object
    orthogonal: float | None = None


@dataclass
class CheckResult:
    """One row of :func:`check_initializers`.

    Attributes
    ----------
    label : str
        The initializer and its arguments.
    shape : tuple of int
        The shape sampled.
    expected : str
        The expected distribution (``U(low, high)``, ``N(mean, std)``,
        ``TN(mean, std; a..b)`` with the parent normal's std and bounds in
        stds) or ``"exact"`` for deterministic initializers.
    samples : numpy.ndarray
        The values, flattened, as float64.
    mean, std, expected_mean, expected_std : float
        Empirical and expected moments (NaN when not applicable).
    ks_stat, ks_pvalue : float
        Kolmogorov-Smirnov statistic and p-value (NaN for exact cases).
    problems : list of str
        Why it failed; empty when it passed.
    distribution : object or None
        The expected distribution, with ``pdf``/``cdf`` (None when exact).

    Examples
    --------
    >>> from fastinit.diagnostics import check_initializers
    >>> r = check_initializers(seed=0)[0]
    >>> r.label, r.shape, r.expected, r.passed, r.problems
    ('RandomUniform', (512, 256), 'U(-0.05, 0.05)', True, [])
    >>> round(r.expected_std, 5)                  # (0.05 - -0.05) / sqrt(12)
    0.02887
    """

    label: str
    shape: tuple
    expected: str
    samples: np.ndarray
    mean: float = math.nan
    std: float = math.nan
    expected_mean: float = math.nan
    expected_std: float = math.nan
    ks_stat: float = math.nan
    ks_pvalue: float = math.nan
    problems: list = field(default_factory=list)
    distribution: object = None

    @property
    def passed(self) -> bool:
        """True when nothing is in ``problems``."""
        return not self.problems


# Representative shapes: a Dense kernel and a 3x3 convolution kernel (HWIO).
_DENSE = (512, 256)           # fan_in 512, fan_out 256
_CONV = (3, 3, 64, 128)       # fan_in 3*3*64 = 576, fan_out 3*3*128 = 1152
_DENSE_FANS = (512, 256)
_CONV_FANS = (576, 1152)


def _truncated(std):
    """Keras' truncated normal whose *actual* std is ``std``: parent std
    ``std / s`` with ``s`` the std of N(0, 1) truncated to [-2, 2]."""
    return _TruncatedNormal(0.0, std / _TruncatedNormal(0.0, 1.0).std)


def _stft_reference(frame_length, bins):
    """Windowed DFT of unit impulses (``numpy.fft.rfft``), Hann window, density scaling."""
    win = np.hanning(frame_length)
    spectrum = np.fft.rfft(np.diag(win), n=2 * (bins - 1), axis=1)
    return (spectrum.real / math.sqrt(float(np.sum(win * win))))[:, None, :]


def _default_cases(seed):
    """The self-check's cases; each initializer gets its own stream."""
    fi, fo = _DENSE_FANS
    ci, co = _CONV_FANS

    def made(cls, *args, **kwargs):
        label = cls.__name__ + (
            "(" + ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())]) + ")"
            if args or kwargs else "")
        if cls in _DETERMINISTIC:
            return label, cls(*args, **kwargs)
        return label, cls(*args, seed=seed, stream=stream_id("check/" + label), **kwargs)

    def case(made_, shape, expected, **extra):
        return _Case(made_[0], made_[1], shape, expected, **extra)

    return [
        case(made(RandomUniform), _DENSE, _Uniform(-0.05, 0.05)),
        case(made(RandomNormal), _DENSE, _Normal(0.0, 0.05)),
        case(made(TruncatedNormal), _DENSE, _TruncatedNormal(0.0, 0.05)),
        case(made(VarianceScaling), _CONV, _truncated(math.sqrt(1.0 / ci))),
        case(made(VarianceScaling, 2.0, "fan_out", "untruncated_normal"), _CONV,
             _Normal(0.0, math.sqrt(2.0 / co))),
        case(made(VarianceScaling, 0.5, "fan_avg", "uniform"), _CONV,
             _Uniform(-math.sqrt(3 * 0.5 / ((ci + co) / 2)), math.sqrt(3 * 0.5 / ((ci + co) / 2)))),
        case(made(GlorotUniform), _DENSE,
             _Uniform(-math.sqrt(6.0 / (fi + fo)), math.sqrt(6.0 / (fi + fo)))),
        case(made(GlorotNormal), _DENSE, _truncated(math.sqrt(2.0 / (fi + fo)))),
        case(made(HeUniform), _CONV, _Uniform(-math.sqrt(6.0 / ci), math.sqrt(6.0 / ci))),
        case(made(HeNormal), _CONV, _truncated(math.sqrt(2.0 / ci))),
        case(made(LecunUniform), _DENSE, _Uniform(-math.sqrt(3.0 / fi), math.sqrt(3.0 / fi))),
        case(made(LecunNormal), _DENSE, _truncated(math.sqrt(1.0 / fi))),
        # Columns of a Haar orthogonal 512 x 256 matrix are random unit vectors
        # of R^512: entries are N(0, 1/512) up to O(1/512) in distribution.
        case(made(Orthogonal), _DENSE, _Normal(0.0, math.sqrt(1.0 / fi)), orthogonal=1.0),
        case(made(Identity), (64, 64), np.eye(64)),
        case(made(Zeros), (64, 64), np.zeros((64, 64))),
        case(made(Ones), (64, 64), np.ones((64, 64))),
        case(made(Constant, value=0.5), (64, 64), np.full((64, 64), 0.5)),
        case(made(STFT), (64, 1, 33), _stft_reference(64, 33)),
    ]


_DETERMINISTIC = (Zeros, Ones, Constant, Identity, STFT)

#: z-score beyond which an empirical mean or std disagrees with the formula.
_Z_LIMIT = 5.0
#: An empty band at a bound wider than this many expected gaps is a failure.
_GAP_LIMIT = 20.0


def _check_case(case, alpha):
    values = case.init(case.shape)
    samples = np.asarray(values, np.float64).ravel()
    dtype = np.dtype(values.dtype)
    if values.shape != tuple(case.shape):
        return CheckResult(case.label, case.shape, "", samples,
                           problems=[f"shape {values.shape}, expected {case.shape}"])
    if isinstance(case.expected, np.ndarray):
        expected = case.expected.astype(dtype).astype(np.float64).ravel()
        err = float(np.max(np.abs(samples - expected))) if samples.size else 0.0
        # float32 results computed in float64 and rounded once: one ulp.
        tol = float(np.finfo(dtype).eps) * float(np.max(np.abs(expected), initial=1.0))
        problems = [] if err <= tol else [f"max |value - formula| = {err:.3g} > {tol:.3g}"]
        return CheckResult(case.label, case.shape, "exact", samples,
                           mean=float(samples.mean()), std=float(samples.std()),
                           expected_mean=float(expected.mean()), expected_std=float(expected.std()),
                           problems=problems)

    dist = case.expected
    n = samples.size
    mean, std = float(samples.mean()), float(samples.std())
    problems = []
    mean_se = dist.std / math.sqrt(n)
    if abs(mean - dist.mean) > _Z_LIMIT * mean_se:
        problems.append(f"mean {mean:.4g}, expected {dist.mean:.4g} ± {_Z_LIMIT * mean_se:.2g}")
    std_se = dist.std * math.sqrt((dist.kurtosis - 1.0) / (4.0 * n))
    if abs(std - dist.std) > _Z_LIMIT * std_se:
        problems.append(f"std {std:.4g}, expected {dist.std:.4g} ± {_Z_LIMIT * std_se:.2g}")
    lo = float(np.asarray(dist.lo, dtype))  # the bounds rounded to the output dtype
    hi = float(np.asarray(dist.hi, dtype))
    if samples.min() < lo or samples.max() > hi:
        problems.append(f"values in [{samples.min():.6g}, {samples.max():.6g}], outside the "
                        f"limits [{lo:.6g}, {hi:.6g}]")
    for exact, bound, end in ((dist.lo, lo, samples.min()), (dist.hi, hi, samples.max())):
        if math.isfinite(bound):
            # With density p at the bound, the gap to the nearest sample is
            # about Exponential(n p); 20 times its mean has probability e^-20.
            density = float(dist.pdf(np.array(exact + (dist.mean - exact) * 1e-9)))
            if abs(bound - end) > _GAP_LIMIT / (n * density):
                problems.append(f"no values within {abs(bound - end):.3g} of the limit {bound:.6g}")
    d, p = _ks_test(samples, dist.cdf)
    if p < alpha:
        problems.append(f"KS test: D = {d:.3g}, p = {p:.2g} < {alpha:g}")
    if case.orthogonal is not None:
        m = np.asarray(values, np.float64).reshape(-1, case.shape[-1])
        if m.shape[0] < m.shape[1]:
            m = m.T
        gram = m.T @ m
        err = float(np.max(np.abs(gram - case.orthogonal**2 * np.eye(gram.shape[0]))))
        tol = 64 * float(np.finfo(dtype).eps) * case.orthogonal**2
        if err > tol:
            problems.append(f"not orthogonal: max |Q^T Q - gain^2 I| = {err:.3g} > {tol:.3g}")
    return CheckResult(case.label, case.shape, str(dist), samples, mean=mean, std=std,
                       expected_mean=dist.mean, expected_std=dist.std, ks_stat=d, ks_pvalue=p,
                       problems=problems, distribution=dist)


def check_initializers(seed=0, *, alpha=1e-3, cases=None):
    r"""check_initializers(seed=0, *, alpha=1e-3, cases=None) -> list[CheckResult]

    Statistical self-check of every initializer of :mod:`fastinit.initializers`
    (what ``fastinit check`` prints).

    Each initializer samples a representative shape -- a Dense kernel
    ``(512, 256)`` or a convolution kernel ``(3, 3, 64, 128)`` (fans 576 and
    1152) -- in float32, with ``seed`` and its own stream. The expected
    distribution is computed here from the Keras formulas, independently of
    the initializers' code (e.g. GlorotUniform:
    :math:`U(\pm\sqrt{6/(n_{in}+n_{out})})`; truncated normals cut at
    :math:`\pm 2\sigma` with actual std :math:`\sqrt{\mathrm{scale}/n}`).
    A sampled initializer passes when:

    * the empirical mean and std lie within 5 standard errors of the formula
      (the std's standard error is
      :math:`\sigma\sqrt{(\kappa-1)/4n}`, :math:`\kappa` the kurtosis);
    * no value lies outside the distribution's limits (rounded to float32),
      and the values reach the limits (no empty band wider than 20 expected
      gaps);
    * a Kolmogorov-Smirnov test against the expected CDF gives
      :math:`p \ge` ``alpha`` (asymptotic p-value);
    * Orthogonal: :math:`Q^\top Q = \mathrm{gain}^2 I` to float32 precision
      (its entries are tested against :math:`N(0, 1/512)`, their large-size
      limit).

    Deterministic initializers (Zeros, Ones, Constant, Identity, STFT) must
    equal their formula to one float32 ulp; STFT is compared with a Hann
    window times ``numpy.fft.rfft`` of unit impulses.

    With a fixed seed the outcome is deterministic. Over random seeds, a
    correct initializer fails its KS test with probability ``alpha``.

    Parameters
    ----------
    seed : int
        Seed of every sampled initializer.
    alpha : float
        Significance level of the KS tests.
    cases : list, optional
        Replaces the built-in list of cases (a testing hook).

    Returns
    -------
    list of CheckResult

    Examples
    --------
    >>> from fastinit.diagnostics import check_initializers
    >>> results = check_initializers(seed=0)
    >>> all(r.passed for r in results), len(results)
    (True, 18)
    """
    if cases is None:
        cases = _default_cases(resolve_seed(seed))
    return [_check_case(case, alpha) for case in cases]
