"""What a scheme gives one tensor: a :class:`Rule` (distribution + parameters).

A rule is turned into a fastinit initializer for ``(seed, stream)`` by
:meth:`Rule.initializer`: :class:`fastinit.RandomNormal`,
:class:`fastinit.RandomUniform`, :class:`fastinit.Zeros`, :class:`fastinit.Ones`,
or :class:`TruncatedNormalAbs` for a normal truncated to an absolute window
``[a, b]`` (torch's ``trunc_normal_(std, a, b)`` semantics; Keras'
``TruncatedNormal`` only truncates at 2 std).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from .._bounds import std_units as _std_units
from .._core import PreparedFill, resolve_seed
from .._regions import runs
from .._validate import check_stream
from ..initializers import Initializer, Ones, RandomNormal, RandomUniform, Zeros

__all__ = ["Rule", "TruncatedNormalAbs"]


class TruncatedNormalAbs(Initializer):
    r"""TruncatedNormalAbs(mean=0.0, stddev=1.0, a=-2.0, b=2.0, seed=None, *, stream=0)

    Samples of :math:`\mathcal N(\mathrm{mean}, \mathrm{stddev}^2)` conditioned
    on :math:`a \le w \le b`, with ``a`` and ``b`` *absolute* values as in
    ``torch.nn.init.trunc_normal_`` (torchtitan's ``std=0.02`` with the default
    ``a=-2, b=2`` is a window of :math:`\pm 100\sigma`). The values are those
    of :func:`fastinit.fill_truncated_normal` with the bounds in units of
    ``stddev`` (nudged so that no value leaves ``[a, b]``): exact by inversion
    for any window, one draw per element, whatever ``stddev`` (pytorch issue
    155588 was a wrong distribution for tiny ``stddev`` with such bounds).

    Examples
    --------
    >>> from fastinit.schemes import TruncatedNormalAbs
    >>> w = TruncatedNormalAbs(0.0, 0.02, -0.06, 0.06, seed=0)((256, 256))
    >>> bool(abs(w).max() <= 0.06), round(float(w.std()), 3)
    (True, 0.02)
    """

    def __init__(self, mean=0.0, stddev=1.0, a=-2.0, b=2.0, seed=None, *, stream=0):
        self.mean, self.stddev, self.a, self.b = (float(mean), float(stddev), float(a),
                                                  float(b))
        for key in ("mean", "stddev", "a", "b"):
            value = getattr(self, key)
            if math.isnan(value) or (key in ("mean", "stddev") and math.isinf(value)):
                raise ValueError(f"{key} must be finite; got {value}")
        if not self.stddev > 0:
            raise ValueError(f"stddev must be > 0; got {self.stddev}")
        if not self.a < self.b:
            raise ValueError(f"a must be < b; got a={self.a}, b={self.b}")
        self.seed = resolve_seed(seed)
        self.stream = check_stream(stream)
        self._za = _std_units(self.a, self.mean, self.stddev, True)
        self._zb = _std_units(self.b, self.mean, self.stddev, False)
        if not self._za < self._zb:
            raise ValueError(f"the window [{self.a}, {self.b}] is narrower than the float64 "
                             f"resolution around mean={self.mean} in units of "
                             f"stddev={self.stddev}")

    def _prepare(self, shape, dtype):
        if math.prod(shape) > 2**64:
            raise ValueError(f"shape {shape} has more than 2**64 elements")
        # checks the window against the dtype once, before anything is written
        return PreparedFill("truncated_normal", dtype, self.mean, self.stddev, self._za,
                            self._zb, seed=self.seed, stream=self.stream)

    def _fill(self, out, shape, box, fill):
        for view, offset in runs(out, shape, box):
            fill(view, offset)

    def reseeded(self, seed, stream=0):
        new = copy.copy(self)
        new.seed = resolve_seed(seed)
        new.stream = check_stream(stream)
        return new

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "a": self.a, "b": self.b,
                "seed": self.seed, "stream": self.stream}


def _g(x):
    return f"{x:.6g}"


@dataclass(frozen=True)
class Rule:
    """A distribution for one tensor.

    ``kind`` is ``"normal"`` (``std``), ``"trunc_normal"`` (``std`` before
    truncation, absolute bounds ``a``, ``b``), ``"uniform"`` (``a``, ``b``),
    ``"zeros"`` or ``"ones"``; ``formula`` says where the numbers come from
    (``"0.02/sqrt(2*n_layers)"``).

    Examples
    --------
    >>> from fastinit.schemes import Rule
    >>> r = Rule.trunc_sigma(0.02, 3.0, "std")
    >>> r.describe(), round(r.sample_std, 5)
    ('TN(0, 0.02; [-0.06, 0.06])', 0.01973)
    >>> r.initializer(seed=0, stream=7)((2, 2)).shape
    (2, 2)
    """

    kind: str
    std: float = 0.0
    a: float | None = None
    b: float | None = None
    formula: str = ""

    @classmethod
    def normal(cls, std, formula=""):
        return cls("normal", float(std), formula=formula)

    @classmethod
    def trunc(cls, std, a, b, formula=""):
        return cls("trunc_normal", float(std), float(a), float(b), formula)

    @classmethod
    def trunc_sigma(cls, std, k, formula=""):
        """Normal(0, std) truncated at +-k*std (absolute bounds +-k*std)."""
        return cls.trunc(std, -k * std, k * std, formula)

    @classmethod
    def uniform(cls, a, b, formula=""):
        return cls("uniform", 0.0, float(a), float(b), formula)

    @classmethod
    def zeros(cls, formula="zeros"):
        return cls("zeros", formula=formula)

    @classmethod
    def ones(cls, formula="ones"):
        return cls("ones", formula=formula)

    def scaled(self, factor, note):
        """The same distribution with every scale (std and bounds) times ``factor``."""
        formula = f"({self.formula})*{note}"
        if self.kind == "normal":
            return Rule.normal(self.std * factor, formula)
        if self.kind == "trunc_normal":
            return Rule.trunc(self.std * factor, self.a * factor, self.b * factor, formula)
        if self.kind == "uniform":
            return Rule.uniform(self.a * factor, self.b * factor, formula)
        return self

    @property
    def sample_std(self):
        """Standard deviation of the values this rule gives."""
        if self.kind == "normal":
            return self.std
        if self.kind == "uniform":
            return (self.b - self.a) / math.sqrt(12.0)
        if self.kind == "trunc_normal":
            from statistics import NormalDist
            nd = NormalDist()
            za, zb = self.a / self.std, self.b / self.std
            mass = nd.cdf(zb) - nd.cdf(za)
            pa, pb = nd.pdf(za), nd.pdf(zb)
            ta = za * pa if math.isfinite(za) else 0.0
            tb = zb * pb if math.isfinite(zb) else 0.0
            mean = (pa - pb) / mass
            return self.std * math.sqrt(max(1.0 + (ta - tb) / mass - mean * mean, 0.0))
        return 0.0

    def describe(self):
        if self.kind == "normal":
            return f"N(0, {_g(self.std)})"
        if self.kind == "trunc_normal":
            return f"TN(0, {_g(self.std)}; [{_g(self.a)}, {_g(self.b)}])"
        if self.kind == "uniform":
            return f"U({_g(self.a)}, {_g(self.b)})"
        return self.kind

    def initializer(self, seed, stream):
        """The fastinit initializer of this rule on ``(seed, stream)``."""
        if self.kind == "normal":
            return RandomNormal(0.0, self.std, seed=seed, stream=stream)
        if self.kind == "trunc_normal":
            return TruncatedNormalAbs(0.0, self.std, self.a, self.b, seed=seed, stream=stream)
        if self.kind == "uniform":
            return RandomUniform(self.a, self.b, seed=seed, stream=stream)
        if self.kind == "zeros":
            return Zeros()
        if self.kind == "ones":
            return Ones()
        raise ValueError(f"unknown rule kind {self.kind!r}")
