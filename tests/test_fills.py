"""Fill kernels: offsets and chunking, layouts, seeds, and input validation."""
import ml_dtypes
import numpy as np
import pytest

import fastinit as fi

BF16 = np.dtype(ml_dtypes.bfloat16)
DTYPES = [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16), BF16]
FILLS = [
    ("uniform", lambda out, **kw: fi.fill_uniform(out, -2.0, 3.0, **kw)),
    ("normal", lambda out, **kw: fi.fill_normal(out, 0.5, 1.5, **kw)),
    ("truncated_normal",
     lambda out, **kw: fi.fill_truncated_normal(out, 0.1, 2.0, -1.0, 2.5, **kw)),
    ("truncated_tail", lambda out, **kw: fi.fill_truncated_normal(out, 0.0, 1.0, 3.0, 6.0, **kw)),
]
FILL_IDS = [f[0] for f in FILLS]


def bits(a):
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name,fill", FILLS, ids=FILL_IDS)
def test_chunked_equals_whole(name, fill, dtype):
    n = 5000
    whole = fill(np.empty(n, dtype), seed=99, stream=7, offset=0)
    rng = np.random.default_rng(1)
    for _ in range(5):
        cuts = np.sort(rng.choice(np.arange(1, n), size=12, replace=False))
        pieces = np.empty(n, dtype)
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, n]):
            fill(pieces[lo:hi], seed=99, stream=7, offset=int(lo))
        np.testing.assert_array_equal(bits(pieces), bits(whole))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name,fill", FILLS, ids=FILL_IDS)
def test_offset_shifts_window(name, fill, dtype):
    whole = fill(np.empty(300, dtype), seed=5, stream=2**63 + 11, offset=2**40)
    for k in (1, 31, 32, 63, 64, 65, 129):
        part = fill(np.empty(300 - k, dtype), seed=5, stream=2**63 + 11, offset=2**40 + k)
        np.testing.assert_array_equal(bits(part), bits(whole[k:]))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_offset_near_end_of_stream(dtype):
    n = 200
    x = fi.fill_normal(np.empty(n, dtype), seed=3, offset=2**64 - n)
    y = fi.fill_normal(np.empty(n - 50, dtype), seed=3, offset=2**64 - n + 50)
    np.testing.assert_array_equal(bits(x[50:]), bits(y))
    fi.fill_normal(np.empty(0, dtype), seed=3, offset=2**64 - 1)
    fi.fill_normal(np.empty(1, dtype), seed=3, offset=2**64 - 1)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name,fill", FILLS, ids=FILL_IDS)
def test_any_layout_gets_c_order_values(name, fill, dtype):
    shape = (6, 7, 5)
    ref = fill(np.empty(shape, dtype), seed=11, stream=3)
    f_order = fill(np.empty(shape, dtype, order="F"), seed=11, stream=3)
    np.testing.assert_array_equal(bits(f_order), bits(ref))
    big = np.zeros((12, 7, 10), dtype)
    view = big[::2, :, ::2]
    fill(view, seed=11, stream=3)
    np.testing.assert_array_equal(bits(view), bits(ref))
    assert not bits(big[1::2]).any()  # untouched rows stay zero
    neg = np.empty(shape, dtype)[::-1, :, ::-1]
    fill(neg, seed=11, stream=3)
    np.testing.assert_array_equal(bits(neg), bits(ref))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_misaligned_buffers(dtype):
    n = 1001
    ref = fi.fill_truncated_normal(np.empty(n, dtype), seed=8)
    raw = np.zeros(n * dtype.itemsize + 16, np.uint8)
    for shift in range(1, dtype.itemsize + 1):
        view = raw[shift:shift + n * dtype.itemsize].view(dtype)
        fi.fill_truncated_normal(view, seed=8)
        np.testing.assert_array_equal(bits(view.copy()), bits(ref))


def test_large_noncontiguous_split_along_first_axis():
    shape = (3, 1 << 21)
    ref = fi.fill_uniform(np.empty(shape, np.float32), seed=4)
    out = np.empty(shape, np.float32, order="F")
    fi.fill_uniform(out, seed=4)
    np.testing.assert_array_equal(out, ref)


def test_returns_out_and_zero_dim():
    a = np.empty((), np.float32)
    assert fi.fill_normal(a, seed=1) is a
    b = np.empty((0, 3), np.float64)
    assert fi.fill_uniform(b, seed=1) is b


def test_seed_forms():
    n = 64
    base = fi.fill_normal(np.empty(n), seed=12345)
    np.testing.assert_array_equal(fi.fill_normal(np.empty(n), seed=np.uint64(12345)), base)
    np.testing.assert_array_equal(fi.fill_normal(np.empty(n), seed=np.int32(12345)), base)
    gen = np.random.default_rng(7)
    expect_seed = int(np.random.default_rng(7).integers(0, 2**64, dtype=np.uint64))
    np.testing.assert_array_equal(fi.fill_normal(np.empty(n), seed=gen),
                                  fi.fill_normal(np.empty(n), seed=expect_seed))
    # the generator advanced: the next draw differs
    assert not np.array_equal(fi.fill_normal(np.empty(n), seed=gen),
                              fi.fill_normal(np.empty(n), seed=expect_seed))
    ss = np.random.SeedSequence(99)
    expect = int(np.random.SeedSequence(99).generate_state(1, dtype=np.uint64)[0])
    np.testing.assert_array_equal(fi.fill_normal(np.empty(n), seed=ss),
                                  fi.fill_normal(np.empty(n), seed=expect))
    a = fi.fill_normal(np.empty(n), seed=None)
    b = fi.fill_normal(np.empty(n), seed=None)
    assert not np.array_equal(a, b)
    assert fi.resolve_seed(2**64 - 1) == 2**64 - 1


def test_streams_and_seeds_differ():
    a = fi.fill_uniform(np.empty(256, np.float32), seed=1, stream=0)
    b = fi.fill_uniform(np.empty(256, np.float32), seed=1, stream=1)
    c = fi.fill_uniform(np.empty(256, np.float32), seed=2, stream=0)
    assert (a != b).mean() > 0.99 and (a != c).mean() > 0.99


def test_call_to_call_identical():
    for dtype in DTYPES:
        x = fi.fill_truncated_normal(np.empty(3000, dtype), seed=77, stream=5)
        y = fi.fill_truncated_normal(np.empty(3000, dtype), seed=77, stream=5)
        np.testing.assert_array_equal(bits(x), bits(y))


def test_low_precision_is_float32_rounded_once():
    for fill in (lambda o: fi.fill_uniform(o, -1.0, 1.0, seed=3, offset=5),
                 lambda o: fi.fill_normal(o, 0.0, 1e-3, seed=3, offset=5),
                 lambda o: fi.fill_truncated_normal(o, 0.0, 0.02, seed=3, offset=5)):
        f32 = fill(np.empty(20000, np.float32))
        for dt in (np.dtype(np.float16), BF16):
            np.testing.assert_array_equal(bits(fill(np.empty(20000, dt))), bits(f32.astype(dt)))


# ---------------------------------------------------------------------------
# validation: right exception, names the argument, nothing written


def _sentinel(dtype=np.float32, n=16):
    a = np.arange(n).astype(dtype)
    return a, a.copy()


BAD_CALLS = [
    (TypeError, "out", lambda a: fi.fill_normal(list(a), seed=1)),
    (TypeError, "out", lambda a: fi.fill_normal(a.astype(np.int32), seed=1)),
    (TypeError, "uint32", lambda a: fi.fill_raw(a, seed=1)),
    (TypeError, "seed", lambda a: fi.fill_normal(a, seed=1.5)),
    (TypeError, "seed", lambda a: fi.fill_normal(a, seed=True)),
    (TypeError, "seed", lambda a: fi.fill_normal(a, seed="7")),
    (ValueError, "seed", lambda a: fi.fill_normal(a, seed=-1)),
    (ValueError, "seed", lambda a: fi.fill_normal(a, seed=2**64)),
    (ValueError, "stream", lambda a: fi.fill_normal(a, seed=1, stream=2**64)),
    (TypeError, "stream", lambda a: fi.fill_normal(a, seed=1, stream=1.0)),
    (ValueError, "offset", lambda a: fi.fill_normal(a, seed=1, offset=-3)),
    (ValueError, "offset", lambda a: fi.fill_normal(a, seed=1, offset=2**64 - 15)),
    (TypeError, "mean", lambda a: fi.fill_normal(a, "0", seed=1)),
    (ValueError, "mean", lambda a: fi.fill_normal(a, float("nan"), seed=1)),
    (ValueError, "std", lambda a: fi.fill_normal(a, 0.0, float("inf"), seed=1)),
    (ValueError, "std", lambda a: fi.fill_normal(a, 0.0, -1.0, seed=1)),
    (ValueError, "low", lambda a: fi.fill_uniform(a, 2.0, 1.0, seed=1)),
    (ValueError, "high", lambda a: fi.fill_uniform(a, 0.0, float("inf"), seed=1)),
    (ValueError, "low", lambda a: fi.fill_uniform(a, 1e39, 2e39, seed=1)),
    (ValueError, "high - low", lambda a: fi.fill_uniform(a, -3e38, 3e38, seed=1)),
    (ValueError, "a must be < b", lambda a: fi.fill_truncated_normal(a, 0, 1, 2.0, 2.0, seed=1)),
    (ValueError, "a and b", lambda a: fi.fill_truncated_normal(a, 0, 1, float("nan"), 1, seed=1)),
    (ValueError, "std", lambda a: fi.fill_truncated_normal(a, 0, -0.5, seed=1)),
]


@pytest.mark.parametrize("exc,word,call", BAD_CALLS,
                         ids=[f"{b[0].__name__}-{b[1]}-{i}" for i, b in enumerate(BAD_CALLS)])
def test_bad_input_raises_and_leaves_out_untouched(exc, word, call):
    a, before = _sentinel()
    with pytest.raises(exc, match=word):
        call(a)
    np.testing.assert_array_equal(a, before)


def test_generator_not_advanced_on_error():
    gen = np.random.default_rng(5)
    state = gen.bit_generator.state
    with pytest.raises(ValueError):
        fi.fill_normal(np.empty(4), 0.0, -1.0, seed=gen)
    assert gen.bit_generator.state == state


def test_read_only_and_byteswapped():
    a, before = _sentinel()
    a.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        fi.fill_uniform(a, seed=1)
    np.testing.assert_array_equal(a, before)
    b = np.arange(16, dtype=">f4")
    b0 = b.copy()
    with pytest.raises(ValueError, match="byte order"):
        fi.fill_uniform(b, seed=1)
    np.testing.assert_array_equal(b, b0)
    c = np.arange(16, dtype=">u4")
    with pytest.raises(ValueError, match="byte order"):
        fi.fill_raw(c, seed=1)


@pytest.mark.parametrize("dtype,value", [(np.float16, 7e4), (BF16, 4e38)], ids=["f16", "bf16"])
def test_parameters_not_finite_in_low_precision(dtype, value):
    a = np.zeros(8, dtype)
    with pytest.raises(ValueError, match="mean"):
        fi.fill_normal(a, value, 1.0, seed=1)
    with pytest.raises(ValueError, match="high"):
        fi.fill_uniform(a, 0.0, value, seed=1)
    assert not bits(a).any()


def test_sampled_overflow_becomes_inf_like_numpy_cast():
    a = fi.fill_normal(np.empty(4096, np.float16), 0.0, 6e4, seed=2)
    ref = fi.fill_normal(np.empty(4096, np.float32), 0.0, 6e4, seed=2)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(bits(a), bits(ref.astype(np.float16)))
    assert np.isinf(a).any()


@pytest.mark.parametrize("fill, dtype", [
    (fi.fill_uniform, np.float32), (fi.fill_uniform, np.float64), (fi.fill_normal, np.float32),
    (fi.fill_normal, np.float64), (fi.fill_truncated_normal, np.float32),
    (fi.fill_truncated_normal, np.float64), (fi.fill_normal, ml_dtypes.bfloat16),
])
def test_offset_plus_size_exactly_two_to_64_is_fine(fill, dtype):
    # the last 16 elements of the index space (a partial group at its end) are the
    # same values as the tail of fills that start lower (offset invariance), whole
    # groups and a fill that stops short of 2**64 included
    end = 2**64
    last = fill(np.full(16, 7, dtype), seed=1, stream=3, offset=end - 16)
    whole = fill(np.full(64, 7, dtype), seed=1, stream=3, offset=end - 64)
    short = fill(np.full(100, 7, dtype), seed=1, stream=3, offset=end - 101)
    np.testing.assert_array_equal(bits(last), bits(whole[-16:]))
    np.testing.assert_array_equal(bits(last[:-1]), bits(short[-15:]))
    assert np.isfinite(whole.astype(np.float64)).all() and len(np.unique(bits(whole))) == 64


def test_raw_words_at_the_end_of_the_index_space():
    from test_philox import philox_reference

    end = 2**64
    got = fi.fill_raw(np.zeros(16, np.uint32), seed=1, stream=3, offset=end - 16)
    # element i is word i % 4 of block i // 4, computed independently
    blocks = philox_reference(np.arange(end // 4 - 4, end // 4, dtype=np.uint64), 3, 1)
    np.testing.assert_array_equal(got, blocks.reshape(-1).astype(np.uint32))
    np.testing.assert_array_equal(
        fi.fill_raw(np.zeros(56, np.uint32), seed=1, stream=3, offset=end - 56)[-16:], got)
