"""Fan-in / fan-out of a weight shape, as Keras, PyTorch and JAX count them.

The three frameworks agree on dense kernels but not on where the input and
output axes of a convolution kernel live:

==========  ===========================  ==========================================
layout      kernel shape                 anchor
==========  ===========================  ==========================================
``keras``   ``(*spatial, in, out)``      ``keras.src.initializers.compute_fans``
``torch``   ``(out, in, *spatial)``      ``torch.nn.init._calculate_fan_in_and_fan_out``
``jax``     any, from ``in_axis`` etc.   ``jax._src.nn.initializers._compute_fans``
==========  ===========================  ==========================================

Every layout reproduces its anchor exactly, including the edge ranks and the
type of the result (``int`` for Keras and torch, ``float`` for JAX, which
divides).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from ._validate import check_shape as _check_shape

__all__ = ["LAYOUTS", "compute_fans", "mode_fan"]

#: The accepted values of ``compute_fans(layout=...)``.
LAYOUTS = ("jax", "keras", "torch")


def _check_axes(axes, rank: int, name: str) -> tuple[int, ...]:
    """Normalize an int or a sequence of ints to a tuple of in-range axes."""
    if isinstance(axes, bool):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {axes!r}")
    single = isinstance(axes, numbers.Integral)
    items = (axes,) if single else axes
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {axes!r}") from None
    out = []
    for ax in items:
        if isinstance(ax, bool) or not isinstance(ax, numbers.Integral):
            raise TypeError(f"{name} must contain ints, got {ax!r} in {axes!r}")
        axis = int(ax)
        if not -rank <= axis < rank:
            raise ValueError(
                f"{name}={axes!r} is out of range for a shape of rank {rank} "
                f"(accepted: -{rank} <= axis < {rank})"
            )
        out.append(axis)
    return tuple(out)


def _keras_fans(shape, input_axes, output_axes):
    # Keras only uses the explicit axes when *both* are given.
    if input_axes is not None and output_axes is not None:
        fan_in = math.prod(shape[ax] for ax in _check_axes(input_axes, len(shape), "input_axes"))
        fan_out = math.prod(shape[ax] for ax in _check_axes(output_axes, len(shape), "output_axes"))
        return fan_in, fan_out
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _torch_fans(shape):
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for a tensor with fewer than "
            f"2 dimensions (layout='torch'); got shape {shape}"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _jax_fans(shape, in_axis, out_axis, batch_axis):
    rank = len(shape)
    default_in = isinstance(in_axis, numbers.Integral) and not isinstance(in_axis, bool) \
        and in_axis == -2
    if rank <= 1 and (default_in or rank == 0):
        # As jax 0.10: a 1-D shape is accepted when in_axis is given explicitly.
        raise ValueError(
            f"Can't compute input and output sizes of a {rank}-dimensional weights "
            "tensor (layout='jax'). Must be at least 2D or specify in_axis explicitly."
        )

    def size(axes, name):
        single = isinstance(axes, numbers.Integral) and not isinstance(axes, bool)
        axes = _check_axes(axes, rank, name)
        # JAX indexes an int axis directly and multiplies a sequence's sizes.
        return shape[axes[0]] if single else math.prod(shape[ax] for ax in axes)

    in_size = size(in_axis, "in_axis")
    out_size = size(out_axis, "out_axis")
    batch_size = size(batch_axis, "batch_axis")
    if in_size and out_size and batch_size:
        # The same float divisions as JAX, in the same order, so the
        # (float) fans are bit-identical to JAX's.
        receptive_field = math.prod(shape) / in_size / out_size / batch_size
    else:
        # JAX raises ZeroDivisionError for an empty axis; the receptive field
        # is still well defined as the product of the remaining axes.
        used = set()
        for axes, name in (
            (in_axis, "in_axis"),
            (out_axis, "out_axis"),
            (batch_axis, "batch_axis"),
        ):
            used.update(ax % rank for ax in _check_axes(axes, rank, name))
        receptive_field = float(math.prod(d for ax, d in enumerate(shape) if ax not in used))
    return in_size * receptive_field, out_size * receptive_field


def compute_fans(
    shape,
    *,
    layout: str = "keras",
    input_axes: Sequence[int] | None = None,
    output_axes: Sequence[int] | None = None,
    in_axis: int | Sequence[int] = -2,
    out_axis: int | Sequence[int] = -1,
    batch_axis: int | Sequence[int] = (),
):
    r"""compute_fans(shape, *, layout="keras", input_axes=None, output_axes=None,
                     in_axis=-2, out_axis=-1, batch_axis=())

    Number of input and output units of a weight tensor.

    With :math:`R` the receptive field (the product of the spatial axes):

    * ``layout="keras"``, kernels ``(*spatial, in, out)``:
      :math:`\mathrm{fan\_in} = \mathrm{in}\cdot R`,
      :math:`\mathrm{fan\_out} = \mathrm{out}\cdot R`; rank 0 gives ``(1, 1)``,
      rank 1 ``(n, n)``, rank 2 ``(shape[0], shape[1])``. When *both*
      ``input_axes`` and ``output_axes`` are given (Keras >= 3.15), the fans are
      the products of the sizes of those axes instead (one alone is ignored,
      as in Keras).
    * ``layout="torch"``, weights ``(out, in, *spatial)``:
      :math:`\mathrm{fan\_in} = \mathrm{shape}[1]\cdot R`,
      :math:`\mathrm{fan\_out} = \mathrm{shape}[0]\cdot R`; rank < 2 raises.
    * ``layout="jax"``: ``in_axis``, ``out_axis``, ``batch_axis`` (an int or a
      sequence of ints each) name the axes; every other axis is receptive field,
      :math:`R = \mathrm{size} / \mathrm{in} / \mathrm{out} / \mathrm{batch}`
      computed in floating point as JAX does, so the fans are ``float``.
      Rank < 2 raises. (Where JAX would divide by zero, because an in, out or
      batch axis is empty, :math:`R` is the product of the remaining axes.)

    Parameters
    ----------
    shape : tuple of int
        The weight shape: non-negative Python or NumPy integers.
    layout : {"keras", "torch", "jax"}
        Which framework's convention to follow.
    input_axes, output_axes : sequence of int, optional
        Keras layout only: explicit input and output axes.
    in_axis, out_axis, batch_axis : int or sequence of int
        JAX layout only: the input, output and batch axes.

    Returns
    -------
    (fan_in, fan_out) : tuple
        ``int`` for the Keras and torch layouts, ``float`` for JAX.

    Raises
    ------
    ValueError
        For an unknown layout (the message lists the accepted ones), a rank
        below 2 in the torch or JAX layout, a negative dimension or an axis out
        of range.
    TypeError
        For a shape entry that is not an integer (``2.0`` included).

    Examples
    --------
    >>> from fastinit import compute_fans
    >>> compute_fans((3, 3, 64, 128))                  # Keras HWIO kernel
    (576, 1152)
    >>> compute_fans((128, 64, 3, 3), layout="torch")  # torch OIHW weight
    (576, 1152)
    >>> compute_fans((3, 3, 64, 128), layout="jax")
    (576.0, 1152.0)
    >>> compute_fans((8, 4, 16), input_axes=[0, 1], output_axes=[2])
    (32, 16)
    """
    shape = _check_shape(shape)
    if layout == "keras":
        return _keras_fans(shape, input_axes, output_axes)
    if layout == "torch":
        return _torch_fans(shape)
    if layout == "jax":
        return _jax_fans(shape, in_axis, out_axis, batch_axis)
    raise ValueError(
        f"Unknown layout {layout!r}; accepted layouts are "
        + ", ".join(repr(name) for name in LAYOUTS)
    )


#: The ``mode`` values of variance-scaling initializers, and the fan each takes.
MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")


def mode_fan(fan_in, fan_out, mode):
    """The ``n`` of a variance-scaling initializer's ``scale / n`` for ``mode``.

    ``"fan_in"``, ``"fan_out"``, ``"fan_avg"`` (their mean) or ``"fan_geo_avg"``
    (their geometric mean, JAX's). Callers check which modes they accept
    (Keras and torch have no ``"fan_geo_avg"``) and what ``n = 0`` means.

    >>> from fastinit.fans import mode_fan
    >>> mode_fan(3, 12, "fan_avg"), mode_fan(3, 12, "fan_geo_avg")
    (7.5, 6.0)
    """
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    if mode == "fan_avg":
        return (fan_in + fan_out) / 2
    if mode == "fan_geo_avg":
        return (fan_in * fan_out) ** 0.5
    raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
