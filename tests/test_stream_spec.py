"""Reimplement stream version 1 from docs/stream.md alone and compare bit for bit.

Uniform, normal (Box-Muller) and truncated normal (inversion) in float32 and
float64 (float16 and bfloat16 as their rounding), written from the page's sections
1-8 with NumPy's IEEE arithmetic; `fma` (which NumPy lacks) is computed exactly
with fractions and rounded once to nearest even.
Nothing here calls into fastinit except the fills being checked.
"""
import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from test_philox import philox_reference

import fastinit as fi

F32, F64 = np.float32, np.float64


# ---------------------------------------------------------------------------
# exact fused multiply-add and correctly rounded constants


def _round(x: Fraction, dt):
    """x rounded once to the nearest ``dt`` value, ties to even (x finite, nonzero)."""
    r = dt(float(x))  # the nearest float64; one step from the nearest float32 at most
    if dt is F64:
        return r
    best = None
    for c in (np.nextafter(r, F32(-np.inf)), r, np.nextafter(r, F32(np.inf))):
        key = (abs(Fraction(float(c)) - x), int(c.view(np.uint32)) & 1)
        if best is None or key < best[0]:
            best = (key, c)
    return best[1]


def fma(a, b, c, dt):
    """Elementwise a * b + c with one rounding to dtype ``dt``."""
    a, b, c = np.broadcast_arrays(np.asarray(a, dt), np.asarray(b, dt), np.asarray(c, dt))
    out = np.empty(a.shape, dt)
    for i, (x, y, z) in enumerate(zip(a.flat, b.flat, c.flat)):
        exact = Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))
        if exact == 0:  # +0 unless the product and c are both -0
            neg = np.signbit(x) != np.signbit(y) and np.signbit(z)
            out.flat[i] = dt(-0.0) if neg else dt(0.0)
        else:
            out.flat[i] = _round(exact, dt)
    return out


def f32(literal: str):
    """A float32 constant as a C compiler reads the literal: rounded once."""
    return _round(Fraction(literal), F32)


def fma_scalar(a: float, b: float, c: float) -> float:
    return float(fma(a, b, c, F64))


# ---------------------------------------------------------------------------
# sections 1-2: words, groups, lanes


def words(seed, stream, offset, n, per_group):
    """For each element: its group slot j and the four words of its lane's block."""
    idx = np.arange(offset, offset + n, dtype=np.uint64)
    g, e = idx // np.uint64(per_group), idx % np.uint64(per_group)
    lane, slot = e % np.uint64(16), e // np.uint64(16)
    return slot.astype(np.intp), philox_reference(g * np.uint64(16) + lane, stream, seed)


def pick(blocks, col):
    return blocks[np.arange(len(blocks)), col]


def u32(x):
    return np.asarray(x, np.uint32)


# ---------------------------------------------------------------------------
# section 3: uniform


def spec_uniform(seed, stream, low, high, offset, n, dtype):
    per_group = 64 if dtype == F32 else 32
    slot, blocks = words(seed, stream, offset, n, per_group)
    if dtype == F32:
        w = pick(blocks, slot)
        u = (w >> np.uint32(8)).astype(F32) * F32(2.0**-24)
        lo, hi = F32(low), F32(high)
        return np.minimum(fma(u, hi - lo, lo, F32), hi)
    wa, wb = pick(blocks, 2 * slot), pick(blocks, 2 * slot + 1)
    u = fma((wb >> np.uint32(6)).astype(F64), 2.0**-53,
            (wa >> np.uint32(5)).astype(F64) * 2.0**-27, F64)
    return np.minimum(fma(u, F64(high) - F64(low), low, F64), F64(high))


# ---------------------------------------------------------------------------
# section 6 and 8: elementary functions

LOGF = [f32(c) for c in ("7.0376836292e-2", "-1.1514610310e-1", "1.1676998740e-1",
                         "-1.2420140846e-1", "1.4249322787e-1", "-1.6668057665e-1",
                         "2.0000714765e-1", "-2.4999993993e-1", "3.3333331174e-1")]
LG = [None, 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
      2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
      1.479819860511658591e-01]
LN2_HI, LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
SINF = [f32(c) for c in ("-1.6666654611e-1", "8.3321608736e-3", "-1.9515295891e-4")]
COSF = [f32(c) for c in ("4.166664568298827e-2", "-1.388731625493765e-3", "2.443315711809948e-5")]
SIN = [-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
       2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10]
COS = [4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
       -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11]


def log_f32(x):
    ix = x.view(np.uint32) - np.uint32(0x3F3504F3)
    e = (ix.view(np.int32) >> 23).astype(F32)  # arithmetic shift
    m = ((ix & np.uint32(0x7FFFFF)) + np.uint32(0x3F3504F3)).view(F32)
    f = m - F32(1)
    z = f * f
    q = np.full_like(f, LOGF[0])
    for c in LOGF[1:]:
        q = fma(q, f, c, F32)
    y = (f * z) * q
    y = fma(e, f32("-2.12194440e-4"), y, F32)
    y = fma(z, F32(-0.5), y, F32)
    return fma(e, f32("0.693359375"), f + y, F32)


def log_f64(x):
    c = np.uint64(0x3FE6A09E667F3BCD)
    ix = x.view(np.uint64) - c
    e = (ix.view(np.int64) >> 52).astype(F64)
    m = ((ix & np.uint64(0xFFFFFFFFFFFFF)) + c).view(F64)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * fma(w, fma(w, LG[6], LG[4], F64), LG[2], F64)
    t2 = z * fma(w, fma(w, fma(w, LG[7], LG[5], F64), LG[3], F64), LG[1], F64)
    r = t2 + t1
    hfsq = (0.5 * f) * f
    return e * LN2_HI - ((hfsq - fma(s, hfsq + r, e * LN2_LO, F64)) - f)


def sincos_f32(x):
    z = x * x
    s = fma(fma(fma(SINF[2], z, SINF[1], F32), z, SINF[0], F32), z * x, x, F32)
    c = fma(fma(fma(COSF[2], z, COSF[1], F32), z, COSF[0], F32), z * z,
            fma(z, F32(-0.5), F32(1), F32), F32)
    return s, c


def sincos_f64(x):
    z = x * x
    r = fma(z, SIN[5], SIN[4], F64)
    for k in (3, 2, 1):
        r = fma(z, r, SIN[k], F64)
    s = fma(z * x, fma(z, r, SIN[0], F64), x, F64)
    q = fma(z, COS[5], COS[4], F64)
    for k in (3, 2, 1, 0):
        q = fma(z, q, COS[k], F64)
    q = z * q
    hz = 0.5 * z
    w = 1.0 - hz
    return s, w + fma(z, q, (1.0 - w) - hz, F64)


def quadrant(q, s, c):
    swap = (q & 1) != 0
    s, c = np.where(swap, c, s), np.where(swap, s, c)
    c = np.where(((q + 1) & 2) != 0, -c, c)
    s = np.where((q & 2) != 0, -s, s)
    return s, c


# ---------------------------------------------------------------------------
# section 4: normal


def spec_normal(seed, stream, mean, std, offset, n, dtype):
    if dtype == F32:
        slot, blocks = words(seed, stream, offset, n, 64)
        pair, is_sin = slot // 2, slot % 2 == 1
        w1, w2 = pick(blocks, 2 * pair), pick(blocks, 2 * pair + 1)
        u1 = fma((w1 >> np.uint32(1)).astype(np.int32).astype(F32), F32(2.0**-31),
                 F32(2.0**-32), F32)
        r = np.sqrt(log_f32(u1) * F32(-2))
        m = w2 >> np.uint32(8)
        k = (m + u32(1 << 21)) >> np.uint32(22)
        f = (m - (k << np.uint32(22))).view(np.int32)
        theta = f.astype(F32) * F32(6.283185307179586 / 2**24)
        s, c = quadrant(k & u32(3), *sincos_f32(theta))
        z = np.where(is_sin, r * s, r * c)
        return fma(z, F32(std), F32(mean), F32)
    slot, blocks = words(seed, stream, offset, n, 32)
    p0, p1, p2, p3 = (blocks[:, i] for i in range(4))
    u = 1.0 - fma((p1 >> np.uint32(6)).astype(F64), 2.0**-53,
                  (p0 >> np.uint32(5)).astype(F64) * 2.0**-27, F64)
    r = np.sqrt(log_f64(u) * -2.0)
    mh, ml = p2 >> np.uint32(5), p3 >> np.uint32(6)
    k = (mh + u32(1 << 24)) >> np.uint32(25)
    fh = (mh - (k << np.uint32(25))).view(np.int32)
    f = fma(fh.astype(F64), 2.0**26, ml.astype(F64), F64)
    theta = f * (6.283185307179586 / 2**53)
    s, c = quadrant(k & u32(3), *sincos_f64(theta))
    z = np.where(slot == 1, r * s, r * c)
    return fma(z, std, mean, F64)


# ---------------------------------------------------------------------------
# section 5 and 8: truncated normal


def exp_nonpositive(y):
    if y < -745.2:
        return 0.0
    k = math.floor(y * 1.4426950408889634 + 0.5)
    r = fma_scalar(-k, LN2_HI, y)
    r = fma_scalar(-k, LN2_LO, r)
    q = 1.0 / math.factorial(13)
    for n in range(12, -1, -1):
        q = fma_scalar(q, r, 1.0 / math.factorial(n))
    return math.ldexp(q, int(k))


def normal_pdf(t):
    if t > 40.0:
        return 0.0
    hi = t * t
    lo = fma_scalar(t, t, -hi)
    return exp_nonpositive(-0.5 * hi) * (1.0 - 0.5 * lo) * 0.39894228040143267794


def normal_sf_nonneg(t):
    if t < 1.5:
        t2, term, total = t * t, t, t
        for n in range(3, 200, 2):
            term = term * t2 / n
            total += term
            if term <= total * 1e-17:
                break
        return 0.5 - normal_pdf(t) * total
    r = t
    for k in range(150, 0, -1):
        r = t + k / r
    return normal_pdf(t) / r


def ndtr(x):
    if x == -math.inf:
        return 0.0
    if x == math.inf:
        return 1.0
    return normal_sf_nonneg(-x) if x < 0.0 else 1.0 - normal_sf_nonneg(x)


PPND7 = {  # AS 241 PPND7 (float32), highest coefficient first
    "a": ("59.109374720", "159.29113202", "50.434271938", "3.3871327179"),
    "b": ("67.187563600", "78.757757664", "17.895169469", "1"),
    "c": ("0.17023821103", "1.3067284816", "2.7568153900", "1.4234372777"),
    "d": ("0.12021132975", "0.73700164250", "1"),
    "e": ("0.017337203997", "0.42868294337", "3.0812263860", "6.6579051150"),
    "f": ("0.012258202635", "0.24197894225", "1"),
}
PPND16 = {  # AS 241 PPND16 (float64), highest coefficient first
    "a": (2.5090809287301226727e+3, 3.3430575583588128105e+4, 6.7265770927008700853e+4,
          4.5921953931549871457e+4, 1.3731693765509461125e+4, 1.9715909503065514427e+3,
          1.3314166789178437745e+2, 3.3871328727963666080e+0),
    "b": (5.2264952788528545610e+3, 2.8729085735721942674e+4, 3.9307895800092710610e+4,
          2.1213794301586595867e+4, 5.3941960214247511077e+3, 6.8718700749205790830e+2,
          4.2313330701600911252e+1, 1.0),
    "c": (7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
          1.27045825245236838258e+0, 3.64784832476320460504e+0, 5.76949722146069140550e+0,
          4.63033784615654529590e+0, 1.42343711074968357734e+0),
    "d": (1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
          1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e+0,
          2.05319162663775882187e+0, 1.0),
    "e": (2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
          2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e+0,
          5.46378491116411436990e+0, 6.65790464350110377720e+0),
    "f": (2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
          7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
          5.99832206555887937690e-1, 1.0),
}


def horner(coefs, x, dt):
    acc = np.full_like(x, coefs[0])
    for c in coefs[1:]:
        acc = fma(acc, x, c, dt)
    return acc


def ndtri_lower(s, dt):
    """AS 241 lower-tail quantile, both branches on every element (section 5)."""
    if dt == F32:
        coef = {k: [f32(c) for c in v] for k, v in PPND7.items()}
        log, split, near, far = log_f32, f32("-0.425"), f32("1.6"), F32(5)
    else:
        coef = {k: [F64(c) for c in v] for k, v in PPND16.items()}
        log, split, near, far = log_f64, F64(-0.425), F64(1.6), F64(5)
    t = s - dt(0.5)
    r = fma(dt(0) - t, t, dt(0.180625) if dt == F64 else f32("0.180625"), dt)
    xc = (t * horner(coef["a"], r, dt)) / horner(coef["b"], r, dt)
    rt = np.sqrt(dt(0) - log(s))
    close = rt <= far
    tt = rt - np.where(close, near, far)
    num = np.where(close, horner(coef["c"], tt, dt), horner(coef["e"], tt, dt))
    den = np.where(close, horner(coef["d"], tt, dt), horner(coef["f"], tt, dt))
    xt = (dt(0) - num) / den
    return np.where(split <= t, xc, xt)


def spec_truncated_normal(seed, stream, mean, std, a0, b0, offset, n, dtype):
    a, b, flip = a0, b0, 1.0
    if a + b > 0:
        a, b, flip = -b0, -a0, -1.0
    pa, pb, qb = ndtr(a), ndtr(b), ndtr(-b)
    d = pb - pa if pb - pa > 0 else 0.0
    lo = -math.inf if a0 == -math.inf else mean + a0 * std
    hi = math.inf if b0 == math.inf else mean + b0 * std
    if dtype == F32:
        pa, d, qb, flip, mean, std, lo, hi = (F32(v) for v in (pa, d, qb, flip, mean, std, lo, hi))
        slot, blocks = words(seed, stream, offset, n, 64)
        k = (pick(blocks, slot) >> np.uint32(9)).astype(np.int32).astype(F32)
        u = fma(k, F32(2.0**-23), F32(2.0**-24), F32)
        v = fma(k, F32(-(2.0**-23)), F32(1 - 2.0**-24), F32)
        tiny = F32(2.0**-126)
    else:
        slot, blocks = words(seed, stream, offset, n, 32)
        wa, wb = pick(blocks, 2 * slot), pick(blocks, 2 * slot + 1)
        u = (wa >> np.uint32(6)).astype(F64) * 2.0**-26 + fma(
            (wb >> np.uint32(6)).astype(F64), 2.0**-52, 2.0**-53, F64)
        v = 1.0 - u
        tiny = F64(2.0**-1022)
    p = fma(u, d, pa, dtype)
    q = fma(v, d, qb, dtype)
    s = np.maximum(np.minimum(p, q), tiny)
    x = ndtri_lower(s, dtype)
    x = np.where(q < p, dtype(0) - x, x)
    x = x * dtype(flip)
    return np.minimum(np.maximum(fma(x, std, mean, dtype), dtype(lo)), dtype(hi))


# ---------------------------------------------------------------------------


def same(got, ref, dtype):
    np.testing.assert_array_equal(got.view(np.uint8), np.asarray(ref, dtype).view(np.uint8))


@pytest.mark.parametrize("dtype", [F32, F64])
def test_uniform_from_spec(dtype):
    seed, stream, offset, n = 0x0123456789ABCDEF, 987654321, 4 * 2**32 - 100, 777
    low, high = (-2.0, 3.0) if dtype == F32 else (-0.3, 2.0**-3)
    ref = spec_uniform(seed, stream, low, high, offset, n, dtype)
    got = fi.fill_uniform(np.empty(n, dtype), low, high, seed=seed, stream=stream, offset=offset)
    same(got, ref, dtype)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("seed, stream, offset, mean, std", [
    (0x0123456789ABCDEF, 987654321, 4 * 2**32 - 100, 0.0, 1.0),
    (7, 2**64 - 1, 123, 0.25, 0.02),
])
def test_normal_from_spec(dtype, seed, stream, offset, mean, std):
    n = 300  # every slot and lane of several groups, partial groups at both ends
    ref = spec_normal(seed, stream, mean, std, offset, n, dtype)
    got = fi.fill_normal(np.empty(n, dtype), mean, std, seed=seed, stream=stream, offset=offset)
    same(got, ref, dtype)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("a, b, mean, std", [
    (-2.0, 2.0, 0.0, 1.0),     # the default window, no mirror
    (-1.0, 3.0, 0.5, 0.02),    # mirrored (a + b > 0)
    (-6.0, -1.0, 0.0, 2.0),    # one-sided, lower tail: the tail rational on most values
    (0.5, 6.0, -1.0, 1.5),     # mirrored one-sided window
])
def test_truncated_normal_from_spec(dtype, a, b, mean, std):
    seed, stream, offset, n = 0xFEEDFACECAFEBEEF, 42, 2**40 + 5, 300
    ref = spec_truncated_normal(seed, stream, mean, std, a, b, offset, n, dtype)
    got = fi.fill_truncated_normal(np.empty(n, dtype), mean, std, a, b, seed=seed,
                                   stream=stream, offset=offset)
    same(got, ref, dtype)


def test_reference_fma_rounds_once():
    # the reference's fma differs from multiply-then-add exactly where it must
    a = F32(1 + 2.0**-12)
    assert fma(a, a, F32(-1), F32) == F32(2.0**-11 + 2.0**-24)
    assert a * a - F32(1) == F32(2.0**-11)
    x = 1 + 2.0**-30
    assert fma_scalar(x, x, -1.0) == 2.0**-29 + 2.0**-60


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_low_precision_from_spec(dtype):
    # section 7: the float32 values rounded once to nearest even
    seed, stream, offset, n = 99, 5, 2**33 + 17, 200
    ref = spec_normal(seed, stream, 0.0, 3.0, offset, n, F32)
    got = fi.fill_normal(np.empty(n, dtype), 0.0, 3.0, seed=seed, stream=stream, offset=offset)
    same(got, ref.astype(dtype), dtype)
    ref = spec_truncated_normal(seed, stream, 1.0, 0.5, -1.5, 2.5, offset, n, F32)
    got = fi.fill_truncated_normal(np.empty(n, dtype), 1.0, 0.5, -1.5, 2.5, seed=seed,
                                   stream=stream, offset=offset)
    same(got, ref.astype(dtype), dtype)
