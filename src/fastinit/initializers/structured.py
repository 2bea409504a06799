"""Structured initializers: ``STFT`` (Fourier kernels, with its windows) and
``Orthogonal`` (QR of a Gaussian matrix)."""

from __future__ import annotations

import math

import numpy as np

from .._core import fill_normal
from .._validate import check_real as _check_real
from ._base import Initializer, _cast_scalar, _RandomInitializer


def _cosine_window(coefficients, n, periodic):
    # scipy.signal.windows.general_cosine, the same operations in the same
    # order, so hann/hamming/blackman match SciPy bit for bit without SciPy.
    if n <= 1:
        return np.ones(n)
    m = n + 1 if periodic else n
    fac = np.linspace(-np.pi, np.pi, m)
    w = np.zeros(m)
    for k, a in enumerate(coefficients):
        w += a * np.cos(k * fac)
    return w[:-1] if periodic else w


_NUMPY_WINDOWS = {
    "hann": (0.5, 0.5),
    "hamming": (0.54, 1.0 - 0.54),  # SciPy's general_hamming(0.54), not 0.46
    "blackman": (0.42, 0.50, 0.08),
    "boxcar": (1.0,),
}


def _get_window(window, n, periodic):
    try:
        import scipy.signal
    except ImportError:
        if isinstance(window, str) and window in _NUMPY_WINDOWS:
            return _cosine_window(_NUMPY_WINDOWS[window], n, periodic)
        raise ImportError(
            f"STFT window {window!r} needs SciPy (without it: "
            + ", ".join(sorted(_NUMPY_WINDOWS))
            + ")"
        ) from None
    return np.asarray(scipy.signal.get_window(window, n, fftbins=periodic), np.float64)


class STFT(Initializer):
    r"""STFT(side="real", window="hann", scaling="density", periodic=False)

    Initializer of Conv1D kernels computing a short-time Fourier transform, as
    ``keras.initializers.STFT`` (used by ``STFTSpectrogram``).

    For a kernel of shape ``(T, C, F)`` (frame length, input channels,
    frequency bins ``F = n_fft // 2 + 1``), with :math:`N = 2(F - 1)`:

    .. math::

        w_{t,c,f} = \frac{\mathrm{win}_t}{s}\,
                    \{\cos,\ \sin\}\!\left(-2\pi\,\frac{t f}{N}\right)

    (``cos`` for ``side="real"``, ``sin`` for ``side="imag"``), where
    :math:`s = \sqrt{\sum_t \mathrm{win}_t^2}` for ``scaling="density"``,
    :math:`s = \sum_t |\mathrm{win}_t|` for ``"spectrum"`` and 1 for ``None``.
    Values are computed in float64 and rounded once to the dtype (Keras
    computes in the dtype, so float32 results may differ from Keras' in the
    last bits). The kernel is the same for every input channel ``c`` (Keras
    returns ``(T, 1, F)`` whatever ``C``).

    Parameters
    ----------
    side : {"real", "imag"}
        Real or imaginary part of the transform.
    window : str, tuple, array_like or None
        A ``scipy.signal.get_window`` name or ``(name, *params)`` spec
        (``"hann"``, ``"hamming"``, ``"blackman"`` and ``"boxcar"`` also work
        without SciPy, with SciPy's values bit for bit), window values of
        length ``T``, or None for no window.
    scaling : {"density", "spectrum", None}
        Normalization of the window.
    periodic : bool
        Periodic (``fftbins=True``) rather than symmetric window.

    Examples
    --------
    >>> from fastinit.initializers import STFT
    >>> k = STFT(window=None, scaling=None)((4, 1, 3), dtype="float64")
    >>> k[:, 0, :].round(6)
    array([[ 1.,  1.,  1.],
           [ 1.,  0., -1.],
           [ 1., -1.,  1.],
           [ 1., -0., -1.]])
    """

    _SIDES = ("imag", "real")
    _SCALINGS = ("density", "spectrum")

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in self._SIDES:
            raise ValueError(f"side must be one of 'imag', 'real'; got {side!r}")
        if scaling is not None and scaling not in self._SCALINGS:
            raise ValueError(f"scaling must be None, 'density' or 'spectrum'; got {scaling!r}")
        if isinstance(window, (tuple, list)) and window and isinstance(window[0], str):
            window = list(window)  # a SciPy spec with parameters: ["kaiser", 8.0]
        if isinstance(window, (str, list)) and window and isinstance(window[0], str):
            _get_window(window if isinstance(window, str) else tuple(window), 1, bool(periodic))
        elif window is not None:
            window = [float(v) for v in np.asarray(window, np.float64).reshape(-1)]
        self.side = side
        self.window = window
        self.scaling = scaling
        self.periodic = bool(periodic)

    def _prepare(self, shape, dtype):
        if len(shape) != 3:
            raise ValueError(f"STFT kernels have shape (frame_length, channels, bins); got {shape}")
        frame_length, _, bins = shape
        if bins < 2:
            raise ValueError(f"STFT kernels need at least 2 frequency bins; got shape {shape}")
        win = None
        scale = 1.0
        if self.window is not None:
            if isinstance(self.window, str):
                win = _get_window(self.window, frame_length, self.periodic)
            elif self.window and isinstance(self.window[0], str):
                win = _get_window(tuple(self.window), frame_length, self.periodic)
            else:
                win = np.asarray(self.window, np.float64)
            if win.shape != (frame_length,):
                raise ValueError(
                    f"window must have length {frame_length} (the frame length); got {win.shape[0]}"
                )
            if self.scaling == "density":
                scale = math.sqrt(float(np.sum(np.square(win))))
            elif self.scaling == "spectrum":
                scale = float(np.sum(np.abs(win)))
        return win, scale

    def _fill(self, out, shape, box, prepared):
        win, scale = prepared
        (t0, t1), _, (f0, f1) = box
        t = np.arange(t0, t1, dtype=np.float64)[:, None]
        f = np.arange(f0, f1, dtype=np.float64)[None, :]
        args = -2.0 * t * (f / (2 * (shape[2] - 1))) * np.pi
        kernel = np.cos(args) if self.side == "real" else np.sin(args)
        if win is not None:
            kernel = kernel * win[t0:t1, None] / scale
        out[...] = kernel[:, None, :].astype(out.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            side=self.side, window=self.window, periodic=self.periodic, scaling=self.scaling
        )
        return config


class Orthogonal(_RandomInitializer):
    r"""Orthogonal(gain=1.0, seed=None, *, stream=0)

    Initializer that generates a (semi-)orthogonal matrix, Saxe et al. (2014).

    The shape is flattened to a matrix of :math:`r = \prod \mathrm{shape}[:-1]`
    rows and :math:`c = \mathrm{shape}[-1]` columns (as Keras does for conv
    kernels). A Gaussian matrix :math:`A` of shape :math:`(\max(r, c),
    \min(r, c))` is drawn with :func:`fastinit.fill_normal` (seed and stream
    of the initializer, in float64 whatever the dtype), factored
    :math:`A = QR` (``numpy.linalg.qr``, float64), and the sign of each
    column of :math:`Q` fixed by the sign of :math:`R`'s diagonal, which makes
    :math:`Q` Haar-distributed. The result is
    :math:`\mathrm{gain}\cdot Q` (:math:`Q^\top` when :math:`r < c`) reshaped
    to ``shape`` and rounded once to the dtype, so columns (rows when
    :math:`r < c`) are orthonormal times ``gain``.

    ``region=`` is supported, but the whole matrix is computed first (the QR
    factorization couples all entries); only the requested block is copied
    out.

    Parameters
    ----------
    gain : float
        Multiplicative factor applied to the orthogonal matrix.
    seed : int, None, numpy.random.Generator or numpy.random.SeedSequence
        ``None`` draws a seed once, at construction.
    stream : int or str
        Stream of the Philox generator.

    Examples
    --------
    >>> import numpy as np
    >>> from fastinit.initializers import Orthogonal
    >>> q = Orthogonal(gain=2.0, seed=0)((64, 32), dtype="float64")
    >>> bool(np.allclose(q.T @ q, 4.0 * np.eye(32)))
    True
    """

    #: The QR factorization couples every entry: a region needs the whole matrix.
    shardable = False

    def __init__(self, gain=1.0, seed=None, *, stream=0):
        self.gain = _check_real(gain, "gain")
        super().__init__(seed, stream=stream)

    def _prepare(self, shape, dtype):
        if len(shape) < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional; "
                f"got shape {shape} of rank {len(shape)}"
            )
        _cast_scalar(self.gain, dtype, "gain")
        return self._call_seed()  # one draw per prepared fill (a SeedGenerator's too)

    def matrix(self, shape, seed=None):
        """The float64 result for ``shape`` (before rounding to the dtype); ``seed``:
        the fastinit seed of this call (default: the initializer's, or a fresh
        draw from its SeedGenerator)."""
        rows = math.prod(shape[:-1])
        cols = shape[-1]
        if rows == 0 or cols == 0:
            return np.zeros(shape)
        a = np.empty((max(rows, cols), min(rows, cols)), np.float64)
        fill_normal(a, 0.0, 1.0, seed=self._call_seed() if seed is None else seed,
                    stream=self.stream)
        q, r = np.linalg.qr(a)
        # Multiply each column by the sign of R's diagonal (a zero counts as
        # +1), so that Q does not depend on the QR implementation's convention.
        q *= np.where(np.diagonal(r) < 0, -1.0, 1.0)
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def _fill(self, out, shape, box, seed):
        full = self.matrix(shape, seed)
        # one rounding pass straight into out (no intermediate cast copy)
        np.copyto(out, full[tuple(slice(a, b) for a, b in box)], casting="unsafe")

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}
