"""Sampled initializers: ``RandomUniform``, ``RandomNormal``, ``TruncatedNormal``,
``VarianceScaling`` and its presets (Glorot, He, LeCun)."""

from __future__ import annotations

import math

from .._core import PreparedFill
from .._validate import check_real as _check_real
from ..fans import compute_fans, mode_fan
from ._base import _check_axes_arg, _RandomInitializer

#: Standard deviation of the standard normal truncated to [-2, 2]; Keras and
#: JAX divide by it so that VarianceScaling's *truncated* samples have the
#: target variance.
TRUNCATED_STDDEV_CORRECTION = 0.87962566103423978


# ---------------------------------------------------------------------------
# random initializers


class RandomUniform(_RandomInitializer):
    r"""RandomUniform(minval=-0.05, maxval=0.05, seed=None, *, stream=0)

    Samples of :math:`U[\mathrm{minval}, \mathrm{maxval})`.

    Parameters
    ----------
    minval, maxval : float
        Bounds of the interval.
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        ``None`` draws a seed once, at construction.
    stream : int or str
        Stream of the Philox generator (a str is hashed by :func:`fastinit.stream_id`).

    Examples
    --------
    >>> from fastinit.initializers import RandomUniform
    >>> init = RandomUniform(-1.0, 1.0, seed=0)
    >>> w = init((256, 256))
    >>> bool((w >= -1).all() and (w < 1).all()), bool((w == init((256, 256))).all())
    (True, True)
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None, *, stream=0):
        self.minval = _check_real(minval, "minval")
        self.maxval = _check_real(maxval, "maxval")
        if self.minval > self.maxval:
            raise ValueError(
                f"minval must be <= maxval; got minval={self.minval}, maxval={self.maxval}"
            )
        super().__init__(seed, stream=stream)

    def _sampler(self, shape, dtype):
        return PreparedFill("uniform", dtype, self.minval, self.maxval,
                            seed=self._call_seed(), stream=self.stream)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class _MeanStddev(_RandomInitializer):
    """``mean`` and ``stddev >= 0``: what RandomNormal and TruncatedNormal share."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None, *, stream=0):
        self.mean = _check_real(mean, "mean")
        self.stddev = _check_real(stddev, "stddev")
        if self.stddev < 0:
            raise ValueError(f"stddev must be >= 0; got {self.stddev}")
        super().__init__(seed, stream=stream)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomNormal(_MeanStddev):
    r"""RandomNormal(mean=0.0, stddev=0.05, seed=None, *, stream=0)

    Samples of :math:`\mathcal N(\mathrm{mean}, \mathrm{stddev}^2)`.

    Parameters
    ----------
    mean, stddev : float
        Mean and standard deviation (``stddev >= 0``).
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        ``None`` draws a seed once, at construction.
    stream : int or str
        Stream of the Philox generator.

    Examples
    --------
    >>> from fastinit.initializers import RandomNormal
    >>> w = RandomNormal(mean=1.0, stddev=0.5, seed=0)((512, 512))
    >>> round(float(w.mean()), 1), round(float(w.std()), 1)
    (1.0, 0.5)
    """

    def _sampler(self, shape, dtype):
        return PreparedFill("normal", dtype, self.mean, self.stddev,
                            seed=self._call_seed(), stream=self.stream)


class TruncatedNormal(_MeanStddev):
    r"""TruncatedNormal(mean=0.0, stddev=0.05, seed=None, *, stream=0)

    Samples of :math:`\mathcal N(\mathrm{mean}, \mathrm{stddev}^2)` conditioned
    on :math:`|w - \mathrm{mean}| \le 2\,\mathrm{stddev}` (Keras' truncation).
    ``stddev`` is that of the normal *before* truncation: the samples' standard
    deviation is :math:`0.8796\ldots\times\mathrm{stddev}`.

    Parameters
    ----------
    mean, stddev : float
        Mean and standard deviation before truncation (``stddev >= 0``).
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        ``None`` draws a seed once, at construction.
    stream : int or str
        Stream of the Philox generator.

    Examples
    --------
    >>> from fastinit.initializers import TruncatedNormal
    >>> w = TruncatedNormal(stddev=1.0, seed=0)((100_000,))
    >>> bool(abs(w).max() <= 2.0)
    True
    """

    def _sampler(self, shape, dtype):
        return PreparedFill("truncated_normal", dtype, self.mean, self.stddev, -2.0, 2.0,
                            seed=self._call_seed(), stream=self.stream)


class VarianceScaling(_RandomInitializer):
    r"""VarianceScaling(scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                    input_axes=None, output_axes=None, *, stream=0)

    Initializer whose scale adapts to the shape of the weights (Keras 3).

    With :math:`n` = ``fan_in``, ``fan_out`` or :math:`(\mathrm{fan\_in} +
    \mathrm{fan\_out})/2` by ``mode`` (fans of :func:`fastinit.compute_fans`,
    Keras layout), and :math:`\sigma^2 = \mathrm{scale} / \max(1, n)`:

    * ``"truncated_normal"`` (also ``"normal"``, as in Keras): normal with
      standard deviation :math:`\sigma / 0.87962566103423978` truncated to
      :math:`\pm 2` of it, so the samples have standard deviation
      :math:`\sigma` (0.8796... is the standard deviation of a standard normal
      truncated to [-2, 2]);
    * ``"untruncated_normal"``: :math:`\mathcal N(0, \sigma^2)`;
    * ``"uniform"``: :math:`U[-\ell, \ell)` with :math:`\ell = \sqrt{3}\,\sigma`.

    Parameters
    ----------
    scale : float
        Positive scaling factor.
    mode : {"fan_in", "fan_out", "fan_avg"}
    distribution : {"truncated_normal", "untruncated_normal", "uniform", "normal"}
        Case-insensitive; stored lower-case with ``"normal"`` mapped to
        ``"truncated_normal"``.
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        ``None`` draws a seed once, at construction.
    input_axes, output_axes : list of int, optional
        Axes whose sizes multiply into fan-in and fan-out (used only when both
        are given, as in Keras).
    stream : int or str
        Stream of the Philox generator.

    Examples
    --------
    >>> from fastinit.initializers import VarianceScaling
    >>> init = VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform", seed=0)
    >>> w = init((3, 3, 64, 128))       # fan_in = 3 * 3 * 64 = 576
    >>> limit = (3 * 2.0 / 576) ** 0.5
    >>> bool(abs(w).max() <= limit), round(float(w.std() / (2.0 / 576) ** 0.5), 2)
    (True, 1.0)
    """

    _MODES = ("fan_avg", "fan_in", "fan_out")
    _DISTRIBUTIONS = ("normal", "truncated_normal", "uniform", "untruncated_normal")

    def __init__(
        self,
        scale=1.0,
        mode="fan_in",
        distribution="truncated_normal",
        seed=None,
        input_axes=None,
        output_axes=None,
        *,
        stream=0,
    ):
        scale = _check_real(scale, "scale", finite=False)
        if not scale > 0 or math.isinf(scale):
            raise ValueError(
                f"Argument `scale` must be positive float. Received: scale={scale} "
                "(a positive finite number)"
            )
        if mode not in self._MODES:
            raise ValueError(
                f"Invalid `mode` argument: {mode}. Please use one of "
                + ", ".join(repr(m) for m in self._MODES)
            )
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        if dist not in self._DISTRIBUTIONS:
            raise ValueError(
                f"Invalid `distribution` argument: {distribution}. Please use one of "
                + ", ".join(repr(d) for d in self._DISTRIBUTIONS)
            )
        if dist == "normal":
            dist = "truncated_normal"
        self.scale = scale
        self.mode = mode
        self.distribution = dist
        self.input_axes = _check_axes_arg(input_axes, "input_axes")
        self.output_axes = _check_axes_arg(output_axes, "output_axes")
        super().__init__(seed, stream=stream)

    def _scale(self, shape):
        """Keras' ``scale / max(1, n)``: the variance of the samples."""
        fan_in, fan_out = compute_fans(
            shape, layout="keras", input_axes=self.input_axes, output_axes=self.output_axes
        )
        return self.scale / max(1.0, mode_fan(fan_in, fan_out, self.mode))

    def _sampler(self, shape, dtype):
        scale = self._scale(shape)
        seed, stream = self._call_seed(), self.stream
        if self.distribution == "truncated_normal":
            std = math.sqrt(scale) / TRUNCATED_STDDEV_CORRECTION
            return PreparedFill("truncated_normal", dtype, 0.0, std, -2.0, 2.0,
                                seed=seed, stream=stream)
        if self.distribution == "untruncated_normal":
            return PreparedFill("normal", dtype, 0.0, math.sqrt(scale), seed=seed, stream=stream)
        limit = math.sqrt(3.0 * scale)
        return PreparedFill("uniform", dtype, -limit, limit, seed=seed, stream=stream)

    def get_config(self):
        base = super().get_config()
        config = {
            "seed": base["seed"],
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }
        if "stream" in base:
            config["stream"] = base["stream"]
        return config


class _VarianceScalingPreset(VarianceScaling):
    """A VarianceScaling with fixed scale, mode and distribution."""

    _preset: tuple[float, str, str]

    def __init__(self, seed=None, input_axes=None, output_axes=None, *, stream=0):
        scale, mode, distribution = self._preset
        super().__init__(
            scale=scale,
            mode=mode,
            distribution=distribution,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
            stream=stream,
        )

    def get_config(self):
        config = super().get_config()
        return {
            key: config[key]
            for key in ("seed", "input_axes", "output_axes", "stream")
            if key in config
        }


_PRESET_PARAMS = """
    Parameters
    ----------
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        ``None`` draws a seed once, at construction.
    input_axes, output_axes : list of int, optional
        Axes whose sizes multiply into fan-in and fan-out (both or neither).
    stream : int or str
        Stream of the Philox generator."""


class GlorotUniform(_VarianceScalingPreset):
    r"""GlorotUniform(seed=None, input_axes=None, output_axes=None, *, stream=0)

    The Glorot (Xavier) uniform initializer: :math:`U[-\ell, \ell)` with
    :math:`\ell = \sqrt{6 / (\mathrm{fan\_in} + \mathrm{fan\_out})}`;
    ``VarianceScaling(1.0, "fan_avg", "uniform")``. Glorot & Bengio (2010).
    Also known as ``"xavier_uniform"``.
    {params}

    Examples
    --------
    >>> from fastinit.initializers import GlorotUniform
    >>> w = GlorotUniform(seed=0)((300, 500))
    >>> bool(abs(w).max() <= (6 / 800) ** 0.5)
    True
    """

    _preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_VarianceScalingPreset):
    r"""GlorotNormal(seed=None, input_axes=None, output_axes=None, *, stream=0)

    The Glorot (Xavier) normal initializer: truncated normal (±2 of its
    parameter) with standard deviation
    :math:`\sqrt{2 / (\mathrm{fan\_in} + \mathrm{fan\_out})}` after truncation;
    ``VarianceScaling(1.0, "fan_avg", "truncated_normal")``. Glorot & Bengio (2010).
    {params}

    Examples
    --------
    >>> from fastinit.initializers import GlorotNormal
    >>> w = GlorotNormal(seed=0)((300, 500))
    >>> round(float(w.std() / (2 / 800) ** 0.5), 2)
    1.0
    """

    _preset = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_VarianceScalingPreset):
    r"""HeUniform(seed=None, input_axes=None, output_axes=None, *, stream=0)

    The He (Kaiming) uniform initializer: :math:`U[-\ell, \ell)` with
    :math:`\ell = \sqrt{6 / \mathrm{fan\_in}}`;
    ``VarianceScaling(2.0, "fan_in", "uniform")``. He et al. (2015).
    Also known as ``"kaiming_uniform"``.
    {params}

    Examples
    --------
    >>> from fastinit.initializers import HeUniform
    >>> w = HeUniform(seed=0)((3, 3, 16, 32))
    >>> bool(abs(w).max() <= (6 / 144) ** 0.5)
    True
    """

    _preset = (2.0, "fan_in", "uniform")


class HeNormal(_VarianceScalingPreset):
    r"""HeNormal(seed=None, input_axes=None, output_axes=None, *, stream=0)

    The He (Kaiming) normal initializer: truncated normal with standard
    deviation :math:`\sqrt{2 / \mathrm{fan\_in}}` after truncation;
    ``VarianceScaling(2.0, "fan_in", "truncated_normal")``. He et al. (2015).
    {params}

    Examples
    --------
    >>> from fastinit.initializers import HeNormal
    >>> w = HeNormal(seed=0)((3, 3, 64, 128))
    >>> round(float(w.std() / (2 / 576) ** 0.5), 2)
    1.0
    """

    _preset = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_VarianceScalingPreset):
    r"""LecunUniform(seed=None, input_axes=None, output_axes=None, *, stream=0)

    The LeCun uniform initializer: :math:`U[-\ell, \ell)` with
    :math:`\ell = \sqrt{3 / \mathrm{fan\_in}}`;
    ``VarianceScaling(1.0, "fan_in", "uniform")``. Klambauer et al. (2017).
    {params}

    Examples
    --------
    >>> from fastinit.initializers import LecunUniform
    >>> w = LecunUniform(seed=0)((300, 100))
    >>> bool(abs(w).max() <= 0.1)
    True
    """

    _preset = (1.0, "fan_in", "uniform")


class LecunNormal(_VarianceScalingPreset):
    r"""LecunNormal(seed=None, input_axes=None, output_axes=None, *, stream=0)

    The LeCun normal initializer: truncated normal with standard deviation
    :math:`\sqrt{1 / \mathrm{fan\_in}}` after truncation;
    ``VarianceScaling(1.0, "fan_in", "truncated_normal")``. Klambauer et al. (2017).
    {params}

    Examples
    --------
    >>> from fastinit.initializers import LecunNormal
    >>> w = LecunNormal(seed=0)((400, 300))
    >>> round(float(w.std() * 400 ** 0.5), 2)
    1.0
    """

    _preset = (1.0, "fan_in", "truncated_normal")


for _cls in (GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal):
    if _cls.__doc__ is not None:  # None under ``python -OO``
        _cls.__doc__ = _cls.__doc__.replace("{params}", _PRESET_PARAMS)
del _cls
