"""The end of a stream: ``offset + out.size <= 2**64``, so an empty ``out`` may
start at ``offset == 2**64`` and a non-empty one needs ``offset < 2**64``."""
import ml_dtypes
import numpy as np
import pytest

import fastinit as fi

TWO64 = 2**64

FILLS = {
    "fill_raw": (lambda out, **kw: fi.fill_raw(out, **kw), (np.uint32,)),
    "fill_uniform": (lambda out, **kw: fi.fill_uniform(out, -1.0, 1.0, **kw),
                     (np.float32, np.float64, np.float16, ml_dtypes.bfloat16)),
    "fill_normal": (lambda out, **kw: fi.fill_normal(out, 0.0, 2.0, **kw),
                    (np.float32, np.float64, np.float16, ml_dtypes.bfloat16)),
    "fill_truncated_normal": (lambda out, **kw: fi.fill_truncated_normal(out, 0.0, 1.0, -2.0, 2.0,
                                                                         **kw),
                              (np.float32, np.float64, np.float16, ml_dtypes.bfloat16)),
}
CASES = [(name, dt) for name, (_, dts) in FILLS.items() for dt in dts]
IDS = [f"{name}-{np.dtype(dt).name}" for name, dt in CASES]


@pytest.mark.parametrize("name,dtype", CASES, ids=IDS)
@pytest.mark.parametrize("shape", [(0,), (0, 3), (4, 0, 2)])
@pytest.mark.parametrize("offset", [TWO64, np.uint64(TWO64 - 1), TWO64 - 1])
def test_empty_out_accepted_up_to_two_to_64(name, dtype, shape, offset):
    fill, _ = FILLS[name]
    out = np.empty(shape, dtype)
    assert fill(out, seed=1, stream=2, offset=offset) is out


@pytest.mark.parametrize("name,dtype", CASES, ids=IDS)
def test_non_empty_out_at_two_to_64_is_refused_untouched(name, dtype):
    fill, _ = FILLS[name]
    out = np.arange(3).astype(dtype)
    before = out.copy()
    with pytest.raises(ValueError, match="offset"):
        fill(out, seed=1, offset=TWO64)
    with pytest.raises(ValueError, match="offset"):
        fill(out[:1], seed=1, offset=TWO64)
    np.testing.assert_array_equal(out.view(np.uint8), before.view(np.uint8))


@pytest.mark.parametrize("name", list(FILLS))
def test_beyond_two_to_64_and_bad_types_still_refused(name):
    fill, (dtype, *_) = FILLS[name]
    empty = np.empty(0, dtype)
    with pytest.raises(ValueError, match="offset"):
        fill(empty, seed=1, offset=TWO64 + 1)
    for bad in (float(TWO64), True, "18446744073709551616"):
        with pytest.raises(TypeError, match="offset"):
            fill(empty, seed=1, offset=bad)


@pytest.mark.parametrize("name", list(FILLS))
def test_last_word_of_the_stream_equals_the_wider_fill(name):
    fill, (dtype, *_) = FILLS[name]
    wide = fill(np.empty(5, dtype), seed=7, offset=TWO64 - 5)
    last = fill(np.empty(1, dtype), seed=7, offset=TWO64 - 1)
    assert last.tobytes() == wide[-1:].tobytes()


@pytest.mark.parametrize("init", [fi.RandomUniform(seed=1), fi.RandomNormal(seed=1),
                                  fi.TruncatedNormal(seed=1), fi.HeNormal(seed=1),
                                  fi.GlorotUniform(seed=1)], ids=lambda i: type(i).__name__)
def test_initializer_regions_at_the_end_of_a_two_to_64_element_tensor(init):
    shape = (2**32, 2**32)                        # 2**64 elements: never materialized
    end = init(shape, region=(slice(2**32, 2**32), slice(0, 2**32)))   # starts at index 2**64
    assert end.shape == (0, 2**32)
    tail = init(shape, region=(slice(2**32 - 1, 2**32), slice(2**32 - 3, 2**32)))
    assert tail.shape == (1, 3)
    # regions are windows of one stream, up to its last word
    again = init(shape, region=(slice(2**32 - 1, 2**32), slice(2**32 - 2, 2**32)))
    assert again.tobytes() == tail[:, 1:].tobytes()
