"""fastinit.compute_fans against the three anchors' conventions (docs/api.md §3)."""

import math

import numpy as np
import pytest
from _deps import require

import fastinit
from fastinit import compute_fans


# Independent restatements of the anchors, for the table-driven tests below.
def keras_reference(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    rf = 1
    for d in shape[:-2]:
        rf *= d
    return shape[-2] * rf, shape[-1] * rf


def torch_reference(shape):
    rf = 1
    for d in shape[2:]:
        rf *= d
    return shape[1] * rf, shape[0] * rf


SHAPES = [
    (),
    (7,),
    (0,),
    (3, 5),
    (5, 3),
    (0, 4),
    (3, 8, 16),
    (3, 3, 16, 32),
    (2, 3, 4, 5, 6),
    (1, 1, 1, 1, 1, 9),
    (3, 0, 4, 5),
]


@pytest.mark.parametrize("shape", SHAPES)
def test_keras_layout(shape):
    fans = compute_fans(shape)
    assert fans == keras_reference(shape)
    assert all(type(f) is int for f in fans)
    assert compute_fans(shape, layout="keras") == fans


def test_keras_edge_ranks():
    assert compute_fans(()) == (1, 1)
    assert compute_fans((9,)) == (9, 9)
    assert compute_fans((4, 6)) == (4, 6)
    assert compute_fans((3, 3, 64, 128)) == (576, 1152)


def test_keras_input_output_axes():
    shape = (8, 4, 16, 3)
    assert compute_fans(shape, input_axes=[0, 1], output_axes=[2]) == (32, 16)
    assert compute_fans(shape, input_axes=(0,), output_axes=(1, 2, 3)) == (8, 192)
    assert compute_fans(shape, input_axes=[-4, -3], output_axes=[-1]) == (32, 3)
    # Empty lists are "given": the products are 1.
    assert compute_fans(shape, input_axes=[], output_axes=[]) == (1, 1)
    # Works for ranks that the default rule treats specially.
    assert compute_fans((5,), input_axes=[0], output_axes=[0]) == (5, 5)
    # Keras uses the explicit axes only when both are given.
    assert compute_fans(shape, input_axes=[0]) == keras_reference(shape)
    assert compute_fans(shape, output_axes=[0]) == keras_reference(shape)


@pytest.mark.parametrize("shape", [s for s in SHAPES if len(s) >= 2])
def test_torch_layout(shape):
    fans = compute_fans(shape, layout="torch")
    assert fans == torch_reference(shape)
    assert all(type(f) is int for f in fans)


@pytest.mark.parametrize("shape", [(), (5,), (0,)])
def test_torch_rank_below_two(shape):
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        compute_fans(shape, layout="torch")


def test_torch_matches_torch():
    torch = require("torch")
    from torch.nn.init import _calculate_fan_in_and_fan_out

    for shape in [s for s in SHAPES if len(s) >= 2]:
        assert compute_fans(shape, layout="torch") == _calculate_fan_in_and_fan_out(
            torch.empty(shape)
        )


def jax_reference(shape, in_axis=-2, out_axis=-1, batch_axis=()):
    # jax._src.nn.initializers._compute_fans, restated.
    def size(axes):
        if isinstance(axes, int):
            return shape[axes]
        return math.prod(shape[i] for i in axes)

    in_size, out_size, batch_size = size(in_axis), size(out_axis), size(batch_axis)
    rf = math.prod(shape) / in_size / out_size / batch_size
    return in_size * rf, out_size * rf


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((3, 5), {}),
        ((3, 3, 16, 32), {}),
        ((3, 3, 16, 32), {"in_axis": 0, "out_axis": 1}),
        ((2, 3, 4, 5, 6), {"in_axis": (1, 2), "out_axis": -1}),
        ((2, 3, 4, 5, 6), {"in_axis": -2, "out_axis": -1, "batch_axis": 0}),
        ((2, 3, 4, 5, 6), {"in_axis": [3], "out_axis": [4], "batch_axis": (0, 1)}),
        ((7, 11, 13), {"in_axis": 1, "out_axis": 2, "batch_axis": [0]}),
    ],
)
def test_jax_layout(shape, kwargs):
    fans = compute_fans(shape, layout="jax", **kwargs)
    assert fans == jax_reference(shape, **kwargs)
    assert all(type(f) is float for f in fans)


def test_jax_batch_axis_excluded_from_receptive_field():
    # (batch, h, w, in, out): the batch axis scales neither fan.
    assert compute_fans((10, 3, 3, 16, 32), layout="jax", batch_axis=0) == (144.0, 288.0)
    assert compute_fans((10, 3, 3, 16, 32), layout="jax") == (1440.0, 2880.0)


def test_jax_empty_axis():
    # JAX divides by zero here; fastinit uses the product of the other axes.
    assert compute_fans((2, 0, 3), layout="jax") == (0.0, 6.0)
    assert compute_fans((0, 4, 5), layout="jax") == (0.0, 0.0)


@pytest.mark.parametrize("shape", [(), (5,)])
def test_jax_rank_below_two(shape):
    with pytest.raises(ValueError, match="Must be at least 2D"):
        compute_fans(shape, layout="jax")


def test_unknown_layout_lists_the_three():
    with pytest.raises(ValueError) as info:
        compute_fans((3, 4), layout="tf")
    msg = str(info.value)
    assert "'tf'" in msg and "'jax', 'keras', 'torch'" in msg


@pytest.mark.parametrize("layout", ["keras", "torch", "jax"])
def test_shape_validation(layout):
    with pytest.raises(TypeError, match="entry 1"):
        compute_fans((3, 2.0), layout=layout)
    with pytest.raises(TypeError):
        compute_fans((3, True), layout=layout)
    with pytest.raises(TypeError):
        compute_fans(("3", 4), layout=layout)
    with pytest.raises(TypeError):
        compute_fans(5, layout=layout)
    with pytest.raises(ValueError, match="entry 0 is -1"):
        compute_fans((-1, 4), layout=layout)


def test_numpy_integers_and_sequences():
    shape = (np.int64(3), np.int32(3), np.uint16(8), np.int8(4))
    assert compute_fans(shape) == (72, 36)
    assert compute_fans(np.array([3, 3, 8, 4])) == (72, 36)
    assert compute_fans([4, 3, 8, 2], layout="torch") == (48, 64)
    big = (2**31, 2**31, 3)
    assert compute_fans(big) == (2**62, 3 * 2**31)  # no overflow: Python ints


def test_axes_out_of_range():
    with pytest.raises(ValueError, match="input_axes"):
        compute_fans((3, 4), input_axes=[2], output_axes=[0])
    with pytest.raises(ValueError, match="out_axis"):
        compute_fans((3, 4), layout="jax", out_axis=5)
    with pytest.raises(TypeError):
        compute_fans((3, 4), layout="jax", in_axis=0.0)


def test_top_level_export():
    assert fastinit.compute_fans is compute_fans
    assert "compute_fans" in fastinit.__all__
